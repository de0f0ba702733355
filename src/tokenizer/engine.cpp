#include "tokenizer/engine.h"

#include <cstring>

#include "tokenizer/algorithms.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

const char* type_name(VocabType t) {
    switch (t) {
        case VocabType::kSpm: return "spm";
        case VocabType::kBpe: return "bpe";
        case VocabType::kWpm: return "wordpiece";
    }
    return "?";
}

}  // namespace

// Per-call memo of word -> ids: natural text repeats words constantly, and every word is tokenized
// independently of its neighbours once the text is pre-tokenized (BPE) or cut at `▁` (SPM). Open addressing;
// keys are copied into an arena, so the memo never holds more than the input.
struct VocabTokenizer::Cache {
    struct Slot {
        uint64_t hash = 0;
        uint32_t key_off = 0, key_len = 0, ids_off = 0, ids_len = 0;
        bool used = false;
    };
    std::vector<Slot> slots = std::vector<Slot>(1024);
    size_t n_used = 0;
    std::string keys;
    std::vector<int32_t> pool;

    void grow() {
        std::vector<Slot> old(slots.size() * 2);
        old.swap(slots);
        const size_t mask = slots.size() - 1;
        for (const Slot& s : old) {
            if (!s.used) continue;
            size_t idx = s.hash & mask;
            while (slots[idx].used) idx = (idx + 1) & mask;
            slots[idx] = s;
        }
    }

    template <typename F>
    void get(std::string_view word, std::vector<int32_t>& out, F&& compute) {
        const uint64_t h = hash_bytes(word);
        const size_t mask = slots.size() - 1;
        size_t idx = h & mask;
        for (; slots[idx].used; idx = (idx + 1) & mask) {
            const Slot& s = slots[idx];
            if (s.hash == h && s.key_len == word.size() && bytes_equal(keys.data() + s.key_off, word.data(), word.size())) {
                out.insert(out.end(), pool.begin() + s.ids_off, pool.begin() + s.ids_off + s.ids_len);
                return;
            }
        }
        const size_t before = out.size();
        compute(word, out);
        Slot& s = slots[idx];
        s.used = true;
        s.hash = h;
        s.key_off = static_cast<uint32_t>(keys.size());
        s.key_len = static_cast<uint32_t>(word.size());
        s.ids_off = static_cast<uint32_t>(pool.size());
        s.ids_len = static_cast<uint32_t>(out.size() - before);
        keys.append(word);
        pool.insert(pool.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
        if (++n_used * 2 > slots.size()) grow();
    }
};

VocabTokenizer::VocabTokenizer(Vocab v) : v_(std::move(v)) {
    for (int32_t id : v_.special_tokens) {  // already sorted longest first
        const auto first = static_cast<uint8_t>(v_.text[static_cast<size_t>(id)][0]);
        special_all_[first].push_back(id);
        any_all_ = true;
        if (v_.has_attr(id, kAttrUserDefined)) {
            special_user_[first].push_back(id);
            any_user_ = true;
        }
    }
}

void VocabTokenizer::partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
    const auto& buckets = parse_special ? special_all_ : special_user_;
    const bool any = parse_special ? any_all_ : any_user_;
    const size_t len = text.size();
    size_t text_start = 0;
    if (any) {
        size_t i = 0;
        while (i < len) {
            const auto& cands = buckets[static_cast<uint8_t>(text[i])];
            int32_t match = -1;
            for (int32_t id : cands) {
                const std::string& t = v_.text[static_cast<size_t>(id)];
                if (t.size() <= len - i && std::memcmp(text.data() + i, t.data(), t.size()) == 0) {
                    match = id;
                    break;
                }
            }
            if (match < 0) {
                ++i;
                continue;
            }
            size_t left_end = i;
            if (v_.has_attr(match, kAttrLstrip))
                while (left_end > text_start && is_ascii_space(text[left_end - 1])) --left_end;
            if (left_end > text_start)
                out.push_back({-1, static_cast<uint32_t>(text_start), static_cast<uint32_t>(left_end - text_start)});
            out.push_back({match, static_cast<uint32_t>(i), 0});
            i += v_.text[static_cast<size_t>(match)].size();
            if (v_.has_attr(match, kAttrRstrip))
                while (i < len && is_ascii_space(text[i])) ++i;
            text_start = i;
        }
    }
    if (text_start < len)
        out.push_back({-1, static_cast<uint32_t>(text_start), static_cast<uint32_t>(len - text_start)});
}

