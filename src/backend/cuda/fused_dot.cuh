#pragma once
// Int8 dot products of the fused decode-layer mat-vecs (decode_fused.cu): one warp computes R rows' partial
// sums against the int8 activation (per-32 scales d and d * sum(q)) for Q8_0, Q4_0, Q4_K, Q5_K and Q6_K; the
// low-bit types and the per-type dispatch (dot_rows) are in fused_dot_ext.cuh. Internal to src/backend/cuda;
// included by decode_fused.cu (through fused_dot_ext.cuh) only.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda::detail::fused {

constexpr int kQ8_0 = static_cast<int>(DType::Q8_0);
constexpr int kQ4_K = static_cast<int>(DType::Q4_K);
constexpr int kQ6_K = static_cast<int>(DType::Q6_K);
constexpr int kQ5_K = static_cast<int>(DType::Q5_K);
constexpr int kQ4_0 = static_cast<int>(DType::Q4_0);

// Int8 activations as the dot kernels read them: shared memory (normalised in the prologue) or g_aq.
struct XQ {
    const int8_t* q;
    const float* d;
    const float* s;
};


// ---- dot products of R consecutive rows with x, one warp: the R rows' loads of one step are issued together
// (more bytes in flight per lane, which is what short rows lack); acc[r] is the lane's partial sum over
// rows[r] (the caller points rows past a matrix's end at a valid row and discards them). UX multiplies the loop
// unroll (RZ_CUDA_MV_U): more loop steps' loads issued before the first use, so a long row (down: 22 Q4_K
// super-blocks per warp) takes fewer dependent memory round trips.

// Q8_0 (device layout, q8_block). Below 8 rows a warp: one lane per block, its 32 codes in two 16-byte loads, a
// warp step covering 32 blocks (H200 tg128 vs two lanes per block: qwen3-8b +9.6%, phi-2 +10%, qwen3-0.6b
// +3%). With 8 rows (the gate|up kernels, 128 registers a thread): 2 lanes per block, 16 codes each in one 16-byte
// load, a warp step covering 16 blocks (the one-lane loop's 16 loads a step cost TinyLlama 1.5%). The loop unroll
// ignores UX (RZ_CUDA_MV_U, which the other types' one-row kernels take as 2).
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q8_0(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    constexpr int U = R >= 2 ? 1 : 2;
    if constexpr (R >= 8) {
        const int hf = lane & 1;
        for (int b = lane >> 1; b < nb; b += 16) {
            const int4 xv = *reinterpret_cast<const int4*>(x.q + b * 32 + 16 * hf);
            const float xd = x.d[b];
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const Q8Block q = q8_block(rows[r], nb, b);
                const int4 w = *reinterpret_cast<const int4*>(q.qs + 16 * hf);
                const int sdot = __dp4a(w.w, xv.w, __dp4a(w.z, xv.z, __dp4a(w.y, xv.y, __dp4a(w.x, xv.x, 0))));
                acc[r] += q.d * xd * static_cast<float>(sdot);
            }
        }
    } else {
#pragma unroll U
        for (int b = lane; b < nb; b += 32) {
            const int4 xa = *reinterpret_cast<const int4*>(x.q + b * 32);
            const int4 xb = *reinterpret_cast<const int4*>(x.q + b * 32 + 16);
            const float xd = x.d[b];
            float d[R];
            int4 wa[R], wb[R];
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const Q8Block q = q8_block(rows[r], nb, b);
                d[r] = q.d, wa[r] = reinterpret_cast<const int4*>(q.qs)[0], wb[r] = reinterpret_cast<const int4*>(q.qs)[1];
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int s = __dp4a(wa[r].w, xa.w, __dp4a(wa[r].z, xa.z, __dp4a(wa[r].y, xa.y, __dp4a(wa[r].x, xa.x, 0))));
                s = __dp4a(wb[r].w, xb.w, __dp4a(wb[r].z, xb.z, __dp4a(wb[r].y, xb.y, __dp4a(wb[r].x, xb.x, s))));
                acc[r] += d[r] * xd * static_cast<float>(s);
            }
        }
    }
}

