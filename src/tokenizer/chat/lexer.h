#pragma once
// Jinja lexer: template text -> tokens. Whitespace control is resolved here, exactly as jinja2's lexer does
// it with Hugging Face's settings: `{%-`/`-%}` strip, trim_blocks (drop the first newline after a block or
// comment tag), lstrip_blocks (drop spaces/tabs before a block or comment tag that starts a line), `+`
// disabling either, newlines normalised to \n and one trailing newline of the template dropped.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rz::tokenizer::jinja {

enum class TokType : uint8_t {
    kText,        // literal template text (value)
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,
    kString,
    kInt,
    kFloat,
    kOp,          // operator / punctuation (value): + - * / // % ** ~ == != < <= > >= = . : | , ( ) [ ] { }
    kEof,
};

struct Token {
    TokType type = TokType::kEof;
    std::string value;  // text, name, decoded string literal, operator
    int64_t int_value = 0;
    double float_value = 0;
    int line = 1;
};

struct LexerOptions {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
};

// Throws JinjaError (with line) on malformed input: unclosed tags/strings/comments, unknown characters.
std::vector<Token> tokenize(std::string_view source, const LexerOptions& opts = {});

}  // namespace rz::tokenizer::jinja
