#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

// Pre-tokenizer regexes per family. They are the regexes of each model's tokenizer.json (in the form
// llama.cpp uses them, which its test vectors were checked against): `(?i:'s|...)` spelled out as
// `'[sS]`..., lists applied in sequence where the Hugging Face pipeline chains several splits.
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen35 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kCjk = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
constexpr const char* kDeepseekLlmLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";

bool one_of(const std::string& s, std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (s == n) return true;
    return false;
}

}  // namespace

uint16_t attr_from_token_type(int64_t type) {
    switch (type) {
        case 1: return kAttrNormal;
        case 2: return kAttrUnknown;
        case 3: return kAttrControl;
        case 4: return kAttrUserDefined;
        case 5: return kAttrUnused;
        case 6: return kAttrByte;
        default: return 0;  // undefined
    }
}

Result<std::vector<std::string>> regexes_for_pre(const std::string& pre, bool* ignore_merges) {
    *ignore_merges = false;
    if (pre.empty() || pre == "default") {
        return std::vector<std::string>{R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"};
    }
    if (one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"})) {
        *ignore_merges = true;
        return std::vector<std::string>{kLlama3};
    }
    if (one_of(pre, {"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"})) return std::vector<std::string>{kLlama3};
    if (pre == "deepseek-llm") {
        return std::vector<std::string>{"[\r\n]", kDeepseekLlmLetters,
                                        R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)",
                                        R"(\s+\z)", kCjk, R"(\p{N}+)"};
    }
    if (pre == "deepseek-coder") {
        return std::vector<std::string>{"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"};
    }
    if (pre == "falcon") {
        return std::vector<std::string>{R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"};
    }
    if (one_of(pre, {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"})) {
        return std::vector<std::string>{R"(\p{N})", kGpt2};
    }
    if (one_of(pre, {"gpt-2", "gpt2", "mpt", "olmo", "jais", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de",
                     "jina-v1-en", "jina-v2-code", "roberta-bpe", "gigachat", "mellum", "exaone4", "trillion",
                     "granite-docling"})) {
        return std::vector<std::string>{kGpt2};
    }
    if (one_of(pre, {"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan", "kormo", "grok-2"})) {
        return std::vector<std::string>{kQwen2};
    }
    if (pre == "qwen35") return std::vector<std::string>{kQwen35};
    if (one_of(pre, {"poro-chat", "bloom", "gpt3-finnish"})) return std::vector<std::string>{R"( ?[^(\s|.,!?…。，、।۔،)]+)"};
    if (pre == "viking") return std::vector<std::string>{R"( ?[^(\s|.,!?…。，、।۔،)]+)", R"(\p{N})"};
    if (one_of(pre, {"gpt-4o", "llama4"})) {
        return std::vector<std::string>{
            R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};
    }
    if (pre == "tekken") {
        *ignore_merges = true;
        return std::vector<std::string>{
            R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};
    }
    if (pre == "seed-coder") {
        return std::vector<std::string>{
            R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"};
    }
    return unsupported("unknown pre-tokenizer type '" + pre + "'");
}

Status finalize(Vocab& v) {
    const size_t n = v.text.size();
    if (n == 0) return corrupt(v.source + ": the vocabulary is empty");
    if (n > (1u << 24)) return corrupt(v.source + ": implausible vocabulary size " + std::to_string(n));
    if (v.scores.empty()) v.scores.assign(n, 0.0f);
    if (v.attrs.empty()) v.attrs.assign(n, kAttrNormal);
    if (v.scores.size() != n)
        return corrupt(v.source + ": " + std::to_string(v.scores.size()) + " scores for " + std::to_string(n) + " tokens");
    if (v.attrs.size() != n)
        return corrupt(v.source + ": " + std::to_string(v.attrs.size()) + " token types for " + std::to_string(n) +
                       " tokens");
    // A NaN score would break the merge queue's ordering; treat non-finite scores as "never merge first".
    for (float& sc : v.scores)
        if (!std::isfinite(sc)) sc = -1e30f;
    for (int32_t* id : {&v.bos, &v.eos, &v.unk, &v.sep, &v.pad, &v.eot, &v.eom, &v.mask}) {
        if (*id >= static_cast<int32_t>(n) || *id < -1) *id = -1;
    }

    v.to_id.build(v.text);  // first id wins for duplicates
    v.max_token_len = 0;
    for (size_t i = 0; i < n; ++i) v.max_token_len = std::max(v.max_token_len, v.text[i].size());

    const bool byte_level = v.type == VocabType::kBpe && v.byte_encode;

    // Single-byte tokens: <0xXX> (SPM byte fallback) or the GPT-2 byte character.
    for (int b = 0; b < 256; ++b) {
        int32_t id = -1;
        if (byte_level) {
            id = v.find(byte_level_encode(std::string(1, static_cast<char>(b))));
        } else {
            static const char* hex = "0123456789ABCDEF";
            const char buf[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
            id = v.find(buf);
            if (id < 0 && v.type == VocabType::kSpm) id = v.find(std::string(1, static_cast<char>(b)));
        }
        v.byte_token[static_cast<size_t>(b)] = id;
    }

    // What each token decodes to.
    v.piece.assign(n, std::string());
    std::vector<uint8_t> raw_keys(n, 0);
    for (size_t i = 0; i < n; ++i) {
        const uint16_t a = v.attrs[i];
        const std::string& t = v.text[i];
        std::string& p = v.piece[i];
        if (a & (kAttrControl | kAttrUnknown | kAttrUserDefined)) {
            p = t;
        } else if (a & kAttrByte) {
            if (t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>' && std::isxdigit(static_cast<uint8_t>(t[3])) &&
                std::isxdigit(static_cast<uint8_t>(t[4]))) {
                p = std::string(1, static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
            } else if (byte_level) {
                byte_level_decode(t, &p);
            } else {
                p = t;
            }
        } else if (a & kAttrNormal) {
            if (byte_level) {
                byte_level_decode(t, &p);
                raw_keys[i] = 1;
            } else if (v.type == VocabType::kWpm) {
                p = v.wpm_spm_style ? replace_all(t, kSpmSpace, " ") : t;
            } else {
                p = v.escape_whitespaces || v.type == VocabType::kSpm ? replace_all(t, kSpmSpace, " ") : t;
            }
        }
        // unused / undefined tokens decode to nothing, as in llama.cpp
    }

    if (byte_level) v.raw_to_id.build(v.piece, &raw_keys);

    // BPE merges keyed by the two token ids.
    v.merge_map = MergeIndex();
    if (v.type == VocabType::kBpe) {
        v.merge_map.reserve(v.merges.size());
        std::string joined;
        for (size_t r = 0; r < v.merges.size(); ++r) {
            const auto& [a, b] = v.merges[r];
            const int32_t ia = v.find(a);
            const int32_t ib = v.find(b);
            joined.assign(a).append(b);
            const int32_t ir = v.find(joined);
            if (ia < 0 || ib < 0 || ir < 0) continue;  // cannot apply to in-vocabulary symbols
            v.merge_map.insert(ia, ib, static_cast<int32_t>(r), ir);
        }
    }

    // Some families mark special tokens by model name (llama.cpp does the same, GGUF has no field for it).
    std::string lname = v.model_name;
    for (char& c : lname) c = static_cast<char>(std::tolower(static_cast<uint8_t>(c)));

    v.special_tokens.clear();
    for (size_t i = 0; i < n; ++i) {
        if ((v.attrs[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) && !v.text[i].empty())
            v.special_tokens.push_back(static_cast<int32_t>(i));
    }
    if (lname.find("phi-3") != std::string::npos || lname.find("phi3") != std::string::npos) {
        for (int32_t id : v.special_tokens) v.attrs[static_cast<size_t>(id)] |= kAttrRstrip;
        if (int32_t id = v.find("</s>"); id >= 0) v.attrs[static_cast<size_t>(id)] |= kAttrRstrip;
        for (const char* t : {"<unk>", "<s>", "<|endoftext|>"})
            if (int32_t id = v.find(t); id >= 0) v.attrs[static_cast<size_t>(id)] &= static_cast<uint16_t>(~kAttrRstrip);
    }
    std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(), [&](int32_t a, int32_t b) {
        return v.text[static_cast<size_t>(a)].size() > v.text[static_cast<size_t>(b)].size();
    });

    // End-of-generation set.
    v.eog.assign(n, 0);
    for (int32_t id : {v.eos, v.eot, v.eom}) if (id >= 0) v.eog[static_cast<size_t>(id)] = 1;
    for (int32_t id : v.extra_eog) if (id >= 0 && id < static_cast<int32_t>(n)) v.eog[static_cast<size_t>(id)] = 1;
    for (const char* t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                          "<EOT>", "<|eom_id|>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"}) {
        const int32_t id = v.find(t);
        if (id >= 0 && v.has_attr(id, kAttrControl | kAttrUserDefined)) v.eog[static_cast<size_t>(id)] = 1;
    }

    // SPM (and SPM-style BPE) may cut text before a `▁` that follows another character only when no token
    // could span such a cut; checked on the actual vocabulary.
    v.spm_can_chunk = false;
    if (!byte_level) {
        v.spm_can_chunk = true;
        for (size_t i = 0; i < n && v.spm_can_chunk; ++i) {
            const std::string& t = v.text[i];
            size_t pos = t.find(kSpmSpace, 1);
            while (pos != std::string::npos) {
                if (pos < 3 || t.compare(pos - 3, 3, kSpmSpace) != 0) {
                    v.spm_can_chunk = false;
                    break;
                }
                pos = t.find(kSpmSpace, pos + 3);
            }
        }
    }

    if (v.type == VocabType::kBpe) {
        if (v.regexes.empty() && !v.regexes_from_file) {
            bool ignore = false;
            RZ_ASSIGN_OR_RETURN(v.regexes, regexes_for_pre(v.pre, &ignore));
            v.ignore_merges = v.ignore_merges || ignore;
        }
        RZ_ASSIGN_OR_RETURN(v.pretok, PreTokenizer::create(v.regexes));
    }
    return Status::Ok();
}

}  // namespace rz::tokenizer::detail
