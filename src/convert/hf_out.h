#pragma once
// Hugging Face folder output (internal): config.json, model.safetensors, tokenizer files.
#include <vector>

#include "realizar/convert/convert.h"

namespace rz::convert::detail {

// Writes the GGUF-layout model `mf` with the types of `plan` (f32/f16/bf16 only) as the folder o.output,
// built under a temporary name and renamed into place when complete.
Status write_hf_folder(const ConvertOptions& o, const formats::ModelFile& mf, const std::vector<PlannedTensor>& plan);

}  // namespace rz::convert::detail
