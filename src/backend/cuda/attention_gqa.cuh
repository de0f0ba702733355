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

// The query heads a block (1, 2 or 4) the kernel takes for a token at position pos (cuda.h, attention_fused_heads),
// or 0: the shape is not its (head_dim other than 64 / 128, an odd group, a float cache; RZ_CUDA_ATTN_GQA=0).
int gqa_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int pos, int n_swa);
// Launches the kernel with G = gqa_heads(...) > 0 query heads a block.
void attention_gqa(const GqaArgs& a, int G);

}  // namespace rz::cuda::detail
