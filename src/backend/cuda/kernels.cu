// CUDA kernels of the decode path. Mat-vec: one warp per two weight rows; lane i walks the rows' 32-element
// sub-blocks i, i+32, ... so a warp reads a contiguous run of blocks per step (coalesced), each byte once,
// with 16-byte loads where the block layout keeps them aligned (Q4_K, Q5_K, F32, F16, BF16).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/quant_decode.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {

namespace detail {
// Every launch and copy goes to one non-blocking stream of the backend, so a decode step can be captured as
// a CUDA graph (capture is not allowed on the legacy default stream).
cudaStream_t stream() {
    static cudaStream_t s = [] {
        cudaStream_t t = nullptr;
        if (cudaStreamCreateWithFlags(&t, cudaStreamNonBlocking) != cudaSuccess) t = nullptr;
        return t;
    }();
    return s;
}
}  // namespace detail

using namespace detail;

namespace {

constexpr int kRowsPerBlock = 4;  // warps per block in matvec
constexpr int kRowsPerWarp = 2;   // rows per warp in the blocked matvec

// Dequantises 32-element sub-block sb of a row of nsb sub-blocks (the Q6_K and grouped device layouts need nsb) into v[32].
// The primary template serves the types of
// quant_decode.cuh (Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, IQ4_XS); the specialisations below the rest.
template <int T>
__device__ __forceinline__ void deq_sb(const uint8_t* row, int sb, int nsb, float* v) {
    static_assert(is_extra_type(T), "deq_sb: no decoder for this type");
    deq_extra<T, 32>(row, nsb, sb * 32, v);
}

template <>
__device__ __forceinline__ void deq_sb<static_cast<int>(DType::F32)>(const uint8_t* row, int sb, int, float* v) {
    const float4* p = reinterpret_cast<const float4*>(row) + sb * 8;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const float4 f = p[i];
        v[4 * i] = f.x, v[4 * i + 1] = f.y, v[4 * i + 2] = f.z, v[4 * i + 3] = f.w;
    }
}

template <>
__device__ __forceinline__ void deq_sb<static_cast<int>(DType::F16)>(const uint8_t* row, int sb, int, float* v) {
    const uint4* p = reinterpret_cast<const uint4*>(row + sb * 64);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint4 u = p[i];
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            v[8 * i + 2 * j] = h2f(static_cast<uint16_t>(w[j] & 0xFFFFu));
            v[8 * i + 2 * j + 1] = h2f(static_cast<uint16_t>(w[j] >> 16));
        }
    }
}

template <>
__device__ __forceinline__ void deq_sb<static_cast<int>(DType::BF16)>(const uint8_t* row, int sb, int, float* v) {
    const uint4* p = reinterpret_cast<const uint4*>(row + sb * 64);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint4 u = p[i];
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            v[8 * i + 2 * j] = __uint_as_float(w[j] << 16);
            v[8 * i + 2 * j + 1] = __uint_as_float(w[j] & 0xFFFF0000u);
        }
    }
}

// Q8_0 (device layout, q8_block): 32 int8 codes times d.
template <>
__device__ __forceinline__ void deq_sb<static_cast<int>(DType::Q8_0)>(const uint8_t* row, int sb, int nsb, float* v) {
    const Q8Block q = q8_block(row, nsb, sb);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const uint4 u = reinterpret_cast<const uint4*>(q.qs)[h];
#pragma unroll
        for (int i = 0; i < 16; ++i) v[16 * h + i] = q.d * static_cast<float>(static_cast<int8_t>(byte_of(u, i)));
    }
}

// Q4_0 (device layout, g32_block): 16 bytes of nibbles, element j = low nibble of qs[j], j + 16 = high; (q - 8) d.
template <>
__device__ __forceinline__ void deq_sb<static_cast<int>(DType::Q4_0)>(const uint8_t* row, int sb, int nsb, float* v) {
    const G32Block q = g32_block<18>(row, nsb, sb);
    const uint4 u = *reinterpret_cast<const uint4*>(q.qs);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
        const uint32_t w = byte_of(u, i);
        v[i] = q.d * (static_cast<float>(w & 0xF) - 8.0f);
        v[i + 16] = q.d * (static_cast<float>(w >> 4) - 8.0f);
    }
}

// The 16-byte header {half d, dmin; scales[12]} of a Q4_K/Q5_K block (16-byte aligned) in one load, then
// the 6-bit scale and min of sub-block s (one wide load instead of five narrow ones per sub-block).
__device__ __forceinline__ void k_header(const uint8_t* b, int s, float& d, float& dmin, float& sc, float& m) {
    const uint4 h = *reinterpret_cast<const uint4*>(b);
    d = h2f(static_cast<uint16_t>(h.x & 0xFFFFu));
    dmin = h2f(static_cast<uint16_t>(h.x >> 16));
    // Scale bytes q[i] are header bytes 4 + i; selecting bytes by shifts keeps everything in registers.
    const uint32_t a = byte_of(h, 4 + s), b8 = byte_of(h, 8 + s);
    if (s < 4) {
        sc = static_cast<float>(a & 63);
        m = static_cast<float>(b8 & 63);
    } else {
        sc = static_cast<float>((b8 & 0xF) | ((byte_of(h, s) >> 6) << 4));
        m = static_cast<float>((b8 >> 4) | ((a >> 6) << 4));
    }
}

