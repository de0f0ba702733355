#pragma once
// SafeTensors (single files, sharded checkpoints through model.safetensors.index.json) and Hugging Face
// model folders (config.json + weights). Layout of one file: u64 header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data; offsets are relative to byte 8 + N. Shapes are already row-major.
// Note: SafeTensors makes no alignment promise, so TensorInfo::data may be unaligned for its dtype.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// Streaming SafeTensors writer (same protocol as GgufWriter): declare metadata and tensors, begin(), then
// write() each tensor's bytes in declaration order (any chunking), finish(). The header lists tensors in
// declaration order with contiguous data, padded with spaces so the data starts 8-byte aligned. Output goes
// to a temporary file that finish() fsyncs and renames; without a successful finish() it is removed.
class SafeTensorsWriter {
public:
    explicit SafeTensorsWriter(std::string path);
    ~SafeTensorsWriter();
    SafeTensorsWriter(const SafeTensorsWriter&) = delete;
    SafeTensorsWriter& operator=(const SafeTensorsWriter&) = delete;

    void add_metadata(std::string key, std::string value);  // "__metadata__" (string -> string)
    void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape);

    Status begin();
    Status write(std::span<const uint8_t> bytes);
    Status write_tensor(std::span<const uint8_t> bytes);
    Status finish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes a ModelFile as one SafeTensors file. String metadata goes to __metadata__, other scalars as their
// text; arrays are skipped (SafeTensors metadata is string -> string). Every dtype needs a SafeTensors name.
Status write_safetensors(const std::string& path, const ModelFile& mf);

}  // namespace rz::formats