// The float sum of a Q4_K / Q5_K lane's sub-block pair j (2j, 2j + 1) of one row: d (xd0 s0 sc0 + xd1 s1 sc1) -
// dmin (xs0 m0 + xs1 m1), with d, dmin and the 6-bit scales / minimums from the row's 16-byte header h; s0, s1 the
// lane's integer dots of the two sub-blocks, xs0 / xs1 0 where another lane adds the minimum terms.
__device__ __forceinline__ float k_pair_sum(const uint4& h, int j, int s0, int s1, float xd0, float xd1, float xs0, float xs1) {
    const float2 dm = __half22float2(*reinterpret_cast<const __half2*>(&h.x));  // d, dmin
    int sc0, sc1, m0, m1;
    k_scale_min_pair(h, j, sc0, sc1, m0, m1);
    return dm.x * (xd0 * static_cast<float>(s0 * sc0) + xd1 * static_cast<float>(s1 * sc1)) - dm.y * (xs0 * static_cast<float>(m0) + xs1 * static_cast<float>(m1));
}

// Q4_K: 8 lanes per 144-byte super-block; lane k takes 16 qs bytes of pair j = k/2 (half k%2): low nibbles
// are elements of sub-block 2j, high nibbles of 2j + 1. The minimum term (d * sum(q) of x per sub-block) is
// added by the half-0 lanes only.
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q4_k(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int k = lane & 7, j = k >> 1, hf = k & 1;
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane >> 3; b < nb; b += 4) {
        const int sb0 = 8 * b + 2 * j;
        const int4 x0 = *reinterpret_cast<const int4*>(x.q + sb0 * 32 + 16 * hf);
        const int4 x1 = *reinterpret_cast<const int4*>(x.q + sb0 * 32 + 32 + 16 * hf);
        const float xd0 = x.d[sb0], xd1 = x.d[sb0 + 1];
        const float xs0 = hf == 0 ? x.s[sb0] : 0.0f, xs1 = hf == 0 ? x.s[sb0 + 1] : 0.0f;
        uint4 h[R], q[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 144;
            h[r] = *reinterpret_cast<const uint4*>(blk);
            q[r] = *reinterpret_cast<const uint4*>(blk + 16 + 32 * j + 16 * hf);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int2 nd = nibble_dots(q[r], x0, x1);
            acc[r] += k_pair_sum(h[r], j, nd.x, nd.y, xd0, xd1, xs0, xs1);
        }
    }
}

// Q4_K, 4 lanes per super-block: lane k takes pair j = k of sub-blocks 2j, 2j + 1 whole (its 32 qs bytes: low
// nibbles sub-block 2j, high nibbles 2j + 1), so one scale / minimum decode and one header load serve 64 weights
// instead of 32, and a warp step covers 8 super-blocks; the loop unroll is halved against dot_q4_k (the same bytes
// in flight). The pairs gate|up kernel takes it on rows of 4096+ columns (dot_rows' W; 4 rows a warp, so a step
// now has 128 bytes of weights a lane in flight instead of 64): tg128 llama-2-7b Q4_K_M 575-578 vs 552-555 tok/s,
// qwen3-8b 494 vs 477-479 (H200). Not elsewhere: in the two-row unrolled kernel (4096+ columns, already 2 steps in
// flight) it measured the same; at qwen3-4b's 2560 columns the same; in every kernel of up to 4 rows a warp
// TinyLlama lost 5%, Llama-3.2-1B 3%, phi-2 2% (short rows: fewer lanes busy; spills at 80 registers).
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q4_k_wide(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int j = lane & 3;
    constexpr int U0 = (R >= 2 ? 1 : 2) * UX / 2;
    constexpr int U = U0 < 1 ? 1 : U0;
#pragma unroll U
    for (int b = lane >> 2; b < nb; b += 8) {
        const int sb0 = 8 * b + 2 * j;
        const int4* xp = reinterpret_cast<const int4*>(x.q + sb0 * 32);
        const int4 x0a = xp[0], x0b = xp[1], x1a = xp[2], x1b = xp[3];
        const float xd0 = x.d[sb0], xd1 = x.d[sb0 + 1], xs0 = x.s[sb0], xs1 = x.s[sb0 + 1];
        uint4 h[R], qa[R], qb[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 144;
            h[r] = *reinterpret_cast<const uint4*>(blk);
            qa[r] = *reinterpret_cast<const uint4*>(blk + 16 + 32 * j);
            qb[r] = *reinterpret_cast<const uint4*>(blk + 32 + 32 * j);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int2 na = nibble_dots(qa[r], x0a, x1a), nb2 = nibble_dots(qb[r], x0b, x1b);
            acc[r] += k_pair_sum(h[r], j, na.x + nb2.x, na.y + nb2.y, xd0, xd1, xs0, xs1);
        }
    }
}