// Q4_K: 144-byte blocks {half d, dmin; scales[12]; qs[128]}; sub-block s uses qs[32 (s/2) ..] low (s even)
// or high (s odd) nibbles, scale/min s.
template <>
__device__ __forceinline__ void deq_sb<static_cast<int>(DType::Q4_K)>(const uint8_t* row, int sb, int, float* v) {
    const uint8_t* b = row + static_cast<size_t>(sb >> 3) * 144;
    const int s = sb & 7;
    float d, dmin, sc, m;
    k_header(b, s, d, dmin, sc, m);
    const float a = d * sc, c = dmin * m;
    const uint4* q = reinterpret_cast<const uint4*>(b + 16 + 32 * (s >> 1));
    const uint4 q0 = q[0], q1 = q[1];
    const int sh = (s & 1) * 4;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
        v[i] = a * static_cast<float>((byte_of(q0, i) >> sh) & 0xF) - c;
        v[16 + i] = a * static_cast<float>((byte_of(q1, i) >> sh) & 0xF) - c;
    }
}

// Q5_K: 176-byte blocks {half d, dmin; scales[12]; qh[32]; qs[128]}; the fifth bit of element l of
// sub-block s is bit s of qh[l].
template <>
__device__ __forceinline__ void deq_sb<static_cast<int>(DType::Q5_K)>(const uint8_t* row, int sb, int, float* v) {
    const uint8_t* b = row + static_cast<size_t>(sb >> 3) * 176;
    const int s = sb & 7;
    float d, dmin, sc, m;
    k_header(b, s, d, dmin, sc, m);
    const float a = d * sc, c = dmin * m;
    const uint4* h = reinterpret_cast<const uint4*>(b + 16);
    const uint4* q = reinterpret_cast<const uint4*>(b + 48 + 32 * (s >> 1));
    const uint4 h0 = h[0], h1 = h[1], q0 = q[0], q1 = q[1];
    const int sh = (s & 1) * 4;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
        v[i] = a * static_cast<float>(((byte_of(q0, i) >> sh) & 0xF) | (((byte_of(h0, i) >> s) & 1) << 4)) - c;
        v[16 + i] = a * static_cast<float>(((byte_of(q1, i) >> sh) & 0xF) | (((byte_of(h1, i) >> s) & 1) << 4)) - c;
    }
}

// Q6_K (device layout, q6_block): sub-block s: half h = s/4, quarter r = s%4: element l = low/high nibble (r/2)
// of ql[64h + 32(r%2) + l] with bits 2r.. of qh[32h + l], scale scales[8h + 2r + l/16].
template <>
__device__ __forceinline__ void deq_sb<static_cast<int>(DType::Q6_K)>(const uint8_t* row, int sb, int nsb, float* v) {
    const Q6Block q = q6_block(row, nsb >> 3, sb >> 3);
    const int s = sb & 7, hh = s >> 2, r = s & 3;
    const uint4* ql = reinterpret_cast<const uint4*>(q.ql + 64 * hh + 32 * (r & 1));
    const uint4* qh = reinterpret_cast<const uint4*>(q.qh + 32 * hh);
    const float d0 = q.d * static_cast<float>(q.sc[8 * hh + 2 * r]), d1 = q.d * static_cast<float>(q.sc[8 * hh + 2 * r + 1]);
    const int shl = (r >> 1) * 4, shh = 2 * r;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const uint4 l = ql[half], hb = qh[half];
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            const int qv = static_cast<int>((byte_of(l, i) >> shl) & 0xF) | static_cast<int>(((byte_of(hb, i) >> shh) & 3) << 4);
            v[16 * half + i] = (half ? d1 : d0) * static_cast<float>(qv - 32);
        }
    }
}

// kRowsPerWarp rows per warp share each x sub-block load (x is re-read once per row group, not per row).
template <int T>
__global__ void matvec_kernel(const uint8_t* __restrict__ W, size_t rb, int rows, int nsb, const float* __restrict__ x,
                              const float* __restrict__ xu, const float* __restrict__ bias, int accumulate, float* __restrict__ y) {
    const int r0 = (blockIdx.x * kRowsPerBlock + static_cast<int>(threadIdx.x >> 5)) * kRowsPerWarp;
    const int lane = threadIdx.x & 31;
    if (r0 >= rows) return;
    float acc[kRowsPerWarp] = {};
    for (int sb = lane; sb < nsb; sb += 32) {
        float xs[32];
        const float4* xp = reinterpret_cast<const float4*>(x + sb * 32);
        const float4* up = reinterpret_cast<const float4*>(xu + sb * 32);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            float4 xv = xp[i];
            if (xu) {
                const float4 u = up[i];
                xv.x = silu_mul(xv.x, u.x), xv.y = silu_mul(xv.y, u.y), xv.z = silu_mul(xv.z, u.z), xv.w = silu_mul(xv.w, u.w);
            }
            xs[4 * i] = xv.x, xs[4 * i + 1] = xv.y, xs[4 * i + 2] = xv.z, xs[4 * i + 3] = xv.w;
        }
#pragma unroll
        for (int rr = 0; rr < kRowsPerWarp; ++rr) {
            if (r0 + rr >= rows) break;
            float v[32];
            deq_sb<T>(W + static_cast<size_t>(r0 + rr) * rb, sb, nsb, v);
#pragma unroll
            for (int i = 0; i < 32; ++i) acc[rr] += v[i] * xs[i];
        }
    }
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        float a = acc[rr];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xFFFFFFFFu, a, o);
        const int r = r0 + rr;
        if (lane == 0 && r < rows) {
            if (bias) a += bias[r];
            y[r] = accumulate ? y[r] + a : a;
        }
    }
}

