#pragma once
// Device decoders of the weight types the generic (dequantizing) CUDA kernels read besides F32/F16/BF16, Q8_0,
// Q4_0, Q4_K, Q5_K and Q6_K: Q4_1, Q5_0, Q5_1, IQ4_NL (32-element blocks) and Q2_K, Q3_K, IQ4_XS (256-element
// super-blocks). Layouts as in rz::quant (realizar/quant/blocks.h; the CPU reference dequantizers in
// src/quant/dequantize.cpp). Outside the fused decode layer (whose int8 kernels for them are in fused_dot_ext.cuh)
// these decoders are how they are read: the unfused kernel sequence (matvec_kernel, get_row) and, for batches, the
// dequantize + GEMM / multi-row mat-vec.
//
// deq_extra<T, N>(row, nb32, e0, v): elements [e0, e0 + N) of a row of nb32 32-element blocks into v[N], N = 32 (a
// sub-block: the float mat-vec and the embedding row) or 8 (the batched path's groups), e0 a multiple of N. Every value is computed with the
// operations of the CPU reference in the same order, rounded the same way (a product then a sum is written
// __fmul_rn / __fadd_rn so nvcc does not contract it into one fma): the GPU's weights equal the CPU's bit for bit.
// The file's blocks are not more than 2-byte aligned in general (sizes 20, 24, 84, 136 bytes), so bytes are read
// with 16-bit loads (ld16 of common.cuh); Q5_0 and IQ4_NL rows are repacked on the device (g32_block),
// Q3_K blocks padded to 112 bytes (kQ3Bytes).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/common.cuh"
#include "realizar/core/dtype.h"
#include "realizar/quant/blocks.h"