// Q6_K (device layout, q6_block): 8 lanes per block; lane k takes half hh = k/4 and elements l0 = 8 (k%4) .. +7
// of each of the half's 4 sub-blocks (ql bytes 64hh + l0 and 64hh + 32 + l0, qh bytes 32hh + l0, scales 8hh ..
// 8hh + 7): 32 weights from four 8-byte loads. The codes q in 0..63 go into __dp4a as they are (non-negative
// int8) and the offset is taken off the sum: sum x (q - 32) = sum x q - 32 sum x, with sum x (the lane's 8
// activation codes of a sub-block, __dp4a against ones) computed once per block step for all R rows. Exact, and
// 3 instructions a word fewer than __vsub4 (which sm_90 emulates: or, add, xor): with the late scale hoisted
// (decode_fused.cu), TinyLlama's Q6_K output head ran 10.2M instead of 12.7M warp instructions (ncu, H200).
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q6_k(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int k = lane & 7, hh = k >> 2, l0 = 8 * (k & 3);
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane >> 3; b < nb; b += 4) {
        int2 xv[4];
        float xd[4];
        int x32[4];  // 32 * (sum of the lane's 8 activation codes of sub-block rr)
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
            const int sbi = 8 * b + 4 * hh + rr;
            xv[rr] = *reinterpret_cast<const int2*>(x.q + sbi * 32 + l0);
            xd[rr] = x.d[sbi];
            x32[rr] = 32 * __dp4a(xv[rr].y, 0x01010101, __dp4a(xv[rr].x, 0x01010101, 0));
        }
        int la[R][2], lb[R][2], hq[R][2];
        float d[R];
        int sc[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const Q6Block q = q6_block(rows[r], nb, b);
            const int2 a = *reinterpret_cast<const int2*>(q.ql + 64 * hh + l0), c = *reinterpret_cast<const int2*>(q.ql + 64 * hh + 32 + l0);
            const int2 h = *reinterpret_cast<const int2*>(q.qh + 32 * hh + l0), s8 = *reinterpret_cast<const int2*>(q.sc + 8 * hh);
            la[r][0] = a.x, la[r][1] = a.y, lb[r][0] = c.x, lb[r][1] = c.y, hq[r][0] = h.x, hq[r][1] = h.y;
#pragma unroll
            for (int rr = 0; rr < 4; ++rr)  // scale byte (l0 / 16) + 2 rr of the 8
                sc[r][rr] = static_cast<int8_t>(static_cast<uint32_t>(rr < 2 ? s8.x : s8.y) >> (8 * ((l0 >> 4) + 2 * (rr & 1))));
            d[r] = q.d;
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            float sum4 = 0.0f;
#pragma unroll
            for (int rr = 0; rr < 4; ++rr) {
                int s = -x32[rr];
#pragma unroll
                for (int i = 0; i < 2; ++i) {
                    const int q = static_cast<int>(q6_codes(static_cast<unsigned>((rr & 1) ? lb[r][i] : la[r][i]), static_cast<unsigned>(hq[r][i]), rr));
                    s = __dp4a(q, i == 0 ? xv[rr].x : xv[rr].y, s);
                }
                sum4 += static_cast<float>(sc[r][rr]) * xd[rr] * static_cast<float>(s);
            }
            acc[r] += d[r] * sum4;
        }
    }
}

