// realizar template MODEL_OR_TEMPLATE_FILE --messages FILE.json [--no-generation-prompt] [--bos-token S]
//                   [--eos-token S] [--chat-template NAME_OR_FILE]
// Prints the prompt exactly as the model will be fed (no newline added), so people can check a template.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "realizar/tokenizer/chat_template.h"

namespace rz::cli {
namespace {

struct TemplateOptions {
    std::string source;
    std::string messages_file;
    bool no_generation_prompt = false;
    std::string bos_token, eos_token;
    bool bos_set = false, eos_set = false;
    std::string chat_template;
};

int run_template(const TemplateOptions& o) {
    auto fail = [](const std::string& msg) {
        std::fprintf(stderr, "realizar template: error: %s\n", msg.c_str());
        return 1;
    };
    // The model (or template file) gives the template and its BOS/EOS texts.
    auto model = tokenizer::load_chat_template(o.source);
    if (!model.ok()) return fail(model.status().to_string());
    tokenizer::ModelChatTemplate t = std::move(model).value();
    if (!o.chat_template.empty()) {
        if (tokenizer::is_builtin_chat_template_name(o.chat_template)) {
            t.source = tokenizer::builtin_chat_template(o.chat_template).value();
        } else {
            std::error_code ec;
            if (!std::filesystem::is_regular_file(o.chat_template, ec)) {
                std::string names;
                for (const auto& n : tokenizer::builtin_chat_template_names()) names += (names.empty() ? "" : ", ") + n;
                return fail("--chat-template '" + o.chat_template + "' is neither a built-in name (" + names +
                            ") nor a file");
            }
            auto f = tokenizer::load_chat_template(o.chat_template);
            if (!f.ok()) return fail(f.status().to_string());
            t.source = f->source;
        }
    }
    if (t.source.empty())
        return fail(o.source + " has no chat template; choose one with --chat-template NAME_OR_FILE");

    std::ifstream in(o.messages_file, std::ios::binary);
    if (!in) return fail(o.messages_file + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    // ordered_json keeps each object's key order, as Python's json.load does (visible through tojson).
    nlohmann::ordered_json doc = nlohmann::ordered_json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return fail(o.messages_file + ": not valid JSON");
    tokenizer::ChatTemplateOptions opts;
    nlohmann::ordered_json messages;
    if (doc.is_array()) {
        messages = std::move(doc);
    } else if (doc.is_object() && doc.contains("messages") && doc["messages"].is_array()) {
        // {"messages": [...], "tools": [...], ...}: the other keys become template variables.
        messages = doc["messages"];
        for (auto it = doc.begin(); it != doc.end(); ++it)
            if (it.key() != "messages") opts.extra_context[it.key()] = it.value();
    } else {
        return fail(o.messages_file + ": expected a JSON array of {role, content} messages (or {\"messages\": [...]})");
    }
    opts.add_generation_prompt = !o.no_generation_prompt;
    opts.bos_token = o.bos_set ? o.bos_token : t.bos_token;
    opts.eos_token = o.eos_set ? o.eos_token : t.eos_token;
    auto r = tokenizer::render_chat_template(t.source, messages, opts);
    if (!r.ok()) return fail(r.status().message());
    std::fwrite(r->data(), 1, r->size(), stdout);
    std::fflush(stdout);
    return 0;
}

}  // namespace

Runner add_template_command(CLI::App& app) {
    auto o = std::make_shared<TemplateOptions>();
    CLI::App* cmd = app.add_subcommand("template", "Render chat messages through a model's chat template");
    cmd->add_option("source", o->source,
                    "GGUF/APR model, Hugging Face folder, tokenizer_config.json, or a Jinja template file")
        ->required();
    cmd->add_option("--messages,-m", o->messages_file,
                    "JSON file: an array of {\"role\", \"content\"} messages, or {\"messages\": [...], \"tools\": ...}")
        ->required();
    cmd->add_flag("--no-generation-prompt", o->no_generation_prompt,
                  "Do not end with the assistant header (add_generation_prompt=false)");
    cmd->add_option("--bos-token", o->bos_token, "Text of {{ bos_token }} (default: the model's BOS token)")
        ->each([o](const std::string&) { o->bos_set = true; });
    cmd->add_option("--eos-token", o->eos_token, "Text of {{ eos_token }} (default: the model's EOS token)")
        ->each([o](const std::string&) { o->eos_set = true; });
    std::string names;
    for (const auto& n : tokenizer::builtin_chat_template_names()) names += (names.empty() ? "" : ", ") + n;
    cmd->add_option("--chat-template", o->chat_template,
                    "Use this template instead of the model's: a built-in name (" + names + ") or a file");
    return [o] { return run_template(*o); };
}

}  // namespace rz::cli
