#include "realizar/core/status.h"

namespace rz {

const char* status_code_name(StatusCode code) {
    switch (code) {
        case StatusCode::kOk: return "ok";
        case StatusCode::kInvalidArgument: return "invalid argument";
        case StatusCode::kNotFound: return "not found";
        case StatusCode::kIoError: return "i/o error";
        case StatusCode::kCorrupt: return "corrupt";
        case StatusCode::kUnsupported: return "unsupported";
        case StatusCode::kOutOfRange: return "out of range";
        case StatusCode::kResourceExhausted: return "resource exhausted";
        case StatusCode::kCancelled: return "cancelled";
        case StatusCode::kUnavailable: return "unavailable";
        case StatusCode::kInternal: return "internal error";
    }
    return "unknown";
}

std::string Status::to_string() const {
    if (ok()) return "ok";
    return std::string(status_code_name(code_)) + ": " + message_;
}

Status Status::with_context(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
}

void assert_fail(const char* expr, const char* file, int line, const char* msg) {
    std::fprintf(stderr, "realizar: internal assertion failed: %s at %s:%d%s%s\n", expr, file, line,
                 (msg && *msg) ? ": " : "", msg ? msg : "");
    std::fflush(stderr);
    std::abort();
}

}  // namespace rz