// Cuts `s` before every `▁` that follows another character (when the vocabulary allows it) and runs SPM or
// SPM-style BPE on each chunk, memoised.
void VocabTokenizer::encode_chunked(std::string_view s, bool spm, Cache& cache, std::vector<int32_t>& out) const {
    auto run = [&](std::string_view w, std::vector<int32_t>& o) {
        if (spm) spm_encode(v_, w, o);
        else bpe_encode_word(v_, w, o);
    };
    if (!v_.spm_can_chunk && !v_.split_on_space) {
        run(s, out);
        return;
    }
    size_t start = 0;
    size_t pos = s.find(kSpmSpace, 1);
    while (pos != std::string_view::npos) {
        // Metaspace(split) starts a word at every `▁`; otherwise cut only where no token can span the cut.
        const bool after_space = !v_.split_on_space && pos >= 3 && s.compare(pos - 3, 3, kSpmSpace) == 0;
        if (!after_space) {
            cache.get(s.substr(start, pos - start), out, run);
            start = pos;
        }
        pos = s.find(kSpmSpace, pos + 3);
    }
    cache.get(s.substr(start), out, run);
}

void VocabTokenizer::encode_spm_text(std::string_view raw, bool prev_special, Cache& cache,
                                     std::vector<int32_t>& out) const {
    std::string s;
    s.reserve(raw.size() + raw.size() / 4 + 4);
    if (v_.remove_extra_whitespaces) {
        // SentencePiece normaliser: drop leading/trailing spaces, collapse inner runs to one.
        size_t b = 0;
        size_t e = raw.size();
        while (b < e && raw[b] == ' ') ++b;
        while (e > b && raw[e - 1] == ' ') --e;
        if (b == e) return;
        std::string collapsed;
        collapsed.reserve(e - b);
        for (size_t i = b; i < e; ++i) {
            if (raw[i] == ' ' && !collapsed.empty() && collapsed.back() == ' ') continue;
            collapsed += raw[i];
        }
        if (v_.add_space_prefix && prev_special) s.append(kSpmSpace);
        for (char c : collapsed) { if (c == ' ') s.append(kSpmSpace); else s.push_back(c); }
    } else {
        if (v_.add_space_prefix && prev_special) s.append(kSpmSpace);
        for (char c : raw) { if (c == ' ') s.append(kSpmSpace); else s.push_back(c); }
    }
    encode_chunked(s, /*spm=*/true, cache, out);
}

void VocabTokenizer::encode_bpe_text(std::string_view raw, bool prev_special, Cache& cache,
                                     std::vector<int32_t>& out) const {
    std::string escaped;
    std::string_view t = raw;
    if (!v_.byte_encode && v_.escape_whitespaces) {
        escaped.reserve(raw.size() + raw.size() / 4 + 4);
        if (v_.add_space_prefix && prev_special) escaped.append(kSpmSpace);
        for (char c : raw) { if (c == ' ') escaped.append(kSpmSpace); else escaped.push_back(c); }
        t = escaped;
    }
    if (v_.pretok && !v_.pretok->empty()) {
        thread_local std::vector<Span> spans;
        spans.clear();
        v_.pretok->split(t, spans);
        for (const Span& sp : spans) {
            cache.get(t.substr(sp.begin, sp.len), out,
                      [&](std::string_view w, std::vector<int32_t>& o) { bpe_encode_word(v_, w, o); });
        }
    } else {
        encode_chunked(t, /*spm=*/false, cache, out);
    }
}

