#pragma once
// Status / Result<T>: how every fallible operation on untrusted input (files, requests, user options)
// reports failure. Exceptions never cross a library or thread boundary; internal invariants use RZ_ASSERT.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace rz {

enum class StatusCode {
    kOk = 0,
    kInvalidArgument,    // bad user option or request field
    kNotFound,           // missing file, tensor, key
    kIoError,            // read/write/mmap failed
    kCorrupt,            // malformed file content (bad magic, truncated, out-of-bounds offsets, ...)
    kUnsupported,        // valid but not handled (unknown dtype, encrypted APR, ...)
    kOutOfRange,         // e.g. context overflow, token id >= n_vocab
    kResourceExhausted,  // allocation refused, queue full
    kCancelled,
    kUnavailable,
    kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status Ok() { return {}; }
    bool ok() const { return code_ == StatusCode::kOk; }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }
    // "corrupt: gguf: foo.gguf: tensor 'x' offset ..." style text for logs and CLI errors.
    std::string to_string() const;
    // Returns a copy whose message is prefixed with `context: `.
    Status with_context(std::string_view context) const;

private:
    StatusCode code_ = StatusCode::kOk;
    std::string message_;
};

inline Status invalid_argument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
inline Status not_found(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
inline Status io_error(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
inline Status corrupt(std::string msg) { return {StatusCode::kCorrupt, std::move(msg)}; }
inline Status unsupported(std::string msg) { return {StatusCode::kUnsupported, std::move(msg)}; }
inline Status out_of_range(std::string msg) { return {StatusCode::kOutOfRange, std::move(msg)}; }
inline Status resource_exhausted(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }
inline Status cancelled(std::string msg) { return {StatusCode::kCancelled, std::move(msg)}; }
inline Status unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
inline Status internal_error(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg);

template <typename T>
class [[nodiscard]] Result {
    static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> makes no sense");

public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
        if (std::get<Status>(v_).ok()) assert_fail("!status.ok()", __FILE__, __LINE__, "Result built from an OK status");
    }

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    const Status& status() const {
        static const Status kOkStatus;
        return ok() ? kOkStatus : std::get<Status>(v_);
    }
    T& value() & { check(); return std::get<T>(v_); }
    const T& value() const& { check(); return std::get<T>(v_); }
    T&& value() && { check(); return std::get<T>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    void check() const {
        if (!ok()) assert_fail("ok()", __FILE__, __LINE__, std::get<Status>(v_).message().c_str());
    }
    std::variant<T, Status> v_;
};

}  // namespace rz

// Always on (also in release builds): invariants that, if broken, mean a bug in realizar itself.
#define RZ_ASSERT(cond, ...)                                                                           \
    do {                                                                                               \
        if (!(cond)) [[unlikely]] ::rz::assert_fail(#cond, __FILE__, __LINE__, "" __VA_ARGS__);        \
    } while (0)

#define RZ_CONCAT_INNER(a, b) a##b
#define RZ_CONCAT(a, b) RZ_CONCAT_INNER(a, b)

// Propagate a non-OK Status.
#define RZ_RETURN_IF_ERROR(expr)                         \
    do {                                                 \
        ::rz::Status rz_status_ = (expr);                \
        if (!rz_status_.ok()) return rz_status_;         \
    } while (0)

// RZ_ASSIGN_OR_RETURN(auto x, f()); declares/assigns x from a Result or returns its Status.
#define RZ_ASSIGN_OR_RETURN(lhs, expr) RZ_ASSIGN_OR_RETURN_IMPL(RZ_CONCAT(rz_result_, __LINE__), lhs, expr)
#define RZ_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                           \
    if (!tmp.ok()) return tmp.status();          \
    lhs = std::move(tmp).value()