// Q5_K: 176-byte blocks {half d, dmin; scales[12]; qh[32]; qs[128]} (16-byte aligned): Q4_K's lane mapping
// and scale/min decode; element l of sub-block s adds bit s of qh[l] as its 5th bit. Lane (j, hf) covers
// elements 16hf .. 16hf + 15 of sub-blocks 2j and 2j + 1, so it reads qh bytes 16hf .. 16hf + 15, bits 2j, 2j + 1.
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q5_k(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int k = lane & 7, j = k >> 1, hf = k & 1;
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane >> 3; b < nb; b += 4) {
        const int sb0 = 8 * b + 2 * j;
        const int4 x0 = *reinterpret_cast<const int4*>(x.q + sb0 * 32 + 16 * hf);
        const int4 x1 = *reinterpret_cast<const int4*>(x.q + sb0 * 32 + 32 + 16 * hf);
        const float xd0 = x.d[sb0], xd1 = x.d[sb0 + 1];
        const float xs0 = hf == 0 ? x.s[sb0] : 0.0f, xs1 = hf == 0 ? x.s[sb0 + 1] : 0.0f;
        uint4 h[R], qh[R], q[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 176;
            h[r] = *reinterpret_cast<const uint4*>(blk);
            qh[r] = *reinterpret_cast<const uint4*>(blk + 16 + 16 * hf);
            q[r] = *reinterpret_cast<const uint4*>(blk + 48 + 32 * j + 16 * hf);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            constexpr unsigned m4 = 0x0F0F0F0Fu, m1 = 0x01010101u;
            const unsigned ql[4] = {q[r].x, q[r].y, q[r].z, q[r].w}, hb[4] = {qh[r].x, qh[r].y, qh[r].z, qh[r].w};
            const int xa[4] = {x0.x, x0.y, x0.z, x0.w}, xb[4] = {x1.x, x1.y, x1.z, x1.w};
            int s0 = 0, s1 = 0;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                s0 = __dp4a(static_cast<int>((ql[i] & m4) | (((hb[i] >> (2 * j)) & m1) << 4)), xa[i], s0);
                s1 = __dp4a(static_cast<int>(((ql[i] >> 4) & m4) | (((hb[i] >> (2 * j + 1)) & m1) << 4)), xb[i], s1);
            }
            acc[r] += k_pair_sum(h[r], j, s0, s1, xd0, xd1, xs0, xs1);
        }
    }
}

// The grouped 32-element types with 16 nibble bytes (g32_block: Q4_0, IQ4_NL, Q5_0 = K 18, 18, 22): one lane per
// block (its 16 nibble bytes in one 16-byte load, and Q5_0's qh word); a warp step covers 32 blocks. qs[l]'s low
// nibble is element l, its high nibble element l + 16: code(word i, qh, hi, e0) gives the int8 codes of elements
// e0 .. e0 + 3 from the low (hi false: e0 = 4 i) or high (hi true: e0 = 16 + 4 i) nibbles of the block's word i.
template <int R, int UX, int K, typename Code>
__device__ __forceinline__ void dot_g32(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R], Code code) {
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane; b < nb; b += 32) {
        const int4 xa = *reinterpret_cast<const int4*>(x.q + b * 32);
        const int4 xb = *reinterpret_cast<const int4*>(x.q + b * 32 + 16);
        const float xd = x.d[b];
        float d[R];
        unsigned qh[R];
        uint4 w[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const G32Block q = g32_block<K>(rows[r], nb, b);
            d[r] = q.d, qh[r] = K == 22 ? *reinterpret_cast<const unsigned*>(q.qh) : 0u, w[r] = *reinterpret_cast<const uint4*>(q.qs);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            int s = __dp4a(code(w[r].x, qh[r], false, 0), xa.x, 0);
            s = __dp4a(code(w[r].y, qh[r], false, 4), xa.y, s);
            s = __dp4a(code(w[r].z, qh[r], false, 8), xa.z, s);
            s = __dp4a(code(w[r].w, qh[r], false, 12), xa.w, s);
            s = __dp4a(code(w[r].x, qh[r], true, 16), xb.x, s);
            s = __dp4a(code(w[r].y, qh[r], true, 20), xb.y, s);
            s = __dp4a(code(w[r].z, qh[r], true, 24), xb.z, s);
            s = __dp4a(code(w[r].w, qh[r], true, 28), xb.w, s);
            acc[r] += d[r] * xd * static_cast<float>(s);
        }
    }
}

// Q4_0's codes q - 8 of the low nibbles of the 4 bytes of w as 4 signed bytes (q - 8 in [-8, 7]: one __vsub4).
__device__ __forceinline__ unsigned q4_0_codes(unsigned w) { return __vsub4(w & 0x0F0F0F0Fu, 0x08080808u); }

// Q4_0 (dot_g32): value d (q - 8).
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q4_0(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    dot_g32<R, UX, 18>(rows, nb, x, lane, acc, [](unsigned w, unsigned, bool hi, int) { return static_cast<int>(q4_0_codes(hi ? w >> 4 : w)); });
}

// Blocks per row of the types dot_rows hands it (32 elements per Q8_0 / Q4_0 block, 256 per Q4_K / Q5_K / Q6_K
// super-block; the types of fused_dot_ext.cuh get their counts there).
__host__ __device__ __forceinline__ int blocks_per_row(int t, int cols) { return t == kQ8_0 || t == kQ4_0 ? cols / 32 : cols / 256; }

}  // namespace rz::cuda::detail::fused
