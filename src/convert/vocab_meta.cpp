// A tokenizer vocabulary (whatever file it came from) as llama.cpp's tokenizer.ggml.* GGUF keys, and the
// GGUF keys as APR's embedded-vocabulary keys.
#include "convert/vocab_meta.h"

#include <filesystem>
#include <unordered_map>

#include "tokenizer/loaders.h"

namespace rz::convert::detail {

namespace fs = std::filesystem;
using formats::MetaType;
using formats::MetaValue;
using tokenizer::detail::Vocab;
using tokenizer::detail::VocabType;

namespace {

constexpr size_t kMaxTokenizerFile = size_t{256} << 20;

// SentencePiece / GGUF token type of a token's attribute bits (inverse of attr_from_token_type).
int32_t token_type_of(uint16_t attr) {
    using namespace tokenizer::detail;
    if (attr & kAttrByte) return 6;
    if (attr & kAttrUnused) return 5;
    if (attr & kAttrUserDefined) return 4;
    if (attr & kAttrControl) return 3;
    if (attr & kAttrUnknown) return 2;
    if (attr & kAttrNormal) return 1;
    return 0;
}

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

Result<Vocab> load_vocab_file(const fs::path& p, int64_t expected_vocab) {
    RZ_ASSIGN_OR_RETURN(std::string data, tokenizer::detail::read_file(p.string(), kMaxTokenizerFile));
    const std::string name = p.filename().string();
    if (p.extension() == ".json") {
        std::string cfg;
        const fs::path cfg_path = p.parent_path() / "tokenizer_config.json";
        if (is_file(cfg_path)) {
            RZ_ASSIGN_OR_RETURN(cfg, tokenizer::detail::read_file(cfg_path.string(), kMaxTokenizerFile));
        }
        return tokenizer::detail::load_hf_json(data, cfg, p.string());
    }
    if (p.extension() == ".model") return tokenizer::detail::load_spm_model(data, p.string());
    if (p.extension() == ".bin") return tokenizer::detail::load_llama2c_bin(data, p.string(), expected_vocab);
    return unsupported(p.string() + ": unknown tokenizer file (expected tokenizer.json, a SentencePiece .model or a llama2.c tok*.bin)");
}

// llama.cpp names pre-tokenizers (tokenizer.ggml.pre) instead of storing regexes: a tokenizer.json's
// Split/ByteLevel regexes are matched against the families the tokenizer knows.
std::string pre_name(const Vocab& v) {
    if (!v.regexes_from_file) return v.pre.empty() ? "default" : v.pre;
    // HF spells the contractions with an inline case-insensitive group; llama.cpp (and our tables) expand it.
    std::vector<std::string> mine = v.regexes;
    const std::string hf_ci = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    const std::string expanded = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    for (std::string& r : mine)
        for (size_t at; (at = r.find(hf_ci)) != std::string::npos;) r.replace(at, hf_ci.size(), expanded);
    for (const char* name : {"llama3", "qwen2", "qwen35", "gpt2", "deepseek-llm", "deepseek-coder", "falcon", "starcoder",
                             "gpt-4o", "tekken", "seed-coder", "dbrx", "poro-chat", "viking"}) {
        bool ignore = false;
        auto re = tokenizer::detail::regexes_for_pre(name, &ignore);
        if (re.ok() && *re == mine) return name;
    }
    return v.pre.empty() ? "default" : v.pre;
}

}  // namespace

Result<std::optional<Vocab>> find_vocab(const formats::ModelFile& src, const std::string& tokenizer_path) {
    if (!tokenizer_path.empty()) {
        fs::path p(tokenizer_path);
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            if (is_file(p / "encoder.json") && is_file(p / "vocab.bpe")) {
                RZ_ASSIGN_OR_RETURN(Vocab v, tokenizer::detail::load_gpt2_files((p / "encoder.json").string(), (p / "vocab.bpe").string()));
                return std::optional<Vocab>(std::move(v));
            }
            for (const char* n : {"tokenizer.json", "tokenizer.model"}) {
                if (!is_file(p / n)) continue;
                RZ_ASSIGN_OR_RETURN(Vocab v, load_vocab_file(p / n, 0));
                return std::optional<Vocab>(std::move(v));
            }
            return not_found(tokenizer_path + ": no tokenizer.json, tokenizer.model or encoder.json + vocab.bpe in this folder");
        }
        if (!is_file(p)) return not_found(tokenizer_path + ": no such tokenizer file");
        RZ_ASSIGN_OR_RETURN(Vocab v, load_vocab_file(p, 0));
        return std::optional<Vocab>(std::move(v));
    }
    if (src.find_meta("tokenizer.ggml.tokens") || src.find_meta("tokenizer.vocabulary")) {
        RZ_ASSIGN_OR_RETURN(Vocab v, tokenizer::detail::load_from_metadata(src));
        return std::optional<Vocab>(std::move(v));
    }
    const fs::path path(src.path);
    std::error_code ec;
    std::vector<fs::path> candidates;
    int64_t expected = 0;
    if (src.format == formats::Format::kLlama2c) {
        expected = src.meta_int("llama.vocab_size").value_or(0);
        const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
        const std::string tokn = "tok" + std::to_string(expected);
        for (const std::string& n : {tokn + ".model", std::string("tokenizer.model"), tokn + ".bin", std::string("tokenizer.bin")})
            candidates.push_back(dir / n);
    } else if (src.format == formats::Format::kHfFolder || src.format == formats::Format::kSafeTensors) {
        const fs::path dir = fs::is_directory(path, ec) ? path : (path.parent_path().empty() ? fs::path(".") : path.parent_path());
        candidates = {dir / "tokenizer.json", dir / "tokenizer.model"};
    }
    for (const fs::path& c : candidates) {
        if (!is_file(c)) continue;
        RZ_ASSIGN_OR_RETURN(Vocab v, load_vocab_file(c, expected));
        if (expected > 0 && v.n_tokens() != expected) continue;
        return std::optional<Vocab>(std::move(v));
    }
    return std::optional<Vocab>();
}

