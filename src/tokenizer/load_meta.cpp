// Vocabulary from a model file's metadata: GGUF `tokenizer.ggml.*` keys, or the APR embedded vocabulary
// (`tokenizer.vocabulary`, `tokenizer.merges`, `tokenizer.scores`, ...).
#include "realizar/formats/model_file.h"
#include "tokenizer/loaders.h"
#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

using formats::MetaArray;
using formats::MetaType;
using formats::MetaValue;
using formats::ModelFile;

const MetaValue* find_any(const ModelFile& f, std::initializer_list<const char*> keys) {
    for (const char* k : keys)
        if (const MetaValue* m = f.find_meta(k)) return m;
    return nullptr;
}

Status string_array(const MetaValue* m, const std::string& key, const std::string& src, std::vector<std::string>* out) {
    const MetaArray* a = m ? m->as_array() : nullptr;
    if (!a) return corrupt(src + ": metadata '" + key + "' is not an array");
    out->clear();
    out->reserve(a->items.size());
    for (size_t i = 0; i < a->items.size(); ++i) {
        const std::string* s = a->items[i].as_string();
        if (!s) return corrupt(src + ": '" + key + "'[" + std::to_string(i) + "] is not a string");
        out->push_back(*s);
    }
    return Status::Ok();
}

Status number_array(const MetaValue* m, const std::string& key, const std::string& src, size_t n,
                    std::vector<double>* out) {
    const MetaArray* a = m->as_array();
    if (!a) return corrupt(src + ": metadata '" + key + "' is not an array");
    if (a->items.size() < n)
        return corrupt(src + ": '" + key + "' has " + std::to_string(a->items.size()) + " entries for " +
                       std::to_string(n) + " tokens");
    out->resize(n);
    for (size_t i = 0; i < n; ++i) {
        auto x = a->items[i].as_float();
        if (!x) return corrupt(src + ": '" + key + "'[" + std::to_string(i) + "] is not a number");
        (*out)[i] = *x;
    }
    return Status::Ok();
}

Status read_id(const ModelFile& f, std::initializer_list<const char*> keys, size_t n, int32_t* id) {
    const MetaValue* m = find_any(f, keys);
    if (!m) return Status::Ok();
    auto x = m->as_int();
    if (!x) return corrupt(f.path + ": '" + *keys.begin() + "' is not an integer");
    if (*x < 0 || static_cast<uint64_t>(*x) >= n) {
        if (*x == -1 || *x == 0xFFFFFFFF) {  // "none" as some converters write it
            *id = -1;
            return Status::Ok();
        }
        return corrupt(f.path + ": '" + *keys.begin() + "' = " + std::to_string(*x) + " is outside the vocabulary (" +
                       std::to_string(n) + " tokens)");
    }
    *id = static_cast<int32_t>(*x);
    return Status::Ok();
}

void read_bool(const ModelFile& f, const char* key, bool* out) {
    if (const MetaValue* m = f.find_meta(key))
        if (auto b = m->as_bool()) *out = *b;
}

}  // namespace

