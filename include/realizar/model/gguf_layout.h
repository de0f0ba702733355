#pragma once
// A model in llama.cpp's GGUF layout: tensor names from the architecture tables, {arch}.* metadata keys,
// Hugging Face llama/mistral q/k rows permuted from rotate_half (NEOX) order to adjacent pairs (NORM, as
// llama.cpp's convert_hf_to_gguf.py does), Conv1D weights transposed, Gemma norms stored as 1 + w, Llama-3
// RoPE scaling as a rope_freqs tensor. The result is a ModelFile view that formats::write_gguf() writes;
// `realizar convert` and the runtime tests use it. Tokenizer metadata is not included (the converter adds it).
#include <optional>

#include "realizar/core/dtype.h"
#include "realizar/formats/model_file.h"

namespace rz::model {

struct GgufLayoutOptions {
    // Storage type for 2-D weight matrices: nullopt keeps each tensor's type; F32/F16/BF16 convert
    // unquantized ones (1-D tensors are always F32, as llama.cpp keeps them).
    std::optional<DType> matrix_type;
};

// `src` must outlive the result only through the mappings the result shares (it copies what it needs).
Result<formats::ModelFile> to_gguf_layout(const formats::ModelFile& src, const GgufLayoutOptions& opts = {});

}  // namespace rz::model
