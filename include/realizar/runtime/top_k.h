#pragma once
// The k best tokens of a logits row: what Context::top_k returns and Sampler::sample_top consumes. Why: a
// GPU decode step can select them on the device and bring back k (id, logit) pairs instead of the whole
// row (32k-150k floats), and the host sampler's greedy pick and top-k filter only ever look at those.
//
// Order (the same total order as the sampler's, sampler.cpp `better`): higher logit first, the lower id on
// equal logits; a NaN logit counts as -infinity (and is reported as -infinity), -0 equals +0.
#include <cstdint>
#include <span>
#include <vector>

#include "realizar/core/status.h"

namespace rz::runtime {

struct TokenLogit {
    int32_t id = 0;
    float logit = 0.0f;  // the row's value (NaN reported as -infinity)
};

// Largest k Context::top_k accepts (the device kernel keeps the candidates in shared memory).
inline constexpr int kMaxTopK = 256;

// "top_k: k must be in [1, 256] and at most the vocabulary size (32000), got 0" when k is out of range.
Status check_top_k(int k, int n_vocab);

// The k best entries of a logits row in the order above (host reference; k must pass check_top_k).
// k == 1 is argmax() (sampler.h).
void top_k_row(std::span<const float> logits, int k, std::vector<TokenLogit>& out);

}  // namespace rz::runtime
