// Small batches (a few tokens: batched decode of a few sequences) skip the dequantize + GEMM route, whose cost
// is writing and re-reading the whole matrix in f16 whatever the batch size: this multi-vector mat-vec reads
// each weight byte once and multiplies it with up to kMmvTokens activation rows. A block per two rows (sharing
// the activation loads), its four warps over the columns; lane i of warp w dequantizes 8-element groups
// 32 w + i, + 128, ... so a warp reads contiguous bytes.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/batch_common.cuh"

namespace rz::cuda::batch::detail {
namespace {

constexpr int kWarps = 4;  // per block
constexpr int kRowsPerBlock = 2;

__device__ __forceinline__ void load8(const float* x, float* v) {
    const float4 a = reinterpret_cast<const float4*>(x)[0], b = reinterpret_cast<const float4*>(x)[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void load8(const __half* x, float* v) {
    const uint4 u = *reinterpret_cast<const uint4*>(x);
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[j]));
        v[2 * j] = f.x, v[2 * j + 1] = f.y;
    }
}

// Y[t, r] = beta * Y[t, r] + sum_c W[r, c] X[t, c] for t < n <= kMmvTokens (X row stride = cols). A block takes
// kRowsPerBlock rows; its kWarps warps split the columns (so matrices with few rows still fill the GPU) and add
// their partial sums through shared memory.
template <int T, typename XT>
__global__ void __launch_bounds__(32 * kWarps) mmv_kernel(const uint8_t* __restrict__ W, size_t rb, int rows, int ng, const XT* __restrict__ X,
                                                          int n, float beta, float* __restrict__ Y, int ldy) {
    __shared__ float part[kWarps][kRowsPerBlock * kMmvTokens];
    const int r0 = blockIdx.x * kRowsPerBlock;
    const int warp = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    const int nr = min(kRowsPerBlock, rows - r0);
    const int cols = ng * 8;
    float acc[kRowsPerBlock][kMmvTokens];
#pragma unroll
    for (int r = 0; r < kRowsPerBlock; ++r)
#pragma unroll
        for (int t = 0; t < kMmvTokens; ++t) acc[r][t] = 0.0f;
    for (int g = warp * 32 + lane; g < ng; g += 32 * kWarps) {
        float w[kRowsPerBlock][8];
#pragma unroll
        for (int r = 0; r < kRowsPerBlock; ++r) deq8<T>(W + static_cast<size_t>(r0 + min(r, nr - 1)) * rb, g, ng, w[r]);
#pragma unroll
        for (int t = 0; t < kMmvTokens; ++t) {
            if (t >= n) break;
            float x[8];
            load8(X + static_cast<size_t>(t) * cols + 8 * g, x);
#pragma unroll
            for (int r = 0; r < kRowsPerBlock; ++r)
#pragma unroll
                for (int i = 0; i < 8; ++i) acc[r][t] += w[r][i] * x[i];
        }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerBlock; ++r)
#pragma unroll
        for (int t = 0; t < kMmvTokens; ++t) {
            if (t >= n) break;
            float a = acc[r][t];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xFFFFFFFFu, a, o);
            if (lane == 0) part[warp][r * kMmvTokens + t] = a;
        }
    __syncthreads();
    const int k = threadIdx.x;  // one thread per (row, token)
    if (k < kRowsPerBlock * kMmvTokens) {
        const int r = k / kMmvTokens, t = k % kMmvTokens;
        if (r < nr && t < n) {
            float a = 0.0f;
#pragma unroll
            for (int wi = 0; wi < kWarps; ++wi) a += part[wi][k];
            float* y = Y + static_cast<size_t>(t) * ldy + r0 + r;
            *y = beta == 0.0f ? a : beta * *y + a;  // beta 0: y may hold garbage (NaN)
        }
    }
}

template <typename XT>
void launch(DType t, const uint8_t* w, size_t rb, int rows, int cols, const XT* x, int n, float beta, float* y, int ldy) {
    const int grid = blocks_for(rows, kRowsPerBlock), ng = cols / 8;
#define RZ_MMV(D) mmv_kernel<static_cast<int>(DType::D), XT><<<grid, 32 * kWarps, 0, stream()>>>(w, rb, rows, ng, x, n, beta, y, ldy)
    switch (t) {
        case DType::F32: RZ_MMV(F32); break;
        case DType::F16: RZ_MMV(F16); break;
        case DType::BF16: RZ_MMV(BF16); break;
        case DType::Q8_0: RZ_MMV(Q8_0); break;
        case DType::Q4_0: RZ_MMV(Q4_0); break;
        case DType::Q4_K: RZ_MMV(Q4_K); break;
        case DType::Q5_K: RZ_MMV(Q5_K); break;
        case DType::Q6_K: RZ_MMV(Q6_K); break;
        case DType::Q4_1: RZ_MMV(Q4_1); break;
        case DType::Q5_0: RZ_MMV(Q5_0); break;
        case DType::Q5_1: RZ_MMV(Q5_1); break;
        case DType::IQ4_NL: RZ_MMV(IQ4_NL); break;
        case DType::Q2_K: RZ_MMV(Q2_K); break;
        case DType::Q3_K: RZ_MMV(Q3_K); break;
        case DType::IQ4_XS: RZ_MMV(IQ4_XS); break;
        default: break;
    }
#undef RZ_MMV
}

}  // namespace

void mmv(DType t, const void* W, size_t rb, int rows, int cols, const void* X, bool f16x, int n, float beta, float* Y, int ldy) {
    const auto* w = static_cast<const uint8_t*>(W);
    for (int t0 = 0; t0 < n; t0 += kMmvTokens) {  // groups of kMmvTokens tokens: each group reads W once
        const int m = std::min(kMmvTokens, n - t0);
        if (f16x) launch(t, w, rb, rows, cols, static_cast<const __half*>(X) + static_cast<size_t>(t0) * cols, m, beta, Y + static_cast<size_t>(t0) * ldy, ldy);
        else launch(t, w, rb, rows, cols, static_cast<const float*>(X) + static_cast<size_t>(t0) * cols, m, beta, Y + static_cast<size_t>(t0) * ldy, ldy);
    }
}

}  // namespace rz::cuda::batch::detail
