#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

// Returns the length of the valid sequence at text[i], 0 when invalid, or -1 when the text ends inside a
// sequence that could still be completed.
int check_char(std::string_view text, size_t i) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    if (b0 < 0x80) return 1;
    int n;
    uint32_t min;
    uint32_t cp;
    if ((b0 & 0xE0) == 0xC0) { n = 2; min = 0x80; cp = b0 & 0x1F; }
    else if ((b0 & 0xF0) == 0xE0) { n = 3; min = 0x800; cp = b0 & 0x0F; }
    else if ((b0 & 0xF8) == 0xF0) { n = 4; min = 0x10000; cp = b0 & 0x07; }
    else return 0;
    for (int k = 1; k < n; ++k) {
        if (i + k >= text.size()) {
            // The prefix read so far was checked; with only the lead byte present, reject leads that can
            // never start a valid character (0xC0, 0xC1, > 0xF4).
            if (k == 1 && (b0 == 0xC0 || b0 == 0xC1 || b0 > 0xF4)) return 0;
            return -1;
        }
        const auto b = static_cast<uint8_t>(text[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
        if (k == 1) {
            // Early rejection of overlong / surrogate / too-large prefixes (so streaming notices them now).
            if (n == 3 && b0 == 0xE0 && b < 0xA0) return 0;
            if (n == 3 && b0 == 0xED && b >= 0xA0) return 0;
            if (n == 4 && b0 == 0xF0 && b < 0x90) return 0;
            if (n == 4 && b0 == 0xF4 && b >= 0x90) return 0;
            if (n == 4 && b0 > 0xF4) return 0;
            if (n == 2 && b0 < 0xC2) return 0;
        }
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

struct ByteTables {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 324> from_cp{};  // code points used are all < 324
    ByteTables() {
        from_cp.fill(-1);
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
            from_cp[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const ByteTables& tables() {
    static const ByteTables t;
    return t;
}

}  // namespace

size_t utf8_valid_prefix(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        // ASCII fast path, 8 bytes at a time.
        while (i + 8 <= text.size()) {
            uint64_t w;
            __builtin_memcpy(&w, text.data() + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= text.size()) break;
        const int n = check_char(text, i);
        if (n <= 0) return i;
        i += static_cast<size_t>(n);
    }
    return text.size();
}

size_t utf8_complete_prefix(std::string_view text, bool* invalid) {
    *invalid = false;
    size_t i = 0;
    while (i < text.size()) {
        const int n = check_char(text, i);
        if (n == 0) {
            *invalid = true;
            return i;
        }
        if (n < 0) return i;
        i += static_cast<size_t>(n);
    }
    return i;
}

uint32_t utf8_decode(std::string_view text, size_t* pos) {
    size_t i = *pos;
    const auto b0 = static_cast<uint8_t>(text[i]);
    const size_t n = std::min(utf8_len(b0), text.size() - i);
    uint32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3F);
    *pos = i + n;
    return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

const std::array<uint32_t, 256>& byte_to_codepoint() { return tables().to_cp; }

int codepoint_to_byte(uint32_t cp) {
    if (cp >= tables().from_cp.size()) return -1;
    return tables().from_cp[cp];
}

bool byte_level_decode(std::string_view text, std::string* out) {
    bool ok = true;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t start = pos;
        const uint32_t cp = utf8_decode(text, &pos);
        const int b = codepoint_to_byte(cp);
        if (b >= 0) {
            *out += static_cast<char>(b);
        } else {
            ok = false;
            out->append(text.substr(start, pos - start));
        }
    }
    return ok;
}

std::string byte_level_encode(std::string_view raw) {
    std::string out;
    out.reserve(raw.size() * 2);
    for (char c : raw) utf8_append(out, tables().to_cp[static_cast<uint8_t>(c)]);
    return out;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    while (true) {
        const size_t hit = s.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(s.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
    out.append(s.substr(pos));
    return out;
}

}  // namespace rz::tokenizer::detail
