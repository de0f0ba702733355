#pragma once
// The fused decode kernels' prologue and reductions (decode_fused.cu: one token; decode_rows.cu: up to 8 tokens of
// different sequences): RMSNorm of x times the norm weights, quantized per 32 into shared memory, the warp
// reduce-scatter of several rows' partial sums, the segments of a launch and the type-set dispatch. Internal to
// src/backend/cuda.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <type_traits>
#include <utility>

#include "backend/cuda/common.cuh"
#include "backend/cuda/fused_dot.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda::detail::fused {
namespace {

// Elements of the fused activation buffer (decode_fused.cu's g_aq): the longest activation of one token (n_ff,
// n_head * head_dim), or the rows of a decode step of several sequences (decode_rows.cu): at first 16 rows of an
// n_ff up to 16384 (phi-2's 10240 included). With each rows block quantizing x itself, phi-2's steps of 16 sequences ran 6.9 ms
// on the rows kernels against 5.7 on the GEMM path, so the buffer held 16 rows of 8192 only; with x quantized once
// (decode_rows.cu, launch_x) they run 4.20-4.32 ms against 6.04-6.22 (12 sequences 3.85-3.86 vs 5.70-5.95; Q8_0 16:
// 4.30-4.47 vs 5.76-5.83), and serving at 16 clients 4157-4187 tok/s against 2735-2758 (H200). Now 32 rows of
// n_ff up to 16384 (steps of 17-32 sequences).
constexpr int kMaxActCols = 1 << 19;

// ---- prologue: x' = rms_norm(x) * w quantized per 32 into shared memory (sq [n], sd/ss [n / 32]). Each thread
// takes 8 consecutive elements, so 4 lanes share a 32-element sub-block (2 shuffles per reduction). The sum
// of squares is in double like the CPU reference (ops::rms_norm) and the old rms_norm kernel.
// Chunk 0 of the norm weights (this thread's 8 elements), loaded before the dependency wait (immutable).
struct NormPre {
    float4 wa, wb;
};
__device__ __forceinline__ NormPre norm_preload(const float* __restrict__ w, int n) {
    NormPre r{};
    const int i = static_cast<int>(threadIdx.x) * 8;
    if (w && i < n) r.wa = *reinterpret_cast<const float4*>(w + i), r.wb = *reinterpret_cast<const float4*>(w + i + 4);
    return r;
}

__device__ __forceinline__ void quant8_store(const float (&v)[8], bool in, int i, int8_t* sq, float* sd, float* ss) {
    float amax = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) amax = fmaxf(amax, fabsf(v[k]));
    amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 2));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    int q[8], sum = 0;
#pragma unroll
    for (int k = 0; k < 8; ++k) sum += (q[k] = __float2int_rn(v[k] * id));
    sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 1);
    sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 2);
    if (in) {
        int2 packed;
        packed.x = (q[0] & 0xFF) | ((q[1] & 0xFF) << 8) | ((q[2] & 0xFF) << 16) | static_cast<int>(static_cast<uint32_t>(q[3]) << 24);
        packed.y = (q[4] & 0xFF) | ((q[5] & 0xFF) << 8) | ((q[6] & 0xFF) << 16) | static_cast<int>(static_cast<uint32_t>(q[7]) << 24);
        *reinterpret_cast<int2*>(sq + i) = packed;
        if ((threadIdx.x & 3) == 0) {
            sd[i >> 5] = d;
            ss[i >> 5] = d * static_cast<float>(sum);
        }
    }
}

// Per-warp partial sums of squares of the last late-scale prologue (norm_quant_smem with late), read back by
// norm_scale() after the dot products.
__shared__ double s_ssq[32];

__device__ __forceinline__ double ssq8(const float4& a, const float4& b) {
    return static_cast<double>(a.x) * a.x + static_cast<double>(a.y) * a.y + static_cast<double>(a.z) * a.z + static_cast<double>(a.w) * a.w +
           static_cast<double>(b.x) * b.x + static_cast<double>(b.y) * b.y + static_cast<double>(b.z) * b.z + static_cast<double>(b.w) * b.w;
}

