#pragma once
// Causal attention over the KV cache with a tiled online softmax (flash-attention style): each (token, head)
// streams its sequence's cached keys/values once in tiles, keeping a running max and sum, so memory is
// O(head_dim) per head whatever the context length.
#include <cstdint>

#include "realizar/core/thread_pool.h"
#include "runtime/kv_cache.h"

namespace rz::runtime {

struct AttnParams {
    int il = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    float scale = 1.0f;  // applied to q.k
    int n_swa = 0;       // sliding window (0 = full)
};

// q: [n_tokens, n_head*head_dim] (RoPE applied); out: [n_tokens, n_head*head_dim].
// Token t attends to positions [max(0, pos[t] - n_swa + 1), pos[t]] of sequence seq[t], which must already
// be in the cache.
void attention(const KvCache& cache, const AttnParams& p, const float* q, const int32_t* seq, const int32_t* pos, int n_tokens,
               float* out, ThreadPool& pool);

}  // namespace rz::runtime
