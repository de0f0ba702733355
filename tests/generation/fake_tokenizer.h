#pragma once
// A tiny in-test Tokenizer: ids 0..3 are <unk>, <s> (BOS), </s> (EOS), <eot> (end of turn, also EOG);
// ids 4..259 are the bytes 0..255. Lets the stop/generation tests run without a real vocabulary.
#include <string>
#include <vector>

#include "realizar/tokenizer/tokenizer.h"

namespace rz::runtime::testing {

class FakeTokenizer final : public tokenizer::Tokenizer {
  public:
    Result<std::vector<int32_t>> encode(std::string_view text, bool add_special,
                                        bool /*parse_special*/) const override {
        std::vector<int32_t> out;
        if (add_special) out.push_back(1);
        for (unsigned char c : text) out.push_back(4 + c);
        return out;
    }
    std::string token_to_piece(int32_t id, bool render_special) const override {
        if (id >= 4 && id < 260) return std::string(1, static_cast<char>(id - 4));
        return render_special ? token_text(id) : std::string();
    }
    std::string decode(std::span<const int32_t> ids, bool skip_special) const override {
        std::string s;
        for (int32_t id : ids) s += token_to_piece(id, !skip_special);
        return s;
    }
    int n_vocab() const override { return 260; }
    int32_t bos() const override { return 1; }
    int32_t eos() const override { return 2; }
    bool is_eog(int32_t id) const override { return id == 2 || id == 3; }
    bool is_special(int32_t id) const override { return id < 4; }
    std::string token_text(int32_t id) const override {
        static const char* kNames[] = {"<unk>", "<s>", "</s>", "<eot>"};
        if (id >= 0 && id < 4) return kNames[id];
        return token_to_piece(id, false);
    }
    const std::string& chat_template() const override { return template_; }

    std::string template_;
};

}  // namespace rz::runtime::testing
