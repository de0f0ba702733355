// Renders a short conversation through a chat template, the way a server turns chat messages into the
// prompt text the model is fed:
//
//   chat_template                       built-in "chatml"
//   chat_template NAME                  a built-in template: chatml, llama2, llama3, mistral, phi3, gemma, zephyr
//   chat_template MODEL_OR_FILE         a model's own template (GGUF, HF folder, tokenizer_config.json, .jinja)
//
// e.g. chat_template ../shared/data/tokenizers/qwen3-hf
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "realizar/tokenizer/chat_template.h"

int main(int argc, char** argv) {
    namespace tk = rz::tokenizer;
    const std::string what = argc > 1 ? argv[1] : "chatml";

    tk::ModelChatTemplate tmpl;
    if (tk::is_builtin_chat_template_name(what)) {
        tmpl.source = tk::builtin_chat_template(what).value();
        tmpl.bos_token = "<s>";
        tmpl.eos_token = "</s>";
    } else {
        auto loaded = tk::load_chat_template(what);
        if (!loaded.ok()) {
            std::fprintf(stderr, "chat_template: %s\n", loaded.status().to_string().c_str());
            return 1;
        }
        tmpl = std::move(loaded).value();
        if (tmpl.source.empty()) {
            std::fprintf(stderr, "chat_template: %s ships no chat template\n", what.c_str());
            return 1;
        }
    }

    // Parse requests with ordered_json: templates that print objects with tojson keep the client's key order.
    const auto messages = nlohmann::ordered_json::parse(R"([
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"}
    ])");
    tk::ChatTemplateOptions opts;
    opts.add_generation_prompt = true;  // end with the assistant header, so the model answers next
    opts.bos_token = tmpl.bos_token;
    opts.eos_token = tmpl.eos_token;

    auto prompt = tk::render_chat_template(tmpl.source, messages, opts);
    if (!prompt.ok()) {
        // Templates may refuse a conversation (e.g. Gemma has no system role): the message says why and where.
        std::fprintf(stderr, "chat_template: %s\n", prompt.status().message().c_str());
        return 1;
    }
    std::fwrite(prompt->data(), 1, prompt->size(), stdout);
    std::printf("\n-- %zu bytes\n", prompt->size());
    return 0;
}
