#pragma once
// Pre-tokenizer: a sequence of Unicode regexes (PCRE2, UTF + UCP, JIT). Each regex splits every piece left
// by the previous one into its matches and the gaps between them (both kept), as the `Split` pre-tokenizer
// with behavior "Isolated" in Hugging Face tokenizers and llama.cpp's unicode_regex_split do.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "realizar/core/status.h"

namespace rz::tokenizer::detail {

struct Span {
    uint32_t begin;
    uint32_t len;
};

class PreTokenizer {
public:
    static Result<std::shared_ptr<const PreTokenizer>> create(const std::vector<std::string>& regexes);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // Appends the pieces of `text` (valid UTF-8) to `out`, as spans relative to text.data(). Thread-safe.
    void split(std::string_view text, std::vector<Span>& out) const;
    bool empty() const { return codes_.empty(); }

private:
    PreTokenizer() = default;
    std::vector<void*> codes_;  // pcre2_code_8*
};

}  // namespace rz::tokenizer::detail
