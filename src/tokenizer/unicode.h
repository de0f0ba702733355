#pragma once
// UTF-8 helpers and GPT-2's byte <-> printable-codepoint mapping, shared by every tokenizer algorithm.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rz::tokenizer::detail {

// Length of the UTF-8 sequence announced by its lead byte (1 for continuation/invalid bytes, so callers
// that walk text always advance).
inline size_t utf8_len(uint8_t lead) {
    static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLen[lead >> 4];
}

// Index of the first byte that does not start a complete, valid UTF-8 sequence (text.size() when all
// valid). Rejects overlongs, surrogates and code points above U+10FFFF.
size_t utf8_valid_prefix(std::string_view text);
// Length of the longest prefix made of complete valid characters when the tail may be an unfinished
// character; `*invalid` is set when the text holds a byte sequence that can never become valid.
size_t utf8_complete_prefix(std::string_view text, bool* invalid);

// Decodes one code point at text[*pos] (which must be valid UTF-8) and advances *pos.
uint32_t utf8_decode(std::string_view text, size_t* pos);
void utf8_append(std::string& out, uint32_t cp);

// GPT-2 byte-level BPE: every byte is shown as a printable code point (bytes_to_unicode in openai/gpt-2).
const std::array<uint32_t, 256>& byte_to_codepoint();
// Inverse of the above: -1 when cp is not one of the 256 byte code points.
int codepoint_to_byte(uint32_t cp);
// Raw bytes of a byte-level token text; false when it contains a code point outside the mapping (the
// code point is then copied as UTF-8).
bool byte_level_decode(std::string_view text, std::string* out);
std::string byte_level_encode(std::string_view raw);

// Replaces every occurrence of `from` by `to`.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to);

inline constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

}  // namespace rz::tokenizer::detail
