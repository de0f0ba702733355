#pragma once
// Int8 dot products of the fused decode-layer mat-vecs for the low-bit types of llama.cpp's Q2_K, Q3_K_* and
// IQ4_* files (Q3_K, Q2_K, IQ4_XS, IQ4_NL) and the legacy Q4_1, Q5_0, Q5_1 (same contract as fused_dot.cuh: one warp, R rows, the R rows' loads of
// a step issued together, acc[r] the lane's partial sum), and dot_rows, the per-type dispatch of every fused
// kernel with its instantiation levels. Internal to src/backend/cuda; included by decode_fused.cu only.
//
// Q3_K and Q2_K scale 16-element groups, while the activation carries d * sum(q) per 32 only: Q3_K therefore
// dots signed weights (q - 4 in [-4, 3] as int8), and Q2_K sums the activation codes of each lane's 8 elements
// with __dp4a against 0x01010101 for its min term (once per block step, shared by the R rows).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/fused_dot.cuh"
#include "backend/cuda/quant_decode.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda::detail::fused {

constexpr int kQ3_K = static_cast<int>(DType::Q3_K);
constexpr int kQ2_K = static_cast<int>(DType::Q2_K);
constexpr int kIQ4_XS = static_cast<int>(DType::IQ4_XS);
constexpr int kIQ4_NL = static_cast<int>(DType::IQ4_NL);
constexpr int kQ4_1 = static_cast<int>(DType::Q4_1);
constexpr int kQ5_0 = static_cast<int>(DType::Q5_0);
constexpr int kQ5_1 = static_cast<int>(DType::Q5_1);

// Q3_K: blocks {hmask[32]; qs[64]; scales[12]; half d} padded to 112 bytes on the device (kQ3Bytes, common.cuh:
// 16-byte aligned: hmask and qs in one 8-byte load each, scales and d in one 16-byte load). Element l of
// sub-block s = 4 hh + rr (32 elements) has its 2 low bits at bits 2 rr of qs[32 hh + l] and its high bit at bit
// s of hmask[l] (set: q = low, clear: q = low - 4); 6-bit scale k = 2 s + l / 16, minus 32: value d sc q.
// Q6_K's lane mapping: 8 lanes per block, lane k takes hh = k / 4 and l in l0 = 8 (k % 4) .. l0 + 7 of the half's
// 4 sub-blocks (qs bytes 32 hh + l0 .., hmask bytes l0 ..): 32 weights, one scale per sub-block (the 8 elements
// lie in one 16-element group, h16 = l0 / 16). The signed weight byte is 0xFC * (high bit clear) + low: 0xFC + low
// is low - 4 as an int8 and never carries into the next byte, so one IMAD builds 4 of them.
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q3_k(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int k = lane & 7, hh = k >> 2, l0 = 8 * (k & 3);
    const unsigned sh = 8u * static_cast<unsigned>(l0 >> 4) + 4u * static_cast<unsigned>(hh);  // this lane's scale bits
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane >> 3; b < nb; b += 4) {
        int2 xv[4];
        float xd[4];
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
            const int sbi = 8 * b + 4 * hh + rr;
            xv[rr] = *reinterpret_cast<const int2*>(x.q + sbi * 32 + l0);
            xd[rr] = x.d[sbi];
        }
        unsigned qs[R][2], hm[R][2], sc[R][3];
        float d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * kQ3Bytes;
            const uint2 q = *reinterpret_cast<const uint2*>(blk + 32 + 32 * hh + l0), h = *reinterpret_cast<const uint2*>(blk + l0);
            const uint4 t = *reinterpret_cast<const uint4*>(blk + 96);  // scales[12], d, 2 bytes of padding
            qs[r][0] = q.x, qs[r][1] = q.y, hm[r][0] = h.x, hm[r][1] = h.y;
            sc[r][0] = t.x, sc[r][1] = t.y, sc[r][2] = t.z;
            d[r] = h2f(static_cast<uint16_t>(t.w & 0xFFFFu));
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            // Scale of sub-block 4 hh + rr: low 4 bits nibble hh of scales[2 rr + h16] (scales[0..7] = words sc0, sc1),
            // high 2 bits at bits 2 (2 hh + rr / 2) of scales[8 + 2 (rr % 2) + h16] (word sc2). After the shift by sh,
            // rr = 0, 2 sit in the low 16 bits and rr = 1, 3 in the high 16 bits of each word.
            const unsigned hi = sc[r][2] >> sh;
            const unsigned s01 = ((sc[r][0] >> sh) & 0x000F000Fu) | ((hi << 4) & 0x00300030u);
            const unsigned s23 = ((sc[r][1] >> sh) & 0x000F000Fu) | ((hi << 2) & 0x00300030u);
            const int scl[4] = {static_cast<int>(s01 & 0xFFu) - 32, static_cast<int>(s01 >> 16) - 32, static_cast<int>(s23 & 0xFFu) - 32,
                                static_cast<int>(s23 >> 16) - 32};
            const unsigned nh[2] = {~hm[r][0] >> (4 * hh), ~hm[r][1] >> (4 * hh)};  // bit rr: high bit of sub-block 4 hh + rr clear
            float sum4 = 0.0f;
