#pragma once
// Token sampling: a chain of small stages (apply / accept / reset) over a candidate list, then a seeded
// draw (or greedy argmax at temperature <= 0). Order and defaults follow llama.cpp's common sampler:
//
//   logit bias -> penalties (repeat/presence/frequency over the last N tokens) -> top-k -> typical-p
//   -> top-p -> min-p -> temperature -> draw
//
// The filters before "temperature" see the distribution at temperature 1 (as in llama.cpp), so changing
// the temperature never changes which tokens survive top-p/min-p. See docs/sampling.md.
//
// Determinism: the draw uses our own xoshiro256** generator seeded through splitmix64 and a hand-written
// inverse-CDF walk, never std::*_distribution (whose output is implementation-defined), so a given seed
// reproduces the same tokens on the same build.
//
// Thread-safety: a Sampler holds per-sequence state (penalty window, RNG); use one per sequence.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "realizar/core/status.h"
#include "realizar/runtime/top_k.h"

namespace rz::runtime {

// One candidate token. p is only meaningful right after a stage computed probabilities (softmax()).
struct TokenData {
    int32_t id  = 0;
    float logit = 0.0f;
    float p     = 0.0f;
};

// The working set the stages narrow down. Starts as the full vocabulary in id order.
struct Candidates {
    std::vector<TokenData> data;
    bool sorted      = false;  // data is in descending logit order
    int32_t selected = -1;     // index into data of the drawn token (set by the final draw)

    // Refill from a logits row [n_vocab]; entries in id order, unsorted.
    void reset(std::span<const float> logits);
    // Sort descending by logit (stable on ties: the lower id first, so greedy picks the lowest id).
    void sort();
    // p = softmax(logit) over the current data (does not reorder).
    void softmax();
    size_t size() const { return data.size(); }
};

// A stage of the chain. apply() narrows or reweights the candidates; accept() sees every token that
// becomes part of the sequence (prompt tokens too, when the caller feeds them); reset() forgets history.
class SamplerStage {
  public:
    virtual ~SamplerStage()              = default;
    virtual const char* name() const     = 0;
    virtual void apply(Candidates& cand) = 0;
    virtual void accept(int32_t /*token*/) {}
    virtual void reset() {}
    virtual std::unique_ptr<SamplerStage> clone() const = 0;
};

struct LogitBias {
    int32_t token = 0;
    float bias    = 0.0f;  // added to the logit; -infinity bans the token
};

// Seed value meaning "pick a fresh random seed" (Sampler::seed() then reports the one used).
inline constexpr uint64_t kRandomSeed = ~uint64_t{0};

// Defaults match llama.cpp's common_params_sampling (top_k 40, top_p 0.95, min_p 0.05, temp 0.8, penalties
// off with a 64-token window).
struct SamplingParams {
    uint64_t seed           = kRandomSeed;
    float temperature       = 0.8f;   // <= 0: greedy (argmax after the filters)
    int32_t top_k           = 40;     // <= 0: off
    float top_p             = 0.95f;  // >= 1: off
    float min_p             = 0.05f;  // <= 0: off
    float typical_p         = 1.0f;   // >= 1: off
    float repeat_penalty    = 1.0f;   // 1: off. logit > 0 is divided by it, logit <= 0 multiplied
    float presence_penalty  = 0.0f;   // subtracted once from every token seen in the window
    float frequency_penalty = 0.0f;   // subtracted count times
    int32_t penalty_last_n  = 64;     // window; 0: penalties off; -1: the whole sequence
    int32_t min_keep        = 1;      // top-p / min-p / typical-p keep at least this many candidates
    std::vector<LogitBias> logit_bias;

    // Range checks for user-supplied values ("top_p must be in [0, 1], got 1.5"). n_vocab bounds bias ids.
    Status validate(int n_vocab) const;
    // Options that make every draw the argmax of the raw logits (temperature <= 0 and nothing that
    // can change the argmax): lets callers skip the chain.
    bool is_plain_greedy() const;
};

// The generator behind Sampler: xoshiro256** seeded with splitmix64. Exposed for tests and for callers
// that need reproducible randomness of their own.
class Rng {
  public:
    explicit Rng(uint64_t seed);
    uint64_t next();
    double uniform();  // [0, 1) with 53 random bits

