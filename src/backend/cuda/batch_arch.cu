// Batched-path kernels of the non-llama blocks (batch.h): LayerNorm rows, per-head q/k RMSNorm, the
// embedding scale / learned-position add, and FFN activations (plain with bias, or gated with any activation).
// They mirror the decode kernels of arch_kernels.cu (and the CPU's ops.cpp) row by row: sums in double,
// activations with the same float formulas, so a batch gives the token-by-token path's numbers.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/act.cuh"
#include "backend/cuda/batch_common.cuh"
#include "realizar/backend/cuda/batch.h"

namespace rz::cuda::batch {
namespace {

using detail::blocks_for;
using detail::stream;

constexpr int kNormThreads = 256;

using rz::cuda::detail::block_sum;

// One block per output row; two passes (mean, then squared deviations) like ops::layer_norm.
__global__ void __launch_bounds__(kNormThreads) layer_norm_rows_kernel(const float* __restrict__ x, int ldx, const int32_t* __restrict__ rows,
                                                                       const float* __restrict__ w, const float* __restrict__ b, int n, float eps,
                                                                       float* __restrict__ out32, __half* __restrict__ out16) {
    const int i = blockIdx.x;
    const float* xr = x + static_cast<size_t>(rows ? rows[i] : i) * ldx;
    double s = 0.0;
    for (int c = threadIdx.x; c < n; c += kNormThreads) s += xr[c];
    const double mean = block_sum(s) / n;
    double v = 0.0;
    for (int c = threadIdx.x; c < n; c += kNormThreads) {
        const double d = xr[c] - mean;
        v += d * d;
    }
    const double scale = 1.0 / sqrt(block_sum(v) / n + eps);
    for (int c = threadIdx.x; c < n; c += kNormThreads) {
        double o = (xr[c] - mean) * scale;
        if (w) o *= w[c];
        if (b) o += b[c];
        const float f = static_cast<float>(o);
        if (out32) out32[static_cast<size_t>(i) * n + c] = f;
        if (out16) out16[static_cast<size_t>(i) * n + c] = __float2half_rn(f);
    }
}

// One warp per (row, head); blockDim (32, kHeadsPerBlock).
constexpr int kHeadsPerBlock = 4;
__global__ void head_rms_norm_rows_kernel(float* qk, int ld, int k_col, int n, int n_head, int n_head_kv, int hd, const float* __restrict__ wq,
                                          const float* __restrict__ wk, float eps) {
    const int nh = n_head + n_head_kv;
    const int64_t g = static_cast<int64_t>(blockIdx.x) * kHeadsPerBlock + threadIdx.y;
    if (g >= static_cast<int64_t>(n) * nh) return;
    const int t = static_cast<int>(g / nh), h = static_cast<int>(g % nh);
    const float* w = h < n_head ? wq : wk;
    if (!w) return;
    float* x = qk + static_cast<size_t>(t) * ld + (h < n_head ? h * hd : k_col + (h - n_head) * hd);
    double ss = 0.0;
    for (int d = threadIdx.x; d < hd; d += 32) ss += static_cast<double>(x[d]) * x[d];
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, o);
    const double scale = 1.0 / sqrt(ss / hd + eps);
    for (int d = threadIdx.x; d < hd; d += 32) x[d] = static_cast<float>(x[d] * scale * w[d]);
}

__global__ void scale_add_rows_kernel(float* x, int64_t total, float scale, const float* __restrict__ y) {
    const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (g >= total) return;
    float v = x[g] * scale;
    if (y) v += y[g];
    x[g] = v;
}

using rz::cuda::detail::act1;

template <int A>
__global__ void act_rows_kernel(const float* __restrict__ a, const float* __restrict__ b, int ld, int n, int F, const float* __restrict__ bias,
                                float* __restrict__ out32, __half* __restrict__ out16) {
    const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (g >= static_cast<int64_t>(n) * F) return;
    const int64_t t = g / F, i = g % F;
    float x = a[t * ld + i];
    if (bias) x += bias[i];
    float o = act1(x, A);
    if (b) o *= b[t * ld + i];
    if (out32) out32[g] = o;
    if (out16) out16[g] = __float2half_rn(o);
}

}  // namespace

void layer_norm_rows(const float* x, int ldx, const int32_t* rows, int n, const float* w, const float* b, int n_cols, float eps, float* out32,
                     void* out16) {
    if (n <= 0) return;
    layer_norm_rows_kernel<<<n, kNormThreads, 0, stream()>>>(x, ldx, rows, w, b, n_cols, eps, out32, static_cast<__half*>(out16));
}

void head_rms_norm_rows(float* qk, int ld, int k_col, int n, int n_head, int n_head_kv, int hd, const float* wq, const float* wk, float eps) {
    const int64_t heads = static_cast<int64_t>(n) * (n_head + n_head_kv);
    if (heads <= 0 || (!wq && !wk)) return;
    head_rms_norm_rows_kernel<<<blocks_for(heads, kHeadsPerBlock), dim3(32, kHeadsPerBlock), 0, stream()>>>(qk, ld, k_col, n, n_head, n_head_kv, hd,
                                                                                                          wq, wk, eps);
}

void scale_add_rows(float* x, int n, int cols, float scale, const float* y) {
    const int64_t total = static_cast<int64_t>(n) * cols;
    if (total <= 0 || (scale == 1.0f && !y)) return;
    scale_add_rows_kernel<<<blocks_for(total, 256), 256, 0, stream()>>>(x, total, scale, y);
}

void act_rows(const float* a, const float* b, int ld, int n, int F, const float* bias, Act act, float* out32, void* out16) {
    const int64_t total = static_cast<int64_t>(n) * F;
    if (total <= 0) return;
    const int g = blocks_for(total, 256);
    auto* o16 = static_cast<__half*>(out16);
    switch (act) {
        case Act::kSilu: act_rows_kernel<static_cast<int>(Act::kSilu)><<<g, 256, 0, stream()>>>(a, b, ld, n, F, bias, out32, o16); break;
        case Act::kGeluTanh: act_rows_kernel<static_cast<int>(Act::kGeluTanh)><<<g, 256, 0, stream()>>>(a, b, ld, n, F, bias, out32, o16); break;
        case Act::kGeluErf: act_rows_kernel<static_cast<int>(Act::kGeluErf)><<<g, 256, 0, stream()>>>(a, b, ld, n, F, bias, out32, o16); break;
        case Act::kRelu: act_rows_kernel<static_cast<int>(Act::kRelu)><<<g, 256, 0, stream()>>>(a, b, ld, n, F, bias, out32, o16); break;
    }
}

}  // namespace rz::cuda::batch
