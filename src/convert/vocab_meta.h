#pragma once
// Tokenizer vocabulary lookup for a source model and its GGUF key form (internal to rz_convert).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "realizar/formats/model_file.h"
#include "tokenizer/vocab.h"

namespace rz::convert::detail {

// The vocabulary of `src`: `tokenizer_path` when given, else the model's own metadata (GGUF tokenizer.ggml.*,
// APR embedded vocabulary), else the tokenizer files beside it (HF folder: tokenizer.json / tokenizer.model;
// llama2.c: tok{vocab}.model, tokenizer.model, tok{vocab}.bin). nullopt when the model has none.
Result<std::optional<tokenizer::detail::Vocab>> find_vocab(const formats::ModelFile& src, const std::string& tokenizer_path);

// llama.cpp's tokenizer.ggml.* keys (model, pre, tokens, scores, token_type, merges, special ids, flags,
// chat template) for a (not finalized) vocabulary.
std::vector<std::pair<std::string, formats::MetaValue>> vocab_gguf_keys(const tokenizer::detail::Vocab& v);

}  // namespace rz::convert::detail