// ---- Int8-activation mat-vec (Q8_0, Q4_K, Q6_K) -------------------------------------------------------
// x (or silu(x) * up) is quantized once per mat-vec to int8 with one scale per 32 elements (q8_1-style: scale
// d and d * sum(q), the latter for the Q4_K minimums) into a fixed device buffer; the weight kernels then
// multiply 4 int8 pairs per __dp4a instead of dequantising each weight to float, which is what made the
// float kernels instruction-bound. One warp per row; lanes take small contiguous slices of consecutive
// blocks so each warp load is coalesced. The CPU path also quantizes activations to 8 bits (per 256 or 32).
constexpr int kMaxQ8Cols = 1 << 17;  // longest row the int8 path takes; longer rows use the float kernels
constexpr int kWarpsDp4a = 4;        // rows (warps) per block
__device__ __align__(16) int8_t g_xq[kMaxQ8Cols];
__device__ float g_xd[kMaxQ8Cols / 32];
__device__ float g_xs[kMaxQ8Cols / 32];

// One warp per 32-element sub-block sb (lane = element): d = amax / 127, q = round(v / d) (ties to even),
// s = d * sum(q). All 32 lanes must call it together.
__device__ __forceinline__ void quantize32(float v, int sb, int lane) { quantize32_to(v, sb, lane, g_xq, g_xd, g_xs); }

__global__ void quantize_x_kernel(const float* __restrict__ x, const float* __restrict__ xu, int nsb) {
    const int sb = blockIdx.x * static_cast<int>(blockDim.x >> 5) + static_cast<int>(threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (sb >= nsb) return;
    float v = x[sb * 32 + lane];
    if (xu) v = silu_mul(v, xu[sb * 32 + lane]);
    quantize32(v, sb, lane);
}


// Rows of the int8 kernels are split over S warps of a block (S = 1, 2 or 4; kWarpsDp4a / S rows per block)
// when there are too few rows to fill the GPU: each warp sums its share, then the row's first warp adds the
// S partial sums from shared memory. S is uniform over the block, so the barrier is never divergent.
__device__ __forceinline__ void store_row(float acc, int r, bool valid, int S, const float* bias, int accumulate, float* y) {
    __shared__ float part[kWarpsDp4a];
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, o);
    if (S > 1) {
        if (lane == 0) part[w] = acc;
        __syncthreads();
        if (w % S != 0) return;
        for (int i = 1; i < S; ++i) acc += part[w + i];
    }
    if (lane == 0 && valid) {
        if (bias) acc += bias[r];
        y[r] = accumulate ? y[r] + acc : acc;
    }
}

// Q8_0 (device layout, q8_block): 2 lanes per block, 16 codes each (one 16-byte load); a warp covers 16 blocks
// per step (4 lanes with 8-byte loads measured 8% slower end to end than the file layout's 16-bit loads; this
// mapping 7.5-15% faster: H200, tinyllama with RZ_CUDA_FUSED=0 789 vs 735 tok/s, phi-2 446 vs 387).
__global__ void matvec_q8_0_dp4a(const uint8_t* __restrict__ W, size_t rb, int rows, int nb, const float* __restrict__ bias,
                                 int accumulate, float* __restrict__ y, int S) {
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    const int r = blockIdx.x * (kWarpsDp4a / S) + w / S, part = w % S;
    const bool valid = r < rows;
    const uint8_t* row = W + static_cast<size_t>(valid ? r : 0) * rb;
    const int hf = lane & 1;
    float acc = 0.0f;
#pragma unroll 4
    for (int b = (lane >> 1) + 16 * part; valid && b < nb; b += 16 * S) {
        const Q8Block q = q8_block(row, nb, b);
        const int4 wv = *reinterpret_cast<const int4*>(q.qs + 16 * hf);
        const int4 xv = *reinterpret_cast<const int4*>(g_xq + b * 32 + 16 * hf);
        const int s = __dp4a(wv.w, xv.w, __dp4a(wv.z, xv.z, __dp4a(wv.y, xv.y, __dp4a(wv.x, xv.x, 0))));
        acc += q.d * g_xd[b] * static_cast<float>(s);
    }
    store_row(acc, r, valid, S, bias, accumulate, y);
}


