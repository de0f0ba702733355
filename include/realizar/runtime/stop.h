#pragma once
// When generation ends, and which text may be shown before it does.
//
// Per sampled token the caller does, in this order:
//   1. on_token(id)      -> kEog when the token ends generation (EOS / end-of-turn via Tokenizer::is_eog, or
//                           a sampled BOS, which starts a new document: llama2.c stops there too). Its text is
//                           never shown. Counts the token towards max_tokens.
//   2. on_text(piece)    -> the part of the decoded text that is safe to show now. Text that could be the start
//                           of a stop string is held back until it is known not to be; a stop string found
//                           (also across token boundaries) ends generation with kStopString, and neither it nor
//                           anything after it is returned.
//   3. limit_reached()   -> kMaxTokens once max_tokens tokens were generated.
//   before decoding the next token: context_full(n_past, n_ctx) -> kContextFull when no position is left.
// At the end, finish() returns the held-back text (nothing when a stop string matched).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rz::tokenizer {
class Tokenizer;
}

namespace rz::runtime {

enum class FinishReason {
    kNone = 0,     // still running
    kEog,          // end-of-generation token
    kStopString,   // a user stop string matched
    kMaxTokens,    // max_tokens generated
    kContextFull,  // the sequence filled the context window
    kCancelled,    // the caller stopped it (Ctrl-C, client gone)
    kError,
};

// OpenAI-style name: "stop" (EOG, stop string), "length" (max tokens, context full), "cancelled", "error".
const char* finish_reason_name(FinishReason r);
// Precise name: "eog", "stop_string", "max_tokens", "context_full", "cancelled", "error", "none".
const char* finish_reason_detail(FinishReason r);

struct StopConfig {
    std::vector<std::string> stop;     // user stop strings; empty strings are ignored
    int32_t max_tokens = -1;           // < 0: no limit (until EOG or the context is full)
    bool ignore_eog    = false;        // keep going through EOS/EOT (benchmarks)
    bool stop_on_bos   = true;         // a sampled BOS ends generation (see above)
    std::vector<int32_t> stop_tokens;  // extra token ids that end generation like EOG
};

class StopMatcher {
  public:
    // tok may be null: then only stop_tokens end generation at token level.
    StopMatcher(StopConfig cfg, const tokenizer::Tokenizer* tok);

    FinishReason on_token(int32_t id);
    std::string on_text(std::string_view piece);
    FinishReason limit_reached();
    FinishReason context_full(int32_t n_past, int32_t n_ctx);
    // Marks the generation as ended for `r` (cancellation, errors) unless it already ended.
    void set_reason(FinishReason r);
    std::string finish();

    bool done() const { return reason_ != FinishReason::kNone; }
    FinishReason reason() const { return reason_; }
    const std::string& matched_stop() const { return matched_; }  // the stop string that matched
    int32_t n_generated() const { return n_generated_; }
    size_t held_back() const { return pending_.size(); }

    // Length of the longest suffix of `text` that is a proper prefix of one of `stops` (0 if none): text
    // that must be held back because the next token could complete a stop string.
    static size_t partial_stop_suffix(std::string_view text, const std::vector<std::string>& stops);

  private:
    StopConfig cfg_;
    const tokenizer::Tokenizer* tok_;
    std::string pending_;  // decoded text not shown yet
    std::string matched_;
    FinishReason reason_ = FinishReason::kNone;
    int32_t n_generated_ = 0;
};

}  // namespace rz::runtime