// Quantizes x * w per 32 into sq / sd / ss: chunk 0 of this thread from registers (xa, xb and the preloaded
// weights), the rest from memory. LATE: x * w as is, and the sum of squares of the chunks it loads is returned;
// else x * scale * w in double like the CPU reference (ops::rms_norm), and 0 is returned.
template <bool LATE>
__device__ __forceinline__ double quant_chunks(const float* __restrict__ x, const float* __restrict__ w, int n, const NormPre& pre,
                                               const float4& xa, const float4& xb, double scale, int8_t* sq, float* sd, float* ss) {
    const int tid = threadIdx.x, nt = blockDim.x, i0 = tid * 8;
    auto scaled = [&](float xv, float wv) { return LATE ? xv * wv : static_cast<float>(static_cast<double>(xv) * scale * wv); };
    double acc = 0.0;
    {
        const float xs[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
        const float ws[8] = {pre.wa.x, pre.wa.y, pre.wa.z, pre.wa.w, pre.wb.x, pre.wb.y, pre.wb.z, pre.wb.w};
        float v[8];
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = scaled(xs[k], ws[k]);
        quant8_store(v, i0 < n, i0, sq, sd, ss);
    }
    for (int base = nt * 8; base < n; base += nt * 8) {  // same trip count everywhere: the shuffles see whole warps
        const int i = base + tid * 8;
        const bool in = i < n;
        float v[8] = {};
        if (in) {
            const float4 a = *reinterpret_cast<const float4*>(x + i), b = *reinterpret_cast<const float4*>(x + i + 4);
            const float4 wa = *reinterpret_cast<const float4*>(w + i), wb = *reinterpret_cast<const float4*>(w + i + 4);
            if (LATE) acc += ssq8(a, b);
            const float xs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w}, ws[8] = {wa.x, wa.y, wa.z, wa.w, wb.x, wb.y, wb.z, wb.w};
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] = scaled(xs[k], ws[k]);
        }
        quant8_store(v, in, i, sq, sd, ss);
    }
    return acc;
}

// late: quantize x * w without the RMS scale, which cancels in the int8 codes (q = x w s / (amax(x w) s / 127)),
// so the block-wide sum of squares leaves the critical path before the dot products: the caller multiplies
// each dot product by norm_scale() afterwards (RZ_CUDA_NORM_LATE, default on). Otherwise the scale is applied
// before quantizing (two more block barriers and a second reduction before the first weight is used).
__device__ void norm_quant_smem(const float* __restrict__ x, const float* __restrict__ w, int n, float eps, const NormPre& pre, int8_t* sq,
                                float* sd, float* ss, bool late) {
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, i0 = tid * 8;
    float4 xa = make_float4(0.f, 0.f, 0.f, 0.f), xb = xa;  // chunk 0 stays in registers for the quantization
    if (i0 < n) xa = *reinterpret_cast<const float4*>(x + i0), xb = *reinterpret_cast<const float4*>(x + i0 + 4);
    double acc = ssq8(xa, xb);
    if (late) {
        acc += quant_chunks<true>(x, w, n, pre, xa, xb, 1.0, sq, sd, ss);
        acc = warp_sum(acc);
        if (lane == 0) s_ssq[tid >> 5] = acc;
        __syncthreads();
        return;
    }
    for (int i = i0 + nt * 8; i < n; i += nt * 8)
        acc += ssq8(*reinterpret_cast<const float4*>(x + i), *reinterpret_cast<const float4*>(x + i + 4));
    __shared__ double red[32];
    acc = warp_sum(acc);
    if (lane == 0) red[tid >> 5] = acc;
    __syncthreads();
    if (tid < 32) {
        double t = tid < (nt >> 5) ? red[tid] : 0.0;
        t = warp_sum(t);
        if (tid == 0) red[0] = t;
    }
    __syncthreads();
    (void)quant_chunks<false>(x, w, n, pre, xa, xb, 1.0 / sqrt(red[0] / n + eps), sq, sd, ss);
    __syncthreads();
}

// ---- the other prologues (non-llama blocks): LayerNorm with bias (phi2, gpt2) and a plain quantization of x (the o
// projection over attention rows whose head_dim is not a multiple of 32, e.g. phi-2's 80, so the attention kernel
// cannot quantize its own per-head output). Kinds as in cuda.h's NormKind.
constexpr int kNormRms = 0, kNormLayer = 1, kNormNone = 2;

