#pragma once
// One-token decode attention by kv head (attention_gqa.cu), behind attention_fused: a block reads its share of a
// kv head's cached rows once for all the query heads that share them.
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

namespace rz::cuda::detail {

// attention_fused's arguments (cuda.h), the cache in f16.
struct GqaArgs {
    const float* q;  // [n_head hd]
    const float* k;  // [n_head_kv hd] (the current position's, before RoPE)
    const float* v;  // [n_head_kv hd]
    __half* kc;      // [n_head_kv][n_ctx][hd]
    __half* vc;
    int n_head, n_head_kv, hd, n_ctx, n_rot, neox;
    const float* rope_cs;  // [n_ctx][n_rot / 2] (cos, sin), or null
    const int32_t* pos;
    float scale;
    float* scratch;  // [n_head * n_ctx] floats: the split partials
    bool quant_out;  // the int8 copy of out for the o projection (hd % 32 == 0)
    float* out;      // [n_head hd]
    int n_swa;
    const float* q_norm;  // [hd] or null
    const float* k_norm;
    float qk_eps;
};

// Launches the kernel when it takes the shape (f16 cache, head_dim 64 or 128, 2 / 4 / 8 query heads per kv head;
// RZ_CUDA_ATTN_GQA=0: never); false (nothing launched) otherwise.
bool attention_gqa(const GqaArgs& a);

}  // namespace rz::cuda::detail