#pragma unroll
            for (int rr = 0; rr < 4; ++rr) {
                int s = 0;
#pragma unroll
                for (int i = 0; i < 2; ++i) {
                    const unsigned lo = (qs[r][i] >> (2 * rr)) & 0x03030303u;
                    const unsigned v = ((nh[i] >> rr) & 0x01010101u) * 0xFCu + lo;
                    s = __dp4a(static_cast<int>(v), i == 0 ? xv[rr].x : xv[rr].y, s);
                }
                sum4 += xd[rr] * static_cast<float>(scl[rr] * s);
            }
            acc[r] += d[r] * sum4;
        }
    }
}

// Q2_K: 84-byte blocks {scales[16]; qs[64]; half d, dmin} (4-byte aligned: 32-bit loads). Element l of sub-block
// s = 4 hh + rr is bits 2 rr of qs[32 hh + l] (0..3); scale byte k = 2 s + l / 16 holds the scale (low nibble) and
// the min (high nibble): value d sc q - dmin m. Q3_K's lane mapping; the lane's scale bytes 8 hh + 2 rr + h16 are
// bytes h16 and 2 + h16 of the words at 8 hh (rr = 0, 1) and 8 hh + 4 (rr = 2, 3). The min term of the lane is
// dmin * sum over rr of m * xd * (sum of its 8 activation codes).
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q2_k(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int k = lane & 7, hh = k >> 2, l0 = 8 * (k & 3);
    const unsigned sh = 8u * static_cast<unsigned>(l0 >> 4);
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane >> 3; b < nb; b += 4) {
        int2 xv[4];
        float xd[4], xm[4];
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
            const int sbi = 8 * b + 4 * hh + rr;
            xv[rr] = *reinterpret_cast<const int2*>(x.q + sbi * 32 + l0);
            xd[rr] = x.d[sbi];
            xm[rr] = xd[rr] * static_cast<float>(__dp4a(xv[rr].y, 0x01010101, __dp4a(xv[rr].x, 0x01010101, 0)));
        }
        unsigned qs[R][2], sc[R][2], dm[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 84;
            qs[r][0] = *reinterpret_cast<const unsigned*>(blk + 16 + 32 * hh + l0), qs[r][1] = *reinterpret_cast<const unsigned*>(blk + 20 + 32 * hh + l0);
            sc[r][0] = *reinterpret_cast<const unsigned*>(blk + 8 * hh), sc[r][1] = *reinterpret_cast<const unsigned*>(blk + 4 + 8 * hh);
            dm[r] = *reinterpret_cast<const unsigned*>(blk + 80);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            float sd = 0.0f, sm = 0.0f;
#pragma unroll
            for (int rr = 0; rr < 4; ++rr) {
                const unsigned w = sc[r][rr >> 1] >> (sh + 16 * (rr & 1));  // scale byte in bits 0..7
                int s = __dp4a(static_cast<int>((qs[r][0] >> (2 * rr)) & 0x03030303u), xv[rr].x, 0);
                s = __dp4a(static_cast<int>((qs[r][1] >> (2 * rr)) & 0x03030303u), xv[rr].y, s);
                sd += xd[rr] * static_cast<float>(static_cast<int>(w & 0xFu) * s);
                sm += xm[rr] * static_cast<float>((w >> 4) & 0xFu);
            }
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&dm[r]));  // d, dmin
            acc[r] += f.x * sd - f.y * sm;
        }
    }
}

// prmt.b32 in its default mode (a selector nibble with bit 3 set replicates the sign of its byte; __byte_perm
// documents only the 3-bit byte index, so the sign mode is asked for in PTX).
__device__ __forceinline__ unsigned prmt(unsigned a, unsigned b, unsigned sel) {
    unsigned r;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(sel));
    return r;
}

