#pragma once
// Int8 dot products of R weight rows with T activation rows at once (decode_rows.cu: a decode step of several
// sequences): fused_dot.cuh's lane mappings and block formats, with each step's weight loads and per-row decoding
// (scales, minimums, unpacked codes) done once and applied to the T tokens' activations. acc[r][t] is the lane's
// partial sum of row r with token t: Q4_K, Q6_K (mask 0), Q5_K, Q4_0 (mask 1), Q8_0 (mask 8); the low-bit and legacy
// types and the dispatch are in fused_dot_rows_ext.cuh. Internal to src/backend/cuda; included by decode_rows.cu
// (through fused_dot_rows_ext.cuh) and fused_mma_rows.cuh.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/fused_dot.cuh"

namespace rz::cuda::detail::fused {

// The T tokens' int8 activations: token t's codes at q + t qs, its per-32 scales at d + t ds and s + t ds (one base
// and two strides instead of T descriptors: 8 tokens' pointers took 48 registers).
struct XQT {
    const int8_t* q;
    const float* d;
    const float* s;
    int qs;  // bytes
    int ds;  // floats
};

__device__ __forceinline__ int dp4a4(const int4& w, const int4& x) {
    return __dp4a(w.w, x.w, __dp4a(w.z, x.z, __dp4a(w.y, x.y, __dp4a(w.x, x.x, 0))));
}

// 32-element activation block i of each of the T tokens against R rows' 32 codes (v: elements 0..15 in words
// 0..3, 16..31 in words 4..7) with row scales sc: acc[r][t] += sc[r] x.d[t][i] (v[r] . x.q[t][32 i .. 32 i + 32)).
template <int R, int T>
__device__ __forceinline__ void tokens_dot32(const XQT& x, int i, const float (&sc)[R], const int (&v)[R][8], float (&acc)[R][T]) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
        const int4 xa = *reinterpret_cast<const int4*>(x.q + t * x.qs + i * 32);
        const int4 xb = *reinterpret_cast<const int4*>(x.q + t * x.qs + i * 32 + 16);
        const float xd = x.d[t * x.ds + i];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int s = dp4a4(make_int4(v[r][0], v[r][1], v[r][2], v[r][3]), xa) + dp4a4(make_int4(v[r][4], v[r][5], v[r][6], v[r][7]), xb);
            acc[r][t] += sc[r] * xd * static_cast<float>(s);
        }
    }
}

// Q8_0: 2 lanes per block, one 16-byte load of codes each (as dot_q8_0's 8-row warps; one lane per block measured
// 3-8% slower here at 4 and 8 sequences, H200: TinyLlama, phi-2).
template <int R, int T>
__device__ __forceinline__ void dott_q8_0(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T]) {
    const int hf = lane & 1;
    for (int b = lane >> 1; b < nb; b += 16) {
        int4 w[R];
        float d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const Q8Block q = q8_block(rows[r], nb, b);
            w[r] = *reinterpret_cast<const int4*>(q.qs + 16 * hf);
            d[r] = q.d;
        }
#pragma unroll
        for (int t = 0; t < T; ++t) {
            const int4 xv = *reinterpret_cast<const int4*>(x.q + t * x.qs + b * 32 + 16 * hf);
            const float xd = x.d[t * x.ds + b];
#pragma unroll
            for (int r = 0; r < R; ++r) acc[r][t] += d[r] * xd * static_cast<float>(dp4a4(w[r], xv));
        }
    }
}

