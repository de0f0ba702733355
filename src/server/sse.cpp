#include "realizar/server/sse.h"

#include "realizar/server/protocol.h"

namespace rz::server {

std::string sse_event(std::string_view name, std::string_view data) {
    std::string out;
    out.reserve(name.size() + data.size() + 16);
    out.append("event: ").append(name).append("\ndata: ").append(data).append("\n\n");
    return out;
}

std::string sse_data(std::string_view data) {
    std::string out;
    out.reserve(data.size() + 8);
    out.append("data: ").append(data).append("\n\n");
    return out;
}

std::string Utf8Accumulator::push(std::string_view bytes) {
    pending_.append(bytes);
    const size_t n = utf8_complete_prefix(pending_);
    std::string out = pending_.substr(0, n);
    pending_.erase(0, n);
    return out;
}

std::string Utf8Accumulator::flush() {
    std::string out;
    out.swap(pending_);
    return out;
}

}  // namespace rz::server
