#pragma once
// Tensor-core dot products of the fused rows kernels (decode_rows.cu) for 3-16 tokens a block (steps of up to 32 as
// token groups): one warp multiplies a tile of 16 weight rows by the 8 token columns of the int8 activations with
// mma.sync (m16n8k32, m16n8k16 for Q6_K's
// 16-element scale groups), one quant block (or scale group) per instruction, and scales the int32 tile into
// float partial sums. At 8 tokens the dp4a kernels are instruction-bound (each weight word decoded and dotted 8
// times by one lane); here a weight word is decoded once and the 8 tokens cost one instruction. Types: Q4_K, Q5_K,
// Q6_K (device layouts of common.cuh); the other types and the per-type dispatch (mma_tile) are in
// fused_mma_rows_ext.cuh. sm_80+.
//
// Fragments (PTX ISA, mma .s8, lane = 4 g + q): A (16 x 32, row-major) a0 = row g, k 4q .. 4q + 3; a1 = row g + 8,
// same k; a2, a3 = the same rows at k + 16. B (32 x 8) b0 = k 4q .. 4q + 3 of column (token) g; b1 = k + 16. C
// c0, c1 = row g, tokens 2q, 2q + 1; c2, c3 = row g + 8, same tokens. m16n8k16: a0, a1 and b0 only. The order of k
// within one instruction is free as long as A and B agree: for a 32-element sub-block lane q takes bytes 8q .. 8q + 7
// of its rows and of its token (one 8-byte load each; mma k 4q .. 4q + 3 are elements 8q .. 8q + 3, k 16 + 4q .. are
// 8q + 4 ..), so 4 lanes read a row's 32 contiguous bytes (measured 1.40 vs 1.49 ms a tinyllama step of 8 tokens
// against the fragment order, two 4-byte loads).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/fused_dot_rows.cuh"

namespace rz::cuda::detail::fused {

__device__ __forceinline__ void mma_k32(int (&c)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
}
__device__ __forceinline__ void mma_k16(int (&c)[4], unsigned a0, unsigned a1, unsigned b0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(b0));
#endif
}
__device__ __forceinline__ unsigned ld_u32(const void* p) { return *reinterpret_cast<const unsigned*>(p); }
__device__ __forceinline__ uint2 ld_u64(const void* p) { return *reinterpret_cast<const uint2*>(p); }

// The token tiles of S tokens: 8 per mma column block (S = 4: one tile, columns 4-7 repeat token 3 and are dropped).
template <int S>
constexpr int kTokenTiles = S > 8 ? S / 8 : 1;

// The lane's view of a tile: weight rows lo (g) and hi (g + 8); in token tile n its B column is token 8n + g and its
// C columns tokens 8n + 2q, 8n + 2q + 1, each clamped to the S tokens the activations hold.
struct MmaLane {
    int q, g;
};
template <int S>
__device__ __forceinline__ int mma_tok(int t) { return min(t, S - 1); }

// acc[n][c] += the C fragment of token tile n (one m16n8k32 of the rows' codes a0..a3 and sub-block sb of the
// tokens' activations) scaled: row lo (c0, c1) by fl, row hi (c2, c3) by fh, and each token's activation scale d;
// with MIN minus nl, nh times the activation's d sum(q) (Q4_K / Q5_K minimums).
template <int S, bool MIN = false>
__device__ __forceinline__ void mma32_tokens(unsigned a0, unsigned a1, unsigned a2, unsigned a3, int sb, float fl, float fh, float nl, float nh,
                                             const XQT& x, const MmaLane& L, float (&acc)[kTokenTiles<S>][4]) {
#pragma unroll
    for (int n = 0; n < kTokenTiles<S>; ++n) {
        const int tb = mma_tok<S>(8 * n + L.g), t0 = mma_tok<S>(8 * n + 2 * L.q), t1 = mma_tok<S>(8 * n + 2 * L.q + 1);
        const uint2 xv = ld_u64(x.q + tb * x.qs + 32 * sb + 8 * L.q);
        int c[4] = {0, 0, 0, 0};
        mma_k32(c, a0, a1, a2, a3, xv.x, xv.y);
        const float d0 = x.d[t0 * x.ds + sb], d1 = x.d[t1 * x.ds + sb];
        if constexpr (MIN) {
            const float s0 = x.s[t0 * x.ds + sb], s1 = x.s[t1 * x.ds + sb];
            acc[n][0] += fl * d0 * static_cast<float>(c[0]) - nl * s0, acc[n][1] += fl * d1 * static_cast<float>(c[1]) - nl * s1;
            acc[n][2] += fh * d0 * static_cast<float>(c[2]) - nh * s0, acc[n][3] += fh * d1 * static_cast<float>(c[3]) - nh * s1;
        } else {
            acc[n][0] += fl * d0 * static_cast<float>(c[0]), acc[n][1] += fl * d1 * static_cast<float>(c[1]);
            acc[n][2] += fh * d0 * static_cast<float>(c[2]), acc[n][3] += fh * d1 * static_cast<float>(c[3]);
        }
    }
}

