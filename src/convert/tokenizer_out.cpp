// SentencePiece tokenizer.model writer (protobuf ModelProto, only the fields readers use).
#include "convert/tokenizer_out.h"

#include "tokenizer/vocab.h"

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

namespace rz::convert::detail {

namespace fs = std::filesystem;
using formats::MetaValue;

namespace {

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, uint32_t field, uint32_t wire) { put_varint(out, (uint64_t{field} << 3) | wire); }
void put_bytes(std::string& out, uint32_t field, const std::string& b) {
    put_key(out, field, 2);
    put_varint(out, b.size());
    out += b;
}
void put_int(std::string& out, uint32_t field, int64_t v) {
    put_key(out, field, 0);
    put_varint(out, static_cast<uint64_t>(v));  // int32 negatives: sign-extended 10-byte varint, as protobuf does
}
void put_float(std::string& out, uint32_t field, float f) {
    put_key(out, field, 5);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}

Status write_file(const fs::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) return io_error(p.string() + ": cannot write");
    return Status::Ok();
}

std::string token_text(const std::vector<MetaValue>& items, const formats::ModelFile& mf, const char* key) {
    auto id = mf.meta_int(key);
    if (!id || *id < 0 || static_cast<size_t>(*id) >= items.size() || !items[static_cast<size_t>(*id)].as_string()) return "";
    return *items[static_cast<size_t>(*id)].as_string();
}

bool flag_of(const formats::ModelFile& mf, const char* key, bool dflt) {
    const MetaValue* m = mf.find_meta(key);
    return m && m->as_bool() ? *m->as_bool() : dflt;
}

// Byte-level BPE ("gpt2" vocabularies): tokenizer.json with the pre-tokenizer's regexes as Split steps,
// ByteLevel byte mapping, control / user-defined tokens as added_tokens; tokenizer_config.json says what
// add_special adds. (Plain nlohmann::json: its std::map keeps inserting 100K+ vocabulary keys O(log n);
// ordered_json's linear-search map would take minutes.)
Status write_bpe_json(const formats::ModelFile& mf, const std::vector<MetaValue>& items, const fs::path& dir) {
    const std::string pre = mf.meta_string("tokenizer.ggml.pre").value_or("default");
    bool ignore_merges = false;
    auto regexes = tokenizer::detail::regexes_for_pre(pre, &ignore_merges);
    if (!regexes.ok()) return regexes.status();
    const auto* types = mf.find_meta("tokenizer.ggml.token_type") ? mf.find_meta("tokenizer.ggml.token_type")->as_array() : nullptr;
    const auto* merges = mf.find_meta("tokenizer.ggml.merges") ? mf.find_meta("tokenizer.ggml.merges")->as_array() : nullptr;
    nlohmann::json j;
    j["version"] = "1.0";
    j["truncation"] = nullptr;
    j["padding"] = nullptr;
    nlohmann::json added = nlohmann::json::array();
    nlohmann::json vocab = nlohmann::json::object();
    for (size_t i = 0; i < items.size(); ++i) {
        const std::string* t = items[i].as_string();
        if (!t) return corrupt("tokenizer.ggml.tokens[" + std::to_string(i) + "] is not a string");
        const int64_t type = types && i < types->items.size() ? types->items[i].as_int().value_or(1) : 1;
        if (type == 3 || type == 4) {
            added.push_back({{"id", i}, {"content", *t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                             {"normalized", type == 4}, {"special", type == 3}});
        }
        vocab[*t] = i;
    }
    j["added_tokens"] = added;
    j["normalizer"] = nullptr;
    nlohmann::json steps = nlohmann::json::array();
    for (const std::string& re : *regexes)
        steps.push_back({{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}});
    steps.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});
    j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", steps}};
    j["post_processor"] = nullptr;
    j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    nlohmann::json ms = nlohmann::json::array();
    if (merges)
        for (const MetaValue& m : merges->items)
            if (const std::string* s = m.as_string()) ms.push_back(*s);
    j["model"] = {{"type", "BPE"},          {"dropout", nullptr},        {"unk_token", nullptr},
                  {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                  {"byte_fallback", false}, {"ignore_merges", ignore_merges}, {"vocab", vocab}, {"merges", ms}};
    RZ_RETURN_IF_ERROR(write_file(dir / "tokenizer.json", j.dump(1) + "\n"));
    nlohmann::json cfg;
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast";
    cfg["add_bos_token"] = flag_of(mf, "tokenizer.ggml.add_bos_token", false);
    cfg["add_eos_token"] = flag_of(mf, "tokenizer.ggml.add_eos_token", false);
    if (auto b = token_text(items, mf, "tokenizer.ggml.bos_token_id"); !b.empty()) cfg["bos_token"] = b;
    if (auto e = token_text(items, mf, "tokenizer.ggml.eos_token_id"); !e.empty()) cfg["eos_token"] = e;
    if (auto p = token_text(items, mf, "tokenizer.ggml.padding_token_id"); !p.empty()) cfg["pad_token"] = p;
    if (auto t = mf.meta_string("tokenizer.chat_template")) cfg["chat_template"] = *t;
    return write_file(dir / "tokenizer_config.json", cfg.dump(2) + "\n");
}

}  // namespace