// The low (HI false) or high nibbles of the 4 bytes of q as the 4 int8 codebook values kIQ4NLValues[nibble], with
// no table in memory (lanes would index it divergently): the nibbles' low 3 bits, gathered into a 16-bit selector,
// pick a candidate from each codebook half (entries 0-7 and 8-15, two byte permutes), and a sign-replicating
// permute turns each nibble's bit 3, moved to bit 7 of its byte, into the 0x00 / 0xFF byte mask choosing between them.
template <bool HI>
__device__ __forceinline__ int iq4_codes(unsigned q) {
    constexpr unsigned w0 = iq4_word(0), w1 = iq4_word(1), w2 = iq4_word(2), w3 = iq4_word(3);
    const unsigned m = (HI ? q >> 4 : q) & 0x07070707u;  // byte i: nibble i & 7
    const unsigned sel = prmt(m | (m >> 4), 0u, 0x0020u);  // nibble i: nibble i & 7 (bytes 0 and 2 of m | m >> 4)
    const unsigned lo = prmt(w0, w1, sel), hi = prmt(w2, w3, sel);
    const unsigned mask = prmt(HI ? q : q << 4, 0u, 0xBA98u);  // byte i: 0xFF where bit 3 of nibble i is set
    return static_cast<int>((lo & ~mask) | (hi & mask));
}

// An IQ4_XS block's 8-byte header h = {half d; uint16 scales_h; scales_l[4]} (one 64-bit load): d, and the signed
// 6-bit scale of sub-block s (nibble s % 2 of scales_l[s / 2] | bits 2 s of scales_h << 4, minus 32). The one-token,
// rows and tensor-core IQ4_XS decoders read their headers through these.
__device__ __forceinline__ float iq4xs_d(const uint2& h) { return __half2float(__ushort_as_half(static_cast<unsigned short>(h.x & 0xFFFFu))); }
__device__ __forceinline__ int iq4xs_scale(const uint2& h, int s) {
    return static_cast<int>(((h.y >> (4 * s)) & 0xFu) | (((h.x >> (16 + 2 * s)) & 3u) << 4)) - 32;
}

// IQ4_XS: 136-byte blocks {half d; uint16 scales_h; scales_l[4]; qs[128]} (8-byte aligned): sub-block s (32
// elements) has its own 16 qs bytes 16 s .. (low nibbles elements 0..15, high nibbles 16..31) and a 6-bit scale
// (nibble s % 2 of scales_l[s / 2] | bits 2 s of scales_h << 4, minus 32): value d sc kIQ4NLValues[q]. 8 lanes per
// block, lane s takes sub-block s: one 8-byte header load and two 8-byte qs loads; a warp step covers 4 blocks.
template <int R, int UX = 1>
__device__ __forceinline__ void dot_iq4_xs(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int s = lane & 7;
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane >> 3; b < nb; b += 4) {
        const int sbi = 8 * b + s;
        const int4 x0 = *reinterpret_cast<const int4*>(x.q + sbi * 32);
        const int4 x1 = *reinterpret_cast<const int4*>(x.q + sbi * 32 + 16);
        const float xd = x.d[sbi];
        uint2 h[R], qa[R], qb[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 136;
            h[r] = *reinterpret_cast<const uint2*>(blk);
            qa[r] = *reinterpret_cast<const uint2*>(blk + 8 + 16 * s);
            qb[r] = *reinterpret_cast<const uint2*>(blk + 16 + 16 * s);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const unsigned q[4] = {qa[r].x, qa[r].y, qb[r].x, qb[r].y};
            const int xa[4] = {x0.x, x0.y, x0.z, x0.w}, xb[4] = {x1.x, x1.y, x1.z, x1.w};
            int sum = 0;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                sum = __dp4a(iq4_codes<false>(q[i]), xa[i], sum);
                sum = __dp4a(iq4_codes<true>(q[i]), xb[i], sum);
            }
            const int ls = iq4xs_scale(h[r], s);
            const float d = iq4xs_d(h[r]);
            acc[r] += d * xd * static_cast<float>(ls * sum);
        }
    }
}

// IQ4_NL (dot_g32): value d kIQ4NLValues[q].
template <int R, int UX = 1>
__device__ __forceinline__ void dot_iq4_nl(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    dot_g32<R, UX, 18>(rows, nb, x, lane, acc, [](unsigned w, unsigned, bool hi, int) { return hi ? iq4_codes<true>(w) : iq4_codes<false>(w); });
}

// ---- 32-element blocks with a 5th bit and / or a minimum (level 3): Q4_0's lane mapping, 2 lanes per block (lane
// half hf: qs bytes 8 hf .. 8 hf + 7, i.e. elements 8 hf .. + 7 (low nibbles) and 16 + 8 hf .. + 7 (high nibbles)); a
// warp step covers 16 blocks. Element j's 5th bit is bit j of the little-endian word qh.

