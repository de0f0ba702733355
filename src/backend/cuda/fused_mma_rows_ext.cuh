#pragma once
// Tensor-core dot products of the fused rows kernels (decode_rows.cu) for the types outside fused_mma_rows.cuh's:
// Q8_0, Q4_0, IQ4_NL, Q5_0 (32-element blocks), IQ4_XS (32-element sub-blocks), Q3_K and Q2_K (16-element scale
// groups), and mma_tile, the per-type dispatch. Why: a decode step of 9-16 sequences of such a file had no rows
// kernel (the dp4a kernels stop at 8 tokens: S accumulators a row) and took the f16 GEMM path, which dequantizes
// every matrix each step (tinyllama steps of 16, H200: Q3_K_M 2.35 vs 3.07-3.13 ms, Q2_K 2.44-2.52 vs 3.01, Q4_0
// 2.35-2.45 vs 2.53-2.69, Q5_0 2.56-2.62 vs 2.81-2.84, IQ4_XS 2.31-2.33 vs 3.03-3.04, IQ4_NL 2.43-2.47 vs 3.00-3.03).
//
// The fragment layout and the k order are fused_mma_rows.cuh's: for a 32-element (sub-)block lane q = lane % 4
// takes elements 8q .. 8q + 7 of its two rows (g, g + 8) and of its token, one m16n8k32. The nibble types hold
// element j < 16 in the low nibble of byte j and element 16 + j in the high one, so lane q reads bytes 8 (q % 2) ..
// + 7 and shifts them by 4 (q / 2). The 16-element scale groups of Q3_K and Q2_K take one m16n8k16 each, lane q
// elements 4q .. 4q + 3 of the group (Q6_K's mapping). Q2_K's minimums (value d sc q - dmin m) need the sum of the
// activation codes of each 16-element group, which one more m16n8k16 with all-ones weights gives per token (the
// same for every row). Q4_1 and Q5_1 have no tensor-core path (decode_rows.cu, mma_type: measured slower).
// Internal to src/backend/cuda; included by decode_rows.cu only.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/fused_dot_ext.cuh"
#include "backend/cuda/fused_mma_rows.cuh"

