// Hugging Face tokenizer.json (+ tokenizer_config.json) -> Vocab. Supports the pieces real LLM tokenizers
// use: BPE (byte-level or SentencePiece-style with byte fallback) and WordPiece models; Split / ByteLevel /
// Digits / Metaspace / BertPreTokenizer pre-tokenizers; NFC, Prepend, Replace, Lowercase, BertNormalizer
// normalizers; TemplateProcessing / BertProcessing post-processors. Anything else is a clear error.
#include <utility>

#include <nlohmann/json.hpp>

#include "tokenizer/loaders.h"
#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

using json = nlohmann::json;

// GPT-2's ByteLevel pre-tokenizer regex as Hugging Face spells it.
constexpr const char* kByteLevelRegex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Member `key` of object `j` by reference (json::value() would copy it), or a shared null/empty value.
const json& member(const json& j, const char* key) {
    static const json kNull;
    if (!j.is_object()) return kNull;
    auto it = j.find(key);
    return it == j.end() ? kNull : *it;
}

// Elements of an array member, or nothing.
const json& array_member(const json& j, const char* key) {
    static const json kEmpty = json::array();
    const json& a = member(j, key);
    return a.is_array() ? a : kEmpty;
}

std::string str_or_content(const json& j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
    return {};
}

struct HfState {
    bool byte_level = false;
    bool metaspace = false;
    bool metaspace_split = false;
    bool prepend_first_only = false;
    bool prepend_space = false;
    bool replace_space = false;
};

Status read_normalizer(const json& n, Vocab& v, HfState& st, const std::string& name) {
    if (n.is_null()) return Status::Ok();
    const std::string type = n.value("type", "");
    if (type == "Sequence") {
        for (const json& c : array_member(n, "normalizers")) RZ_RETURN_IF_ERROR(read_normalizer(c, v, st, name));
    } else if (type == "NFC") {
        v.nfc = true;
    } else if (type == "Prepend") {
        if (n.value("prepend", "") != std::string(kSpmSpace)) return unsupported(name + ": Prepend normalizer other than '▁'");
        st.prepend_space = true;
    } else if (type == "Replace") {
        const json& pat = n.value("pattern", json::object());
        if (pat.value("String", "") != " " || n.value("content", "") != std::string(kSpmSpace))
            return unsupported(name + ": Replace normalizer other than ' ' -> '▁'");
        st.replace_space = true;
    } else if (type == "Lowercase") {
        v.lowercase = true;
    } else if (type == "BertNormalizer") {
        v.lowercase = n.value("lowercase", true);
        const json& sa = n.value("strip_accents", json());
        v.strip_accents = sa.is_boolean() ? sa.get<bool>() : v.lowercase;
    } else if (type == "StripAccents") {
        v.strip_accents = true;
    } else if (type == "NFD" || type == "NFKC" || type == "NFKD" || type == "Precompiled") {
        return unsupported(name + ": normalizer '" + type + "' is not supported");
    } else {
        return unsupported(name + ": unknown normalizer '" + type + "'");
    }
    return Status::Ok();
}

Status read_pre_tokenizer(const json& p, Vocab& v, HfState& st, const std::string& name) {
    if (p.is_null()) return Status::Ok();
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
        for (const json& c : array_member(p, "pretokenizers")) RZ_RETURN_IF_ERROR(read_pre_tokenizer(c, v, st, name));
    } else if (type == "Split") {
        const json& pat = p.value("pattern", json::object());
        std::string re;
        if (pat.contains("Regex") && pat["Regex"].is_string()) {
            re = pat["Regex"].get<std::string>();
        } else if (pat.contains("String") && pat["String"].is_string()) {
            re = "\\Q" + pat["String"].get<std::string>() + "\\E";
        } else {
            return corrupt(name + ": Split pre-tokenizer without a pattern");
        }
        if (p.value("behavior", "Isolated") != "Isolated" || p.value("invert", false))
            return unsupported(name + ": Split pre-tokenizer behaviour other than Isolated");
        v.regexes.push_back(re);
    } else if (type == "ByteLevel") {
        st.byte_level = true;
        if (p.value("add_prefix_space", false))
            return unsupported(name + ": ByteLevel add_prefix_space=true is not supported");
        if (p.value("use_regex", true)) v.regexes.push_back(kByteLevelRegex);
    } else if (type == "Digits") {
        v.regexes.push_back(p.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    } else if (type == "Metaspace") {
        st.metaspace = true;
        const std::string scheme = p.value("prepend_scheme", p.value("add_prefix_space", true) ? "always" : "never");
        st.prepend_space = scheme != "never";
        st.prepend_first_only = scheme == "first";
        st.metaspace_split = p.value("split", true);
        if (p.value("replacement", std::string(kSpmSpace)) != std::string(kSpmSpace))
            return unsupported(name + ": Metaspace replacement other than '▁'");
    } else if (type == "BertPreTokenizer" || type == "Whitespace" || type == "WhitespaceSplit") {
        // WordPiece does its own whitespace/punctuation split (BERT rules).
        if (v.type != VocabType::kWpm) return unsupported(name + ": pre-tokenizer '" + type + "' outside WordPiece");
    } else {
        return unsupported(name + ": unknown pre-tokenizer '" + type + "'");
    }
    return Status::Ok();
}