// Bits 0..3 of n as bit 0 of bytes 0..3 (n * 0x00204081 puts bit i at 8 i with no overlapping terms, so no carries).
__device__ __forceinline__ unsigned spread4(unsigned n) { return ((n & 0xFu) * 0x00204081u) & 0x01010101u; }

// The 4 weights of qs word w (low or high nibbles) with their 5th bits from qh, elements e0 .. e0 + 3: q in 0..31
// (Q5_1), or SIGNED: q - 16 as int8 (Q5_0: 0xF0 + low where the 5th bit is clear, as Q3_K's 0xFC).
template <bool HI, bool SIGNED>
__device__ __forceinline__ int q5_bytes(unsigned w, unsigned qh, int e0) {
    const unsigned lo = (HI ? w >> 4 : w) & 0x0F0F0F0Fu, h = spread4(qh >> e0);
    return static_cast<int>(SIGNED ? (h ^ 0x01010101u) * 0xF0u + lo : (h << 4) | lo);
}

// Q4_1: 20-byte blocks {half d, m; qs[16]} (4-byte aligned), value d q + m: d xd sum(q xq) + m s, the block's
// activation sum s = xd sum(xq) added by the hf = 0 lane.
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q4_1(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int hf = lane & 1;
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane >> 1; b < nb; b += 16) {
        const int2 xa = *reinterpret_cast<const int2*>(x.q + b * 32 + 8 * hf);
        const int2 xb = *reinterpret_cast<const int2*>(x.q + b * 32 + 16 + 8 * hf);
        const float xd = x.d[b], xs = hf == 0 ? x.s[b] : 0.0f;
        unsigned dm[R], w0[R], w1[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 20;
            dm[r] = *reinterpret_cast<const unsigned*>(blk);
            w0[r] = *reinterpret_cast<const unsigned*>(blk + 4 + 8 * hf), w1[r] = *reinterpret_cast<const unsigned*>(blk + 8 + 8 * hf);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            constexpr unsigned m4 = 0x0F0F0F0Fu;
            int s = __dp4a(static_cast<int>(w0[r] & m4), xa.x, 0);
            s = __dp4a(static_cast<int>(w1[r] & m4), xa.y, s);
            s = __dp4a(static_cast<int>((w0[r] >> 4) & m4), xb.x, s);
            s = __dp4a(static_cast<int>((w1[r] >> 4) & m4), xb.y, s);
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&dm[r]));  // d, m
            acc[r] += f.x * xd * static_cast<float>(s) + f.y * xs;
        }
    }
}

// Q5_0 (dot_g32, with the qh word): value d (q - 16).
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q5_0(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    dot_g32<R, UX, 22>(rows, nb, x, lane, acc,
                       [](unsigned w, unsigned qh, bool hi, int e0) { return hi ? q5_bytes<true, true>(w, qh, e0) : q5_bytes<false, true>(w, qh, e0); });
}

// Q5_1: 24-byte blocks {half d, m; qh[4]; qs[16]} (8-byte aligned), value d q + m (q in 0..31): as Q4_1.
template <int R, int UX = 1>
__device__ __forceinline__ void dot_q5_1(const uint8_t* const (&rows)[R], int nb, const XQ& x, int lane, float (&acc)[R]) {
    const int hf = lane & 1, e = 8 * hf;
    constexpr int U = (R >= 2 ? 1 : 2) * UX;
#pragma unroll U
    for (int b = lane >> 1; b < nb; b += 16) {
        const int2 xa = *reinterpret_cast<const int2*>(x.q + b * 32 + 8 * hf);
        const int2 xb = *reinterpret_cast<const int2*>(x.q + b * 32 + 16 + 8 * hf);
        const float xd = x.d[b], xs = hf == 0 ? x.s[b] : 0.0f;
        uint2 hd[R], w[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = rows[r] + static_cast<size_t>(b) * 24;
            hd[r] = *reinterpret_cast<const uint2*>(blk);  // d, m | qh
            w[r] = *reinterpret_cast<const uint2*>(blk + 8 + 8 * hf);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            int s = __dp4a(q5_bytes<false, false>(w[r].x, hd[r].y, e), xa.x, 0);
            s = __dp4a(q5_bytes<false, false>(w[r].y, hd[r].y, e + 4), xa.y, s);
            s = __dp4a(q5_bytes<true, false>(w[r].x, hd[r].y, e + 16), xb.x, s);
            s = __dp4a(q5_bytes<true, false>(w[r].y, hd[r].y, e + 20), xb.y, s);
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&hd[r].x));  // d, m
            acc[r] += f.x * xd * static_cast<float>(s) + f.y * xs;
        }
    }
}