// out = (x - mean) / sqrt(var + eps) * w + b quantized per 32 into sq / sd / ss; mean and variance in double from one
// pass of sums (the CPU's ops::layer_norm takes two passes; in double over float inputs the difference is far below
// the int8 step).
__device__ void layer_norm_quant_smem(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b, int n, float eps,
                                      int8_t* sq, float* sd, float* ss) {
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31;
    double s = 0.0, s2 = 0.0;
    for (int i = tid * 8; i < n; i += nt * 8) {
        const float4 a = *reinterpret_cast<const float4*>(x + i), c = *reinterpret_cast<const float4*>(x + i + 4);
        s += static_cast<double>(a.x) + a.y + a.z + a.w + c.x + c.y + c.z + c.w;
        s2 += ssq8(a, c);
    }
    __shared__ double red[2][32];
    s = warp_sum(s);
    s2 = warp_sum(s2);
    if (lane == 0) red[0][tid >> 5] = s, red[1][tid >> 5] = s2;
    __syncthreads();
    double S = 0.0, S2 = 0.0;
    for (int i = 0; i < (nt >> 5); ++i) S += red[0][i], S2 += red[1][i];
    const double mean = S / n, scale = 1.0 / sqrt(fmax(S2 / n - mean * mean, 0.0) + eps);
    for (int base = 0; base < n; base += nt * 8) {  // same trip count everywhere: the shuffles see whole warps
        const int i = base + tid * 8;
        const bool in = i < n;
        float v[8] = {};
        if (in)
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] = static_cast<float>((static_cast<double>(x[i + k]) - mean) * scale * w[i + k] + (b ? b[i + k] : 0.0f));
        quant8_store(v, in, i, sq, sd, ss);
    }
    __syncthreads();
}

// x itself quantized per 32 into sq / sd / ss.
__device__ void plain_quant_smem(const float* __restrict__ x, int n, int8_t* sq, float* sd, float* ss) {
    const int tid = threadIdx.x, nt = blockDim.x;
    for (int base = 0; base < n; base += nt * 8) {
        const int i = base + tid * 8;
        const bool in = i < n;
        float v[8] = {};
        if (in) {
            const float4 a = *reinterpret_cast<const float4*>(x + i), c = *reinterpret_cast<const float4*>(x + i + 4);
            v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = c.x, v[5] = c.y, v[6] = c.z, v[7] = c.w;
        }
        quant8_store(v, in, i, sq, sd, ss);
    }
    __syncthreads();
}

// The prologue of a launch: x' of the given kind quantized into the block's shared memory (x.q, x.d, x.s of smem_x).
// late applies to kNormRms only (the host passes 0 otherwise).
__device__ __forceinline__ void prologue_smem(int kind, const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                                              int n, float eps, const NormPre& pre, int8_t* sq, float* sd, float* ss, bool late) {
    if (kind == kNormLayer) layer_norm_quant_smem(x, w, b, n, eps, sq, sd, ss);
    else if (kind == kNormNone) plain_quant_smem(x, n, sq, sd, ss);
    else norm_quant_smem(x, w, n, eps, pre, sq, sd, ss, late);
}

// The RMS scale 1 / sqrt(mean(x^2) + eps) from the late prologue's partial sums (after its barrier).
__device__ __forceinline__ float norm_scale(int n, float eps) {
    double t = 0.0;
    for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) t += s_ssq[i];
    return static_cast<float>(1.0 / sqrt(t / n + eps));
}