// One 16-element scale group (m16n8k16) of NT token tiles: rows' signed or unsigned codes vl, vh; the activation's
// 4 codes at offset off of sub-block sb, scaled as mma32_tokens; Q2_K (MIN) also subtracts ml, mh times d times
// the group's code sum.
template <int S, bool MIN>
__device__ __forceinline__ void mma16_tokens(unsigned vl, unsigned vh, int sb, int off, float fl, float fh, float ml, float mh, const XQT& x,
                                             const MmaLane& L, float (&acc)[kTokenTiles<S>][4]) {
    constexpr int NT = kTokenTiles<S>;
#pragma unroll
    for (int n = 0; n < NT; ++n) {
        const int tb = mma_tok<S>(8 * n + L.g), t0 = mma_tok<S>(8 * n + 2 * L.q), t1 = mma_tok<S>(8 * n + 2 * L.q + 1);
        const unsigned xw = ld_u32(x.q + tb * x.qs + 32 * sb + off);
        int c[4] = {0, 0, 0, 0};
        mma_k16(c, vl, vh, xw);
        const float d0 = x.d[t0 * x.ds + sb], d1 = x.d[t1 * x.ds + sb];
        if constexpr (MIN) {
            int z[4] = {0, 0, 0, 0};
            mma_k16(z, 0x01010101u, 0x01010101u, xw);  // z0 = z2: token t0's code sum over the group, z1 = z3: t1's
            acc[n][0] += d0 * (fl * static_cast<float>(c[0]) - ml * static_cast<float>(z[0]));
            acc[n][1] += d1 * (fl * static_cast<float>(c[1]) - ml * static_cast<float>(z[1]));
            acc[n][2] += d0 * (fh * static_cast<float>(c[2]) - mh * static_cast<float>(z[0]));
            acc[n][3] += d1 * (fh * static_cast<float>(c[3]) - mh * static_cast<float>(z[1]));
        } else {
            acc[n][0] += fl * d0 * static_cast<float>(c[0]), acc[n][1] += fl * d1 * static_cast<float>(c[1]);
            acc[n][2] += fh * d0 * static_cast<float>(c[2]), acc[n][3] += fh * d1 * static_cast<float>(c[3]);
        }
    }
}

