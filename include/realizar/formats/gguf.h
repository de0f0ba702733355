#pragma once
// GGUF v2/v3 (llama.cpp's model format). Layout, little-endian:
//   "GGUF" u32 version u64 n_tensors u64 n_kv
//   n_kv x { string key, u32 type, value }            string = u64 length + bytes (no NUL)
//   n_tensors x { string name, u32 n_dims, n_dims x i64 ne (innermost first), u32 ggml type, u64 offset }
//   padding to general.alignment (default 32), then the data section; offsets are relative to it.
// The reader reverses ne[] into a row-major TensorInfo::shape (see model_file.h).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "realizar/formats/model_file.h"

namespace rz::formats {

inline constexpr uint32_t kGgufDefaultAlignment = 32;

// Parses GGUF bytes; tensors point into `bytes` (not owned). `name` appears in errors and ModelFile::path.
Result<ModelFile> read_gguf(std::span<const uint8_t> bytes, const std::string& name);
// Maps the file and parses it; the map is kept in ModelFile::files.
Result<ModelFile> open_gguf(const std::string& path);

// Streaming GGUF v3 writer with bounded memory, for files of any size:
//   GgufWriter w(path);  w.add_metadata(...)...;  w.add_tensor(name, dtype, shape)...;
//   w.begin();  then w.write(bytes) with each tensor's data in declaration order (any chunking);  w.finish().
// Everything goes to a temporary file beside `path`, fsync'ed and renamed by finish(); a writer destroyed
// without a successful finish() removes it. Declaration errors (duplicate names, bad shapes, values whose
// variant disagrees with their MetaType) are reported by begin(). If general.alignment is among the
// metadata it must agree with set_alignment(); otherwise it is written only when not the default 32.
class GgufWriter {
public:
    explicit GgufWriter(std::string path);
    ~GgufWriter();
    GgufWriter(const GgufWriter&) = delete;
    GgufWriter& operator=(const GgufWriter&) = delete;

    void set_alignment(uint32_t alignment);  // power of two; default 32
    void add_metadata(std::string key, MetaValue value);
    void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape);  // row-major shape

    Status begin();
    Status write(std::span<const uint8_t> bytes);
    // Convenience: the whole data of the next tensor (must be exactly its size when at a tensor boundary).
    Status write_tensor(std::span<const uint8_t> bytes);
    Status finish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes a ModelFile (metadata in order, tensors in order) as GGUF v3; tensors must be GGUF types.
// general.alignment in the metadata sets the alignment.
Status write_gguf(const std::string& path, const ModelFile& mf);

}  // namespace rz::formats
