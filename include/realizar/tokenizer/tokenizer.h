#pragma once
// CONTRACT between the tokenizer and its users (generation, server, CLI). The tokenizer owner implements
// it and may add to it; changing what is here means updating every caller.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "realizar/core/status.h"

namespace rz::formats {
class ModelFile;
}

namespace rz::tokenizer {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // From a model's own metadata (GGUF tokenizer.ggml.*, APR embedded vocab, HF folder files).
    static Result<std::unique_ptr<Tokenizer>> from_model_file(const formats::ModelFile& file);
    // From a path: tokenizer.json, SentencePiece tokenizer.model, a GPT-2 folder (encoder.json + vocab.bpe),
    // a HF folder, or any model file.
    static Result<std::unique_ptr<Tokenizer>> from_path(const std::string& path);

    // add_special: BOS/EOS and post-processor additions as the model expects; parse_special: match special
    // and added tokens in text as whole tokens (off: they are plain text). Invalid UTF-8 is an error.
    virtual Result<std::vector<int32_t>> encode(std::string_view text, bool add_special, bool parse_special) const = 0;
    // Raw bytes of one token (byte-fallback tokens give their byte; specials give their text when
    // render_special, else "").
    virtual std::string token_to_piece(int32_t id, bool render_special) const = 0;
    // Decodes ids as one whole text: SentencePiece's dummy-prefix space before the first text token is
    // dropped, so decode(encode(x)) == x. For a continuation (generated ids after a prompt) concatenate
    // token_to_piece or use StreamDecoder, which keep that space.
    virtual std::string decode(std::span<const int32_t> ids, bool skip_special) const = 0;

    virtual int n_vocab() const = 0;
    virtual int32_t bos() const = 0;  // -1 when none
    virtual int32_t eos() const = 0;  // -1 when none
    virtual bool is_eog(int32_t id) const = 0;  // end of generation: EOS, EOT, <|im_end|>, ...
    virtual bool is_special(int32_t id) const = 0;
    virtual std::string token_text(int32_t id) const = 0;  // vocabulary entry as stored
    virtual const std::string& chat_template() const = 0;  // "" when the model ships none

    // Additions (with defaults so test doubles keep compiling):
    // Id of the vocabulary entry spelled exactly `text` (as stored, e.g. "<|im_end|>"), -1 when none.
    virtual int32_t token_id(std::string_view text) const { (void)text; return -1; }
    // Whether encode(..., add_special=true) prepends BOS / appends EOS.
    virtual bool add_bos() const { return false; }
    virtual bool add_eos() const { return false; }
    // SentencePiece-style vocabularies add a space before the text; decode() removes it again at the start.
    virtual bool strips_leading_space() const { return false; }
    // One line for logs: algorithm, pre-tokenizer, vocabulary size, source file.
    virtual std::string describe() const { return "tokenizer"; }
};

// Streaming detokenizer: returns only complete UTF-8 characters; keeps an incomplete tail until the
// next token completes it (flush() returns what is left, invalid bytes replaced by U+FFFD). Bytes that can
// never become valid UTF-8 are replaced by U+FFFD as soon as they are seen. Pieces are emitted as
// token_to_piece gives them (a generated continuation keeps its leading space); call
// set_strip_leading_space(true) when the ids start a text from scratch (decoding a whole SentencePiece
// prompt), to drop the dummy-prefix space the way decode() does.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tok, bool skip_special = true) : tok_(tok), skip_special_(skip_special) {}
    std::string push(int32_t id);
    std::string flush();
    void set_strip_leading_space(bool on) { strip_leading_space_ = on; }

private:
    const Tokenizer& tok_;
    bool skip_special_;
    std::string pending_;
    bool first_ = true;
    bool strip_leading_space_ = false;
};

}  // namespace rz::tokenizer
