#pragma once
// Output file written through a temporary beside the destination (unnamed, O_TMPFILE, where the filesystem
// allows, so that even a killed process leaves nothing): buffered appends, optional patching of
// already-written bytes (headers whose checksums are known only at the end), then fsync + rename on
// commit(). If the object dies uncommitted (an error, an exception, a caller that gives up), the
// temporary is removed and an existing file at the destination is untouched.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "realizar/core/status.h"

namespace rz::formats::detail {

class AtomicFile {
public:
    AtomicFile() = default;
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    Status open(const std::string& path);
    Status write(const void* data, size_t n);
    Status write_zeros(uint64_t n);
    Status patch(uint64_t offset, const void* data, size_t n);  // overwrite bytes already written
    uint64_t size() const { return size_; }
    bool is_open() const { return fd_ >= 0; }
    Status commit();
    void abort();  // close and remove the temporary (no-op when not open)

private:
    Status flush();
    int fd_ = -1;
    std::string path_, tmp_;
    bool unnamed_ = false;  // O_TMPFILE: no name until commit()
    std::vector<uint8_t> buf_;
    uint64_t size_ = 0;
};

}  // namespace rz::formats::detail
