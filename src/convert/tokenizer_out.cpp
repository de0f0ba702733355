// SentencePiece tokenizer.model writer (protobuf ModelProto, only the fields readers use).
#include "convert/tokenizer_out.h"

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

}  // namespace

Status write_tokenizer_files(const formats::ModelFile& mf, const fs::path& dir) {
    const MetaValue* toks = mf.find_meta("tokenizer.ggml.tokens");
    if (!toks || !toks->as_array()) return Status::Ok();
    const std::string model = mf.meta_string("tokenizer.ggml.model").value_or("llama");
    if (model != "llama")
        return unsupported("writing a '" + model + "' tokenizer into a Hugging Face folder is not implemented (only SentencePiece)");
    const auto& items = toks->as_array()->items;
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