std::vector<std::pair<std::string, MetaValue>> vocab_gguf_keys(const Vocab& v) {
    std::vector<std::pair<std::string, MetaValue>> out;
    auto add = [&](std::string k, MetaValue m) { out.emplace_back(std::move(k), std::move(m)); };
    const size_t n = v.text.size();
    // SentencePiece-style BPE from a tokenizer.json (no byte-level encoding, `▁` spaces) is what llama.cpp
    // stores as a "llama" vocabulary with merge ranks turned into scores.
    const bool spm_like_bpe = v.type == VocabType::kBpe && !v.byte_encode;
    std::string model = "llama";
    if (v.type == VocabType::kBpe && !spm_like_bpe) model = "gpt2";
    if (v.type == VocabType::kWpm) model = "bert";
    add("tokenizer.ggml.model", MetaValue::str(model));
    if (model == "gpt2") add("tokenizer.ggml.pre", MetaValue::str(pre_name(v)));
    std::vector<MetaValue> tokens, scores, types;
    tokens.reserve(n);
    for (const std::string& t : v.text) tokens.push_back(MetaValue::str(t));
    add("tokenizer.ggml.tokens", MetaValue::array(MetaType::kString, std::move(tokens)));
    if (!v.scores.empty()) {
        scores.reserve(n);
        for (size_t i = 0; i < n; ++i) scores.push_back(MetaValue::f32(i < v.scores.size() ? v.scores[i] : 0.0f));
        add("tokenizer.ggml.scores", MetaValue::array(MetaType::kF32, std::move(scores)));
    } else if (spm_like_bpe) {
        // Merge rank order as SentencePiece scores: a merged token's score falls with its merge rank.
        std::vector<float> sc(n, 0.0f);
        std::unordered_map<std::string, size_t> index;
        for (size_t i = 0; i < n; ++i) index.emplace(v.text[i], i);
        for (size_t r = 0; r < v.merges.size(); ++r) {
            auto it = index.find(v.merges[r].first + v.merges[r].second);
            if (it != index.end()) sc[it->second] = -static_cast<float>(r + 1);
        }
        for (float s : sc) scores.push_back(MetaValue::f32(s));
        add("tokenizer.ggml.scores", MetaValue::array(MetaType::kF32, std::move(scores)));
    }
    if (v.attrs.size() == n) {
        types.reserve(n);
        for (uint16_t a : v.attrs) types.push_back(MetaValue::i32(token_type_of(a)));
        add("tokenizer.ggml.token_type", MetaValue::array(MetaType::kI32, std::move(types)));
    }
    if (model == "gpt2" && !v.merges.empty()) {
        std::vector<MetaValue> ms;
        ms.reserve(v.merges.size());
        for (const auto& [a, b] : v.merges) ms.push_back(MetaValue::str(a + " " + b));
        add("tokenizer.ggml.merges", MetaValue::array(MetaType::kString, std::move(ms)));
    }
    auto id = [&](const char* key, int32_t x) {
        if (x >= 0) add(key, MetaValue::u32(static_cast<uint32_t>(x)));
    };
    id("tokenizer.ggml.bos_token_id", v.bos);
    id("tokenizer.ggml.eos_token_id", v.eos);
    id("tokenizer.ggml.unknown_token_id", v.unk);
    id("tokenizer.ggml.seperator_token_id", v.sep);
    id("tokenizer.ggml.padding_token_id", v.pad);
    id("tokenizer.ggml.mask_token_id", v.mask);
    id("tokenizer.ggml.eot_token_id", v.eot);
    id("tokenizer.ggml.eom_token_id", v.eom);
    add("tokenizer.ggml.add_bos_token", MetaValue::boolean(v.add_bos));
    add("tokenizer.ggml.add_eos_token", MetaValue::boolean(v.add_eos));
    if (model == "llama") add("tokenizer.ggml.add_space_prefix", MetaValue::boolean(v.add_space_prefix));
    if (v.remove_extra_whitespaces) add("tokenizer.ggml.remove_extra_whitespaces", MetaValue::boolean(true));
    if (!v.chat_template.empty()) add("tokenizer.chat_template", MetaValue::str(v.chat_template));
    return out;
}

}  // namespace rz::convert::detail