// model.vocab and model.merges hold hundreds of thousands of entries; building them as a JSON DOM (a map
// node and two strings per entry) costs most of the load time. A parser callback takes them out as they are
// read and drops them from the DOM; everything else stays a normal (small) DOM.
struct BigParts {
    std::vector<std::pair<std::string, int64_t>> vocab;
    std::vector<std::pair<std::string, std::string>> merges;
    bool vocab_seen = false;
    bool merges_seen = false;
    bool bad_vocab_id = false;
    bool bad_merge = false;
    std::vector<std::string> path;  // keys of the open containers ("" for array elements / the root)
    std::string key;
    std::vector<std::string> pair;  // elements of a ["a", "b"] merge being read

    bool at(const char* a, const char* b) const { return path.size() == 3 && path[1] == a && path[2] == b; }

    bool on_event(json::parse_event_t ev, json& parsed) {
        using E = json::parse_event_t;
        switch (ev) {
            case E::key:
                key = parsed.get<std::string>();
                return true;
            case E::object_start:
            case E::array_start:
                path.push_back(std::exchange(key, std::string()));
                if (at("model", "vocab")) vocab_seen = true;
                if (at("model", "merges")) merges_seen = true;
                if (path.size() == 4 && path[1] == "model" && path[2] == "merges") pair.clear();
                return true;
            case E::object_end:
            case E::array_end: {
                const bool merge_pair = path.size() == 4 && path[1] == "model" && path[2] == "merges";
                if (!path.empty()) path.pop_back();
                if (merge_pair) {
                    if (pair.size() == 2) merges.emplace_back(std::move(pair[0]), std::move(pair[1]));
                    else bad_merge = true;
                    return false;
                }
                return true;
            }
            case E::value:
                if (at("model", "vocab")) {
                    if (parsed.is_number_integer()) vocab.emplace_back(std::move(key), parsed.get<int64_t>());
                    else bad_vocab_id = true;
                    return false;
                }
                if (at("model", "merges")) {
                    if (!parsed.is_string()) {
                        bad_merge = true;
                        return false;
                    }
                    const std::string& m = parsed.get_ref<const std::string&>();
                    const size_t sp = m.find(' ', 1);
                    if (sp == std::string::npos) bad_merge = true;
                    else merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
                    return false;
                }
                if (path.size() == 4 && path[1] == "model" && path[2] == "merges") {
                    if (parsed.is_string()) pair.push_back(parsed.get<std::string>());
                    else bad_merge = true;
                    return false;
                }
                return true;
        }
        return true;
    }
};