  private:
    uint64_t s_[4];
};

// The chain + draw for one sequence.
class Sampler {
  public:
    // Fails (InvalidArgument) on out-of-range parameters or n_vocab <= 0.
    static Result<std::unique_ptr<Sampler>> create(const SamplingParams& params, int n_vocab);

    // Runs the chain over logits [n_vocab] and draws one token. Does not accept() it: the caller accepts
    // what actually enters the sequence. Candidates (with their final p) stay readable via candidates().
    int32_t sample(std::span<const float> logits);
    // How many of the best entries of a row (Context::top_k) sample_top() needs to draw exactly the token
    // sample() would draw from the whole row, with the same candidates and the same random draws: 1 for plain
    // greedy options, else top_k when nothing before the top-k stage changes logits (no logit bias, penalties
    // off) and 0 < top_k <= kMaxTopK (top_k < n_vocab). 0: the whole row is needed (sample()).
    int32_t top_k_needed() const { return top_k_needed_; }
    // sample() over a row whose top_k_needed() best entries are `top` (in Context::top_k's order). Requires
    // top_k_needed() > 0 and top.size() == top_k_needed().
    int32_t sample_top(std::span<const TokenLogit> top);
    // Record a token that became part of the sequence (feeds the penalty window).
    void accept(int32_t token);
    // Forget history and restart the RNG from the seed.
    void reset();
    // Independent copy with the same state (history and RNG position).
    std::unique_ptr<Sampler> clone() const;

    uint64_t seed() const { return seed_; }  // the seed actually used (resolved when kRandomSeed)
    const SamplingParams& params() const { return params_; }
    const Candidates& candidates() const { return cand_; }
    // "logit-bias -> penalties -> top-k -> ... -> dist" for logs.
    std::string describe() const;

  private:
    Sampler() = default;
    int32_t draw();  // runs the chain over cand_ and draws


    SamplingParams params_;
    int n_vocab_   = 0;
    uint64_t seed_ = 0;
    int32_t top_k_needed_ = 0;
    Rng rng_{0};
    std::vector<std::unique_ptr<SamplerStage>> stages_;
    Candidates cand_;
};

// Stage factories (also used by tests). Parameters are not validated here; SamplingParams::validate is.
std::unique_ptr<SamplerStage> make_logit_bias_stage(std::vector<LogitBias> bias);
std::unique_ptr<SamplerStage> make_penalties_stage(int32_t last_n, float repeat, float presence, float frequency);
std::unique_ptr<SamplerStage> make_top_k_stage(int32_t k);
std::unique_ptr<SamplerStage> make_typical_stage(float p, int32_t min_keep);
std::unique_ptr<SamplerStage> make_top_p_stage(float p, int32_t min_keep);
std::unique_ptr<SamplerStage> make_min_p_stage(float p, int32_t min_keep);
std::unique_ptr<SamplerStage> make_temperature_stage(float temperature);

// Index of the largest logit (lowest id on ties; NaN counts as -infinity, so an all -inf/NaN row gives 0).
int32_t argmax(std::span<const float> logits);

// Log-probabilities of a logits row (log-softmax at temperature 1, computed in double for stability),
// for OpenAI-style logprobs: the chosen token's logprob and the top_n most likely alternatives
// (descending; ties by lower id).
struct TokenLogprob {
    int32_t id    = 0;
    float logprob = 0.0f;
};
struct LogprobsEntry {
    TokenLogprob chosen;
    std::vector<TokenLogprob> top;
};
// chosen must be in [0, logits.size()); top_n is clamped to the vocabulary size.
LogprobsEntry compute_logprobs(std::span<const float> logits, int32_t chosen, int top_n);
// Full log-softmax row (same length as logits).
void log_softmax(std::span<const float> logits, std::span<float> out);

}  // namespace rz::runtime
