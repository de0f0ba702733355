#pragma once
// Int8 dot products of R weight rows with T activation rows for the low-bit and legacy types (Q3_K, Q2_K, IQ4_XS,
// IQ4_NL: type-set bit 2; Q4_1, Q5_0, Q5_1: bit 4), and dot_rows_t, the per-type dispatch of the dp4a rows kernels.
// The lane mappings, block formats and code decoding are fused_dot_ext.cuh's one-token ones; as in
// fused_dot_rows.cuh, each step's weights are loaded and decoded once (codes as int8 words, per-sub-block scales as
// floats) and applied to the T tokens. Why: a decode step of several sequences of a Q3_K_M, Q2_K, IQ4 or Q5_0 file
// took the multi-vector float path, which read the weights once per step but lost the int8 dot products (a step of
// 4 sequences of a TinyLlama Q3_K_M took as long as 2 steps of Q4_K_M, H200). Internal to src/backend/cuda;
// included by decode_rows.cu only.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/fused_dot_ext.cuh"
#include "backend/cuda/fused_dot_rows.cuh"

namespace rz::cuda::detail::fused {

// Q3_K (dot_q3_k's mapping: lane k, half hh = k / 4, elements l0 = 8 (k % 4) .. + 7 of the half's 4 sub-blocks):
// per row the 4 sub-blocks' signed codes (2 words each) and d times their scales.
template <int R, int T>
__device__ __forceinline__ void dott_q3_k(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T]) {
    const int k = lane & 7, hh = k >> 2, l0 = 8 * (k & 3);
    const unsigned sh = 8u * static_cast<unsigned>(l0 >> 4) + 4u * static_cast<unsigned>(hh);
    for (int b = lane >> 3; b < nb; b += 4) {
        int v[R][4][2];
        float ds[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * kQ3Bytes;  // the padded device blocks (common.cuh)
            const uint2 q = *reinterpret_cast<const uint2*>(blk + 32 + 32 * hh + l0), h = *reinterpret_cast<const uint2*>(blk + l0);
            const uint4 t = *reinterpret_cast<const uint4*>(blk + 96);  // scales[12], d, 2 bytes of padding
            const unsigned qs[2] = {q.x, q.y}, hm[2] = {h.x, h.y};
            const unsigned sc0 = t.x, sc1 = t.y, sc2 = t.z;
            const float d = h2f(static_cast<uint16_t>(t.w & 0xFFFFu));
            const unsigned hi = sc2 >> sh;  // the scale bits as in dot_q3_k
            const unsigned s01 = ((sc0 >> sh) & 0x000F000Fu) | ((hi << 4) & 0x00300030u);
            const unsigned s23 = ((sc1 >> sh) & 0x000F000Fu) | ((hi << 2) & 0x00300030u);
            const int scl[4] = {static_cast<int>(s01 & 0xFFu) - 32, static_cast<int>(s01 >> 16) - 32, static_cast<int>(s23 & 0xFFu) - 32,
                                static_cast<int>(s23 >> 16) - 32};
            const unsigned nh[2] = {~hm[0] >> (4 * hh), ~hm[1] >> (4 * hh)};
#pragma unroll
            for (int rr = 0; rr < 4; ++rr) {
                ds[r][rr] = d * static_cast<float>(scl[rr]);
#pragma unroll
                for (int i = 0; i < 2; ++i) v[r][rr][i] = static_cast<int>(((nh[i] >> rr) & 0x01010101u) * 0xFCu + ((qs[i] >> (2 * rr)) & 0x03030303u));
            }
        }
        q6map_tokens<R, T, false>(b, hh, l0, x, v, ds, ds, acc);
    }
}