Result<Vocab> load_from_metadata(const ModelFile& f) {
    Vocab v;
    v.source = f.path;
    const bool gguf_keys = f.find_meta("tokenizer.ggml.tokens") != nullptr;
    const MetaValue* tokens = gguf_keys ? f.find_meta("tokenizer.ggml.tokens")
                                        : find_any(f, {"tokenizer.vocabulary", "tokenizer.tokens", "tokenizer.vocab"});
    if (!tokens) {
        return not_found(f.path + ": no tokenizer in the model metadata (no tokenizer.ggml.tokens / tokenizer.vocabulary)");
    }
    const std::string tokens_key = gguf_keys ? "tokenizer.ggml.tokens" : "tokenizer.vocabulary";
    RZ_RETURN_IF_ERROR(string_array(tokens, tokens_key, f.path, &v.text));
    const size_t n = v.text.size();
    if (n == 0) return corrupt(f.path + ": '" + tokens_key + "' is empty");
    for (size_t i = 0; i < n; ++i)
        if (utf8_valid_prefix(v.text[i]) != v.text[i].size())
            return corrupt(f.path + ": token " + std::to_string(i) + " is not valid UTF-8");

    std::string model = f.meta_string(gguf_keys ? "tokenizer.ggml.model" : "tokenizer.model").value_or("");
    const MetaValue* merges = find_any(f, {"tokenizer.ggml.merges", "tokenizer.merges"});
    const MetaValue* scores = find_any(f, {"tokenizer.ggml.scores", "tokenizer.scores"});
    if (model.empty()) model = merges ? "gpt2" : "llama";
    if (model == "llama" || model == "spm" || model == "sentencepiece") {
        v.type = VocabType::kSpm;
        v.bos = 1, v.eos = 2, v.unk = 0;
        v.add_bos = true;
        v.add_space_prefix = true;
    } else if (model == "gpt2" || model == "bpe") {
        v.type = VocabType::kBpe;
        v.pre = f.meta_string("tokenizer.ggml.pre").value_or(f.meta_string("tokenizer.pre").value_or("default"));
        if (!merges) return corrupt(f.path + ": BPE vocabulary without tokenizer.ggml.merges");
        v.escape_whitespaces = false;
    } else if (model == "bert" || model == "wordpiece") {
        v.type = VocabType::kWpm;
        v.bos = 101, v.unk = 100, v.sep = 102, v.pad = 0, v.mask = 103;
        v.add_bos = v.add_sep = true;
        v.wpm_spm_style = gguf_keys;  // llama.cpp's converter writes `▁word` / bare continuations
        v.lowercase = true;
    } else {
        return unsupported(f.path + ": tokenizer model '" + model + "' is not supported (llama, gpt2, bert)");
    }
    if (merges) {
        std::vector<std::string> ms;
        RZ_RETURN_IF_ERROR(string_array(merges, "tokenizer.ggml.merges", f.path, &ms));
        v.merges.reserve(ms.size());
        for (size_t i = 0; i < ms.size(); ++i) {
            const size_t sp = ms[i].find(' ', 1);
            if (sp == std::string::npos)
                return corrupt(f.path + ": merge " + std::to_string(i) + " '" + ms[i] + "' is not 'a b'");
            v.merges.emplace_back(ms[i].substr(0, sp), ms[i].substr(sp + 1));
        }
    }
    std::vector<double> nums;
    if (scores) {
        RZ_RETURN_IF_ERROR(number_array(scores, "tokenizer.ggml.scores", f.path, n, &nums));
        v.scores.assign(nums.begin(), nums.end());
    }
    if (const MetaValue* types = find_any(f, {"tokenizer.ggml.token_type", "tokenizer.token_type"})) {
        RZ_RETURN_IF_ERROR(number_array(types, "tokenizer.ggml.token_type", f.path, n, &nums));
        v.attrs.resize(n);
        for (size_t i = 0; i < n; ++i) v.attrs[i] = attr_from_token_type(static_cast<int64_t>(nums[i]));
    } else {
        v.attrs.assign(n, kAttrNormal);
        // Without types, mark the usual control tokens and SPM byte tokens by their text.
        for (size_t i = 0; i < n; ++i) {
            const std::string& t = v.text[i];
            if (v.type != VocabType::kBpe && t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>') v.attrs[i] = kAttrByte;
            else if (t == "<s>" || t == "</s>" || t == "<|endoftext|>" || t == "[CLS]" || t == "[SEP]") v.attrs[i] = kAttrControl;
            else if (t == "<unk>" || t == "[UNK]") v.attrs[i] = kAttrUnknown;
        }
    }

    if (v.type == VocabType::kBpe) {
        bool ignore = false;
        auto re = regexes_for_pre(v.pre, &ignore);
        if (!re.ok()) return re.status().with_context(f.path);
        v.regexes = std::move(re).value();
        v.ignore_merges = ignore;
        if (v.pre == "llama3" || v.pre == "llama-v3" || v.pre == "llama-bpe" || v.pre == "tekken") v.add_bos = true;
    }

    RZ_RETURN_IF_ERROR(read_id(f, {"tokenizer.ggml.bos_token_id", "tokenizer.bos_token_id"}, n, &v.bos));
    RZ_RETURN_IF_ERROR(read_id(f, {"tokenizer.ggml.eos_token_id", "tokenizer.eos_token_id"}, n, &v.eos));
    RZ_RETURN_IF_ERROR(read_id(f, {"tokenizer.ggml.unknown_token_id", "tokenizer.unk_token_id"}, n, &v.unk));
    RZ_RETURN_IF_ERROR(read_id(f, {"tokenizer.ggml.seperator_token_id", "tokenizer.ggml.separator_token_id"}, n, &v.sep));
    RZ_RETURN_IF_ERROR(read_id(f, {"tokenizer.ggml.padding_token_id", "tokenizer.pad_token_id"}, n, &v.pad));
    RZ_RETURN_IF_ERROR(read_id(f, {"tokenizer.ggml.mask_token_id"}, n, &v.mask));
    RZ_RETURN_IF_ERROR(read_id(f, {"tokenizer.ggml.eot_token_id"}, n, &v.eot));
    RZ_RETURN_IF_ERROR(read_id(f, {"tokenizer.ggml.eom_token_id"}, n, &v.eom));
    read_bool(f, "tokenizer.ggml.add_bos_token", &v.add_bos);
    read_bool(f, "tokenizer.ggml.add_eos_token", &v.add_eos);
    read_bool(f, "tokenizer.ggml.add_sep_token", &v.add_sep);
    read_bool(f, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix);
    read_bool(f, "tokenizer.ggml.remove_extra_whitespaces", &v.remove_extra_whitespaces);
    if (v.type == VocabType::kWpm) {
        read_bool(f, "tokenizer.ggml.normalizer.lowercase", &v.lowercase);
        v.strip_accents = v.lowercase;
        read_bool(f, "tokenizer.ggml.normalizer.strip_accents", &v.strip_accents);
    }
    v.chat_template = f.meta_string("tokenizer.chat_template").value_or(f.meta_string("chat_template").value_or(""));
    v.model_name = f.meta_string("general.name").value_or("");
    return v;
}

}  // namespace rz::tokenizer::detail
