#pragma once
// The single-sequence generation loop used by `realizar run` (and its --chat REPL):
//   prompt text -> tokens (through the chat template unless raw) -> batched prefill -> decode loop, streaming
//   each piece of text as soon as it is complete UTF-8 and known not to be part of a stop string.
// The server has its own multi-sequence engine but shares the Sampler and StopMatcher.
//
// Prompt rule (docs/run.md): the chat template is used when the caller asks for it (not raw) AND there is a
// template: the model's own, or an explicit override (a builtin name such as "chatml", or Jinja source).
// A model that ships no template (e.g. stories260K) gets its prompt raw: the text as is, with the special
// tokens (BOS) the model adds by itself.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "realizar/core/status.h"
#include "realizar/runtime/context.h"
#include "realizar/runtime/sampler.h"
#include "realizar/runtime/stop.h"

namespace rz::tokenizer {
class Tokenizer;
}

namespace rz::runtime {

struct ChatMessage {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

struct PromptOptions {
    bool raw = false;           // no chat template, whatever the model ships
    std::string chat_template;  // "" = the model's; else a builtin name (chatml, llama3, ...) or Jinja source
    bool add_generation_prompt = true;
};

struct PreparedPrompt {
    std::vector<int32_t> tokens;
    std::string text;        // what was tokenized (rendered template, or the raw text)
    bool templated = false;  // false: raw (asked for, or no template available)
};

// The template source to use: the override (builtin name or source) or the tokenizer's own; "" when none.
Result<std::string> resolve_chat_template(const tokenizer::Tokenizer& tok, const std::string& override_name_or_source);

// Renders `messages` through the template (when one applies, see the rule above) and tokenizes. Raw mode
// concatenates the message contents ("system" content, a blank line, then the user text) and tokenizes with
// the model's own special tokens but without parsing special-token text. When a template renders the BOS
// text itself and the tokenizer adds BOS too, the duplicate is dropped.
Result<PreparedPrompt> prepare_prompt(const tokenizer::Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                      const PromptOptions& opts);

struct GenerateOptions {
    SamplingParams sampling;
    StopConfig stop;
    int32_t seq_id                  = 0;
    int32_t n_batch                 = 512;      // prompt tokens per decode() call
    bool skip_special               = true;     // special tokens print as "" (else their text)
    bool accept_prompt              = true;     // feed prompt tokens into the penalty window (as llama.cpp's server)
    const std::atomic<bool>* cancel = nullptr;  // set -> stop at the next token with kCancelled
    // Sample from Context::top_k's candidates when the sampling options allow it (Sampler::top_k_needed; the
    // same tokens, and on the GPU only k pairs leave the device); false: always the whole logits row.
    bool use_top_k = true;
};

struct Timings {
    int32_t n_prompt      = 0;    // prompt tokens of the request
    int32_t n_prompt_eval = 0;    // of those, evaluated now (the rest came from the cache)
    int32_t n_generated   = 0;    // sampled tokens (including a final EOG token)
    double prompt_ms      = 0.0;  // prefill wall time
    double ttft_ms        = 0.0;  // start of generate() -> first token sampled
    double generation_ms  = 0.0;  // first token sampled -> end
    double total_ms       = 0.0;

    double prompt_tokens_per_s() const { return prompt_ms > 0.0 ? n_prompt_eval * 1000.0 / prompt_ms : 0.0; }
    // Decode throughput after the first token: (n_generated - 1) tokens over generation_ms.
    double generation_tokens_per_s() const {
        return generation_ms > 0.0 && n_generated > 1 ? (n_generated - 1) * 1000.0 / generation_ms : 0.0;
    }
};

struct GenerateResult {
    std::string text;             // everything streamed (stop strings and EOG text excluded)
    std::vector<int32_t> tokens;  // generated ids only (a final EOG token included)
    FinishReason finish = FinishReason::kNone;
    std::string stop_matched;  // the stop string, when finish == kStopString
    uint64_t seed = 0;         // the sampler's seed (resolved when random)
    Timings timings;
};

// Prompt reuse (Generator below, the server's slots): the tokens of `prompt` a sequence whose cache holds `cached`
// can keep: their common prefix, short of the prompt's last token (evaluated again: its logits are needed).
size_t reusable_prefix(std::span<const int32_t> cached, std::span<const int32_t> prompt);
// Keeps the first n cached positions of sequence seq and drops the rest (Context::seq_truncate); where n is 0 or
// the context cannot truncate, clears the sequence. Returns the positions kept (n or 0).
size_t keep_prefix(Context& ctx, int32_t seq, size_t n);

// Receives each piece of text as soon as it is safe to show; return false to stop (finish = kCancelled).
using TextCallback = std::function<bool(std::string_view piece)>;

// Owns the cached token list of one sequence of a Context, so consecutive calls (chat turns) only evaluate
// what is new: the longest common prefix of the cached tokens and the new prompt is kept (through
// Context::seq_truncate when the rest must go; where that is unsupported the sequence starts over).
class Generator {
  public:
    Generator(Context& ctx, const tokenizer::Tokenizer& tok);

    // Errors: empty prompt, prompt longer than the context, token ids out of range, decode failures.
    // Cancellation and limits are not errors: they are the finish reason.
    Result<GenerateResult> generate(std::span<const int32_t> prompt, const GenerateOptions& opts,
                                    const TextCallback& on_text);

    void reset();  // forget the cache of this generator's sequence
    const std::vector<int32_t>& cached_tokens() const { return cached_; }

  private:
    Context& ctx_;
    const tokenizer::Tokenizer& tok_;
    int32_t seq_ = -1;
    std::vector<int32_t> cached_;  // tokens whose K/V sit in the cache of seq_, in order
};

}  // namespace rz::runtime
