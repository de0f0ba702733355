#pragma once
// Tokenizer files for a Hugging Face folder written from a model's tokenizer.ggml.* metadata (internal).
#include <filesystem>

#include "realizar/formats/model_file.h"

namespace rz::convert::detail {

// "llama" (SentencePiece) vocabularies: tokenizer.model (SentencePiece ModelProto: pieces with scores and
// types, BPE model type, special ids, byte_fallback, normalizer flags) + tokenizer_config.json (add_bos/eos,
// chat template); "gpt2" (byte-level BPE) vocabularies: tokenizer.json (vocab, merges, the pre-tokenizer regexes
// as Split steps + ByteLevel, added_tokens) + tokenizer_config.json. Models without tokenizer metadata get
// none; "bert" vocabularies: kUnsupported.
Status write_tokenizer_files(const formats::ModelFile& mf, const std::filesystem::path& dir);

}  // namespace rz::convert::detail