// Q4_K and Q5_K (FIVE): as dot_q4_k / dot_q5_k (8 lanes per super-block, lane (j, hf) covers 16 elements of
// sub-blocks 2j and 2j + 1).
template <int R, int T, bool FIVE>
__device__ __forceinline__ void dott_qk(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T]) {
    const int k = lane & 7, j = k >> 1, hf = k & 1;
    constexpr int BS = FIVE ? 176 : 144, QS = FIVE ? 48 : 16;
    for (int b = lane >> 3; b < nb; b += 4) {
        const int sb0 = 8 * b + 2 * j;
        int lo[R][4], hi[R][4];  // the 16 weights of sub-block 2j (lo) and 2j + 1 (hi), 4 per word
        float d0[R], d1[R], m0[R], m1[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * BS;
            const uint4 h = *reinterpret_cast<const uint4*>(blk);
            const uint4 q = *reinterpret_cast<const uint4*>(blk + QS + 32 * j + 16 * hf);
            const unsigned ql[4] = {q.x, q.y, q.z, q.w};
            unsigned hb[4] = {0u, 0u, 0u, 0u};
            if constexpr (FIVE) {
                const uint4 qh = *reinterpret_cast<const uint4*>(blk + 16 + 16 * hf);
                hb[0] = qh.x, hb[1] = qh.y, hb[2] = qh.z, hb[3] = qh.w;
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                constexpr unsigned m4 = 0x0F0F0F0Fu, b1 = 0x01010101u;
                lo[r][i] = static_cast<int>((ql[i] & m4) | (FIVE ? ((hb[i] >> (2 * j)) & b1) << 4 : 0u));
                hi[r][i] = static_cast<int>(((ql[i] >> 4) & m4) | (FIVE ? ((hb[i] >> (2 * j + 1)) & b1) << 4 : 0u));
            }
            const float2 dm = __half22float2(*reinterpret_cast<const __half2*>(&h.x));  // d, dmin
            int sc0, sc1, mn0, mn1;
            k_scale_min_pair(h, j, sc0, sc1, mn0, mn1);
            d0[r] = dm.x * static_cast<float>(sc0), d1[r] = dm.x * static_cast<float>(sc1);
            m0[r] = hf == 0 ? dm.y * static_cast<float>(mn0) : 0.0f, m1[r] = hf == 0 ? dm.y * static_cast<float>(mn1) : 0.0f;
        }
#pragma unroll
        for (int t = 0; t < T; ++t) {
            const int4 x0 = *reinterpret_cast<const int4*>(x.q + t * x.qs + sb0 * 32 + 16 * hf);
            const int4 x1 = *reinterpret_cast<const int4*>(x.q + t * x.qs + sb0 * 32 + 32 + 16 * hf);
            const float xd0 = x.d[t * x.ds + sb0], xd1 = x.d[t * x.ds + sb0 + 1], xs0 = x.s[t * x.ds + sb0], xs1 = x.s[t * x.ds + sb0 + 1];
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const int s0 = __dp4a(lo[r][3], x0.w, __dp4a(lo[r][2], x0.z, __dp4a(lo[r][1], x0.y, __dp4a(lo[r][0], x0.x, 0))));
                const int s1 = __dp4a(hi[r][3], x1.w, __dp4a(hi[r][2], x1.z, __dp4a(hi[r][1], x1.y, __dp4a(hi[r][0], x1.x, 0))));
                acc[r][t] += xd0 * static_cast<float>(s0) * d0[r] + xd1 * static_cast<float>(s1) * d1[r] - (xs0 * m0[r] + xs1 * m1[r]);
            }
        }
    }
}

// The token loop of Q6_K's lane mapping (Q6_K, and Q3_K and Q2_K in fused_dot_rows_ext.cuh): for each token,
// acc[r][t] += ds[r][rr] xd dot(v[r][rr], x) over the lane's 4 sub-blocks rr of block b, and with MIN (Q2_K) minus
// dmn[r][rr] times xd times the sum of the lane's 8 activation codes of the sub-block.
template <int R, int T, bool MIN>
__device__ __forceinline__ void q6map_tokens(int b, int hh, int l0, const XQT& x, const int (&v)[R][4][2], const float (&ds)[R][4],
                                             const float (&dmn)[R][4], float (&acc)[R][T]) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
            const int sbi = 8 * b + 4 * hh + rr;
            const int2 xv = *reinterpret_cast<const int2*>(x.q + t * x.qs + sbi * 32 + l0);
            const float xd = x.d[t * x.ds + sbi];
            if constexpr (MIN) {
                const float xm = xd * static_cast<float>(__dp4a(xv.y, 0x01010101, __dp4a(xv.x, 0x01010101, 0)));
#pragma unroll
                for (int r = 0; r < R; ++r)
                    acc[r][t] += ds[r][rr] * xd * static_cast<float>(__dp4a(v[r][rr][1], xv.y, __dp4a(v[r][rr][0], xv.x, 0))) - dmn[r][rr] * xm;
            } else {
#pragma unroll
                for (int r = 0; r < R; ++r) acc[r][t] += ds[r][rr] * xd * static_cast<float>(__dp4a(v[r][rr][1], xv.y, __dp4a(v[r][rr][0], xv.x, 0)));
            }
        }
    }
}

