// Embeds data/demo/stories260K.apr into the binary with the assembler's .incbin (fast to build, no giant
// generated C array) and exposes it as a file path through memfd_create, so the normal loader reads it.
#include "realizar/server/demo.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#ifdef RZ_DEMO_MODEL_FILE
__asm__(".section .rodata\n"
        ".balign 64\n"
        ".global rz_demo_model_begin\n"
        "rz_demo_model_begin:\n"
        ".incbin \"" RZ_DEMO_MODEL_FILE "\"\n"
        ".global rz_demo_model_end\n"
        "rz_demo_model_end:\n"
        ".previous\n");
extern "C" const uint8_t rz_demo_model_begin[];
extern "C" const uint8_t rz_demo_model_end[];
#endif

namespace rz::server {

std::span<const uint8_t> demo_model_bytes() {
#ifdef RZ_DEMO_MODEL_FILE
    return {rz_demo_model_begin, static_cast<size_t>(rz_demo_model_end - rz_demo_model_begin)};
#else
    return {};
#endif
}

Result<std::string> demo_model_path() {
    static std::once_flag once;
    static Result<std::string> result = internal_error("demo model not initialised");
    std::call_once(once, [] {
        const auto bytes = demo_model_bytes();
        if (bytes.empty()) {
            result = unavailable("this realizar was built without the embedded demo model");
            return;
        }
        const int fd = memfd_create("realizar-demo.apr", MFD_CLOEXEC);
        if (fd < 0) {
            result = io_error(fmt::format("demo model: memfd_create failed: {}", std::strerror(errno)));
            return;
        }
        size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                result = io_error(fmt::format("demo model: write failed: {}", std::strerror(errno)));
                ::close(fd);
                return;
            }
            done += static_cast<size_t>(n);
        }
        // The descriptor stays open for the life of the process: the path below refers to it.
        result = fmt::format("/proc/self/fd/{}", fd);
    });
    return result;
}

}  // namespace rz::server
