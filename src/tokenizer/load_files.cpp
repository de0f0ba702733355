// Loaders for stand-alone tokenizer files: SentencePiece tokenizer.model (protobuf, parsed here: only a
// handful of fields matter), llama2.c tokenizer.bin, and GPT-2's encoder.json + vocab.bpe.
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer/loaders.h"
#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

// Minimal protobuf wire-format reader over a byte range; every read is bounds-checked.
class Proto {
public:
    Proto(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
    bool done() const { return p_ >= end_; }

    bool varint(uint64_t* v) {
        *v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ >= end_) return false;
            const uint8_t b = *p_++;
            *v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return true;
        }
        return false;
    }
    bool key(uint32_t* field, uint32_t* wire) {
        uint64_t k;
        if (!varint(&k) || (k >> 3) > 0x1FFFFFFF) return false;
        *field = static_cast<uint32_t>(k >> 3);
        *wire = static_cast<uint32_t>(k & 7);
        return true;
    }
    bool bytes(const uint8_t** data, size_t* n) {
        uint64_t len;
        if (!varint(&len) || len > static_cast<uint64_t>(end_ - p_)) return false;
        *data = p_;
        *n = static_cast<size_t>(len);
        p_ += len;
        return true;
    }
    bool fixed32(uint32_t* v) {
        if (end_ - p_ < 4) return false;
        std::memcpy(v, p_, 4);
        p_ += 4;
        return true;
    }
    bool skip(uint32_t wire) {
        uint64_t v;
        const uint8_t* d;
        size_t n;
        uint32_t f;
        switch (wire) {
            case 0: return varint(&v);
            case 1:
                if (end_ - p_ < 8) return false;
                p_ += 8;
                return true;
            case 2: return bytes(&d, &n);
            case 5: return fixed32(&f);
            default: return false;  // groups (3/4) are not used by sentencepiece
        }
    }

private:
    const uint8_t* p_;
    const uint8_t* end_;
};

struct SpmSpec {
    int64_t model_type = 1;  // UNIGRAM=1, BPE=2, WORD=3, CHAR=4
    int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
    bool byte_fallback = false;
    bool treat_ws_as_suffix = false;
    std::string norm_name;
    bool add_dummy_prefix = true, remove_extra_ws = true, escape_ws = true;
};

Status parse_trainer(const uint8_t* d, size_t n, SpmSpec& s) {
    Proto p(d, n);
    while (!p.done()) {
        uint32_t f, w;
        if (!p.key(&f, &w)) return corrupt("trainer_spec: bad field key");
        uint64_t v;
        if (w == 0 && (f == 3 || f == 40 || f == 41 || f == 42 || f == 43 || f == 35 || f == 24)) {
            if (!p.varint(&v)) return corrupt("trainer_spec: truncated varint");
            const auto sv = static_cast<int64_t>(v);  // int32 fields: negatives are sign-extended varints
            switch (f) {
                case 3: s.model_type = sv; break;
                case 40: s.unk_id = static_cast<int32_t>(sv); break;
                case 41: s.bos_id = static_cast<int32_t>(sv); break;
                case 42: s.eos_id = static_cast<int32_t>(sv); break;
                case 43: s.pad_id = static_cast<int32_t>(sv); break;
                case 35: s.byte_fallback = v != 0; break;
                case 24: s.treat_ws_as_suffix = v != 0; break;
                default: break;
            }
        } else if (!p.skip(w)) {
            return corrupt("trainer_spec: truncated field " + std::to_string(f));
        }
    }
    return Status::Ok();
}

Status parse_normalizer(const uint8_t* d, size_t n, SpmSpec& s) {
    Proto p(d, n);
    while (!p.done()) {
        uint32_t f, w;
        if (!p.key(&f, &w)) return corrupt("normalizer_spec: bad field key");
        uint64_t v;
        if (f == 1 && w == 2) {
            const uint8_t* b;
            size_t len;
            if (!p.bytes(&b, &len)) return corrupt("normalizer_spec: truncated name");
            s.norm_name.assign(reinterpret_cast<const char*>(b), len);
        } else if (w == 0 && (f == 3 || f == 4 || f == 5)) {
            if (!p.varint(&v)) return corrupt("normalizer_spec: truncated varint");
            (f == 3 ? s.add_dummy_prefix : f == 4 ? s.remove_extra_ws : s.escape_ws) = v != 0;
        } else if (!p.skip(w)) {
            return corrupt("normalizer_spec: truncated field " + std::to_string(f));
        }
    }
    return Status::Ok();
}

}  // namespace

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return not_found(path + ": cannot open");
    in.seekg(0, std::ios::end);
    const auto size = static_cast<int64_t>(in.tellg());
    if (size < 0) return io_error(path + ": cannot read size");
    if (static_cast<uint64_t>(size) > max_bytes)
        return resource_exhausted(path + ": " + std::to_string(size) + " bytes is more than a tokenizer file may hold (" +
                                  std::to_string(max_bytes) + ")");
    in.seekg(0);
    std::string data(static_cast<size_t>(size), '\0');
    if (size > 0 && !in.read(data.data(), size)) return io_error(path + ": read failed");
    return data;
}

