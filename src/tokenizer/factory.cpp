// Tokenizer::from_path / from_model_file: find the tokenizer a path or model means, load, finalize.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "realizar/formats/model_file.h"
#include "realizar/tokenizer/tokenizer.h"
#include "tokenizer/engine.h"
#include "tokenizer/loaders.h"

namespace rz::tokenizer {

namespace fs = std::filesystem;
using detail::Vocab;

namespace {

constexpr size_t kMaxTokenizerFile = size_t{256} << 20;

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

// tokenizer_config.json next to a tokenizer file: chat template for SentencePiece folders.
void add_config_extras(Vocab& v, const fs::path& dir) {
    const fs::path cfg = dir / "tokenizer_config.json";
    if (!is_file(cfg)) return;
    auto text = detail::read_file(cfg.string(), kMaxTokenizerFile);
    if (!text.ok()) return;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    if (j.contains("chat_template") && j["chat_template"].is_string()) v.chat_template = j["chat_template"].get<std::string>();
    if (j.contains("add_bos_token") && j["add_bos_token"].is_boolean()) v.add_bos = j["add_bos_token"].get<bool>();
    if (j.contains("add_eos_token") && j["add_eos_token"].is_boolean()) v.add_eos = j["add_eos_token"].get<bool>();
}

Result<std::unique_ptr<Tokenizer>> load_hf_json_file(const fs::path& json_path) {
    RZ_ASSIGN_OR_RETURN(std::string text, detail::read_file(json_path.string(), kMaxTokenizerFile));
    std::string cfg;
    const fs::path cfg_path = json_path.parent_path() / "tokenizer_config.json";
    if (is_file(cfg_path)) {
        RZ_ASSIGN_OR_RETURN(cfg, detail::read_file(cfg_path.string(), kMaxTokenizerFile));
    }
    RZ_ASSIGN_OR_RETURN(Vocab v, detail::load_hf_json(text, cfg, json_path.string()));
    return detail::make_tokenizer(std::move(v));
}

Result<std::unique_ptr<Tokenizer>> load_spm_file(const fs::path& p, int64_t expected_vocab) {
    RZ_ASSIGN_OR_RETURN(std::string data, detail::read_file(p.string(), kMaxTokenizerFile));
    RZ_ASSIGN_OR_RETURN(Vocab v, detail::load_spm_model(data, p.string()));
    if (expected_vocab > 0 && v.n_tokens() != expected_vocab) {
        return corrupt(p.string() + ": holds " + std::to_string(v.n_tokens()) + " pieces but the model's vocab_size is " +
                       std::to_string(expected_vocab));
    }
    add_config_extras(v, p.parent_path());
    return detail::make_tokenizer(std::move(v));
}

Result<std::unique_ptr<Tokenizer>> load_llama2c_file(const fs::path& p, int64_t expected_vocab) {
    RZ_ASSIGN_OR_RETURN(std::string data, detail::read_file(p.string(), kMaxTokenizerFile));
    RZ_ASSIGN_OR_RETURN(Vocab v, detail::load_llama2c_bin(data, p.string(), expected_vocab));
    return detail::make_tokenizer(std::move(v));
}

Result<std::unique_ptr<Tokenizer>> load_gpt2_dir(const fs::path& dir) {
    RZ_ASSIGN_OR_RETURN(Vocab v, detail::load_gpt2_files((dir / "encoder.json").string(), (dir / "vocab.bpe").string()));
    return detail::make_tokenizer(std::move(v));
}

// A folder holding tokenizer files (HF model folder, GPT-2 folder); nullopt-like NotFound when none.
Result<std::unique_ptr<Tokenizer>> load_from_folder(const fs::path& dir) {
    if (is_file(dir / "tokenizer.json")) return load_hf_json_file(dir / "tokenizer.json");
    if (is_file(dir / "tokenizer.model")) return load_spm_file(dir / "tokenizer.model", 0);
    if (is_file(dir / "encoder.json") && is_file(dir / "vocab.bpe")) return load_gpt2_dir(dir);
    return not_found(dir.string() + ": no tokenizer.json, tokenizer.model or encoder.json + vocab.bpe in this folder");
}

int64_t llama2c_vocab_size(const formats::ModelFile& file) {
    for (const auto& [key, value] : file.metadata) {
        if (key == "vocab_size" || key.ends_with(".vocab_size")) {
            if (auto x = value.as_int()) return *x < 0 ? -*x : *x;  // llama2.c: negative means unshared classifier
        }
    }
    return 0;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_model_file(const formats::ModelFile& file) {
    if (file.find_meta("tokenizer.ggml.tokens") || file.find_meta("tokenizer.vocabulary")) {
        RZ_ASSIGN_OR_RETURN(Vocab v, detail::load_from_metadata(file));
        return detail::make_tokenizer(std::move(v));
    }
    const fs::path path(file.path);
    std::error_code ec;
    switch (file.format) {
        case formats::Format::kHfFolder:
        case formats::Format::kSafeTensors: {
            const fs::path dir = fs::is_directory(path, ec) ? path : path.parent_path();
            return load_from_folder(dir.empty() ? fs::path(".") : dir);
        }
        case formats::Format::kLlama2c: {
            const int64_t n = llama2c_vocab_size(file);
            if (n <= 0) return corrupt(file.path + ": llama2.c checkpoint without a vocab_size");
            const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
            const std::string tokn = "tok" + std::to_string(n);
            std::string tried;
            Status last = Status::Ok();
            for (const std::string& name : {tokn + ".model", std::string("tokenizer.model"), tokn + ".bin",
                                            std::string("tokenizer.bin")}) {
                const fs::path cand = dir / name;
                tried += (tried.empty() ? "" : ", ") + name;
                if (!is_file(cand)) continue;
                auto r = name.ends_with(".model") ? load_spm_file(cand, n) : load_llama2c_file(cand, n);
                if (r.ok()) return r;
                last = r.status();
            }
            if (!last.ok()) return last.with_context(file.path + ": no tokenizer beside it matches vocab_size " + std::to_string(n));
            return not_found(file.path + ": llama2.c checkpoint (vocab_size " + std::to_string(n) +
                             ") has no tokenizer beside it (looked for " + tried + ")");
        }
        case formats::Format::kGguf:
            return not_found(file.path + ": GGUF file has no tokenizer.ggml.tokens metadata");
        case formats::Format::kApr:
            return not_found(file.path + ": APR file has no embedded vocabulary (tokenizer.vocabulary)");
    }
    return not_found(file.path + ": no tokenizer found");
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_path(const std::string& path_str) {
    const fs::path path(path_str);
    std::error_code ec;
    if (!fs::exists(path, ec)) return not_found(path_str + ": no such file or directory");
    if (fs::is_directory(path, ec)) {
        auto r = load_from_folder(path);
        if (r.ok() || r.status().code() != StatusCode::kNotFound) return r;
        // Not a tokenizer folder: maybe a model folder whose metadata holds the vocabulary.
        auto mf = formats::open_model_file(path_str);
        if (!mf.ok()) return r.status();
        return from_model_file(*mf);
    }
    const std::string name = path.filename().string();
    const std::string ext = path.extension().string();
    if (name == "encoder.json") return load_gpt2_dir(path.parent_path().empty() ? fs::path(".") : path.parent_path());
    if (ext == ".json") return load_hf_json_file(path);
    if (ext == ".model") return load_spm_file(path, 0);
    if (ext == ".bin" && name.starts_with("tok")) return load_llama2c_file(path, 0);
    RZ_ASSIGN_OR_RETURN(formats::ModelFile mf, formats::open_model_file(path_str));
    return from_model_file(mf);
}

}  // namespace rz::tokenizer
