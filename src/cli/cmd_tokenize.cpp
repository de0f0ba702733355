// realizar tokenize SOURCE "text" | --file F  [--no-bos] [--parse-special] [--ids-only | --json]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::cli {

namespace {

struct TokenizeOptions {
    std::string source;
    std::string text;
    std::string file;
    bool no_bos = false;
    bool parse_special = false;
    bool ids_only = false;
    bool json = false;
};

int run_tokenize(const TokenizeOptions& o) {
    auto fail = [](const std::string& msg) {
        std::fprintf(stderr, "realizar tokenize: error: %s\n", msg.c_str());
        return 1;
    };
    std::string text = o.text;
    if (!o.file.empty()) {
        std::error_code ec;
        if (std::filesystem::is_directory(o.file, ec)) return fail(o.file + ": is a folder, not a text file");
        std::ifstream in(o.file, std::ios::binary);
        if (!in) return fail(o.file + ": cannot open");
        std::ostringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    auto tok = tokenizer::Tokenizer::from_path(o.source);
    if (!tok.ok()) return fail(tok.status().to_string());
    const tokenizer::Tokenizer& t = **tok;
    // --no-bos: nothing added at all (no BOS/EOS, no post-processor tokens).
    auto ids = t.encode(text, /*add_special=*/!o.no_bos, o.parse_special);
    if (!ids.ok()) return fail(ids.status().to_string());

    if (o.json) {
        nlohmann::ordered_json j;  // keeps "token_ids" before "pieces"
        j["token_ids"] = *ids;
        nlohmann::ordered_json pieces = nlohmann::ordered_json::array();
        for (int32_t id : *ids) pieces.push_back(t.token_to_piece(id, /*render_special=*/true));
        j["pieces"] = std::move(pieces);
        // A piece may be part of a UTF-8 character (byte tokens): such bytes are shown as U+FFFD.
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    } else if (o.ids_only) {
        std::string line;
        for (size_t i = 0; i < ids->size(); ++i) line += (i ? " " : "") + std::to_string((*ids)[i]);
        std::printf("%s\n", line.c_str());
    } else {
        for (int32_t id : *ids) {
            std::printf("%8d -> '%s'\n", id, t.token_to_piece(id, /*render_special=*/true).c_str());
        }
    }
    return 0;
}

}  // namespace

Runner add_tokenize_command(CLI::App& app) {
    auto o = std::make_shared<TokenizeOptions>();
    CLI::App* cmd = app.add_subcommand("tokenize", "Tokenize text with a model's or a tokenizer file's vocabulary");
    cmd->add_option("source,-m,--model", o->source,
                    "Model (GGUF, APR, HF folder), tokenizer.json, SentencePiece tokenizer.model, GPT-2 folder "
                    "(encoder.json + vocab.bpe) or llama2.c tokenizer .bin (positional, or llama-tokenize's -m)")
        ->required();
    auto* text_opt = cmd->add_option("text,-p,--prompt", o->text, "Text to tokenize (positional, or llama-tokenize's -p)");
    auto* file_opt = cmd->add_option("--file,-f", o->file, "Read the text from this file instead");
    text_opt->excludes(file_opt);
    cmd->add_flag("--no-bos", o->no_bos, "Add no special tokens at all (no BOS/EOS, no post-processor tokens)");
    cmd->add_flag("--parse-special", o->parse_special, "Match special tokens written in the text (e.g. <|im_end|>)");
    auto* ids_opt = cmd->add_flag("--ids-only", o->ids_only, "Print only the token ids, on one line");
    auto* json_opt = cmd->add_flag("--json", o->json, R"(Print {"token_ids": [...], "pieces": [...]})");
    ids_opt->excludes(json_opt);
    return [o, text_opt, file_opt] {
        // An empty TEXT is valid input; only complain when neither TEXT nor --file was given.
        if (text_opt->count() == 0 && file_opt->count() == 0) {
            std::fprintf(stderr, "realizar tokenize: error: give the TEXT to tokenize or --file F\n");
            return 2;
        }
        return run_tokenize(*o);
    };
}

}  // namespace rz::cli
