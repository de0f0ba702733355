// libFuzzer target: the HTTP API's request parsers (realizar's API, OpenAI completions and chat, tokenize,
// batches) on arbitrary bodies. Every malformed body must come back as an ApiError (a 400 naming the field); a
// crash, an undefined conversion of an out-of-range number or a runaway allocation is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "realizar/server/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace s = rz::server;
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const s::ParseLimits limits;
    volatile size_t sink = 0;
    const auto note = [&](const auto& r) { sink = sink + r.index(); };
    note(s::parse_generate(body, limits));
    note(s::parse_batch_generate(body, limits));
    note(s::parse_tokenize(body));
    note(s::parse_detokenize(body));
    note(s::parse_completion(body, limits));
    note(s::parse_chat(body, limits));
    (void)sink;
    return 0;
}
