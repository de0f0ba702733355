#pragma once
// Each loader turns one kind of tokenizer source into a Vocab (not yet finalized).
#include <cstdint>
#include <string>
#include <string_view>

#include "realizar/core/status.h"
#include "tokenizer/vocab.h"

namespace rz::formats {
class ModelFile;
}

namespace rz::tokenizer::detail {

// Reads a whole file, refusing files larger than max_bytes (tokenizer files are at most tens of MB).
Result<std::string> read_file(const std::string& path, size_t max_bytes);

// SentencePiece tokenizer.model (protobuf ModelProto).
Result<Vocab> load_spm_model(std::string_view data, const std::string& name);
// llama2.c tokenizer.bin; expected_vocab > 0 checks the count against the checkpoint header.
Result<Vocab> load_llama2c_bin(std::string_view data, const std::string& name, int64_t expected_vocab);
// GPT-2 encoder.json + vocab.bpe.
Result<Vocab> load_gpt2_files(const std::string& encoder_json, const std::string& vocab_bpe);
// Hugging Face tokenizer.json (+ optional tokenizer_config.json text, "" when absent).
Result<Vocab> load_hf_json(std::string_view json_text, std::string_view config_text, const std::string& name);
// GGUF tokenizer.ggml.* metadata, or the APR embedded vocabulary (tokenizer.vocabulary, ...).
Result<Vocab> load_from_metadata(const formats::ModelFile& file);

}  // namespace rz::tokenizer::detail
