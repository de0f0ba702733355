#include "formats/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rz::formats::detail {
namespace {
constexpr size_t kBufBytes = size_t{1} << 20;
std::atomic<uint64_t> g_counter{0};
}  // namespace

AtomicFile::~AtomicFile() { abort(); }

Status AtomicFile::open(const std::string& path) {
    abort();
    path_ = path;
    size_ = 0;
    buf_.clear();
    buf_.reserve(kBufBytes);
    // Preferred: an unnamed file in the destination's folder (O_TMPFILE). It gets a name only at commit(),
    // so even a SIGKILL mid-write leaves nothing behind. Filesystems without O_TMPFILE get a named temporary.
    std::string dir = path;
    const size_t slash = dir.find_last_of('/');
    dir = slash == std::string::npos ? std::string(".") : (slash == 0 ? std::string("/") : dir.substr(0, slash));
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
        unnamed_ = true;
        tmp_ = fmt::format("{} (unnamed temporary)", path);
        return Status::Ok();
    }
    unnamed_ = false;
    tmp_ = fmt::format("{}.tmp-{}-{}", path, ::getpid(), g_counter.fetch_add(1));
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return io_error(fmt::format("{}: cannot create: {}", tmp_, std::strerror(errno)));
    return Status::Ok();
}

Status AtomicFile::flush() {
    size_t done = 0;
    while (done < buf_.size()) {
        const ssize_t n = ::write(fd_, buf_.data() + done, buf_.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_error(fmt::format("{}: write failed: {}", tmp_, std::strerror(errno)));
        }
        done += static_cast<size_t>(n);
    }
    buf_.clear();
    return Status::Ok();
}

Status AtomicFile::write(const void* data, size_t n) {
    if (fd_ < 0) return internal_error(fmt::format("{}: write on a closed output", path_));
    const auto* p = static_cast<const uint8_t*>(data);
    size_ += n;
    if (buf_.size() + n > kBufBytes) {
        RZ_RETURN_IF_ERROR(flush());
        if (n >= kBufBytes) {  // large blocks go straight through
            size_t done = 0;
            while (done < n) {
                const ssize_t w = ::write(fd_, p + done, n - done);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    return io_error(fmt::format("{}: write failed: {}", tmp_, std::strerror(errno)));
                }
                done += static_cast<size_t>(w);
            }
            return Status::Ok();
        }
    }
    buf_.insert(buf_.end(), p, p + n);
    return Status::Ok();
}

Status AtomicFile::write_zeros(uint64_t n) {
    static const uint8_t kZeros[4096] = {};
    while (n > 0) {
        const size_t k = n < sizeof(kZeros) ? static_cast<size_t>(n) : sizeof(kZeros);
        RZ_RETURN_IF_ERROR(write(kZeros, k));
        n -= k;
    }
    return Status::Ok();
}

Status AtomicFile::patch(uint64_t offset, const void* data, size_t n) {
    if (fd_ < 0) return internal_error(fmt::format("{}: patch on a closed output", path_));
    RZ_RETURN_IF_ERROR(flush());
    RZ_ASSERT(offset + n <= size_);
    size_t done = 0;
    while (done < n) {
        const ssize_t w = ::pwrite(fd_, static_cast<const uint8_t*>(data) + done, n - done,
                                   static_cast<off_t>(offset + done));
        if (w < 0) {
            if (errno == EINTR) continue;
            return io_error(fmt::format("{}: write failed: {}", tmp_, std::strerror(errno)));
        }
        done += static_cast<size_t>(w);
    }
    return Status::Ok();
}

Status AtomicFile::commit() {
    if (fd_ < 0) return internal_error(fmt::format("{}: commit on a closed output", path_));
    Status st = flush();
    if (st.ok() && ::fsync(fd_) != 0) st = io_error(fmt::format("{}: fsync failed: {}", tmp_, std::strerror(errno)));
    if (st.ok() && unnamed_) {
        // Give the finished unnamed file a temporary name, then rename it over the destination (linkat cannot
        // replace an existing file; rename can, atomically).
        const std::string named = fmt::format("{}.tmp-{}-{}", path_, ::getpid(), g_counter.fetch_add(1));
        const std::string proc = fmt::format("/proc/self/fd/{}", fd_);
        if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, named.c_str(), AT_SYMLINK_FOLLOW) != 0) {
            st = io_error(fmt::format("{}: cannot name the output: {}", named, std::strerror(errno)));
        } else {
            tmp_ = named;
            unnamed_ = false;
        }
    }
    if (::close(fd_) != 0 && st.ok()) st = io_error(fmt::format("{}: close failed: {}", tmp_, std::strerror(errno)));
    fd_ = -1;
    if (st.ok() && ::rename(tmp_.c_str(), path_.c_str()) != 0) {
        st = io_error(fmt::format("{}: rename failed: {}", path_, std::strerror(errno)));
    }
    if (!st.ok() && !unnamed_) ::unlink(tmp_.c_str());
    return st;
}

void AtomicFile::abort() {
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
    if (!unnamed_) ::unlink(tmp_.c_str());  // an unnamed temporary vanishes with its descriptor
}

}  // namespace rz::formats::detail
