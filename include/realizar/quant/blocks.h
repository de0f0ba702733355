#pragma once
// ggml block layouts, byte-for-byte as stored in GGUF files. Plain C-compatible structs (no std::, no
// constructors) so CUDA kernels can include this header too. Halves are stored as raw uint16_t bits
// (IEEE binary16); convert with rz::fp16_to_fp32 on the host.
// Sizes are static_assert'ed here and checked against the DType table (core/dtype.h) in tests/quant.
#include <stdint.h>

namespace rz::quant {

constexpr int kQK4_0 = 32;
constexpr int kQK4_1 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK5_1 = 32;
constexpr int kQK8_0 = 32;
constexpr int kQK8_1 = 32;
constexpr int kQK4_NL = 32;
constexpr int kQK_K = 256;    // super-block size of the K- and IQ-families
constexpr int kKScaleBytes = 12;  // packed 6-bit scales + mins of Q4_K / Q5_K

// value = d * (q - 8), q in 0..15; element j < 16 is the low nibble of qs[j], j >= 16 the high nibble of qs[j-16].
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[kQK4_0 / 2];
};
// value = d * q + m
struct BlockQ4_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qs[kQK4_1 / 2];
};
// 5th bit of element j in bit j of qh (little-endian uint32); value = d * (q - 16)
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[kQK5_0 / 2];
};
struct BlockQ5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[kQK5_1 / 2];
};
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[kQK8_0];
};
// s = d * sum(qs): lets Q4_1 / Q5_1 dot products add their offset term without touching qs.
struct BlockQ8_1 {
    uint16_t d;
    uint16_t s;
    int8_t qs[kQK8_1];
};
// 16 sub-blocks of 16: scales[i] low nibble = scale, high nibble = min; 2-bit quants.
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];
    uint8_t qs[kQK_K / 4];
    uint16_t d;
    uint16_t dmin;
};
// 16 sub-blocks of 16 with 6-bit signed scales (offset 32); 2 low bits in qs, high bit in hmask.
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];
    uint8_t qs[kQK_K / 4];
    uint8_t scales[12];
    uint16_t d;
};
// 8 sub-blocks of 32 with 6-bit scales and mins; value = d*sc*q - dmin*m.
struct BlockQ4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};
// 16 sub-blocks of 16 with int8 scales; value = d * sc * (q - 32), q 6-bit (4 low in ql, 2 high in qh).
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    uint16_t d;
};
// Activation format of the K-quant dot products: f32 scale, bsums = sums of each 16 quants.
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];
};
// Non-linear 4-bit: value = d * kIQ4NLValues[q].
struct BlockIQ4_NL {
    uint16_t d;
    uint8_t qs[kQK4_NL / 2];
};
// 8 sub-blocks of 32 with 6-bit scales (offset 32): low 4 bits in scales_l, high 2 bits in scales_h.
struct BlockIQ4_XS {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[kQK_K / 64];
    uint8_t qs[kQK_K / 2];
};

static_assert(sizeof(BlockQ4_0) == 18, "block_q4_0 size");
static_assert(sizeof(BlockQ4_1) == 20, "block_q4_1 size");
static_assert(sizeof(BlockQ5_0) == 22, "block_q5_0 size");
static_assert(sizeof(BlockQ5_1) == 24, "block_q5_1 size");
static_assert(sizeof(BlockQ8_0) == 34, "block_q8_0 size");
static_assert(sizeof(BlockQ8_1) == 36, "block_q8_1 size");
static_assert(sizeof(BlockQ2_K) == 84, "block_q2_K size");
static_assert(sizeof(BlockQ3_K) == 110, "block_q3_K size");
static_assert(sizeof(BlockQ4_K) == 144, "block_q4_K size");
static_assert(sizeof(BlockQ5_K) == 176, "block_q5_K size");
static_assert(sizeof(BlockQ6_K) == 210, "block_q6_K size");
static_assert(sizeof(BlockQ8_K) == 292, "block_q8_K size");
static_assert(sizeof(BlockIQ4_NL) == 18, "block_iq4_nl size");
static_assert(sizeof(BlockIQ4_XS) == 136, "block_iq4_xs size");
static_assert(alignof(BlockQ4_0) == 2 && alignof(BlockQ4_K) == 2 && alignof(BlockQ6_K) == 2 && alignof(BlockQ8_K) == 4,
              "block alignment as in ggml");

// The IQ4_NL / IQ4_XS codebook.
constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

}  // namespace rz::quant
