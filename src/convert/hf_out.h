#pragma once
// Hugging Face folder output (internal): config.json, model.safetensors, tokenizer files.
#include <string>
#include <vector>

#include "realizar/convert/convert.h"

namespace rz::convert::detail {

// Writes the GGUF-layout model `mf` with the types of `plan` (f32/f16/bf16 only) as the folder o.output,
// built under a temporary name and renamed into place when complete.
Status write_hf_folder(const ConvertOptions& o, const formats::ModelFile& mf, const std::vector<PlannedTensor>& plan);

// The folder OUTPUT may be written: new, empty, or holding only files this conversion writes (a previous
// conversion's), and neither the INPUT nor inside it. The folder is replaced whole at the end, so anything else in it
// (a user's files, a downloaded model's other files, the INPUT itself) would be lost: those are refused up front.
Status check_folder_output(const std::string& input, const std::string& output);

}  // namespace rz::convert::detail
