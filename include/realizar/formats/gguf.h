#pragma once
// GGUF v2/v3 (llama.cpp's model format). Layout, little-endian:
//   "GGUF" u32 version u64 n_tensors u64 n_kv
//   n_kv x { string key, u32 type, value }            string = u64 length + bytes (no NUL)
//   n_tensors x { string name, u32 n_dims, n_dims x i64 ne (innermost first), u32 ggml type, u64 offset }
//   padding to general.alignment (default 32), then the data section; offsets are relative to it.
// The reader reverses ne[] into a row-major TensorInfo::shape (see model_file.h).
#include <cstdint>
#include <span>
#include <string>

#include "realizar/formats/model_file.h"

namespace rz::formats {

inline constexpr uint32_t kGgufDefaultAlignment = 32;

// Parses GGUF bytes; tensors point into `bytes` (not owned). `name` appears in errors and ModelFile::path.
Result<ModelFile> read_gguf(std::span<const uint8_t> bytes, const std::string& name);
// Maps the file and parses it; the map is kept in ModelFile::files.
Result<ModelFile> open_gguf(const std::string& path);

}  // namespace rz::formats
