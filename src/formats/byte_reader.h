#pragma once
// Bounds-checked little-endian cursor over untrusted bytes. Every read checks the remaining length first,
// so a parser built on it cannot read past the end of a (possibly truncated or hostile) file. Errors are
// formatted by the caller, which knows the file and field names.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace rz::formats::detail {

static_assert(std::endian::native == std::endian::little, "realizar's file readers assume a little-endian host");

class ByteReader {
public:
    explicit ByteReader(std::span<const uint8_t> bytes, uint64_t pos = 0) : bytes_(bytes), pos_(pos) {}

    uint64_t pos() const { return pos_; }
    uint64_t size() const { return bytes_.size(); }
    uint64_t remaining() const { return pos_ <= bytes_.size() ? bytes_.size() - pos_ : 0; }
    const uint8_t* at(uint64_t off) const { return bytes_.data() + off; }

    template <typename T>
    bool read(T& out) {
        static_assert(std::is_trivially_copyable_v<T>);
        if (remaining() < sizeof(T)) return false;
        std::memcpy(&out, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return true;
    }

    // Reads n raw bytes as a view into the buffer (no copy).
    bool read_view(uint64_t n, std::string_view& out) {
        if (remaining() < n) return false;
        out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(n));
        pos_ += n;
        return true;
    }

    bool skip(uint64_t n) {
        if (remaining() < n) return false;
        pos_ += n;
        return true;
    }

    bool seek(uint64_t p) {
        if (p > bytes_.size()) return false;
        pos_ = p;
        return true;
    }

private:
    std::span<const uint8_t> bytes_;
    uint64_t pos_;
};

// Strict UTF-8 validation (no overlongs, no surrogates, max U+10FFFF).
inline bool is_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1fu;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0fu;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3fu);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

// Printable form of an untrusted name for error messages: at most 64 bytes, control/non-ASCII escaped.
inline std::string printable(std::string_view s) {
    std::string out;
    const size_t n = s.size() < 64 ? s.size() : 64;
    for (size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            static const char* kHex = "0123456789abcdef";
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    if (s.size() > n) out += "...";
    return out;
}

inline uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Nesting depth of JSON text (brackets outside strings), computed before handing untrusted JSON to a DOM
// parser: a header of "[[[[..." would otherwise become millions of nested containers.
inline size_t json_nesting_depth(std::string_view s) {
    size_t depth = 0, max_depth = 0;
    bool in_str = false, esc = false;
    for (char c : s) {
        if (in_str) {
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            max_depth = std::max(max_depth, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return max_depth;
}

}  // namespace rz::formats::detail