// Q4_K: 8 lanes per 144-byte block; lane k takes 16 qs bytes of pair j = k/2 (half k%2): low nibbles are
// elements of sub-block 2j, high nibbles of 2j + 1. The min term uses the 32-element sums of x, added once
// per sub-block (by the half-0 lane).
__global__ void matvec_q4_k_dp4a(const uint8_t* __restrict__ W, size_t rb, int rows, int nb, const float* __restrict__ bias,
                                 int accumulate, float* __restrict__ y, int S) {
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    const int r = blockIdx.x * (kWarpsDp4a / S) + w / S, part = w % S;
    const bool valid = r < rows;
    const uint8_t* row = W + static_cast<size_t>(valid ? r : 0) * rb;
    const int k = lane & 7, j = k >> 1, hf = k & 1;
    float acc = 0.0f;
#pragma unroll 2
    for (int b = (lane >> 3) + 4 * part; valid && b < nb; b += 4 * S) {
        const uint8_t* blk = row + static_cast<size_t>(b) * 144;
        const uint4 h = *reinterpret_cast<const uint4*>(blk);
        const uint4 q = *reinterpret_cast<const uint4*>(blk + 16 + 32 * j + 16 * hf);
        const int sb0 = 8 * b + 2 * j;
        const int4 x0 = *reinterpret_cast<const int4*>(g_xq + sb0 * 32 + 16 * hf);
        const int4 x1 = *reinterpret_cast<const int4*>(g_xq + sb0 * 32 + 32 + 16 * hf);
        const int2 nd = nibble_dots(q, x0, x1);
        const int s0 = nd.x, s1 = nd.y;
        const float d = h2f(static_cast<uint16_t>(h.x & 0xFFFFu)), dmin = h2f(static_cast<uint16_t>(h.x >> 16));
        float sc0, m0, sc1, m1;
        k_scale_min(h, 2 * j, sc0, m0);
        k_scale_min(h, 2 * j + 1, sc1, m1);
        acc += d * (sc0 * g_xd[sb0] * static_cast<float>(s0) + sc1 * g_xd[sb0 + 1] * static_cast<float>(s1));
        if (hf == 0) acc -= dmin * (m0 * g_xs[sb0] + m1 * g_xs[sb0 + 1]);
    }
    store_row(acc, r, valid, S, bias, accumulate, y);
}

// Q6_K (device layout, q6_block): 8 lanes per block; lane k takes half hh = k/4 and elements l0 = 8 (k%4) .. +7 of each of
// the half's 4 sub-blocks (ql bytes 64hh + l0 and 64hh + 32 + l0, qh bytes 32hh + l0), i.e. 32 weights.
__global__ void matvec_q6_k_dp4a(const uint8_t* __restrict__ W, size_t rb, int rows, int nb, const float* __restrict__ bias,
                                 int accumulate, float* __restrict__ y, int S) {
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    const int r = blockIdx.x * (kWarpsDp4a / S) + w / S, part = w % S;
    const bool valid = r < rows;
    const uint8_t* row = W + static_cast<size_t>(valid ? r : 0) * rb;
    const int k = lane & 7, hh = k >> 2, l0 = 8 * (k & 3);
    float acc = 0.0f;
#pragma unroll 2
    for (int b = (lane >> 3) + 4 * part; valid && b < nb; b += 4 * S) {
        const Q6Block q = q6_block(row, nb, b);
        const int2 a = *reinterpret_cast<const int2*>(q.ql + 64 * hh + l0), c = *reinterpret_cast<const int2*>(q.ql + 64 * hh + 32 + l0);
        const int2 h = *reinterpret_cast<const int2*>(q.qh + 32 * hh + l0);
        const int8_t* scl = q.sc + 8 * hh + (l0 >> 4);
        const int la[2] = {a.x, a.y}, lb[2] = {c.x, c.y};
        const int hq[2] = {h.x, h.y};
        const float d = q.d;
        float sum4 = 0.0f;
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
            const int sbi = 8 * b + 4 * hh + rr;
            const int2 xv = *reinterpret_cast<const int2*>(g_xq + sbi * 32 + l0);
            // sum x (q - 32) as sum x q - 32 sum x: the codes 0..63 go into __dp4a as they are (exact integers;
            // sm_90 has no byte-wise subtraction, __vsub4 costs 3 instructions a word), as fused_dot.cuh's dot_q6_k.
            int s = -32 * __dp4a(xv.y, 0x01010101, __dp4a(xv.x, 0x01010101, 0));
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const int q = static_cast<int>(q6_codes(static_cast<unsigned>((rr & 1) ? lb[i] : la[i]), static_cast<unsigned>(hq[i]), rr));
                s = __dp4a(q, i == 0 ? xv.x : xv.y, s);
            }
            sum4 += static_cast<float>(scl[2 * rr]) * g_xd[sbi] * static_cast<float>(s);
        }
        acc += d * sum4;
    }
    store_row(acc, r, valid, S, bias, accumulate, y);
}

// Plain (f32/f16/bf16) weights whose rows are not a multiple of 32 (e.g. n_ff = 172): lanes stride over
// elements, so loads stay coalesced without alignment assumptions.

template <int T>
__global__ void matvec_plain_kernel(const uint8_t* __restrict__ W, size_t rb, int rows, int cols, const float* __restrict__ x,
                                    const float* __restrict__ xu, const float* __restrict__ bias, int accumulate, float* __restrict__ y) {
    const int r = blockIdx.x * kRowsPerBlock + static_cast<int>(threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const uint8_t* row = W + static_cast<size_t>(r) * rb;
    float acc = 0.0f;
    for (int c = lane; c < cols; c += 32) acc += plain_at<T>(row, c) * (xu ? silu_mul(x[c], xu[c]) : x[c]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, o);
    if (lane == 0) {
        if (bias) acc += bias[r];
        y[r] = accumulate ? y[r] + acc : acc;
    }
}

template <int T>
__global__ void get_row_plain_kernel(const uint8_t* __restrict__ W, size_t rb, const int32_t* rowp, int cols, float scale, float* __restrict__ out) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int row = *rowp;
    if (c < cols) out[c] = plain_at<T>(W + static_cast<size_t>(row) * rb, c) * scale;
}