Result<Vocab> load_spm_model(std::string_view data, const std::string& name) {
    Vocab v;
    v.source = name;
    v.type = VocabType::kSpm;
    SpmSpec spec;
    Proto p(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    while (!p.done()) {
        uint32_t f, w;
        if (!p.key(&f, &w)) return corrupt(name + ": not a SentencePiece model (bad protobuf key)");
        if (w == 2 && (f == 1 || f == 2 || f == 3)) {
            const uint8_t* d;
            size_t n;
            if (!p.bytes(&d, &n)) return corrupt(name + ": truncated protobuf field " + std::to_string(f));
            if (f == 1) {
                Proto q(d, n);
                std::string piece;
                float score = 0.0f;
                int64_t type = 1;
                while (!q.done()) {
                    uint32_t g, x;
                    if (!q.key(&g, &x)) return corrupt(name + ": bad piece #" + std::to_string(v.text.size()));
                    if (g == 1 && x == 2) {
                        const uint8_t* b;
                        size_t len;
                        if (!q.bytes(&b, &len)) return corrupt(name + ": truncated piece text");
                        piece.assign(reinterpret_cast<const char*>(b), len);
                    } else if (g == 2 && x == 5) {
                        uint32_t bits;
                        if (!q.fixed32(&bits)) return corrupt(name + ": truncated piece score");
                        std::memcpy(&score, &bits, 4);
                    } else if (g == 3 && x == 0) {
                        uint64_t t;
                        if (!q.varint(&t)) return corrupt(name + ": truncated piece type");
                        type = static_cast<int64_t>(t);
                    } else if (!q.skip(x)) {
                        return corrupt(name + ": bad field in piece #" + std::to_string(v.text.size()));
                    }
                }
                if (!std::isfinite(score)) score = -1e30f;
                if (detail::utf8_valid_prefix(piece) != piece.size())
                    return corrupt(name + ": piece #" + std::to_string(v.text.size()) + " is not valid UTF-8");
                v.text.push_back(std::move(piece));
                v.scores.push_back(score);
                v.attrs.push_back(attr_from_token_type(type));
            } else if (f == 2) {
                RZ_RETURN_IF_ERROR(parse_trainer(d, n, spec).with_context(name));
            } else {
                RZ_RETURN_IF_ERROR(parse_normalizer(d, n, spec).with_context(name));
            }
        } else if (!p.skip(w)) {
            return corrupt(name + ": truncated protobuf field " + std::to_string(f));
        }
    }
    if (v.text.empty()) return corrupt(name + ": no pieces (not a SentencePiece model?)");
    if (spec.model_type != 2) {
        return unsupported(name + ": SentencePiece model_type " + std::to_string(spec.model_type) +
                           " (only BPE, type 2, is supported; unigram models are not)");
    }
    if (spec.treat_ws_as_suffix) return unsupported(name + ": treat_whitespace_as_suffix is not supported");
    if (!spec.norm_name.empty() && spec.norm_name != "identity") {
        return unsupported(name + ": SentencePiece normalizer '" + spec.norm_name +
                           "' is not supported (only 'identity')");
    }
    const auto n = static_cast<int64_t>(v.text.size());
    auto id_or_none = [&](int64_t id) { return id >= 0 && id < n ? static_cast<int32_t>(id) : -1; };
    v.unk = id_or_none(spec.unk_id);
    v.bos = id_or_none(spec.bos_id);
    v.eos = id_or_none(spec.eos_id);
    v.pad = id_or_none(spec.pad_id);
    v.add_bos = true;
    v.add_space_prefix = spec.add_dummy_prefix;
    v.remove_extra_whitespaces = spec.remove_extra_ws;
    v.escape_whitespaces = spec.escape_ws;
    return v;
}

Result<Vocab> load_llama2c_bin(std::string_view data, const std::string& name, int64_t expected_vocab) {
    // Layout (llama2.c tokenizer.bin): int32 max_token_length, then per token: f32 score, int32 len, bytes.
    // llama2.c's export writes `▁` as ' ' and BOS/EOS as "\n<s>\n" / "\n</s>\n"; undone here.
    Vocab v;
    v.source = name;
    v.type = VocabType::kSpm;
    if (data.size() < 4) return corrupt(name + ": too small for a llama2.c tokenizer");
    int32_t max_len;
    std::memcpy(&max_len, data.data(), 4);
    if (max_len <= 0 || max_len > 4096) return corrupt(name + ": implausible max_token_length " + std::to_string(max_len));
    size_t pos = 4;
    while (pos < data.size()) {
        if (expected_vocab > 0 && static_cast<int64_t>(v.text.size()) >= expected_vocab) break;
        if (data.size() - pos < 8) return corrupt(name + ": truncated at token #" + std::to_string(v.text.size()));
        float score;
        int32_t len;
        std::memcpy(&score, data.data() + pos, 4);
        std::memcpy(&len, data.data() + pos + 4, 4);
        pos += 8;
        if (len < 0 || len > max_len || static_cast<size_t>(len) > data.size() - pos)
            return corrupt(name + ": token #" + std::to_string(v.text.size()) + " has bad length " + std::to_string(len));
        std::string t(data.data() + pos, static_cast<size_t>(len));
        pos += static_cast<size_t>(len);
        v.text.push_back(std::move(t));
        v.scores.push_back(std::isfinite(score) ? score : -1e30f);
    }
    if (expected_vocab > 0 && static_cast<int64_t>(v.text.size()) != expected_vocab) {
        return corrupt(name + ": holds " + std::to_string(v.text.size()) + " tokens but the model's vocab_size is " +
                       std::to_string(expected_vocab));
    }
    if (v.text.size() < 3) return corrupt(name + ": fewer than 3 tokens");
    v.attrs.assign(v.text.size(), kAttrNormal);
    for (size_t i = 0; i < v.text.size(); ++i) {
        std::string& t = v.text[i];
        if (i == 1 || i == 2) {
            // BOS/EOS as exported: strip the surrounding newlines.
            if (t.size() >= 2 && t.front() == '\n' && t.back() == '\n') t = t.substr(1, t.size() - 2);
            v.attrs[i] = kAttrControl;
        } else if (i == 0) {
            v.attrs[i] = kAttrUnknown;
        } else if (t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>') {
            v.attrs[i] = kAttrByte;
        } else {
            t = replace_all(t, " ", kSpmSpace);
        }
        if (detail::utf8_valid_prefix(t) != t.size())
            return corrupt(name + ": token #" + std::to_string(i) + " is not valid UTF-8");
    }
    v.unk = 0;
    v.bos = 1;
    v.eos = 2;
    v.add_bos = true;
    v.add_space_prefix = true;  // llama2.c's encoder adds the dummy prefix; it does not collapse spaces
    return v;
}

namespace {
Result<Vocab> load_gpt2_files_impl(const std::string& encoder_json, const std::string& vocab_bpe) {
    Vocab v;
    v.source = encoder_json;
    v.type = VocabType::kBpe;
    v.pre = "gpt2";
    RZ_ASSIGN_OR_RETURN(std::string enc, read_file(encoder_json, size_t{64} << 20));
    RZ_ASSIGN_OR_RETURN(std::string bpe, read_file(vocab_bpe, size_t{64} << 20));
    nlohmann::json j = nlohmann::json::parse(enc, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return corrupt(encoder_json + ": not a JSON object of token -> id");
    const size_t n = j.size();
    v.text.assign(n, std::string());
    std::vector<uint8_t> seen(n, 0);
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_number_integer()) return corrupt(encoder_json + ": id of '" + it.key() + "' is not an integer");
        const int64_t id = it.value().get<int64_t>();
        if (id < 0 || static_cast<size_t>(id) >= n || seen[static_cast<size_t>(id)])
            return corrupt(encoder_json + ": id " + std::to_string(id) + " of '" + it.key() + "' is out of range or repeated");
        seen[static_cast<size_t>(id)] = 1;
        v.text[static_cast<size_t>(id)] = it.key();
    }
    std::istringstream lines(bpe);
    std::string line;
    size_t lineno = 0;
    while (std::getline(lines, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line.rfind("#version", 0) == 0) continue;
        const size_t sp = line.find(' ', 1);
        if (sp == std::string::npos) return corrupt(vocab_bpe + ": line " + std::to_string(lineno) + " is not 'a b'");
        v.merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    }
    v.attrs.assign(n, kAttrNormal);
    if (int32_t id = static_cast<int32_t>(n) - 1; v.text.back() == "<|endoftext|>") {
        v.attrs.back() = kAttrControl;
        v.bos = v.eos = id;
    }
    return v;
}
}  // namespace

Result<Vocab> load_gpt2_files(const std::string& encoder_json, const std::string& vocab_bpe) {
    try {
        return load_gpt2_files_impl(encoder_json, vocab_bpe);
    } catch (const nlohmann::json::exception& e) {
        return corrupt(encoder_json + ": unexpected JSON content: " + e.what());
    }
}

}  // namespace rz::tokenizer::detail