Result<std::vector<int32_t>> VocabTokenizer::encode(std::string_view text, bool add_special,
                                                    bool parse_special) const {
    if (text.size() > kMaxEncodeBytes) {
        return resource_exhausted("tokenize: input of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                  std::to_string(kMaxEncodeBytes) + " bytes");
    }
    const size_t valid = utf8_valid_prefix(text);
    if (valid != text.size()) {
        return invalid_argument("tokenize: input is not valid UTF-8 (bad byte 0x" +
                                std::string(1, "0123456789abcdef"[static_cast<uint8_t>(text[valid]) >> 4]) +
                                std::string(1, "0123456789abcdef"[static_cast<uint8_t>(text[valid]) & 15]) +
                                " at offset " + std::to_string(valid) + ")");
    }
    std::vector<Fragment> frags;
    partition(text, parse_special, frags);

    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    Cache cache;
    const bool bos = add_special && (v_.type == VocabType::kWpm ? v_.bos >= 0 : v_.add_bos && v_.bos >= 0);
    if (bos) out.push_back(v_.bos);

    bool prev_special = true;  // SentencePiece adds its dummy space at the start and after special tokens
    for (const Fragment& f : frags) {
        if (f.id >= 0) {
            out.push_back(f.id);
            prev_special = true;
            continue;
        }
        std::string_view raw = text.substr(f.begin, f.len);
        std::string normalized;
        if (v_.nfc && !nfc_quick_yes(raw)) {
            normalized = nfc(raw);
            raw = normalized;
        }
        switch (v_.type) {
            case VocabType::kSpm: encode_spm_text(raw, prev_special, cache, out); break;
            case VocabType::kBpe:
                // Metaspace prepend_scheme "first": the dummy space only at the very start of the input.
                encode_bpe_text(raw, prev_special && (!v_.prefix_first_only || f.begin == 0), cache, out);
                break;
            case VocabType::kWpm: wpm_encode(v_, raw, out); break;
        }
        prev_special = false;
    }

    if (add_special) {
        if (v_.type == VocabType::kWpm) {
            if (v_.sep >= 0) out.push_back(v_.sep);
        } else if (v_.add_eos && v_.eos >= 0) {
            out.push_back(v_.eos);
        }
    }
    return out;
}

std::string VocabTokenizer::token_to_piece(int32_t id, bool render_special) const {
    if (id < 0 || id >= v_.n_tokens()) return {};
    if (!render_special && v_.has_attr(id, kAttrControl | kAttrUnknown)) return {};
    return v_.piece[static_cast<size_t>(id)];
}

std::string VocabTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
    std::string out;
    bool at_start = true;
    for (int32_t id : ids) {
        if (id < 0 || id >= v_.n_tokens()) continue;
        const bool special = v_.has_attr(id, kAttrControl | kAttrUnknown);
        if (special && skip_special) continue;
        const std::string& p = v_.piece[static_cast<size_t>(id)];
        if (at_start && !special && v_.add_space_prefix && !p.empty() && p[0] == ' ') {
            out.append(p, 1);
        } else {
            out += p;
        }
        if (!special) at_start = false;
    }
    return out;
}

bool VocabTokenizer::is_eog(int32_t id) const {
    return id >= 0 && id < v_.n_tokens() && v_.eog[static_cast<size_t>(id)] != 0;
}

bool VocabTokenizer::is_special(int32_t id) const {
    return id >= 0 && id < v_.n_tokens() && v_.has_attr(id, kAttrControl | kAttrUnknown);
}

std::string VocabTokenizer::token_text(int32_t id) const {
    if (id < 0 || id >= v_.n_tokens()) return {};
    return v_.text[static_cast<size_t>(id)];
}

std::string VocabTokenizer::describe() const {
    std::string d = std::string(type_name(v_.type)) + " vocab=" + std::to_string(v_.n_tokens());
    if (v_.type == VocabType::kBpe) d += " pre=" + (v_.regexes_from_file ? std::string("tokenizer.json") : v_.pre);
    if (v_.type != VocabType::kWpm && !(v_.type == VocabType::kBpe && v_.byte_encode))
        d += v_.spm_can_chunk ? " chunked" : " whole-text";
    d += " (" + v_.source + ")";
    return d;
}

Result<std::unique_ptr<Tokenizer>> make_tokenizer(Vocab v) {
    RZ_RETURN_IF_ERROR(finalize(v));
    return std::unique_ptr<Tokenizer>(new VocabTokenizer(std::move(v)));
}

}  // namespace rz::tokenizer::detail