namespace rz::cuda::detail::fused {

// The lane's part of one row's 32-element block: its 8 codes (elements 8q .. 8q + 7 as int8, two words) and the scale.
struct B32 {
    unsigned w0, w1;
    float d;
};

// Blocks [b0, b1) of two rows of 32-element blocks, U at a time: the U blocks' loads of both rows are issued
// together (ld: row, block -> B32), then their tensor-core steps (one block at a time left each warp a chain of
// dependent loads: 16 tokens of Q4_0 / Q8_0 2.27-2.29 / 2.35-2.39 vs 2.34-2.39 / 2.45-2.47 ms a tinyllama step).
template <int S, typename Ld>
__device__ __forceinline__ void mma_b32(const uint8_t* lo, const uint8_t* hi, int b0, int b1, const XQT& x, const MmaLane& L,
                                        float (&acc)[kTokenTiles<S>][4], Ld ld) {
    constexpr int U = 4;
#pragma unroll 1
    for (int b = b0; b < b1; b += U) {
        B32 wl[U], wh[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int bb = min(b + u, b1 - 1);  // past the share: the last block again, not used
            wl[u] = ld(lo, bb), wh[u] = ld(hi, bb);
        }
#pragma unroll
        for (int u = 0; u < U; ++u)  // warp-uniform
            if (b + u < b1) mma32_tokens<S>(wl[u].w0, wh[u].w0, wl[u].w1, wh[u].w1, b + u, wl[u].d, wh[u].d, 0.0f, 0.0f, x, L, acc);
    }
}

// Q8_0 (K 34: d q), Q4_0 (K 18: (q - 8) d), IQ4_NL (K 18, NL: d kIQ4NLValues[q]) and Q5_0 (K 22: (q - 16) d, the 5th
// bit of element j is bit j of qh) in the device layout (g32_block).
template <int S, int K, bool NL>
__device__ __forceinline__ void mma_g32(const uint8_t* lo, const uint8_t* hi, int nb, int b0, int b1, const XQT& x, const MmaLane& L,
                                        float (&acc)[kTokenTiles<S>][4]) {
    const unsigned sh = 4u * static_cast<unsigned>(L.q >> 1);
    mma_b32<S>(lo, hi, b0, b1, x, L, acc, [&](const uint8_t* row, int b) {
        const G32Block g = g32_block<K>(row, nb, b);
        const uint2 w = ld_u64(g.qs + (K == 34 ? 8 * L.q : 8 * (L.q & 1)));
        if constexpr (K == 34) return B32{w.x, w.y, g.d};
        if constexpr (K == 22) {
            const unsigned qh = ld_u32(g.qh);
            return B32{static_cast<unsigned>(q5_bytes<false, true>(w.x >> sh, qh, 8 * L.q)),
                       static_cast<unsigned>(q5_bytes<false, true>(w.y >> sh, qh, 8 * L.q + 4)), g.d};
        }
        if constexpr (NL) return B32{static_cast<unsigned>(iq4_codes<false>(w.x >> sh)), static_cast<unsigned>(iq4_codes<false>(w.y >> sh)), g.d};
        return B32{q4_0_codes(w.x >> sh), q4_0_codes(w.y >> sh), g.d};
    });
}

// IQ4_XS: 136-byte blocks {half d; uint16 scales_h; scales_l[4]; qs[128]} (8-byte aligned), sub-block s (32
// elements) with its own 16 qs bytes and 6-bit scale (fused_dot_ext.cuh): value d sc kIQ4NLValues[q].
template <int S>
__device__ __forceinline__ void mma_iq4_xs(const uint8_t* lo, const uint8_t* hi, int b0, int b1, const XQT& x, const MmaLane& L,
                                           float (&acc)[kTokenTiles<S>][4]) {
    const unsigned sh = 4u * static_cast<unsigned>(L.q >> 1);
    for (int b = b0; b < b1; ++b) {
        const uint8_t* bl = lo + static_cast<size_t>(b) * 136;
        const uint8_t* bh = hi + static_cast<size_t>(b) * 136;
        const uint2 hl = ld_u64(bl), hh = ld_u64(bh);
        const float dl = iq4xs_d(hl), dh = iq4xs_d(hh);
#pragma unroll
        for (int s = 0; s < 8; ++s) {
            const uint2 wl = ld_u64(bl + 8 + 16 * s + 8 * (L.q & 1)), wh = ld_u64(bh + 8 + 16 * s + 8 * (L.q & 1));
            const int sl = iq4xs_scale(hl, s), sc = iq4xs_scale(hh, s);
            mma32_tokens<S>(static_cast<unsigned>(iq4_codes<false>(wl.x >> sh)), static_cast<unsigned>(iq4_codes<false>(wh.x >> sh)),
                            static_cast<unsigned>(iq4_codes<false>(wl.y >> sh)), static_cast<unsigned>(iq4_codes<false>(wh.y >> sh)), 8 * b + s,
                            dl * static_cast<float>(sl), dh * static_cast<float>(sc), 0.0f, 0.0f, x, L, acc);
        }
    }
}

// The 16 signed 6-bit scales of a Q3_K block from its scale words (bytes 0-3, 4-7, 8-11 of scales[12]) as 4 words of
// int8: scale k has its low 4 bits in nibble k / 8 of byte k % 8 and its high 2 bits at bits 2 (k / 4) of byte 8 +
// k % 4, minus 32; word j holds scales 4j .. 4j + 3.
__device__ __forceinline__ void q3_scales(unsigned s0, unsigned s1, unsigned s2, unsigned (&w)[4]) {
    constexpr unsigned m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
    const unsigned lo[4] = {s0 & m4, s1 & m4, (s0 >> 4) & m4, (s1 >> 4) & m4};
#pragma unroll
    for (int j = 0; j < 4; ++j) w[j] = __vsub4(lo[j] | (((s2 >> (2 * j)) & m2) << 4), 0x20202020u);
}
__device__ __forceinline__ float sbyte(unsigned w, int i) { return static_cast<float>(static_cast<int8_t>((w >> (8 * i)) & 0xFFu)); }

// Q3_K: the padded 112-byte device blocks (kQ3Bytes) {hmask[32]; qs[64]; scales[12]; half d; 2 zero bytes}.
// Element l of sub-block s = 4 hh + rr: low 2 bits at bits 2 rr of qs[32 hh + l], high bit at bit s of hmask[l]
// (clear: minus 4), scale group 2 s + l / 16. Lane q, group half l16: l = 16 l16 + 4q .. + 3, one 4-byte load of
// qs and of hmask a row; the signed code byte is 0xFC (high bit clear) + low (fused_dot_ext.cuh).
template <int S>
__device__ __forceinline__ void mma_q3_k(const uint8_t* lo, const uint8_t* hi, int b0, int b1, const XQT& x, const MmaLane& L,
                                         float (&acc)[kTokenTiles<S>][4]) {
    for (int b = b0; b < b1; ++b) {
        const uint8_t* bl = lo + static_cast<size_t>(b) * kQ3Bytes;
        const uint8_t* bh = hi + static_cast<size_t>(b) * kQ3Bytes;
        const uint4 tl = *reinterpret_cast<const uint4*>(bl + 96), th = *reinterpret_cast<const uint4*>(bh + 96);
        unsigned scl[4], sch[4];
        q3_scales(tl.x, tl.y, tl.z, scl);
        q3_scales(th.x, th.y, th.z, sch);
        const float dl = h2f(static_cast<uint16_t>(tl.w & 0xFFFFu)), dh = h2f(static_cast<uint16_t>(th.w & 0xFFFFu));
#pragma unroll
        for (int l16 = 0; l16 < 2; ++l16) {
            const int l0 = 16 * l16 + 4 * L.q;
            const unsigned nhl = ~ld_u32(bl + l0), nhh = ~ld_u32(bh + l0);
#pragma unroll
            for (int hh = 0; hh < 2; ++hh) {
                const unsigned ql = ld_u32(bl + 32 + 32 * hh + l0), qh = ld_u32(bh + 32 + 32 * hh + l0);
#pragma unroll
                for (int rr = 0; rr < 4; ++rr) {
                    constexpr unsigned m1 = 0x01010101u, m2 = 0x03030303u;
                    const int s = 4 * hh + rr, k = 2 * s + l16;
                    const unsigned vl = ((nhl >> s) & m1) * 0xFCu + ((ql >> (2 * rr)) & m2), vh = ((nhh >> s) & m1) * 0xFCu + ((qh >> (2 * rr)) & m2);
                    mma16_tokens<S, false>(vl, vh, 8 * b + s, l0, dl * sbyte(scl[k >> 2], k & 3), dh * sbyte(sch[k >> 2], k & 3), 0.0f, 0.0f, x, L, acc);
                }
            }
        }
    }
}

// Q2_K: 84-byte blocks {scales[16]; qs[64]; half d, dmin} (4-byte aligned). Element l of sub-block s = 4 hh + rr is
// bits 2 rr of qs[32 hh + l]; scale byte 2 s + l / 16: scale (low nibble), min (high): value d sc q - dmin m.
template <int S>
__device__ __forceinline__ void mma_q2_k(const uint8_t* lo, const uint8_t* hi, int b0, int b1, const XQT& x, const MmaLane& L,
                                         float (&acc)[kTokenTiles<S>][4]) {
    for (int b = b0; b < b1; ++b) {
        const uint8_t* bl = lo + static_cast<size_t>(b) * 84;
        const uint8_t* bh = hi + static_cast<size_t>(b) * 84;
        const float2 fl = __half22float2(*reinterpret_cast<const __half2*>(bl + 80)), fh = __half22float2(*reinterpret_cast<const __half2*>(bh + 80));
        unsigned scl[4], sch[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) scl[i] = ld_u32(bl + 4 * i), sch[i] = ld_u32(bh + 4 * i);
#pragma unroll
        for (int l16 = 0; l16 < 2; ++l16) {
            const int l0 = 16 * l16 + 4 * L.q;
#pragma unroll
            for (int hh = 0; hh < 2; ++hh) {
                const unsigned ql = ld_u32(bl + 16 + 32 * hh + l0), qh = ld_u32(bh + 16 + 32 * hh + l0);
#pragma unroll
                for (int rr = 0; rr < 4; ++rr) {
                    const int s = 4 * hh + rr, k = 2 * s + l16;
                    const unsigned bsl = (scl[k >> 2] >> (8 * (k & 3))) & 0xFFu, bsh = (sch[k >> 2] >> (8 * (k & 3))) & 0xFFu;
                    mma16_tokens<S, true>((ql >> (2 * rr)) & 0x03030303u, (qh >> (2 * rr)) & 0x03030303u, 8 * b + s, l0,
                                          fl.x * static_cast<float>(bsl & 0xFu), fh.x * static_cast<float>(bsh & 0xFu),
                                          fl.y * static_cast<float>(bsl >> 4), fh.y * static_cast<float>(bsh >> 4), x, L, acc);
                }
            }
        }
    }
}

// Blocks per row for the tensor-core kernels: 32-element blocks of Q8_0, Q4_0, IQ4_NL and Q5_0, else 256-element
// super-blocks (IQ4_XS's 32-element sub-blocks are walked inside its 256-element blocks).
__device__ __forceinline__ int mma_blocks(int t, int cols) { return t == kQ8_0 || t == kQ4_0 || t == kIQ4_NL || t == kQ5_0 ? cols / 32 : cols / 256; }

// The types of this file in a rows launch of type set EXT (fused_dot_ext.cuh's masks: bit 1 Q4_0, bit 2 the
// low-bit set, bit 4 the legacy set, of which Q5_0); false: the type is fused_mma_rows.cuh's.
template <int S, int EXT>
__device__ __forceinline__ bool mma_tile_ext(int t, const uint8_t* lo, const uint8_t* hi, int nb, int k0, int k1, const XQT& x, const MmaLane& L,
                                             float (&acc)[kTokenTiles<S>][4]) {
    if constexpr ((EXT & 4) != 0) {
        if (t == kQ5_0) return mma_g32<S, 22, false>(lo, hi, nb, k0, k1, x, L, acc), true;
    }
    if constexpr ((EXT & 2) != 0) {
        if (t == kQ3_K) return mma_q3_k<S>(lo, hi, k0, k1, x, L, acc), true;
        if (t == kQ2_K) return mma_q2_k<S>(lo, hi, k0, k1, x, L, acc), true;
        if (t == kIQ4_XS) return mma_iq4_xs<S>(lo, hi, k0, k1, x, L, acc), true;
        if (t == kIQ4_NL) return mma_g32<S, 18, true>(lo, hi, nb, k0, k1, x, L, acc), true;
    }
    if constexpr ((EXT & 1) != 0) {
        if (t == kQ4_0) return mma_g32<S, 18, false>(lo, hi, nb, k0, k1, x, L, acc), true;
    }
    return false;
}

// The tile's partial sums (acc[n] in the c0..c3 layout of token tile n) over this warp's share [k0, k1) of the rows'
// nb blocks (super-blocks; 32-element blocks for those types) for a launch of mma type set EXT (rows_ext of mma_mask in
// decode_rows.cu): Q4_K, Q5_K and Q6_K always, Q8_0 in set 8 only (above 8 tokens), this file's types by set.
template <int S, int EXT>
__device__ __forceinline__ void mma_tile(int t, const uint8_t* lo, const uint8_t* hi, int nb, int k0, int k1, const XQT& x, const MmaLane& L,
                                         float (&acc)[kTokenTiles<S>][4]) {
    if constexpr (EXT == 8) {
        if (t == kQ8_0) return mma_g32<S, 34, false>(lo, hi, nb, k0, k1, x, L, acc);
    } else if constexpr (EXT != 0) {
        if (mma_tile_ext<S, EXT>(t, lo, hi, nb, k0, k1, x, L, acc)) return;
    }
    if (t == kQ4_K) mma_qk<S, false>(lo, hi, k0, k1, x, L, acc);
    else if (t == kQ5_K) mma_qk<S, true>(lo, hi, k0, k1, x, L, acc);
    else mma_q6_k<S>(lo, hi, nb, k0, k1, x, L, acc);
}

}  // namespace rz::cuda::detail::fused
