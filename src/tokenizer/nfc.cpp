#include "tokenizer/nfc.h"

#include <algorithm>
#include <vector>

#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint32_t ccc_of(uint32_t cp) {
    if (cp < 0x300) return 0;
    const auto& r = nfc_data::ccc;
    auto it = std::upper_bound(r.begin(), r.end(), cp, [](uint32_t c, const nfc_data::CccRange& x) { return c < x.lo; });
    return it != r.begin() && cp <= (it - 1)->hi ? (it - 1)->ccc : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
    if (cp >= kSBase && cp < kSBase + kSCount) {
        const uint32_t s = cp - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    const auto& idx = nfc_data::decomp_index;
    auto it = std::lower_bound(idx.begin(), idx.end(), cp, [](const nfc_data::DecompIndex& x, uint32_t c) { return x.cp < c; });
    if (it != idx.end() && it->cp == cp) {
        for (uint32_t k = 0; k < it->len; ++k) out.push_back(nfc_data::decomp_data[it->offset + k]);
    } else {
        out.push_back(cp);
    }
}

// Primary composite of (a, b), 0 when none.
uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
        return a + (b - kTBase);
    const auto& p = nfc_data::compose;
    auto it = std::lower_bound(p.begin(), p.end(), std::make_pair(a, b), [](const nfc_data::ComposePair& x, const std::pair<uint32_t, uint32_t>& k) {
        return x.first < k.first || (x.first == k.first && x.second < k.second);
    });
    return it != p.end() && it->first == a && it->second == b ? it->composite : 0;
}

bool needs_attention(uint32_t cp) {
    if (cp < 0x300) return false;
    const auto& r = nfc_data::attention;
    auto it = std::upper_bound(r.begin(), r.end(), cp, [](uint32_t c, const nfc_data::QcRange& x) { return c < x.lo; });
    return it != r.begin() && cp <= (it - 1)->hi;
}

}  // namespace

bool nfc_quick_yes(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
        if (static_cast<uint8_t>(text[pos]) < 0xCC) {  // below U+0300 nothing needs attention
            pos += utf8_len(static_cast<uint8_t>(text[pos]));
            continue;
        }
        if (needs_attention(utf8_decode(text, &pos))) return false;
    }
    return true;
}

namespace {

// Full NFC of a segment (decompose, reorder, compose).
void nfc_segment(std::string_view text, std::string& out) {
    std::vector<uint32_t> d;
    d.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) decompose(utf8_decode(text, &pos), d);
    // Canonical ordering: stable sort of each run of non-starters by combining class.
    for (size_t i = 0; i < d.size();) {
        if (ccc_of(d[i]) == 0) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < d.size() && ccc_of(d[j]) != 0) ++j;
        std::stable_sort(d.begin() + static_cast<std::ptrdiff_t>(i), d.begin() + static_cast<std::ptrdiff_t>(j),
                         [](uint32_t a, uint32_t b) { return ccc_of(a) < ccc_of(b); });
        i = j;
    }
    // Canonical composition.
    std::vector<uint32_t> r;
    r.reserve(d.size());
    size_t starter = SIZE_MAX;
    uint32_t last_ccc = 0;
    for (uint32_t c : d) {
        const uint32_t cc = ccc_of(c);
        if (starter != SIZE_MAX && (last_ccc < cc || (last_ccc == 0 && r.size() - 1 == starter))) {
            if (const uint32_t comp = compose(r[starter], c)) {
                r[starter] = comp;
                continue;
            }
        }
        if (cc == 0) starter = r.size();
        last_ccc = cc;
        r.push_back(c);
    }
    for (uint32_t c : r) utf8_append(out, c);
}

}  // namespace

std::string nfc(std::string_view text) {
    // Only the stretches around characters that may change are normalised: a character that is not in the
    // attention set has combining class 0 and composes with nothing before it, so the text can be cut
    // before it without changing the result.
    std::string out;
    out.reserve(text.size() + 16);
    size_t copied = 0;
    size_t last_safe = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t start = pos;
        if (static_cast<uint8_t>(text[pos]) < 0xCC) {
            last_safe = start;
            pos += utf8_len(static_cast<uint8_t>(text[pos]));
            continue;
        }
        if (!needs_attention(utf8_decode(text, &pos))) {
            last_safe = start;
            continue;
        }
        // Extend over the following characters up to the next safe one.
        while (pos < text.size()) {
            size_t next = pos;
            if (static_cast<uint8_t>(text[pos]) < 0xCC || !needs_attention(utf8_decode(text, &next))) break;
            pos = next;
        }
        out.append(text, copied, last_safe - copied);
        nfc_segment(text.substr(last_safe, pos - last_safe), out);
        copied = pos;
        last_safe = pos;
    }
    out.append(text, copied, std::string_view::npos);
    return out;
}

}  // namespace rz::tokenizer::detail
