#include "realizar/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace rz {

MappedFile::~MappedFile() {
    if (data_ && size_) munmap(const_cast<uint8_t*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_(o.size_), path_(std::move(o.path_)) {
    o.data_ = nullptr;
    o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
    if (this != &o) {
        if (data_ && size_) munmap(const_cast<uint8_t*>(data_), size_);
        data_ = o.data_;
        size_ = o.size_;
        path_ = std::move(o.path_);
        o.data_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

Result<MappedFile> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT) return not_found(fmt::format("{}: no such file", path));
        return io_error(fmt::format("{}: cannot open: {}", path, std::strerror(err)));
    }
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return io_error(fmt::format("{}: cannot stat: {}", path, std::strerror(err)));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        return invalid_argument(fmt::format("{}: is a directory, expected a file", path));
    }
    MappedFile mf;
    mf.path_ = path;
    mf.size_ = static_cast<size_t>(st.st_size);
    if (mf.size_ > 0) {
        void* p = mmap(nullptr, mf.size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            return io_error(fmt::format("{}: mmap failed: {}", path, std::strerror(err)));
        }
        mf.data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
    return mf;
}

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
    RZ_ASSIGN_OR_RETURN(MappedFile mf, MappedFile::open(path));
    if (mf.size() > max_bytes) {
        return resource_exhausted(fmt::format("{}: file is {} bytes, more than the {} allowed", path, mf.size(), max_bytes));
    }
    return std::string(reinterpret_cast<const char*>(mf.data()), mf.size());
}

bool path_within(const std::string& path, const std::string& dir) {
    std::error_code ec;
    const std::filesystem::path d = std::filesystem::weakly_canonical(dir, ec), p = std::filesystem::weakly_canonical(path, ec);
    const auto [di, pi] = std::mismatch(d.begin(), d.end(), p.begin(), p.end());
    return di == d.end() || (std::next(di) == d.end() && di->empty());  // a trailing "/" of dir adds an empty element
}

Status write_file_atomic(const std::string& path, std::span<const uint8_t> data) {
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return io_error(fmt::format("{}: cannot create: {}", tmp, std::strerror(errno)));
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            return io_error(fmt::format("{}: write failed: {}", tmp, std::strerror(err)));
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return io_error(fmt::format("{}: flush failed: {}", tmp, std::strerror(err)));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return io_error(fmt::format("{}: rename failed: {}", path, std::strerror(err)));
    }
    return Status::Ok();
}

}  // namespace rz
