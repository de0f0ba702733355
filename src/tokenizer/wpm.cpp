#include <algorithm>

#include "tokenizer/algorithms.h"
#include "tokenizer/unicode.h"
#include "tokenizer/unicode_tables.h"

namespace rz::tokenizer::detail {

namespace {

bool is_chinese(uint32_t cp) {
    // The CJK blocks BERT's tokenizer isolates (as Hugging Face spells them).
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// BERT basic tokenizer: clean, (lowercase, strip accents), split on whitespace, isolate punctuation and CJK.
void bert_words(const Vocab& v, std::string_view text, std::vector<std::string>& words) {
    words.assign(1, std::string());
    size_t pos = 0;
    while (pos < text.size()) {
        uint32_t cp = utf8_decode(text, &pos);
        if (in_ranges(kWhitespaceRanges, cp)) {
            if (!words.back().empty()) words.emplace_back();
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || in_ranges(kControlRanges, cp)) continue;
        if (v.strip_accents) {
            if (in_ranges(kMarkRanges, cp)) continue;
            cp = map_cp(kStripMap, cp);
        }
        if (v.lowercase) cp = map_cp(kLowerMap, cp);
        if (in_ranges(kPunctRanges, cp) || is_chinese(cp)) {
            if (!words.back().empty()) words.emplace_back();
            utf8_append(words.back(), cp);
            words.emplace_back();
        } else {
            utf8_append(words.back(), cp);
        }
    }
    if (words.back().empty()) words.pop_back();
}

}  // namespace

void wpm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out) {
    thread_local std::vector<std::string> words;
    bert_words(v, text, words);
    std::string cand;
    for (const std::string& w : words) {
        // GGUF BERT vocabularies mark word starts with `▁` and store continuations bare; Hugging Face ones
        // store word starts bare and continuations with "##".
        const std::string word = v.wpm_spm_style ? std::string(kSpmSpace) + w : w;
        const size_t n = word.size();
        const size_t before = out.size();
        bool ok = true;
        for (size_t i = 0; i < n;) {
            bool match = false;
            for (size_t j = std::min(n, i + v.max_token_len + 1); j > i; --j) {
                if (v.wpm_spm_style || i == 0) {
                    cand.assign(word, i, j - i);
                } else {
                    cand.assign(v.wpm_prefix).append(word, i, j - i);
                }
                const int32_t id = v.find(cand);
                if (id >= 0) {
                    out.push_back(id);
                    i = j;
                    match = true;
                    break;
                }
            }
            if (!match) {
                ok = false;
                break;
            }
        }
        if (!ok) out.resize(before);
        if (out.size() == before && v.unk >= 0) out.push_back(v.unk);
    }
}

}  // namespace rz::tokenizer::detail
