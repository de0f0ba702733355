#pragma once
// Read-only memory map of a whole file. Model weights are used in place from the map (no copy).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "realizar/core/status.h"

namespace rz {

class MappedFile {
public:
    MappedFile() = default;
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;

    // Errors name the path. An empty file maps to an empty span.
    static Result<MappedFile> open(const std::string& path);

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    std::span<const uint8_t> bytes() const { return {data_, size_}; }
    const std::string& path() const { return path_; }

private:
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

// Reads a whole (small) file into a string, refusing files larger than max_bytes.
Result<std::string> read_file(const std::string& path, size_t max_bytes = size_t{1} << 30);

// True when `path` is `dir` or lies below it, both resolved (symlinks, "..") as far as they exist: the guard of the
// writers that must not overwrite their input (run --logits-out, convert's folder output).
bool path_within(const std::string& path, const std::string& dir);

// Writes data to path atomically: a temporary file beside it, fsync, rename. On failure nothing is left
// behind and an existing file at path is untouched.
Status write_file_atomic(const std::string& path, std::span<const uint8_t> data);

}  // namespace rz