Status write_tokenizer_files(const formats::ModelFile& mf, const fs::path& dir) {
    const MetaValue* toks = mf.find_meta("tokenizer.ggml.tokens");
    if (!toks || !toks->as_array()) return Status::Ok();
    const std::string model = mf.meta_string("tokenizer.ggml.model").value_or("llama");
    const auto& items = toks->as_array()->items;
    if (model == "gpt2") return write_bpe_json(mf, items, dir);
    if (model != "llama")
        return unsupported("writing a '" + model + "' tokenizer into a Hugging Face folder is not implemented (SentencePiece and byte-level BPE only)");
    const auto* scores = mf.find_meta("tokenizer.ggml.scores") ? mf.find_meta("tokenizer.ggml.scores")->as_array() : nullptr;
    const auto* types = mf.find_meta("tokenizer.ggml.token_type") ? mf.find_meta("tokenizer.ggml.token_type")->as_array() : nullptr;
    std::string proto;
    bool has_bytes = false;
    for (size_t i = 0; i < items.size(); ++i) {
        std::string piece;
        const std::string* s = items[i].as_string();
        put_bytes(piece, 1, s ? *s : std::string());
        put_float(piece, 2, scores && i < scores->items.size() ? static_cast<float>(scores->items[i].as_float().value_or(0.0)) : 0.0f);
        const int64_t type = types && i < types->items.size() ? types->items[i].as_int().value_or(1) : 1;
        has_bytes |= type == 6;
        if (type != 1) put_int(piece, 3, type);
        put_bytes(proto, 1, piece);
    }
    std::string trainer;
    put_int(trainer, 3, 2);  // model_type = BPE
    if (has_bytes) put_int(trainer, 35, 1);
    put_int(trainer, 40, mf.meta_int("tokenizer.ggml.unknown_token_id").value_or(0));
    put_int(trainer, 41, mf.meta_int("tokenizer.ggml.bos_token_id").value_or(-1));
    put_int(trainer, 42, mf.meta_int("tokenizer.ggml.eos_token_id").value_or(-1));
    put_int(trainer, 43, mf.meta_int("tokenizer.ggml.padding_token_id").value_or(-1));
    put_bytes(proto, 2, trainer);
    std::string norm;
    put_bytes(norm, 1, "identity");
    auto flag = [&](const char* key, bool dflt) {
        const MetaValue* m = mf.find_meta(key);
        return m && m->as_bool() ? *m->as_bool() : dflt;
    };
    put_int(norm, 3, flag("tokenizer.ggml.add_space_prefix", true) ? 1 : 0);
    put_int(norm, 4, flag("tokenizer.ggml.remove_extra_whitespaces", false) ? 1 : 0);
    put_int(norm, 5, 1);
    put_bytes(proto, 3, norm);
    RZ_RETURN_IF_ERROR(write_file(dir / "tokenizer.model", proto));

    nlohmann::json cfg;
    cfg["tokenizer_class"] = "LlamaTokenizer";
    cfg["add_bos_token"] = flag("tokenizer.ggml.add_bos_token", true);
    cfg["add_eos_token"] = flag("tokenizer.ggml.add_eos_token", false);
    auto text = [&](const char* key) -> std::string {
        auto id = mf.meta_int(key);
        if (!id || *id < 0 || static_cast<size_t>(*id) >= items.size() || !items[static_cast<size_t>(*id)].as_string()) return "";
        return *items[static_cast<size_t>(*id)].as_string();
    };
    if (auto b = text("tokenizer.ggml.bos_token_id"); !b.empty()) cfg["bos_token"] = b;
    if (auto e = text("tokenizer.ggml.eos_token_id"); !e.empty()) cfg["eos_token"] = e;
    if (auto u = text("tokenizer.ggml.unknown_token_id"); !u.empty()) cfg["unk_token"] = u;
    if (auto t = mf.meta_string("tokenizer.chat_template")) cfg["chat_template"] = *t;
    return write_file(dir / "tokenizer_config.json", cfg.dump(2) + "\n");
}

}  // namespace rz::convert::detail
