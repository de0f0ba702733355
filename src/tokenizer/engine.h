#pragma once
// VocabTokenizer: the one Tokenizer implementation, driven by a finalized Vocab.
#include <array>
#include <memory>
#include <vector>

#include "realizar/tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace rz::tokenizer::detail {

// Largest input encode() accepts: bigger inputs get a clear error instead of gigabytes of token ids.
inline constexpr size_t kMaxEncodeBytes = size_t{256} << 20;

class VocabTokenizer final : public Tokenizer {
public:
    explicit VocabTokenizer(Vocab v);

    Result<std::vector<int32_t>> encode(std::string_view text, bool add_special, bool parse_special) const override;
    std::string token_to_piece(int32_t id, bool render_special) const override;
    std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
    int n_vocab() const override { return v_.n_tokens(); }
    int32_t bos() const override { return v_.bos; }
    int32_t eos() const override { return v_.eos; }
    bool is_eog(int32_t id) const override;
    bool is_special(int32_t id) const override;
    std::string token_text(int32_t id) const override;
    const std::string& chat_template() const override { return v_.chat_template; }
    int32_t token_id(std::string_view text) const override { return v_.find(text); }
    bool add_bos() const override { return v_.add_bos && v_.bos >= 0; }
    bool add_eos() const override { return v_.add_eos && v_.eos >= 0; }
    bool strips_leading_space() const override { return v_.add_space_prefix; }
    std::string describe() const override;

    const Vocab& vocab() const { return v_; }

private:
    struct Fragment {
        int32_t id;  // >= 0: a special token; -1: text
        uint32_t begin;
        uint32_t len;
    };
    struct Cache;

    void partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;
    void encode_spm_text(std::string_view raw, bool prev_special, Cache& cache, std::vector<int32_t>& out) const;
    void encode_bpe_text(std::string_view raw, bool prev_special, Cache& cache, std::vector<int32_t>& out) const;
    void encode_chunked(std::string_view s, bool spm, Cache& cache, std::vector<int32_t>& out) const;

    Vocab v_;
    // Special tokens by first byte, longest first: all of them / only user-defined (matched even when
    // parse_special is off, as Hugging Face does for non-special added tokens).
    std::array<std::vector<int32_t>, 256> special_all_;
    std::array<std::vector<int32_t>, 256> special_user_;
    bool any_user_ = false;
    bool any_all_ = false;
};

// Finalizes the vocabulary and wraps it.
Result<std::unique_ptr<Tokenizer>> make_tokenizer(Vocab v);

}  // namespace rz::tokenizer::detail