template <int T>
__global__ void get_row_kernel(const uint8_t* __restrict__ W, size_t rb, const int32_t* rowp, int nsb, float scale, float* __restrict__ out) {
    const int sb = blockIdx.x * blockDim.x + threadIdx.x;
    if (sb >= nsb) return;
    const int row = *rowp;
    float v[32];
    deq_sb<T>(W + static_cast<size_t>(row) * rb, sb, nsb, v);
#pragma unroll
    for (int i = 0; i < 32; ++i) out[sb * 32 + i] = v[i] * scale;
}

// Sums in double like the CPU reference path (ops::rms_norm).
// With quant (n a multiple of 32) the output is also quantized into the int8 activation buffer (fused, so
// the mat-vecs that read it need no quantize launch).
__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w, int n, float eps, int quant, float* __restrict__ out) {
    double ss = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += static_cast<double>(x[i]) * x[i];
    const double scale = 1.0 / sqrt(block_sum(ss) / n + eps);
    for (int i0 = 0; i0 < n; i0 += blockDim.x) {  // same trip count for all threads: warps quantize together
        const int i = i0 + static_cast<int>(threadIdx.x);
        float o = 0.0f;
        if (i < n) {
            const double v = x[i] * scale;
            o = static_cast<float>(w ? v * w[i] : v);
            out[i] = o;
        }
        if (quant && i0 + static_cast<int>(threadIdx.x & ~31u) < n) quantize32(o, i >> 5, static_cast<int>(threadIdx.x & 31));
    }
}

// One thread per (head, rotary pair) over q's heads then k's; angles in double like ops::rope_cos_sin.
__global__ void rope_kernel(float* q, int n_head, float* k, int n_head_kv, int hd, int n_rot, const double* inv_freq, const int32_t* posp, int neox) {
    const int pos = *posp;
    const int half = n_rot / 2;
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (n_head + n_head_kv) * half) return;
    const int h = idx / half, i = idx % half;
    float* x = h < n_head ? q + h * hd : k + (h - n_head) * hd;
    const double a = static_cast<double>(pos) * inv_freq[i];
    rope_pair(x, i, half, neox, static_cast<float>(cos(a)), static_cast<float>(sin(a)));
}


template <typename C>
__global__ void kv_store_kernel(const float* k, const float* v, C* kc, C* vc, int n_head_kv, int n_ctx, int hd, const int32_t* posp) {
    const int pos = *posp;
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n_head_kv * hd) return;
    const int g = idx / hd, d = idx % hd;
    const size_t o = (static_cast<size_t>(g) * n_ctx + pos) * hd + d;
    kc[o] = to_cache<C>(k[idx]);
    vc[o] = to_cache<C>(v[idx]);
}

// One block per query head. Scores: one warp per key (lanes over hd); softmax over the block; output:
// thread groups of hd threads each sum a slice of the keys, then the groups are added.
template <typename C>
__global__ void attention_kernel(const float* __restrict__ q, const C* __restrict__ kc, const C* __restrict__ vc, int n_head,
                                 int n_head_kv, int hd, int n_ctx, const int32_t* posp, float scale, float* __restrict__ scores,
                                 int quant, float* __restrict__ out, int n_swa) {
    const int pos = *posp, lo = n_swa > 0 ? max(0, pos - n_swa + 1) : 0, n_kv = pos + 1;  // keys [lo, pos]
    extern __shared__ float sm[];  // q[hd] | part[blockDim.x] | red[32]
    float* qs = sm;
    float* part = sm + hd;
    float* red = part + blockDim.x;
    const int h = blockIdx.x, g = h / (n_head / n_head_kv);
    const C* K = kc + static_cast<size_t>(g) * n_ctx * hd;
    const C* V = vc + static_cast<size_t>(g) * n_ctx * hd;
    float* sc = scores + static_cast<size_t>(h) * n_ctx;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    for (int i = tid; i < hd; i += blockDim.x) qs[i] = q[h * hd + i];
    __syncthreads();
    float mx = -INFINITY;
    for (int t = lo + warp; t < n_kv; t += nw) {
        float d = 0.0f;
        for (int i = lane; i < hd; i += 32) d += qs[i] * from_cache(K[static_cast<size_t>(t) * hd + i]);
        for (int o = 16; o > 0; o >>= 1) d += __shfl_xor_sync(0xFFFFFFFFu, d, o);
        d *= scale;
        if (lane == 0) sc[t] = d;
        mx = fmaxf(mx, d);
    }
    if (lane == 0) red[warp] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int i = 0; i < nw; ++i) mx = fmaxf(mx, red[i]);
    __syncthreads();
    float sum = 0.0f;
    for (int t = lo + tid; t < n_kv; t += blockDim.x) {
        const float e = __expf(sc[t] - mx);
        sc[t] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
    if (lane == 0) red[warp] = sum;
    __syncthreads();  // also publishes sc[] written by other threads
    sum = 0.0f;
    for (int i = 0; i < nw; ++i) sum += red[i];
    const int ngrp = blockDim.x / hd;
    const int grp = tid / hd, d = tid % hd;
    float acc = 0.0f;
    if (grp < ngrp)
        for (int t = lo + grp; t < n_kv; t += ngrp) acc += sc[t] * from_cache(V[static_cast<size_t>(t) * hd + d]);
    part[tid] = acc;
    __syncthreads();
    if (tid < hd) {
        float o = 0.0f;
        for (int gi = 0; gi < ngrp; ++gi) o += part[gi * hd + tid];
        o /= sum;
        out[h * hd + tid] = o;
        // hd % 32 == 0 when quant: whole warps are in this branch. Int8 copy for the o projection.
        if (quant) quantize32(o, (h * hd + tid) >> 5, lane);
    }
}

