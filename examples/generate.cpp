// Generate text with the library API: load a model, make a context, prepare the prompt (chat template when
// the model has one, raw otherwise), and stream the completion.
//
//   ./build/release/examples/generate ../shared/data/tinystories-260K/stories260K.bin "Once upon a time" 64
#include <cstdio>
#include <cstdlib>
#include <string>

#include "realizar/runtime/context.h"
#include "realizar/runtime/generate.h"
#include "realizar/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODEL PROMPT [MAX_TOKENS]\n", argv[0]);
        return 2;
    }
    using namespace rz;
    auto model = runtime::Model::load(argv[1]);
    if (!model.ok()) {
        std::fprintf(stderr, "error: %s\n", model.status().to_string().c_str());
        return 1;
    }
    auto tok = tokenizer::Tokenizer::from_model_file((*model)->file());
    if (!tok.ok()) {
        std::fprintf(stderr, "error: %s\n", tok.status().to_string().c_str());
        return 1;
    }
    auto ctx = runtime::Context::create(*model, runtime::ContextOptions{});
    if (!ctx.ok()) {
        std::fprintf(stderr, "error: %s\n", ctx.status().to_string().c_str());
        return 1;
    }

    // The model's chat template if it has one; else the text goes in as is (with BOS).
    auto prompt = runtime::prepare_prompt(**tok, {{"user", argv[2]}}, runtime::PromptOptions{});
    if (!prompt.ok()) {
        std::fprintf(stderr, "error: %s\n", prompt.status().to_string().c_str());
        return 1;
    }

    runtime::GenerateOptions opts;
    opts.sampling.temperature = 0.0f;  // greedy: reproducible output
    opts.stop.max_tokens      = argc > 3 ? std::atoi(argv[3]) : 64;

    runtime::Generator gen(**ctx, **tok);
    auto result = gen.generate(prompt->tokens, opts, [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;  // false would stop generation
    });
    if (!result.ok()) {
        std::fprintf(stderr, "\nerror: %s\n", result.status().to_string().c_str());
        return 1;
    }
    const runtime::Timings& t = result->timings;
    std::fprintf(stderr, "\n[%d prompt tokens, %.1f tok/s | %d generated, %.1f tok/s | first token %.1f ms | %s]\n",
                 t.n_prompt, t.prompt_tokens_per_s(), t.n_generated, t.generation_tokens_per_s(), t.ttft_ms,
                 runtime::finish_reason_name(result->finish));
    return 0;
}
