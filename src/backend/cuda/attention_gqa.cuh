#pragma once
// Decode attention by kv head (attention_gqa.cu), behind attention_fused (one token) and attention_decode_rows (a
// decode step of several sequences): a block reads its share of a kv head's cached rows once for all the query heads
// that share them.
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
    // Several rows (attention_gqa_rows; one token: pos_rows null, m 1): row i is sequence seq_rows[i] at position
    // pos_rows[i], its q | k | v at q, k, v + i ldq, its output at out + i ldo and (quant_out) row i of the fused
    // activation buffer ([m, n_head hd]); caches [seq][n_head_kv][n_ctx][hd] (seq_stride elements a sequence).
    const int32_t* seq_rows = nullptr;
    const int32_t* pos_rows = nullptr;
    int m = 1;
    int ldq = 0, ldo = 0;
    size_t seq_stride = 0;
};

// The query heads a block (1, 2 or 4) the kernel takes for a token at position pos (cuda.h, attention_fused_heads),
// or 0: the shape is not its (head_dim other than 64 / 80 / 96 / 128 / 256, a float cache; RZ_CUDA_ATTN_GQA=0).
int gqa_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int pos, int n_swa);
// Launches the kernel with G = gqa_heads(...) > 0 query heads a block.
void attention_gqa(const GqaArgs& a, int G);
// The query heads a block (1, 2 or 4) of the several-rows kernel for m rows at positions up to pos_max, or 0: the
// shape is not its (as gqa_heads), or RZ_CUDA_ROWS_GQA=0.
int gqa_rows_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int m, int pos_max, int n_swa);
// The several-rows kernel (a.pos_rows set, an f16 cache) with G query heads a block over scratch_floats of scratch
// (at least m n_head (hd + 2)); false, with nothing launched, for shapes it does not take (as gqa_heads; G not
// dividing the group; m n_head / G above 1024 units).
bool attention_gqa_rows(const GqaArgs& a, int G, size_t scratch_floats);

}  // namespace rz::cuda::detail