// Q2_K (dot_q2_k's mapping): per row the 2-bit codes of the 4 sub-blocks, d sc and dmin m of each; per token the
// min term takes the sum of the lane's 8 activation codes of each sub-block.
template <int R, int T>
__device__ __forceinline__ void dott_q2_k(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T]) {
    const int k = lane & 7, hh = k >> 2, l0 = 8 * (k & 3);
    const unsigned sh = 8u * static_cast<unsigned>(l0 >> 4);
    for (int b = lane >> 3; b < nb; b += 4) {
        int v[R][4][2];
        float dsc[R][4], dmn[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 84;
            const unsigned qs[2] = {*reinterpret_cast<const unsigned*>(blk + 16 + 32 * hh + l0), *reinterpret_cast<const unsigned*>(blk + 20 + 32 * hh + l0)};
            const unsigned sc[2] = {*reinterpret_cast<const unsigned*>(blk + 8 * hh), *reinterpret_cast<const unsigned*>(blk + 4 + 8 * hh)};
            const unsigned dm = *reinterpret_cast<const unsigned*>(blk + 80);
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&dm));  // d, dmin
#pragma unroll
            for (int rr = 0; rr < 4; ++rr) {
                const unsigned w = sc[rr >> 1] >> (sh + 16 * (rr & 1));
                dsc[r][rr] = f.x * static_cast<float>(w & 0xFu);
                dmn[r][rr] = f.y * static_cast<float>((w >> 4) & 0xFu);
#pragma unroll
                for (int i = 0; i < 2; ++i) v[r][rr][i] = static_cast<int>((qs[i] >> (2 * rr)) & 0x03030303u);
            }
        }
        q6map_tokens<R, T, true>(b, hh, l0, x, v, dsc, dmn, acc);
    }
}

// IQ4_XS (dot_iq4_xs's mapping: lane s = sub-block s of each block, 4 blocks a warp step): per row the sub-block's
// 32 codebook values (8 words) and d times its scale.
template <int R, int T>
__device__ __forceinline__ void dott_iq4_xs(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T]) {
    const int s = lane & 7;
    for (int b = lane >> 3; b < nb; b += 4) {
        const int sbi = 8 * b + s;
        int v[R][8];  // codebook values of elements 0..15 (words 0..3), 16..31 (words 4..7)
        float ds[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 136;
            const uint2 h = *reinterpret_cast<const uint2*>(blk);
            const uint2 qa = *reinterpret_cast<const uint2*>(blk + 8 + 16 * s), qb = *reinterpret_cast<const uint2*>(blk + 16 + 16 * s);
            const unsigned q[4] = {qa.x, qa.y, qb.x, qb.y};
#pragma unroll
            for (int i = 0; i < 4; ++i) v[r][i] = iq4_codes<false>(q[i]), v[r][4 + i] = iq4_codes<true>(q[i]);
            const int ls = iq4xs_scale(h, s);
            ds[r] = iq4xs_d(h) * static_cast<float>(ls);
        }
        tokens_dot32<R, T>(x, sbi, ds, v, acc);
    }
}

// Q4_1 and Q5_1 (file layouts; Q4_0's former mapping: 2 lanes per block, lane half hf takes elements 8 hf .. + 7
// and 16 + 8 hf .. + 7; a warp step covers 16 blocks): per row 4 words of codes (elements 8 hf + 0..3, + 4..7,
// 16 + 8 hf + 0..3, + 4..7), the scale d and the minimum m (the hf = 0 lane adds m times the block's activation
// sum). K: the type's bytes per block.
template <int K>
__device__ __forceinline__ void decode32(const uint8_t* blk, int hf, int (&v)[4], float& d, float& m) {
    const int e = 8 * hf;
    if constexpr (K == 20) {  // Q4_1 {half d, m; qs[16]}
        const unsigned dm = *reinterpret_cast<const unsigned*>(blk);
        const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&dm));
        d = f.x, m = f.y;
        const unsigned w0 = *reinterpret_cast<const unsigned*>(blk + 4 + e), w1 = *reinterpret_cast<const unsigned*>(blk + 8 + e);
        constexpr unsigned m4 = 0x0F0F0F0Fu;
        v[0] = static_cast<int>(w0 & m4), v[1] = static_cast<int>(w1 & m4), v[2] = static_cast<int>((w0 >> 4) & m4), v[3] = static_cast<int>((w1 >> 4) & m4);
    } else {  // Q5_1 {half d, m; qh[4]; qs[16]}
        static_assert(K == 24, "decode32: Q4_1 or Q5_1");
        const uint2 hd = *reinterpret_cast<const uint2*>(blk);
        const uint2 w = *reinterpret_cast<const uint2*>(blk + 8 + e);
        const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&hd.x));
        d = f.x, m = f.y;
        v[0] = q5_bytes<false, false>(w.x, hd.y, e), v[1] = q5_bytes<false, false>(w.y, hd.y, e + 4);
        v[2] = q5_bytes<true, false>(w.x, hd.y, e + 16), v[3] = q5_bytes<true, false>(w.y, hd.y, e + 20);
    }
}

