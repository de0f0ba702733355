#pragma once
// Chat templates: renders a conversation through a model's own Jinja chat template, byte-identical to
// Hugging Face transformers' apply_chat_template (jinja2 ImmutableSandboxedEnvironment with trim_blocks,
// lstrip_blocks and loopcontrols, tojson keeping non-ASCII, raise_exception, strftime_now). The Jinja
// interpreter is realizar's own (src/tokenizer/chat/); no template can loop forever or exhaust memory:
// loop iterations, recursion depth and output size are bounded (see ChatTemplateLimits).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "realizar/core/status.h"

namespace rz::formats {
class ModelFile;
}

namespace rz::tokenizer {

struct ChatTemplateLimits {
    uint64_t max_output_bytes = 64ull << 20;     // rendered text, and any single string/list built on the way
    uint64_t max_loop_iterations = 1'000'000;    // all loop iterations of one rendering together
    uint32_t max_recursion_depth = 200;          // nested macro calls / nested evaluation
};

struct ChatTemplateOptions {
    bool add_generation_prompt = true;
    std::string bos_token, eos_token;
    // More template variables (tools, documents, enable_thinking, date_string, ...). Keys here override the
    // defaults above (messages, add_generation_prompt, bos_token, eos_token). An ordered_json keeps the key
    // order of the request (Python dicts do, so `tools | tojson` prints keys in that order); a plain
    // nlohmann::json assigned here converts implicitly (its keys are then sorted).
    nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
    // strftime_now(format) for templates that print today's date; empty = the local clock via strftime.
    std::function<std::string(const std::string& format)> strftime_now;
    ChatTemplateLimits limits;
};

// messages: a JSON array of {"role": ..., "content": ...} objects (any extra fields are visible to the
// template). Errors (template syntax, raise_exception, undefined values used, limits) come back as a
// Status whose message names the template line, e.g. "chat template: line 3: System role not supported".
Result<std::string> render_chat_template(std::string_view template_source, const nlohmann::json& messages,
                                         const ChatTemplateOptions& opts);
// Same, keeping the key order of each message object (parse requests with nlohmann::ordered_json::parse to
// render byte-identical to Hugging Face when a template prints whole objects with tojson).
Result<std::string> render_chat_template(std::string_view template_source, const nlohmann::ordered_json& messages,
                                         const ChatTemplateOptions& opts);

// General Jinja rendering with the same environment as chat templates: `context` must be a JSON object
// whose keys become template variables.
Result<std::string> render_jinja(std::string_view template_source, const nlohmann::ordered_json& context,
                                 const ChatTemplateOptions& opts = {});

// Checks only that a template parses (syntax errors, unknown filters/tests), without rendering it.
Status validate_chat_template(std::string_view template_source);

// A model's own chat template and the BOS/EOS token texts a template prints ({{ bos_token }}).
struct ModelChatTemplate {
    std::string source;  // Jinja text; "" when the model ships none
    std::string bos_token, eos_token;
    std::string origin;  // where it came from, e.g. "tokenizer.chat_template (GGUF)", "tokenizer_config.json"
};
// GGUF: tokenizer.chat_template + the texts of tokenizer.ggml.tokens[bos/eos id]; HF folder: chat_template.jinja
// or tokenizer_config.json's chat_template (a string, or a list of {name, template}: "default" or the first)
// and its bos_token/eos_token (strings or {"content": ...}).
Result<ModelChatTemplate> chat_template_from_model_file(const formats::ModelFile& file);
// From a path: a GGUF/APR/SafeTensors model file, a Hugging Face folder, a tokenizer_config.json, or a template
// file (any other file is read as Jinja text, e.g. *.jinja).
Result<ModelChatTemplate> load_chat_template(const std::string& path);

// Fallback templates for models that ship none (written from each format's public description):
// chatml, llama2, llama3, mistral, phi3, gemma, zephyr.
Result<std::string> builtin_chat_template(std::string_view name);
bool is_builtin_chat_template_name(std::string_view name);
// The names above, in a fixed order (for --help texts and error messages).
const std::vector<std::string>& builtin_chat_template_names();

}  // namespace rz::tokenizer