__global__ void swiglu_kernel(const float* g, const float* u, int n, float* out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float x = g[i];
        out[i] = x / (1.0f + expf(-x)) * u[i];
    }
}

// Single block; ties go to the lowest index (like std::max_element).
__global__ void argmax_kernel(const float* x, int n, int32_t* out) {
    __shared__ float bv[32];
    __shared__ int bi[32];
    float best = -INFINITY;
    int idx = 0x7FFFFFFF;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (x[i] > best) best = x[i], idx = i;
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xFFFFFFFFu, best, o);
        const int oi = __shfl_xor_sync(0xFFFFFFFFu, idx, o);
        if (ov > best || (ov == best && oi < idx)) best = ov, idx = oi;
    }
    if ((threadIdx.x & 31) == 0) bv[threadIdx.x >> 5] = best, bi[threadIdx.x >> 5] = idx;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w)
            if (bv[w] > best || (bv[w] == best && bi[w] < idx)) best = bv[w], idx = bi[w];
        *out = idx == 0x7FFFFFFF ? 0 : idx;
    }
}

__global__ void copy_kernel(const float4* __restrict__ a, float4* __restrict__ b, size_t n) {
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) b[i] = a[i];
}


}  // namespace

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

std::string device_name(int device) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return "?";
    return p.name;
}

Result<void*> alloc(size_t bytes, const std::string& what) {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 16 : bytes);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t fr = 0, tot = 0;
        (void)cudaMemGetInfo(&fr, &tot);
        return Status(StatusCode::kResourceExhausted,
                      "CUDA: cannot allocate " + std::to_string(bytes) + " bytes for " + what + " (" + cudaGetErrorString(e) + "; " +
                          std::to_string(fr >> 20) + " of " + std::to_string(tot >> 20) + " MiB free)");
    }
    // Zeroed, in stream order (every user of the memory runs on stream()): no launch ever reads leftovers of another
    // allocation (the batched GEMMs read padding rows, forward_batch).
    if (cudaMemsetAsync(p, 0, bytes == 0 ? 16 : bytes, stream()) != cudaSuccess) {
        (void)cudaGetLastError();
        (void)cudaFree(p);
        return Status(StatusCode::kInternal, "CUDA: cannot clear the " + std::to_string(bytes) + " bytes for " + what);
    }
    return p;
}

namespace {
const float*& pinned_x();
}  // namespace

void free(void* p) {
    pinned_x() = nullptr;  // the pinned activation may live in p (its address may be reused)
    if (p) (void)cudaFree(p);
}

static Status check(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return Status::Ok();
    return Status(StatusCode::kInternal, std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}

Status upload(void* dst, const void* src, size_t bytes) {
    RZ_RETURN_IF_ERROR(check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "upload"));
    return check(cudaStreamSynchronize(stream()), "upload");  // the source may be freed by the caller
}
Status download(void* dst, const void* src, size_t bytes) {
    RZ_RETURN_IF_ERROR(check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()), "download"));
    return check(cudaStreamSynchronize(stream()), "download");
}
Status sync(const char* where) {
    RZ_RETURN_IF_ERROR(check(cudaGetLastError(), where));
    return check(cudaStreamSynchronize(stream()), where);
}

Status capture_begin() { return check(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal), "graph capture"); }

Result<void*> capture_end() {
    cudaGraph_t g = nullptr;
    RZ_RETURN_IF_ERROR(check(cudaStreamEndCapture(stream(), &g), "graph capture"));
    cudaGraphExec_t e = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&e, g, 0);
    (void)cudaGraphDestroy(g);
    RZ_RETURN_IF_ERROR(check(err, "graph instantiate"));
    return static_cast<void*>(e);
}

Status graph_launch(void* graph) { return check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), stream()), "graph launch"); }

void graph_destroy(void* graph) {
    if (graph) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph));
}

bool weight_supported(DType t) {
    switch (t) {
        case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0:
        case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
        // Read by the generic kernels (quant_decode.cuh) here; int8 kernels only in the fused layer (fused_dot_ext.cuh).
        case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::IQ4_NL: case DType::Q2_K: case DType::Q3_K:
        case DType::IQ4_XS: return true;
        default: return false;
    }
}

size_t row_bytes(DType t, int64_t n_cols) {
    if (t == DType::Q3_K) return static_cast<size_t>(n_cols / 256) * kQ3Bytes;  // padded blocks (common.cuh)
    const size_t b = file_row_bytes(t, n_cols);
    return repacked(t) ? (b + 15) / 16 * 16 : b;  // repacked rows are padded to 16 bytes
}

