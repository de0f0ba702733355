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
    virtual std::string decode(std::span<const int32_t> ids, bool skip_special) const = 0;

    virtual int n_vocab() const = 0;
    virtual int32_t bos() const = 0;  // -1 when none
    virtual int32_t eos() const = 0;  // -1 when none
    virtual bool is_eog(int32_t id) const = 0;  // end of generation: EOS, EOT, <|im_end|>, ...
    virtual bool is_special(int32_t id) const = 0;
    virtual std::string token_text(int32_t id) const = 0;  // vocabulary entry as stored
    virtual const std::string& chat_template() const = 0;  // "" when the model ships none
};

// Streaming detokenizer: returns only complete UTF-8 characters; keeps an incomplete tail until the
// next token completes it (flush() returns what is left, invalid bytes replaced by U+FFFD).
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tok, bool skip_special = true) : tok_(tok), skip_special_(skip_special) {}
    std::string push(int32_t id);
    std::string flush();

private:
    const Tokenizer& tok_;
    bool skip_special_;
    std::string pending_;
    bool first_ = true;
};

}  // namespace rz::tokenizer