// Reduce-scatter of R rows' lane partial sums over the warp: log2(R) halving steps (R - 1 shuffles) then
// 5 - log2(R) plain ones, instead of R full warp_sum trees (5R shuffles; 40 for gate|up's R = 8, all on the
// kernel's tail). Lane l returns the total of row scatter_row<R>(l); the 32 / R lanes of a row agree.
template <int R>
__device__ __forceinline__ int scatter_row(int lane) {
    int row = 0;
#pragma unroll
    for (int n = R, off = 16; n > 1; n >>= 1, off >>= 1)
        if (lane & off) row += n / 2;
    return row;
}
template <int R>
__device__ __forceinline__ float warp_sum_rows(float (&acc)[R], int lane) {
    int off = 16;
#pragma unroll
    for (int n = R; n > 1; n >>= 1, off >>= 1) {
        const bool hi = (lane & off) != 0;
#pragma unroll
        for (int i = 0; i < n / 2; ++i) {
            const float send = hi ? acc[i] : acc[i + n / 2], keep = hi ? acc[i + n / 2] : acc[i];
            acc[i] = keep + __shfl_xor_sync(0xFFFFFFFFu, send, off);
        }
    }
    float v = acc[0];
    for (; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
    return v;
}

__host__ __device__ inline size_t norm_smem_bytes(int cols) { return static_cast<size_t>(cols) + 2 * sizeof(float) * static_cast<size_t>(cols / 32); }

__device__ __forceinline__ XQ smem_x(unsigned char* sm, int cols) {
    int8_t* sq = reinterpret_cast<int8_t*>(sm);
    float* sd = reinterpret_cast<float*>(sm + cols);
    return XQ{sq, sd, sd + cols / 32};
}

// One matrix of a fused mat-vec launch (up to 3 segments, e.g. q, k, v): a row group is a run of consecutive rows
// of one segment; pick_seg maps a launch-wide group index g to its segment (g becomes the index within it).
struct SegD {
    const uint8_t* w;
    const float* bias;
    float* y;
    size_t rb;
    int rows;
    int type;
    int ngroups;
    int act;  // epilogue activation (Act) of the one-token mat-vec, or -1
    int ldy;  // the rows kernels' y row stride
};

// A launch's segment from the caller's MatvecSeg over rows of `cols` (host side; ngroups is filled per kernel).
inline SegD seg_of(const MatvecSeg& m, int cols) {
    return SegD{static_cast<const uint8_t*>(m.W), m.bias, m.y, row_bytes(m.t, cols), m.rows, static_cast<int>(m.t), 0, m.act, m.ld};
}

// The row groups [g0, g1) of this block (spread_groups): an even split over the grid, ceil or floor each.
template <typename P>
__device__ __forceinline__ void block_groups(const P& p, int& g0, int& g1) {
    g0 = static_cast<int>(static_cast<long long>(blockIdx.x) * p.ngroups / gridDim.x);
    g1 = static_cast<int>(static_cast<long long>(blockIdx.x + 1) * p.ngroups / gridDim.x);
}

template <typename P>
__device__ __forceinline__ SegD pick_seg(const P& p, int& g) {
    if (g < p.seg[0].ngroups || p.nseg == 1) return p.seg[0];
    g -= p.seg[0].ngroups;
    if (g < p.seg[1].ngroups || p.nseg == 2) return p.seg[1];
    g -= p.seg[1].ngroups;
    return p.seg[2];
}

// f(std::integral_constant<int, E>{}) for the instantiated type-set mask E == ext (fused_ext, fused_dot_ext.cuh):
// the one list of the masks the fused kernels are instantiated for.
template <typename F>
decltype(auto) with_ext(int ext, F&& f) {
    switch (ext) {
        case 8: return f(std::integral_constant<int, 8>{});
        case 5: return f(std::integral_constant<int, 5>{});
        case 3: return f(std::integral_constant<int, 3>{});
        case 1: return f(std::integral_constant<int, 1>{});
        default: return f(std::integral_constant<int, 0>{});
    }
}

// Host: lets kernel k take up to the device's opt-in shared memory (the rows kernels' 16 tokens of a 2048-wide
// activation are 41 KB besides their 12 KB of static shared memory, the staged gate|up kernel's rows 37-110 KB;
// without this a launch over 48 KB in all fails). Once per kernel.
template <typename K>
void allow_smem(K k) {
    static std::set<const void*> done;
    if (!done.insert(reinterpret_cast<const void*>(k)).second) return;
    const int optin = device_attr(cudaDevAttrMaxSharedMemoryPerBlockOptin, 0);
    cudaFuncAttributes a{};
    if (optin > 0 && cudaFuncGetAttributes(&a, k) == cudaSuccess && optin > static_cast<int>(a.sharedSizeBytes))
        (void)cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, optin - static_cast<int>(a.sharedSizeBytes));
    (void)cudaGetLastError();
}

// Host: blocks of kernel k (threads each, smem bytes of dynamic shared memory) resident on the whole device, cached
// per kernel and size (the fused mat-vecs size their grids to it: each block then normalises x once).
template <typename K>
int resident_blocks(K k, int threads, size_t smem) {
    static std::map<std::pair<const void*, size_t>, int> cache;
    const auto key = std::make_pair(reinterpret_cast<const void*>(k), smem);
    if (const auto it = cache.find(key); it != cache.end()) return it->second;
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, k, threads, smem) != cudaSuccess) {
        (void)cudaGetLastError();
        n = 1;
    }
    return cache[key] = std::max(1, n) * sm_count();
}

// Host: the grid for p.ngroups row groups, at most `cap` blocks (one wave where they fit, else every resident block
// takes a contiguous share: block_groups). Every resident block rather than ceil(groups / cap) groups each: with 384
// groups over 264 resident blocks the latter left 72 idle (qwen3-8b Q8_0 q|k|v), +3% qwen3-8b / +1% phi-2 Q8_0
// decode, the rest unchanged (H200).
template <typename P>
int spread_groups(const P& p, int cap) {
    return std::min(p.ngroups, cap);
}

}  // namespace
}  // namespace rz::cuda::detail::fused
