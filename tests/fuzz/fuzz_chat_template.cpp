// libFuzzer target: the Jinja chat-template interpreter on arbitrary template text (a model file's template is
// untrusted input). Parse errors, raise_exception, undefined values and the loop / recursion / size limits must come
// back as a Status; a crash, hang or runaway allocation is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_chat_common.h"
#include "realizar/tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view src(reinterpret_cast<const char*>(data), size);
    // A conversation with the fields real templates read: roles, a system message, tool calls and a tool reply.
    static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi <b>there</b> \u00e9"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
        {"role": "tool", "content": "42", "name": "f"},
        {"role": "user", "content": ["a", 2, null, {"type": "text", "text": "t"}]}
    ])");
    rz::tokenizer::ChatTemplateOptions o = rz::tokenizer::fuzz::chat_options();
    o.extra_context["tools"] = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "f", "parameters": {}}}])");
    volatile size_t sink = rz::tokenizer::validate_chat_template(src).message().size();
    const auto r = rz::tokenizer::render_chat_template(src, messages, o);
    sink = r.ok() ? r->size() : r.status().message().size();
    (void)sink;
    return 0;
}
