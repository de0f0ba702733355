// Example: load a tokenizer from any source realizar understands (GGUF/APR model, HF folder, tokenizer.json,
// SentencePiece tokenizer.model, GPT-2 folder, llama2.c tokenizer.bin), tokenize text, and stream it back.
//
//   ./build/release/examples/tokenize ../shared/data/tokenizers/llama3-hf "Hello <|eot_id|> world"
#include <cstdio>
#include <string>

#include "realizar/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s SOURCE TEXT...\n", argv[0]);
        return 2;
    }
    auto tok = rz::tokenizer::Tokenizer::from_path(argv[1]);
    if (!tok.ok()) {
        std::fprintf(stderr, "error: %s\n", tok.status().to_string().c_str());
        return 1;
    }
    const rz::tokenizer::Tokenizer& t = **tok;
    std::printf("%s  bos=%d eos=%d add_bos=%d\n", t.describe().c_str(), t.bos(), t.eos(), t.add_bos());
    for (int i = 2; i < argc; ++i) {
        // add_special: BOS/EOS as the model wants; parse_special: "<|eot_id|>" in the text is one token.
        auto ids = t.encode(argv[i], /*add_special=*/true, /*parse_special=*/true);
        if (!ids.ok()) {
            std::fprintf(stderr, "error: %s\n", ids.status().to_string().c_str());
            return 1;
        }
        for (int32_t id : *ids) std::printf(" %d:'%s'", id, t.token_to_piece(id, /*render_special=*/true).c_str());
        // Streaming decode, as a server does while generating: only whole UTF-8 characters come out.
        rz::tokenizer::StreamDecoder stream(t, /*skip_special=*/true);
        stream.set_strip_leading_space(true);  // a whole text, not a continuation: drop SentencePiece's dummy space
        std::string text;
        for (int32_t id : *ids) text += stream.push(id);
        text += stream.flush();
        std::printf("\n  decoded: '%s'\n", text.c_str());
    }
    return 0;
}