#define RZ_CUDA_DISPATCH(t, LAUNCH)                                   \
    switch (t) {                                                     \
        case DType::F32: LAUNCH(static_cast<int>(DType::F32)); break;   \
        case DType::F16: LAUNCH(static_cast<int>(DType::F16)); break;   \
        case DType::BF16: LAUNCH(static_cast<int>(DType::BF16)); break; \
        case DType::Q8_0: LAUNCH(static_cast<int>(DType::Q8_0)); break; \
        case DType::Q4_0: LAUNCH(static_cast<int>(DType::Q4_0)); break; \
        case DType::Q4_K: LAUNCH(static_cast<int>(DType::Q4_K)); break; \
        case DType::Q5_K: LAUNCH(static_cast<int>(DType::Q5_K)); break; \
        case DType::Q6_K: LAUNCH(static_cast<int>(DType::Q6_K)); break; \
        case DType::Q4_1: LAUNCH(static_cast<int>(DType::Q4_1)); break; \
        case DType::Q5_0: LAUNCH(static_cast<int>(DType::Q5_0)); break; \
        case DType::Q5_1: LAUNCH(static_cast<int>(DType::Q5_1)); break; \
        case DType::IQ4_NL: LAUNCH(static_cast<int>(DType::IQ4_NL)); break; \
        case DType::Q2_K: LAUNCH(static_cast<int>(DType::Q2_K)); break; \
        case DType::Q3_K: LAUNCH(static_cast<int>(DType::Q3_K)); break; \
        case DType::IQ4_XS: LAUNCH(static_cast<int>(DType::IQ4_XS)); break; \
        default: break;                                              \
    }

namespace {
// RZ_CUDA_INT8=0 selects the float-activation kernels (for comparisons); set_int8_activations overrides.
bool& int8_flag() {
    static bool on = [] {
        const char* e = std::getenv("RZ_CUDA_INT8");
        return !(e && std::string(e) == "0");
    }();
    return on;
}
// RZ_CUDA_SPLIT=0: one warp per row always (for comparisons).
bool split_flag() {
    static const bool on = [] {
        const char* e = std::getenv("RZ_CUDA_SPLIT");
        return !(e && std::string(e) == "0");
    }();
    return on;
}
// The x whose int8 copy the activation buffer holds (set by rms_norm; see cuda.h), or null.
const float*& pinned_x() {
    static const float* p = nullptr;
    return p;
}
bool use_int8(DType t, int cols) {
    return int8_flag() && cols <= kMaxQ8Cols && cols % 256 == 0 && (t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q6_K);
}
}  // namespace

void set_int8_activations(bool on) { int8_flag() = on; }
bool int8_activations() { return int8_flag(); }

void matvec(DType t, const void* W, int rows, int cols, const float* x, const float* bias, bool accumulate, float* y) {
    matvec_glu(t, W, rows, cols, x, nullptr, bias, accumulate, y);
}

void matvec_glu(DType t, const void* W, int rows, int cols, const float* x, const float* up, const float* bias, bool accumulate, float* y) {
    const auto* w = static_cast<const uint8_t*>(W);
    const size_t rb = row_bytes(t, cols);
    const int grid = blocks_for(rows, kRowsPerBlock);
    if (cols % 32 != 0) {
        if (t == DType::F32) matvec_plain_kernel<static_cast<int>(DType::F32)><<<grid, 32 * kRowsPerBlock, 0, stream()>>>(w, rb, rows, cols, x, up, bias, accumulate, y);
        if (t == DType::F16) matvec_plain_kernel<static_cast<int>(DType::F16)><<<grid, 32 * kRowsPerBlock, 0, stream()>>>(w, rb, rows, cols, x, up, bias, accumulate, y);
        if (t == DType::BF16) matvec_plain_kernel<static_cast<int>(DType::BF16)><<<grid, 32 * kRowsPerBlock, 0, stream()>>>(w, rb, rows, cols, x, up, bias, accumulate, y);
        return;
    }
    if (use_int8(t, cols)) {
        const int nsb = cols / 32;
        if (up || x != pinned_x()) {
            quantize_x_kernel<<<blocks_for(nsb, 8), 256, 0, stream()>>>(x, up, nsb);
            pinned_x() = nullptr;
        }
        // Few rows (q|k|v, o, down of a small model): split rows over warps so enough warps are in flight.
        // But each warp keeps >= 2 loop steps: a Q4_K row of 2048 (8 blocks, 2 steps of 4) is not split.
        int S = !split_flag() || rows >= 8192 ? 1 : rows >= 4096 ? 2 : 4;
        const int steps = t == DType::Q8_0 ? (nsb + 15) / 16 : (nsb / 8 + 3) / 4;  // loop steps with S = 1
        while (S > 1 && steps < 2 * S) S /= 2;
        const int g = blocks_for(rows, kWarpsDp4a / S), acc = accumulate ? 1 : 0;
        if (t == DType::Q8_0) matvec_q8_0_dp4a<<<g, 32 * kWarpsDp4a, 0, stream()>>>(w, rb, rows, nsb, bias, acc, y, S);
        if (t == DType::Q4_K) matvec_q4_k_dp4a<<<g, 32 * kWarpsDp4a, 0, stream()>>>(w, rb, rows, nsb / 8, bias, acc, y, S);
        if (t == DType::Q6_K) matvec_q6_k_dp4a<<<g, 32 * kWarpsDp4a, 0, stream()>>>(w, rb, rows, nsb / 8, bias, acc, y, S);
        return;
    }
#define RZ_LAUNCH(T) matvec_kernel<T><<<blocks_for(rows, kRowsPerBlock * kRowsPerWarp), 32 * kRowsPerBlock, 0, stream()>>>(w, rb, rows, cols / 32, x, up, bias, accumulate ? 1 : 0, y)
    RZ_CUDA_DISPATCH(t, RZ_LAUNCH)
#undef RZ_LAUNCH
}