template <int R, int T, int K>
__device__ __forceinline__ void dott_32(const uint8_t* const (&rows)[R], int nb, const XQT& x, int lane, float (&acc)[R][T]) {
    const int hf = lane & 1;
    for (int b = lane >> 1; b < nb; b += 16) {
        int v[R][4];
        float d[R], m[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            decode32<K>(rows[r] + static_cast<size_t>(b) * K, hf, v[r], d[r], m[r]);
            if (hf != 0) m[r] = 0.0f;  // the block's minimum term once, by the hf = 0 lane
        }
#pragma unroll
        for (int t = 0; t < T; ++t) {
            const int2 xa = *reinterpret_cast<const int2*>(x.q + t * x.qs + b * 32 + 8 * hf);
            const int2 xb = *reinterpret_cast<const int2*>(x.q + t * x.qs + b * 32 + 16 + 8 * hf);
            const float xd = x.d[t * x.ds + b];
            const float xs = x.s[t * x.ds + b];
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const int s = __dp4a(v[r][3], xb.y, __dp4a(v[r][2], xb.x, __dp4a(v[r][1], xa.y, __dp4a(v[r][0], xa.x, 0))));
                acc[r][t] += d[r] * xd * static_cast<float>(s);
                acc[r][t] += m[r] * xs;
            }
        }
    }
}

// The per-type dispatch of the dp4a rows kernels (type-set masks 0, 1, 3, 5, 8 as dot_rows).
template <int R, int T, int EXT>
__device__ __forceinline__ void dot_rows_t(int t, const uint8_t* const (&rows)[R], int cols, const XQT& x, int lane, float (&acc)[R][T]) {
    if constexpr ((EXT & 4) != 0) {
        if (t == kQ4_1) return dott_32<R, T, 20>(rows, cols / 32, x, lane, acc);
        if (t == kQ5_0)  // the 5th bit of element j is bit j of qh
            return dott_g32<R, T, 22>(rows, cols / 32, x, lane, acc, [](const G32Block& q, int (&v)[8]) {
                const uint4 w = *reinterpret_cast<const uint4*>(q.qs);
                const unsigned qh = *reinterpret_cast<const unsigned*>(q.qh), ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
                for (int i = 0; i < 4; ++i) v[i] = q5_bytes<false, true>(ws[i], qh, 4 * i), v[4 + i] = q5_bytes<true, true>(ws[i], qh, 16 + 4 * i);
            });
        if (t == kQ5_1) return dott_32<R, T, 24>(rows, cols / 32, x, lane, acc);
    }
    if constexpr ((EXT & 2) != 0) {
        if (t == kQ3_K) return dott_q3_k<R, T>(rows, cols / 256, x, lane, acc);
        if (t == kQ2_K) return dott_q2_k<R, T>(rows, cols / 256, x, lane, acc);
        if (t == kIQ4_XS) return dott_iq4_xs<R, T>(rows, cols / 256, x, lane, acc);
        if (t == kIQ4_NL)
            return dott_g32<R, T, 18>(rows, cols / 32, x, lane, acc, [](const G32Block& q, int (&v)[8]) {
                const uint4 w = *reinterpret_cast<const uint4*>(q.qs);
                const unsigned ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
                for (int i = 0; i < 4; ++i) v[i] = iq4_codes<false>(ws[i]), v[4 + i] = iq4_codes<true>(ws[i]);
            });
    }
    const int nb = blocks_per_row(t, cols);
    if constexpr ((EXT & 1) != 0) {
        if (t == kQ5_K) return dott_qk<R, T, true>(rows, nb, x, lane, acc);
        if (t == kQ4_0) return dott_q4_0<R, T>(rows, nb, x, lane, acc);
    }
    if constexpr ((EXT & 8) != 0) {
        if (t == kQ8_0) return dott_q8_0<R, T>(rows, nb, x, lane, acc);
    }
    if (t == kQ4_K) dott_qk<R, T, false>(rows, nb, x, lane, acc);
    else dott_q6_k<R, T>(rows, nb, x, lane, acc);
}

}  // namespace rz::cuda::detail::fused
