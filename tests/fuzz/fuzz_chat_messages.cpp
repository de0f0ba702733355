// libFuzzer target: the chat templates on arbitrary messages (a chat request's messages reach the template as
// the client sent them: any JSON). The input is parsed as JSON; an array is rendered through every built-in
// template (chatml, llama-2, llama-3, ...). Errors come back as a Status; a crash or a hang is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_chat_common.h"
#include "realizar/tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace tk = rz::tokenizer;
    const auto messages = nlohmann::ordered_json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
    if (messages.is_discarded() || !messages.is_array()) return 0;
    const tk::ChatTemplateOptions o = tk::fuzz::chat_options();
    volatile size_t sink = 0;
    for (const std::string& name : tk::builtin_chat_template_names()) {
        const auto src = tk::builtin_chat_template(name);
        if (!src.ok()) continue;
        const auto r = tk::render_chat_template(*src, messages, o);
        sink = r.ok() ? r->size() : r.status().message().size();
    }
    (void)sink;
    return 0;
}