void get_row(DType t, const void* W, int cols, const int32_t* row, float scale, float* out) {
    const auto* w = static_cast<const uint8_t*>(W);
    const size_t rb = row_bytes(t, cols);
    const int nsb = cols / 32;
    if (cols % 32 != 0) {
        const int g = blocks_for(cols, 128);
        if (t == DType::F32) get_row_plain_kernel<static_cast<int>(DType::F32)><<<g, 128, 0, stream()>>>(w, rb, row, cols, scale, out);
        if (t == DType::F16) get_row_plain_kernel<static_cast<int>(DType::F16)><<<g, 128, 0, stream()>>>(w, rb, row, cols, scale, out);
        if (t == DType::BF16) get_row_plain_kernel<static_cast<int>(DType::BF16)><<<g, 128, 0, stream()>>>(w, rb, row, cols, scale, out);
        return;
    }
#define RZ_LAUNCH(T) get_row_kernel<T><<<blocks_for(nsb, 128), 128, 0, stream()>>>(w, rb, row, nsb, scale, out)
    RZ_CUDA_DISPATCH(t, RZ_LAUNCH)
#undef RZ_LAUNCH
}

void rms_norm(const float* x, const float* w, int n, float eps, float* out) {
    const bool q = int8_flag() && n % 32 == 0 && n <= kMaxQ8Cols;
    rms_norm_kernel<<<1, 1024, 0, stream()>>>(x, w, n, eps, q ? 1 : 0, out);
    pinned_x() = q ? out : nullptr;
}

void rope(float* q, int n_head, float* k, int n_head_kv, int hd, int n_rot, const double* inv_freq, const int32_t* pos, bool neox) {
    const int n = (n_head + n_head_kv) * (n_rot / 2);
    rope_kernel<<<blocks_for(n, 256), 256, 0, stream()>>>(q, n_head, k, n_head_kv, hd, n_rot, inv_freq, pos, neox ? 1 : 0);
}

void kv_store(const float* k, const float* v, void* kc, void* vc, bool f16, int n_head_kv, int n_ctx, int hd, const int32_t* pos) {
    const int n = n_head_kv * hd;
    if (f16)
        kv_store_kernel<__half><<<blocks_for(n, 256), 256, 0, stream()>>>(k, v, static_cast<__half*>(kc), static_cast<__half*>(vc), n_head_kv, n_ctx, hd, pos);
    else
        kv_store_kernel<float><<<blocks_for(n, 256), 256, 0, stream()>>>(k, v, static_cast<float*>(kc), static_cast<float*>(vc), n_head_kv, n_ctx, hd, pos);
}

void attention_decode(const float* q, const void* kc, const void* vc, bool f16, int n_head, int n_head_kv, int hd, int n_ctx,
                      const int32_t* pos, float scale, float* scores, float* out, int n_swa) {
    const int threads = 256;
    const size_t smem = sizeof(float) * static_cast<size_t>(hd + threads + 32);
    const bool qo = int8_flag() && hd % 32 == 0 && n_head * hd <= kMaxQ8Cols;
    pinned_x() = qo ? out : nullptr;
    if (f16)
        attention_kernel<__half><<<n_head, threads, smem, stream()>>>(q, static_cast<const __half*>(kc), static_cast<const __half*>(vc), n_head,
                                                           n_head_kv, hd, n_ctx, pos, scale, scores, qo ? 1 : 0, out, n_swa);
    else
        attention_kernel<float><<<n_head, threads, smem, stream()>>>(q, static_cast<const float*>(kc), static_cast<const float*>(vc), n_head,
                                                          n_head_kv, hd, n_ctx, pos, scale, scores, qo ? 1 : 0, out, n_swa);
}

void swiglu(const float* gate, const float* up, int n, float* out) { swiglu_kernel<<<blocks_for(n, 256), 256, 0, stream()>>>(gate, up, n, out); }

void argmax(const float* x, int n, int32_t* out) { argmax_kernel<<<1, 1024, 0, stream()>>>(x, n, out); }

Result<double> measure_copy_bandwidth(size_t bytes) {
    const size_t n4 = bytes / 16;
    RZ_ASSIGN_OR_RETURN(void* a, alloc(n4 * 16, "bandwidth test"));
    auto b_or = alloc(n4 * 16, "bandwidth test");
    if (!b_or.ok()) {
        free(a);
        return b_or.status();
    }
    void* b = *b_or;
    (void)cudaMemsetAsync(a, 0, n4 * 16, stream());
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    const int grid = 132 * 8;
    copy_kernel<<<grid, 512, 0, stream()>>>(static_cast<const float4*>(a), static_cast<float4*>(b), n4);  // warm-up
    const int reps = 20;
    cudaEventRecord(e0, stream());
    for (int i = 0; i < reps; ++i) copy_kernel<<<grid, 512, 0, stream()>>>(static_cast<const float4*>(a), static_cast<float4*>(b), n4);
    cudaEventRecord(e1, stream());
    Status st = sync("bandwidth test");
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    free(a);
    free(b);
    RZ_RETURN_IF_ERROR(st);
    return 2.0 * static_cast<double>(n4 * 16) * reps / (static_cast<double>(ms) * 1e-3) / 1e9;
}

}  // namespace rz::cuda