Result<Vocab> load_hf_json_impl(std::string_view json_text, std::string_view config_text, const std::string& name) {
    BigParts big;
    json j = json::parse(
        json_text, [&big](int /*depth*/, json::parse_event_t ev, json& parsed) { return big.on_event(ev, parsed); },
        false);
    if (j.is_discarded() || !j.is_object()) return corrupt(name + ": not valid JSON");
    if (big.bad_vocab_id) return corrupt(name + ": model.vocab holds a non-integer id");
    if (big.bad_merge) return corrupt(name + ": malformed entry in model.merges");
    json cfg = config_text.empty() ? json::object() : json::parse(config_text, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) return corrupt(name + ": tokenizer_config.json is not valid JSON");

    Vocab v;
    v.source = name;
    if (!j.contains("model") || !j["model"].is_object()) return corrupt(name + ": no 'model' object");
    const json& m = j["model"];
    const std::string mtype = m.value("type", big.merges_seen ? "BPE" : "");
    if (mtype == "BPE") {
        v.type = VocabType::kBpe;
    } else if (mtype == "WordPiece") {
        v.type = VocabType::kWpm;
    } else {
        return unsupported(name + ": tokenizer model type '" + mtype + "' is not supported (BPE, WordPiece)");
    }

    // Vocabulary: model.vocab (token -> id) plus added_tokens (which may extend it).
    if (!big.vocab_seen) return corrupt(name + ": model.vocab is missing");
    int64_t max_id = -1;
    for (const auto& [tok, id] : big.vocab) max_id = std::max(max_id, id);
    const json& added = array_member(j, "added_tokens");
    for (const json& a : added) {
        if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content"))
            return corrupt(name + ": malformed entry in added_tokens");
        max_id = std::max(max_id, a["id"].get<int64_t>());
    }
    if (max_id < 0) return corrupt(name + ": empty vocabulary");
    if (max_id >= (int64_t{1} << 24)) return corrupt(name + ": token id " + std::to_string(max_id) + " is implausibly large");
    // Real files number their tokens densely (a few holes at most). Every table is sized by the largest id, so a
    // few kilobytes naming id 15,000,000 would take gigabytes: the ids may run past the entries given by at most
    // their count plus 64 Ki.
    const uint64_t entries = big.vocab.size() + added.size();
    if (static_cast<uint64_t>(max_id) >= 2 * entries + 65536)
        return corrupt(name + ": token id " + std::to_string(max_id) + " with only " + std::to_string(entries) +
                       " vocabulary entries (ids are far from dense)");
    const auto n = static_cast<size_t>(max_id + 1);
    v.text.assign(n, std::string());
    v.attrs.assign(n, 0);
    for (auto& [tok, id] : big.vocab) {
        if (id < 0) return corrupt(name + ": negative id for '" + tok + "'");
        v.text[static_cast<size_t>(id)] = std::move(tok);
        v.attrs[static_cast<size_t>(id)] = kAttrNormal;
    }
    for (const json& a : added) {
        const int64_t id = a["id"].get<int64_t>();
        if (id < 0) return corrupt(name + ": negative id in added_tokens");
        const auto i = static_cast<size_t>(id);
        v.text[i] = a["content"].get<std::string>();
        uint16_t attr = a.value("special", false) ? kAttrControl : kAttrUserDefined;
        if (a.value("lstrip", false)) attr |= kAttrLstrip;
        if (a.value("rstrip", false)) attr |= kAttrRstrip;
        v.attrs[i] = attr;
    }
    for (size_t i = 0; i < n; ++i) {
        if (v.text[i].empty()) v.attrs[i] = kAttrUnused;  // a hole in the id space
        else if (utf8_valid_prefix(v.text[i]) != v.text[i].size())
            return corrupt(name + ": token " + std::to_string(i) + " is not valid UTF-8");
    }

    HfState st;
    RZ_RETURN_IF_ERROR(read_normalizer(member(j, "normalizer"), v, st, name));
    RZ_RETURN_IF_ERROR(read_pre_tokenizer(member(j, "pre_tokenizer"), v, st, name));
    const json& dec = member(j, "decoder");
    if (dec.is_object() && dec.value("type", "") == "ByteLevel") st.byte_level = true;
    v.regexes_from_file = true;

    if (v.type == VocabType::kBpe) {
        v.merges = std::move(big.merges);
        if (!member(m, "continuing_subword_prefix").is_null() && m.value("continuing_subword_prefix", "") != "")
            return unsupported(name + ": BPE continuing_subword_prefix is not supported");
        if (!member(m, "end_of_word_suffix").is_null() && m.value("end_of_word_suffix", "") != "")
            return unsupported(name + ": BPE end_of_word_suffix is not supported");
        v.ignore_merges = m.value("ignore_merges", false);
        v.byte_fallback = m.value("byte_fallback", false);
        v.byte_encode = st.byte_level;
        if (!st.byte_level) {
            // SentencePiece-style BPE: spaces become `▁` (normalizer Replace or Metaspace), optional prefix.
            v.escape_whitespaces = st.replace_space || st.metaspace;
            v.add_space_prefix = st.prepend_space;
            v.prefix_first_only = st.prepend_first_only;
            v.split_on_space = st.metaspace && st.metaspace_split;
            for (size_t i = 0; i < n; ++i) {
                const std::string& t = v.text[i];
                if ((v.attrs[i] & kAttrNormal) && t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>')
                    v.attrs[i] = kAttrByte;
            }
        } else {
            v.escape_whitespaces = false;
        }
        if (m.contains("unk_token") && m["unk_token"].is_string()) v.unk = v.find(m["unk_token"].get<std::string>());
    } else {
        v.wpm_prefix = m.value("continuing_subword_prefix", "##");
        if (m.contains("unk_token") && m["unk_token"].is_string()) {
            const std::string u = m["unk_token"].get<std::string>();
            for (size_t i = 0; i < n; ++i)
                if (v.text[i] == u) v.unk = static_cast<int32_t>(i);
        }
    }

    // Special ids and what add_special adds: the post-processor first, then tokenizer_config.json.
    auto id_of = [&](const std::string& t) -> int32_t {
        if (t.empty()) return -1;
        for (size_t i = 0; i < n; ++i)
            if (v.text[i] == t) return static_cast<int32_t>(i);
        return -1;
    };
    v.bos = id_of(str_or_content(cfg.value("bos_token", json())));
    v.eos = id_of(str_or_content(cfg.value("eos_token", json())));
    v.pad = id_of(str_or_content(cfg.value("pad_token", json())));
    if (const int32_t u = id_of(str_or_content(cfg.value("unk_token", json()))); u >= 0) v.unk = u;
    const json& pp = member(j, "post_processor");
    bool pp_decided = false;
    if (pp.is_object() && pp.value("type", "") == "TemplateProcessing") {
        pp_decided = true;
        bool seen_seq = false;
        for (const json& item : array_member(pp, "single")) {
            if (item.contains("Sequence")) {
                seen_seq = true;
            } else if (item.contains("SpecialToken")) {
                const int32_t id = id_of(item["SpecialToken"].value("id", ""));
                if (id < 0) return corrupt(name + ": post_processor names an unknown special token");
                if (!seen_seq) {
                    v.bos = id;
                    v.add_bos = true;
                } else {
                    v.eos = id;
                    v.add_eos = true;
                }
            }
        }
    } else if (pp.is_object() && (pp.value("type", "") == "BertProcessing" || pp.value("type", "") == "RobertaProcessing")) {
        pp_decided = true;
        if (pp.contains("cls") && pp["cls"].is_array() && pp["cls"].size() == 2) v.bos = id_of(pp["cls"][0].get<std::string>());
        if (pp.contains("sep") && pp["sep"].is_array() && pp["sep"].size() == 2) v.sep = id_of(pp["sep"][0].get<std::string>());
        v.add_bos = v.add_sep = true;
    }
    if (!pp_decided) {
        v.add_bos = cfg.value("add_bos_token", false) && v.bos >= 0;
        v.add_eos = cfg.value("add_eos_token", false) && v.eos >= 0;
    }
    if (v.type == VocabType::kWpm) {
        if (v.bos < 0) v.bos = id_of("[CLS]");
        if (v.sep < 0) v.sep = id_of("[SEP]");
        if (v.pad < 0) v.pad = id_of("[PAD]");
        if (v.mask < 0) v.mask = id_of("[MASK]");
    }
    if (cfg.contains("chat_template")) {
        const json& ct = cfg["chat_template"];
        if (ct.is_string()) {
            v.chat_template = ct.get<std::string>();
        } else if (ct.is_array()) {
            for (const json& t : ct)
                if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
                    v.chat_template = t["template"].get<std::string>();
        }
    }
    return v;
}

}  // namespace

Result<Vocab> load_hf_json(std::string_view json_text, std::string_view config_text, const std::string& name) {
    // nlohmann's typed accessors throw on unexpected types; they become a clear error, never an exception.
    try {
        return load_hf_json_impl(json_text, config_text, name);
    } catch (const nlohmann::json::exception& e) {
        return corrupt(name + ": unexpected JSON content: " + e.what());
    }
}

}  // namespace rz::tokenizer::detail
