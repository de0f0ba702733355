#pragma once
// Tensor-core decode attention of a batched decode step (attention_rows_tc.cu), behind attention_decode_rows.
#include <cstddef>
#include <cstdint>

namespace rz::cuda::detail {

// Whether the tensor-core kernel takes this shape: an f16 cache, head_dim 64 or 128, 2..8 query heads per kv head
// (RZ_CUDA_ROWS_TC=0: never, for comparisons).
bool rows_tc_takes(bool f16, int n_head, int n_head_kv, int hd);
// Scratch floats it needs for m rows.
size_t rows_tc_scratch(int m, int n_head, int n_head_kv, int hd, int n_ctx);
// attention_decode_rows through it; false (nothing launched) when the scratch is too small or m * n_head_kv > 1024.
bool rows_tc(const float* q, int ldq, const void* kc, const void* vc, int n_head, int n_head_kv, int hd, int n_ctx,
             const int32_t* seq, const int32_t* pos, int m, float scale, int n_swa, float* scratch,
             size_t scratch_floats, float* out32, void* out16, int ldo, bool quant_rows);

}  // namespace rz::cuda::detail