// Type sets of the fused kernels (their EXT template argument, a bit mask): none: Q4_K and Q6_K; bit 1: also
// Q5_K and Q4_0; bit 2: also Q3_K, Q2_K, IQ4_XS and IQ4_NL; bit 4: also Q4_1, Q5_0 and Q5_1; bit 8: also Q8_0.
// Each kernel is instantiated for the masks 0, 1, 3, 5 and 8 and the host launches the smallest one covering a
// launch's matrices (ext_mask, fused_ext; matvec_fused splits a launch holding types of both sets 2 and 4, or Q8_0
// and another set). Q8_0 has its own set since its 16-byte loads took the one-row kernel from 76 to 128 registers,
// which cost Q4_K_M decode 1-2% when the Q4_K launches shared that kernel. Why: ptxas gives a kernel
// the registers of its heaviest type path (or more: with every type in one kernel the default one-row mat-vec took
// all 255), and when one kernel dispatched Q5_K / Q4_0 too, the default one-row kernel went from 78 registers to 80
// with 28 bytes of spill (sm_90) and Q8_0 / Q4_K_M decode lost ~7%. Mask 0 compiles to the same code whatever the
// other sets add (checked on the PTX of its instantiations), and so does mask 1. Llama.cpp's mixes need 3 (Q2_K,
// Q3_K_*: q|k|v mixes Q3_K and Q5_K; IQ4_*) or 5 (Q4_1, Q5_0, Q5_1 with a Q6_K head).
// W: Q4_K with 4 lanes a super-block (dot_q4_k_wide; the pairs gate|up kernel on rows of 4096+ columns).
template <int R, int UX = 1, int EXT = 0, bool W = false>
__device__ __forceinline__ void dot_rows(int t, const uint8_t* const (&rows)[R], int cols, const XQ& x, int lane, float (&acc)[R]) {
    if constexpr ((EXT & 4) != 0) {
        if (t == kQ4_1) {
            dot_q4_1<R, UX>(rows, cols / 32, x, lane, acc);
            return;
        }
        if (t == kQ5_0) {
            dot_q5_0<R, UX>(rows, cols / 32, x, lane, acc);
            return;
        }
        if (t == kQ5_1) {
            dot_q5_1<R, UX>(rows, cols / 32, x, lane, acc);
            return;
        }
    }
    if constexpr ((EXT & 2) != 0) {
        if (t == kQ3_K) {
            dot_q3_k<R, UX>(rows, cols / 256, x, lane, acc);
            return;
        }
        if (t == kQ2_K) {
            dot_q2_k<R, UX>(rows, cols / 256, x, lane, acc);
            return;
        }
        if (t == kIQ4_XS) {
            dot_iq4_xs<R, UX>(rows, cols / 256, x, lane, acc);
            return;
        }
        if (t == kIQ4_NL) {
            dot_iq4_nl<R, UX>(rows, cols / 32, x, lane, acc);
            return;
        }
    }
    const int nb = blocks_per_row(t, cols);
    if constexpr ((EXT & 1) != 0) {
        if (t == kQ5_K) {
            dot_q5_k<R, UX>(rows, nb, x, lane, acc);
            return;
        }
        if (t == kQ4_0) {
            dot_q4_0<R, UX>(rows, nb, x, lane, acc);
            return;
        }
    }
    if constexpr ((EXT & 8) != 0) {
        if (t == kQ8_0) {
            dot_q8_0<R, UX>(rows, nb, x, lane, acc);
            return;
        }
    }
    if (t == kQ4_K) {
        if constexpr (W) dot_q4_k_wide<R, UX>(rows, nb, x, lane, acc);
        else dot_q4_k<R, UX>(rows, nb, x, lane, acc);
    }
    else dot_q6_k<R, UX>(rows, nb, x, lane, acc);
}

// The type set (bit) of type t, and the instantiated mask covering the sets of a launch (see dot_rows; not both 2
// and 4, and 8 only alone).
inline int ext_mask(DType t) {
    if (t == DType::Q8_0) return 8;
    if (t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1) return 4;
    if (t == DType::Q3_K || t == DType::Q2_K || t == DType::IQ4_XS || t == DType::IQ4_NL) return 2;
    return t == DType::Q5_K || t == DType::Q4_0 ? 1 : 0;
}
inline int fused_ext(int mask) { return mask == 0 ? 0 : mask == 8 ? 8 : mask == 1 ? 1 : (mask & 4) != 0 ? 5 : 3; }

}  // namespace rz::cuda::detail::fused
