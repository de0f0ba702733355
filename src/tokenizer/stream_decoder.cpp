#include "realizar/tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace rz::tokenizer {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Moves every complete character of `pending` to the result; bytes that can never be valid become U+FFFD.
// With `final`, an unfinished tail is replaced too.
std::string drain(std::string& pending, bool final) {
    std::string out;
    size_t pos = 0;
    while (pos < pending.size()) {
        bool invalid = false;
        const size_t n = detail::utf8_complete_prefix(std::string_view(pending).substr(pos), &invalid);
        out.append(pending, pos, n);
        pos += n;
        if (!invalid) break;
        out.append(kReplacement);
        ++pos;  // skip the offending byte and resynchronise
    }
    pending.erase(0, pos);
    if (final && !pending.empty()) {
        out.append(kReplacement);
        pending.clear();
    }
    return out;
}

}  // namespace

std::string StreamDecoder::push(int32_t id) {
    std::string piece = tok_.token_to_piece(id, !skip_special_);
    const bool special = tok_.is_special(id);
    if (first_ && !special && strip_leading_space_ && tok_.strips_leading_space() && !piece.empty() &&
        piece[0] == ' ') {
        piece.erase(0, 1);
    }
    if (!special) first_ = false;
    pending_ += piece;
    return drain(pending_, false);
}

std::string StreamDecoder::flush() {
    std::string out = drain(pending_, true);
    first_ = true;
    return out;
}

}  // namespace rz::tokenizer
