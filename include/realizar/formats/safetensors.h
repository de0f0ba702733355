#pragma once
// SafeTensors (single files, sharded checkpoints through model.safetensors.index.json) and Hugging Face
// model folders (config.json + weights). Layout of one file: u64 header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data; offsets are relative to byte 8 + N. Shapes are already row-major.
// Note: SafeTensors makes no alignment promise, so TensorInfo::data may be unaligned for its dtype.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "realizar/formats/model_file.h"

namespace rz::formats {

// "F32" <-> DType::F32 and so on (F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 F8_E5M2).
std::optional<DType> safetensors_dtype(std::string_view name);
std::string_view safetensors_dtype_name(DType t);  // "" when SafeTensors has no name for it

// Parses one SafeTensors file's bytes; tensors point into `bytes` and get TensorInfo::shard = shard.
Result<ModelFile> read_safetensors(std::span<const uint8_t> bytes, const std::string& name, uint32_t shard = 0);
Result<ModelFile> open_safetensors(const std::string& path);
// A sharded checkpoint: the index JSON names every tensor's shard file (relative to the index's folder).
Result<ModelFile> open_safetensors_index(const std::string& index_path);
// A Hugging Face folder: config.json + model.safetensors or model.safetensors.index.json.
Result<ModelFile> open_hf_folder(const std::string& dir);

}  // namespace rz::formats