namespace rz::cuda::detail {

constexpr bool is_extra_type(int t) {
    return t == static_cast<int>(DType::Q4_1) || t == static_cast<int>(DType::Q5_0) || t == static_cast<int>(DType::Q5_1) ||
           t == static_cast<int>(DType::IQ4_NL) || t == static_cast<int>(DType::Q2_K) || t == static_cast<int>(DType::Q3_K) ||
           t == static_cast<int>(DType::IQ4_XS);
}

// The 16 IQ4 codebook values (rz::quant::kIQ4NLValues) as four little-endian words of 4 int8 each, so a 4-bit
// code selects its byte with two byte permutes and a select (no table in memory: lanes would index it divergently).
constexpr uint32_t iq4_word(int w) {
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>(static_cast<uint8_t>(quant::kIQ4NLValues[4 * w + i])) << (8 * i);
    return r;
}
__device__ __forceinline__ float iq4_value(uint32_t q) {  // q in 0..15
    constexpr uint32_t w0 = iq4_word(0), w1 = iq4_word(1), w2 = iq4_word(2), w3 = iq4_word(3);
    const uint32_t lo = __byte_perm(w0, w1, q & 7u), hi = __byte_perm(w2, w3, q & 7u);
    return static_cast<float>(static_cast<int8_t>((q & 8u ? hi : lo) & 0xFFu));
}

// a * b + c with both roundings of the CPU's float expression.
__device__ __forceinline__ float mul_add_rn(float a, float b, float c) { return __fadd_rn(__fmul_rn(a, b), c); }
__device__ __forceinline__ float mul_sub_rn(float a, float b, float c) { return __fsub_rn(__fmul_rn(a, b), c); }

// Q4_1 {half d, m; qs[16]}, Q5_0 {half d; qh[4]; qs[16]}, Q5_1 {half d, m; qh[4]; qs[16]}, IQ4_NL {half d; qs[16]}:
// element i of a block is nibble i / 16 of qs[i % 16] (+ 16 * bit i of the little-endian word qh for Q5_*);
// value q d + m (Q4_1, Q5_1), (q - 16) d (Q5_0), d * kIQ4NLValues[q] (IQ4_NL). Q5_0 and IQ4_NL rows are in the
// device layout (g32_block in common.cuh; nb blocks a row), Q4_1 and Q5_1 in the file's.
template <int T, int N>
__device__ __forceinline__ void deq_extra_32(const uint8_t* row, int nb, int e0, float* v) {
    constexpr bool q41 = T == static_cast<int>(DType::Q4_1), q50 = T == static_cast<int>(DType::Q5_0);
    constexpr bool q51 = T == static_cast<int>(DType::Q5_1), iq4 = T == static_cast<int>(DType::IQ4_NL);
    static_assert(q41 || q50 || q51 || iq4);
    constexpr int bytes = q41 ? 20 : q50 ? 22 : q51 ? 24 : 18;
    const int i0 = e0 & 31;
    const uint8_t* qs;
    float d, m = 0.0f;
    uint32_t qh = 0;
    if constexpr (q50 || iq4) {
        const G32Block g = g32_block<bytes>(row, nb, e0 >> 5);
        qs = g.qs, d = g.d;
        if constexpr (q50) qh = *reinterpret_cast<const uint32_t*>(g.qh);
    } else {
        const uint8_t* b = row + static_cast<size_t>(e0 >> 5) * bytes;
        qs = b + (q41 ? 4 : 8), d = h2f(ld16(b)), m = h2f(ld16(b + 2));
        if constexpr (q51) qh = *reinterpret_cast<const uint32_t*>(b + 4);  // 24-byte blocks: 4-byte aligned
    }
#pragma unroll
    for (int k = 0; k < N / 2; ++k) {
        const int i = i0 + 2 * k;  // elements i, i + 1: the same nibble of consecutive bytes
        const uint32_t w = ld16(qs + (i & 15)), sh = static_cast<uint32_t>(i >> 4) * 4;
        uint32_t q0 = (w >> sh) & 0xFu, q1 = (w >> (8 + sh)) & 0xFu;
        if constexpr (q50 || q51) {
            q0 |= ((qh >> i) & 1u) << 4;
            q1 |= ((qh >> (i + 1)) & 1u) << 4;
        }
        if constexpr (q41 || q51) {
            v[2 * k] = mul_add_rn(static_cast<float>(q0), d, m);
            v[2 * k + 1] = mul_add_rn(static_cast<float>(q1), d, m);
        } else if constexpr (q50) {
            v[2 * k] = static_cast<float>(static_cast<int>(q0) - 16) * d;
            v[2 * k + 1] = static_cast<float>(static_cast<int>(q1) - 16) * d;
        } else {
            v[2 * k] = d * iq4_value(q0);
            v[2 * k + 1] = d * iq4_value(q1);
        }
    }
}

// 256-element super-blocks; sub-block s = e / 32 (0..7), element i = e % 32.
//  Q2_K {scales[16]; qs[64]; half d, dmin}: 2 bits (2 (s % 4)) of qs[32 (s / 4) + i]; scale byte 2 s + i / 16
//    (low nibble scale, high nibble min): value (d * sc) q - dmin * m.
//  Q3_K {hmask[32]; qs[64]; scales[12]; half d}: 2 low bits as Q2_K at qs[32 (s / 4) + i], minus 4 unless bit s of
//    hmask[i] is set; 6-bit scale k = 2 s + i / 16 (low 4 bits: nibble k / 8 of scales[k % 8], high 2 bits: bits
//    2 (k / 4) of scales[8 + k % 4]) minus 32: value (d * sc) q.
//  IQ4_XS {half d; uint16 scales_h; scales_l[4]; qs[128]}: nibble i / 16 of qs[16 s + i % 16]; 6-bit scale of s: low
//    4 bits nibble s % 2 of scales_l[s / 2], high 2 bits 2 s of scales_h, minus 32: value (d * sc) * kIQ4NLValues[q].
template <int T, int N>
__device__ __forceinline__ void deq_extra_256(const uint8_t* row, int e0, float* v) {
    constexpr bool q2 = T == static_cast<int>(DType::Q2_K), q3 = T == static_cast<int>(DType::Q3_K);
    constexpr bool xs = T == static_cast<int>(DType::IQ4_XS);
    static_assert(q2 || q3 || xs);
    constexpr int bytes = q2 ? 84 : q3 ? kQ3Bytes : 136;  // Q3_K: the device's padded blocks (common.cuh)
    constexpr int NH = N == 32 ? 2 : 1;  // 16-element scale groups the N elements touch
    const uint8_t* b = row + static_cast<size_t>(e0 >> 8) * bytes;
    const int e = e0 & 255, s = e >> 5, i0 = e & 31;
    float dl[NH], ml[NH];
    if constexpr (q2) {
        const float d = h2f(ld16(b + 80)), dmin = h2f(ld16(b + 82));
#pragma unroll
        for (int h = 0; h < NH; ++h) {
            const uint32_t sc = b[2 * s + (N == 32 ? h : i0 >> 4)];
            dl[h] = d * static_cast<float>(sc & 0xFu);
            ml[h] = dmin * static_cast<float>(sc >> 4);
        }
    } else if constexpr (q3) {
        const float d = h2f(ld16(b + 108));
#pragma unroll
        for (int h = 0; h < NH; ++h) {
            const int k = 2 * s + (N == 32 ? h : i0 >> 4);
            const int lo = (b[96 + (k & 7)] >> (4 * (k >> 3))) & 0xF, hi = (b[104 + (k & 3)] >> (2 * (k >> 2))) & 3;
            dl[h] = d * static_cast<float>((lo | (hi << 4)) - 32);
            ml[h] = 0.0f;
        }
    } else {
        const float d = h2f(ld16(b));
        const int ls = ((b[4 + (s >> 1)] >> (4 * (s & 1))) & 0xF) | (((ld16(b + 2) >> (2 * s)) & 3) << 4);
#pragma unroll
        for (int h = 0; h < NH; ++h) dl[h] = d * static_cast<float>(ls - 32), ml[h] = 0.0f;
    }
    (void)ml;
    uint32_t hm = 0;  // Q3_K: bit s of hmask[i0 .. i0 + N) as bits 0.. (N bits)
    if constexpr (q3) {
#pragma unroll
        for (int k = 0; k < N / 2; ++k) {
            const uint32_t w = ld16(b + i0 + 2 * k);
            hm |= (((w >> s) & 1u) | (((w >> (8 + s)) & 1u) << 1)) << (2 * k);
        }
    }
#pragma unroll
    for (int k = 0; k < N / 2; ++k) {
        const int i = i0 + 2 * k, h = N == 32 ? (2 * k) >> 4 : 0;
        if constexpr (xs) {
            const uint32_t w = ld16(b + 8 + 16 * s + (i & 15)), sh = static_cast<uint32_t>(i >> 4) * 4;
            v[2 * k] = dl[h] * iq4_value((w >> sh) & 0xFu);
            v[2 * k + 1] = dl[h] * iq4_value((w >> (8 + sh)) & 0xFu);
        } else {
            const uint32_t w = ld16(b + (q2 ? 16 : 32) + 32 * (s >> 2) + i), sh = 2 * static_cast<uint32_t>(s & 3);
            const int a0 = static_cast<int>((w >> sh) & 3u), a1 = static_cast<int>((w >> (8 + sh)) & 3u);
            if constexpr (q2) {
                v[2 * k] = mul_sub_rn(dl[h], static_cast<float>(a0), ml[h]);
                v[2 * k + 1] = mul_sub_rn(dl[h], static_cast<float>(a1), ml[h]);
            } else {
                v[2 * k] = dl[h] * static_cast<float>(a0 - ((hm >> (2 * k)) & 1u ? 0 : 4));
                v[2 * k + 1] = dl[h] * static_cast<float>(a1 - ((hm >> (2 * k + 1)) & 1u ? 0 : 4));
            }
        }
    }
}

template <int T, int N>
__device__ __forceinline__ void deq_extra(const uint8_t* row, int nb32, int e0, float* v) {
    static_assert(N == 8 || N == 32);
    if constexpr (T == static_cast<int>(DType::Q2_K) || T == static_cast<int>(DType::Q3_K) || T == static_cast<int>(DType::IQ4_XS))
        deq_extra_256<T, N>(row, e0, v);
    else
        deq_extra_32<T, N>(row, nb32, e0, v);
}

}  // namespace rz::cuda::detail