// Q4_K and Q5_K (FIVE): per super-block, sub-block pair j shares 32 qs bytes (low nibbles: sub-block 2j, high:
// 2j + 1); the scale d sc and the minimum dmin m per row and sub-block, the minimum times the activation's d * sum(q)
// (x.s). Q5_K (176-byte blocks {d, dmin; scales[12]; qh[32]; qs[128]}): element l of sub-block s adds bit s of
// qh[l] as its 5th bit; lane q's elements 8q .. 8q + 7 take qh bytes 8q .. 8q + 7 in every pair.
template <int S, bool FIVE>
__device__ __forceinline__ void mma_qk(const uint8_t* lo, const uint8_t* hi, int b0, int b1, const XQT& x, const MmaLane& L,
                                       float (&acc)[kTokenTiles<S>][4]) {
    constexpr int BS = FIVE ? 176 : 144, QS = FIVE ? 48 : 16;
    for (int b = b0; b < b1; ++b) {
        const uint8_t* bl = lo + static_cast<size_t>(b) * BS;
        const uint8_t* bh = hi + static_cast<size_t>(b) * BS;
        const uint4 hl = *reinterpret_cast<const uint4*>(bl), hh = *reinterpret_cast<const uint4*>(bh);
        const float2 ml = __half22float2(*reinterpret_cast<const __half2*>(&hl.x)), mh = __half22float2(*reinterpret_cast<const __half2*>(&hh.x));
        uint2 fl5 = {0u, 0u}, fh5 = {0u, 0u};  // Q5_K: the rows' qh bytes 8q .. 8q + 7
        if constexpr (FIVE) fl5 = ld_u64(bl + 16 + 8 * L.q), fh5 = ld_u64(bh + 16 + 8 * L.q);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const uint2 wl = ld_u64(bl + QS + 32 * j + 8 * L.q), wh = ld_u64(bh + QS + 32 * j + 8 * L.q);
            int scl[2], mnl[2], sch[2], mnh[2];
            k_scale_min_pair(hl, j, scl[0], scl[1], mnl[0], mnl[1]);
            k_scale_min_pair(hh, j, sch[0], sch[1], mnh[0], mnh[1]);
#pragma unroll
            for (int h = 0; h < 2; ++h) {  // sub-block 2j + h: low (h = 0) or high nibbles
                constexpr unsigned m4 = 0x0F0F0F0Fu, m1 = 0x01010101u;
                const int sb = 8 * b + 2 * j + h;
                unsigned a0 = (wl.x >> (4 * h)) & m4, a1 = (wh.x >> (4 * h)) & m4, a2 = (wl.y >> (4 * h)) & m4, a3 = (wh.y >> (4 * h)) & m4;
                if constexpr (FIVE) {
                    const int bit = 2 * j + h;
                    a0 |= ((fl5.x >> bit) & m1) << 4, a1 |= ((fh5.x >> bit) & m1) << 4;
                    a2 |= ((fl5.y >> bit) & m1) << 4, a3 |= ((fh5.y >> bit) & m1) << 4;
                }
                const float fl = ml.x * static_cast<float>(scl[h]), fh = mh.x * static_cast<float>(sch[h]);
                const float nl = ml.y * static_cast<float>(mnl[h]), nh = mh.y * static_cast<float>(mnh[h]);
                mma32_tokens<S, true>(a0, a1, a2, a3, sb, fl, fh, nl, nh, x, L, acc);
            }
        }
    }
}

// Q6_K (device layout, q6_block): element 128 hh + 32 rr + l has its low 4 bits in ql byte 64 hh + 32 (rr & 1) + l
// (high nibble for rr >= 2), its high 2 bits at bits 2 rr of qh byte 32 hh + l, and scale 8 hh + 2 rr + l / 16; one
// m16n8k16 per 16-element scale group. The codes enter the mma as q - 32 (__vsub4): taking 32 sum x off the product
// instead would need each token's activation code sum per 16-element group, which the activation layout lacks.
template <int S>
__device__ __forceinline__ void mma_q6_k(const uint8_t* lo, const uint8_t* hi, int nb, int b0, int b1, const XQT& x, const MmaLane& L,
                                         float (&acc)[kTokenTiles<S>][4]) {
    for (int b = b0; b < b1; ++b) {
        const Q6Block ql = q6_block(lo, nb, b), qh = q6_block(hi, nb, b);
        const uint4 sl = *reinterpret_cast<const uint4*>(ql.sc), sh = *reinterpret_cast<const uint4*>(qh.sc);
#pragma unroll
        for (int hh = 0; hh < 2; ++hh)
#pragma unroll
            for (int l16 = 0; l16 < 2; ++l16) {
                const int l0 = 16 * l16 + 4 * L.q;
                const unsigned la0 = ld_u32(ql.ql + 64 * hh + l0), la1 = ld_u32(ql.ql + 64 * hh + 32 + l0), lhb = ld_u32(ql.qh + 32 * hh + l0);
                const unsigned ha0 = ld_u32(qh.ql + 64 * hh + l0), ha1 = ld_u32(qh.ql + 64 * hh + 32 + l0), hhb = ld_u32(qh.qh + 32 * hh + l0);
#pragma unroll
                for (int rr = 0; rr < 4; ++rr) {
                    constexpr unsigned k32 = 0x20202020u;
                    const unsigned vl = __vsub4(q6_codes((rr & 1) ? la1 : la0, lhb, rr), k32), vh = __vsub4(q6_codes((rr & 1) ? ha1 : ha0, hhb, rr), k32);
                    const int sb = 8 * b + 4 * hh + rr, si = 8 * hh + 2 * rr + l16;  // activation sub-block, scale index
                    const float fl = ql.d * static_cast<float>(static_cast<int8_t>(byte_of(sl, si)));
                    const float fh = qh.d * static_cast<float>(static_cast<int8_t>(byte_of(sh, si)));
                    mma16_tokens<S, false>(vl, vh, sb, l0, fl, fh, 0.0f, 0.0f, x, L, acc);
                }
            }
    }
}

}  // namespace rz::cuda::detail::fused