// Q6_K: as dot_q6_k (8 lanes per block, lane k: half hh = k/4, elements l0 = 8 (k%4) .. +7 of its 4 sub-blocks).
// Here the codes become q - 32 with __vsub4, once per weight word: dot_q6_k's exact identity (the offset taken off
// the sum as 32 sum x) would cost a sum of activation codes per token and sub-block, more than it saves from 2 tokens.
template <int R, int T>
__device__ __forceinline__ void dott_q6_k(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T]) {
    const int k = lane & 7, hh = k >> 2, l0 = 8 * (k & 3);
    for (int b = lane >> 3; b < nb; b += 4) {
        int v[R][4][2];  // signed 6-bit weights of sub-block rr, 2 words of 4
        float ds[R][4];  // d * scale of sub-block rr
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const Q6Block q = q6_block(rows[r], nb, b);
            const int2 a = *reinterpret_cast<const int2*>(q.ql + 64 * hh + l0), c = *reinterpret_cast<const int2*>(q.ql + 64 * hh + 32 + l0);
            const int2 h = *reinterpret_cast<const int2*>(q.qh + 32 * hh + l0), s8 = *reinterpret_cast<const int2*>(q.sc + 8 * hh);
            const int la[2] = {a.x, a.y}, lb[2] = {c.x, c.y}, hq[2] = {h.x, h.y};
#pragma unroll
            for (int rr = 0; rr < 4; ++rr) {
                const int sc = static_cast<int8_t>(static_cast<uint32_t>(rr < 2 ? s8.x : s8.y) >> (8 * ((l0 >> 4) + 2 * (rr & 1))));
                ds[r][rr] = q.d * static_cast<float>(sc);
#pragma unroll
                for (int i = 0; i < 2; ++i) {
                    const unsigned q = q6_codes(static_cast<unsigned>((rr & 1) ? lb[i] : la[i]), static_cast<unsigned>(hq[i]), rr);
                    v[r][rr][i] = static_cast<int>(__vsub4(q, 0x20202020u));
                }
            }
        }
        q6map_tokens<R, T, false>(b, hh, l0, x, v, ds, ds, acc);
    }
}

// The grouped 32-element types with 16 nibble bytes (g32_block: Q4_0, IQ4_NL, Q5_0 = K 18, 18, 22), one lane per
// block as dot_q4_0: its codes as 8 words of 4 int8 (elements 0..15, then 16..31) from decode(block, v). Against two
// lanes per block with 8-byte loads (H200, TinyLlama, 4 / 8 sequences): Q4_0 +6% / +8.5%, Q5_0 +4% / +10%.
template <int R, int T, int K, typename Decode>
__device__ __forceinline__ void dott_g32(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T], Decode decode) {
    for (int b = lane; b < nb; b += 32) {
        float d[R];
        int v[R][8];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const G32Block q = g32_block<K>(rows[r], nb, b);
            d[r] = q.d;
            decode(q, v[r]);
        }
        tokens_dot32<R, T>(x, b, d, v, acc);
    }
}

// Q4_0: q - 8 as a signed byte (q4_0_codes).
template <int R, int T>
__device__ __forceinline__ void dott_q4_0(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T]) {
    dott_g32<R, T, 18>(rows, nb, x, lane, acc, [](const G32Block& q, int (&v)[8]) {
        const uint4 w = *reinterpret_cast<const uint4*>(q.qs);
        const unsigned ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] = static_cast<int>(q4_0_codes(ws[i])), v[4 + i] = static_cast<int>(q4_0_codes(ws[i] >> 4));
    });
}

}  // namespace rz::cuda::detail::fused
