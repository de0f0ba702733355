#include "tokenizer/chat/lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "tokenizer/chat/value.h"

namespace rz::tokenizer::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// \r\n and \r become \n (jinja2 normalises newlines, string literals included); one trailing \n is dropped
// (keep_trailing_newline=False).
std::string normalise(std::string_view src) {
    std::string out;
    out.reserve(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
        if (src[i] == '\r') {
            out += '\n';
            if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
        } else {
            out += src[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

class Lexer {
public:
    Lexer(std::string_view src, const LexerOptions& opts) : src_(normalise(src)), opts_(opts) {}

    std::vector<Token> run() {
        bool line_starting = true;
        while (pos_ < src_.size()) {
            size_t tag = find_tag(pos_);
            std::string text = src_.substr(pos_, (tag == std::string::npos ? src_.size() : tag) - pos_);
            if (tag == std::string::npos) {
                emit_text(std::move(text), line_);
                break;
            }
            char kind = src_[tag + 1];  // '{', '%' or '#'
            char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
            if (sign == '-') {
                while (!text.empty() && is_ws(text.back())) text.pop_back();
            } else if (sign != '+' && opts_.lstrip_blocks && kind != '{') {
                size_t nl = text.rfind('\n');
                size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
                if (l_pos > 0 || line_starting) {
                    bool only_blank = true;
                    for (size_t i = l_pos; i < text.size(); ++i)
                        if (text[i] != ' ' && text[i] != '\t') only_blank = false;
                    if (only_blank) text.resize(l_pos);
                }
            }
            int text_line = line_;
            count_lines(pos_, tag);
            emit_text(std::move(text), text_line);
            pos_ = tag + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
            if (kind == '#') {
                lex_comment();
            } else if (kind == '%' && is_raw_block()) {
                lex_raw();
            } else {
                lex_tag(kind == '{');
            }
            line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
        }
        Token eof;
        eof.type = TokType::kEof;
        eof.line = line_;
        tokens_.push_back(std::move(eof));
        return std::move(tokens_);
    }

private:
    size_t find_tag(size_t from) const {
        for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
            if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
        }
        return std::string::npos;
    }

    void count_lines(size_t from, size_t to) {
        for (size_t i = from; i < to && i < src_.size(); ++i)
            if (src_[i] == '\n') ++line_;
    }

    void advance_to(size_t p) {
        count_lines(pos_, p);
        pos_ = p;
    }

    void emit_text(std::string text, int line) {
        if (text.empty()) return;
        Token t;
        t.type = TokType::kText;
        t.value = std::move(text);
        t.line = line;
        tokens_.push_back(std::move(t));
    }

    void push(TokType type, std::string value) {
        Token t;
        t.type = type;
        t.value = std::move(value);
        t.line = line_;
        tokens_.push_back(std::move(t));
    }

    // After a tag's closing delimiter: `-` strips all following whitespace; otherwise trim_blocks drops a
    // single newline after block/comment tags (not after `+%}` and never after `}}`).
    void after_tag_end(bool strip, bool keep, bool is_block) {
        if (strip) {
            size_t p = pos_;
            while (p < src_.size() && is_ws(src_[p])) ++p;
            advance_to(p);
        } else if (is_block && !keep && opts_.trim_blocks && pos_ < src_.size() && src_[pos_] == '\n') {
            advance_to(pos_ + 1);
        }
    }

    void lex_comment() {
        size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) fail("Missing end of comment tag", line_);
        bool strip = end > pos_ && src_[end - 1] == '-';
        bool keep = end > pos_ && src_[end - 1] == '+';
        advance_to(end + 2);
        after_tag_end(strip, keep, true);
    }

    // `{% raw %}` ... `{% endraw %}`: the body is text, not parsed.
    bool is_raw_block() const {
        size_t p = pos_;
        while (p < src_.size() && is_ws(src_[p])) ++p;
        if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && is_name_char(src_[p + 3]))) return false;
        return true;
    }

    void lex_raw() {
        size_t p = src_.find("raw", pos_) + 3;
        while (p < src_.size() && is_ws(src_[p])) ++p;
        bool strip_after_open = false;
        if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) strip_after_open = src_[p++] == '-';
        if (src_.compare(p, 2, "%}") != 0) fail("raw tag must be closed right after 'raw'", line_);
        advance_to(p + 2);
        if (strip_after_open) after_tag_end(true, false, true);
        // Find {% endraw %} (with optional whitespace control signs).
        size_t search = pos_;
        while (true) {
            size_t open = src_.find("{%", search);
            if (open == std::string::npos) fail("Missing end of raw directive", line_);
            size_t q = open + 2;
            bool strip_before = false;
            if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) strip_before = src_[q++] == '-';
            while (q < src_.size() && is_ws(src_[q])) ++q;
            if (src_.compare(q, 6, "endraw") == 0) {
                q += 6;
                while (q < src_.size() && is_ws(src_[q])) ++q;
                bool strip_after = false, keep_after = false;
                if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) {
                    strip_after = src_[q] == '-';
                    keep_after = src_[q] == '+';
                    ++q;
                }
                if (src_.compare(q, 2, "%}") == 0) {
                    std::string body = src_.substr(pos_, open - pos_);
                    if (strip_before)
                        while (!body.empty() && is_ws(body.back())) body.pop_back();
                    emit_text(std::move(body), line_);
                    advance_to(q + 2);
                    after_tag_end(strip_after, keep_after, true);
                    return;
                }
            }
            search = open + 2;
        }
    }

    void lex_tag(bool is_var) {
        push(is_var ? TokType::kVarBegin : TokType::kBlockBegin, is_var ? "{{" : "{%");
        const char* close = is_var ? "}}" : "%}";
        int depth = 0;  // brackets: a `}}` inside a dict literal is not the end of the tag
        while (true) {
            size_t p = pos_;
            while (p < src_.size() && is_ws(src_[p])) ++p;
            advance_to(p);
            if (pos_ >= src_.size()) fail(is_var ? "unexpected end of template, expected '}}'" :
                                                   "unexpected end of template, expected '%}'", line_);
            char c = src_[pos_];
            // Tag end (checked before operators so `-%}` is not a minus).
            if (depth == 0) {
                if ((c == '-' || c == '+') && src_.compare(pos_ + 1, 2, close) == 0) {
                    push(is_var ? TokType::kVarEnd : TokType::kBlockEnd, close);
                    advance_to(pos_ + 3);
                    after_tag_end(c == '-', c == '+', !is_var);
                    return;
                }
                if (src_.compare(pos_, 2, close) == 0) {
                    push(is_var ? TokType::kVarEnd : TokType::kBlockEnd, close);
                    advance_to(pos_ + 2);
                    after_tag_end(false, false, !is_var);
                    return;
                }
            }
            if (is_name_start(c)) {
                size_t e = pos_;
                while (e < src_.size() && is_name_char(src_[e])) ++e;
                push(TokType::kName, src_.substr(pos_, e - pos_));
                advance_to(e);
            } else if (is_digit(c)) {
                lex_number();
            } else if (c == '\'' || c == '"') {
                lex_string(c);
            } else {
                static const char* kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                             ">",  "=",  ".",  ":",  "|",  ",",  "(", ")", "[", "]", "{", "}", ";"};
                bool matched = false;
                for (const char* op : kOps) {
                    size_t n = std::char_traits<char>::length(op);
                    if (src_.compare(pos_, n, op) == 0) {
                        if (op[0] == '(' || op[0] == '[' || op[0] == '{') ++depth;
                        if (op[0] == ')' || op[0] == ']' || op[0] == '}') {
                            if (depth == 0) fail(std::string("unexpected '") + op + "'", line_);
                            --depth;
                        }
                        push(TokType::kOp, op);
                        advance_to(pos_ + n);
                        matched = true;
                        break;
                    }
                }
                if (!matched) fail(std::string("unexpected char '") + c + "'", line_);
            }
        }
    }

    void lex_number() {
        size_t e = pos_;
        auto digits = [&](auto pred) {
            while (e < src_.size() && (pred(src_[e]) || (src_[e] == '_' && e + 1 < src_.size() && pred(src_[e + 1]))))
                ++e;
        };
        if (src_[e] == '0' && e + 1 < src_.size() && (src_[e + 1] == 'x' || src_[e + 1] == 'X' || src_[e + 1] == 'o' ||
                                                     src_[e + 1] == 'O' || src_[e + 1] == 'b' || src_[e + 1] == 'B')) {
            char base_c = static_cast<char>(src_[e + 1] | 0x20);
            int base = base_c == 'x' ? 16 : base_c == 'o' ? 8 : 2;
            e += 2;
            size_t start = e;
            digits([](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; });
            std::string d;
            for (size_t i = start; i < e; ++i)
                if (src_[i] != '_') d += src_[i];
            Token t;
            t.type = TokType::kInt;
            t.line = line_;
            errno = 0;
            t.int_value = static_cast<int64_t>(std::strtoull(d.c_str(), nullptr, base));
            if (d.empty() || errno) fail("invalid integer literal", line_);
            tokens_.push_back(std::move(t));
            advance_to(e);
            return;
        }
        digits(is_digit);
        bool is_float = false;
        if (e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
            is_float = true;
            ++e;
            digits(is_digit);
        }
        if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
            size_t f = e + 1;
            if (f < src_.size() && (src_[f] == '+' || src_[f] == '-')) ++f;
            if (f < src_.size() && is_digit(src_[f])) {
                is_float = true;
                e = f;
                digits(is_digit);
            }
        }
        std::string text;
        for (size_t i = pos_; i < e; ++i)
            if (src_[i] != '_') text += src_[i];
        Token t;
        t.line = line_;
        if (is_float) {
            t.type = TokType::kFloat;
            t.float_value = std::strtod(text.c_str(), nullptr);
        } else {
            t.type = TokType::kInt;
            errno = 0;
            t.int_value = std::strtoll(text.c_str(), nullptr, 10);
            if (errno) fail("integer literal too large: " + text, line_);
        }
        t.value = text;
        tokens_.push_back(std::move(t));
        advance_to(e);
    }

    static int hex_val(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // Python string literal escapes (jinja2 decodes literals with "unicode-escape"); unknown escapes stay
    // as written (backslash included).
    void lex_string(char quote) {
        size_t p = pos_ + 1;
        std::string out;
        int start_line = line_;
        while (true) {
            if (p >= src_.size()) fail("unexpected end of string", start_line);
            char c = src_[p];
            if (c == quote) break;
            if (c != '\\') {
                out += c;
                ++p;
                continue;
            }
            if (p + 1 >= src_.size()) fail("unexpected end of string", start_line);
            char e = src_[p + 1];
            p += 2;
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'v': out += '\v'; break;
                case '\n': break;  // line continuation
                case 'x':
                case 'u':
                case 'U': {
                    int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    char32_t cp = 0;
                    for (int k = 0; k < n; ++k) {
                        int h = p + static_cast<size_t>(k) < src_.size() ? hex_val(src_[p + static_cast<size_t>(k)]) : -1;
                        if (h < 0) fail(std::string("truncated \\") + e + " escape in string literal", start_line);
                        cp = cp * 16 + static_cast<char32_t>(h);
                    }
                    if (cp > 0x10FFFF) fail("illegal Unicode character in string literal", start_line);
                    p += static_cast<size_t>(n);
                    utf8_append(out, cp);
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        char32_t cp = static_cast<char32_t>(e - '0');
                        for (int k = 0; k < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++k, ++p)
                            cp = cp * 8 + static_cast<char32_t>(src_[p] - '0');
                        utf8_append(out, cp);
                    } else {
                        out += '\\';
                        out += e;
                    }
            }
        }
        Token t;
        t.type = TokType::kString;
        t.value = std::move(out);
        t.line = start_line;
        tokens_.push_back(std::move(t));
        advance_to(p + 1);
    }

    std::string src_;
    LexerOptions opts_;
    size_t pos_ = 0;
    int line_ = 1;
    std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexerOptions& opts) { return Lexer(source, opts).run(); }

}  // namespace rz::tokenizer::jinja
