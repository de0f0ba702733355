#pragma once
// Reference (scalar) conversions between f32 and every ggml storage type realizar reads:
// dequantize_row for all types of the DType table that hold numbers we know how to decode, and the
// reference quantizer (llama.cpp's quantize_row_*_ref algorithms, no importance matrix) for the
// block formats. The SIMD kernels live in the CPU backend; these are the ground truth they are tested
// against.
#include <cstddef>
#include <cstdint>

#include "realizar/core/dtype.h"
#include "realizar/core/status.h"
#include "realizar/quant/blocks.h"

namespace rz::quant {

// dst[n] = src decoded; n must be a multiple of the block size (the checked entry points verify it).
using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
// dst = n values of src encoded; n a multiple of the block size.
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);

struct QuantTraits {
    DType type;
    DequantizeFn to_float;      // never null in the table
    QuantizeFn from_float_ref;  // null where no reference quantizer exists
};

// nullptr for types we cannot decode (the IQ1/IQ2/IQ3 grids, TQ*, MXFP4, integers, APR types).
const QuantTraits* quant_traits(DType t);
bool can_dequantize(DType t);
bool can_quantize(DType t);

// Checked entry points: unknown types, unsupported types and n not a multiple of the block size give a Status.
Status dequantize_row(DType t, const void* src, float* dst, int64_t n);
Status quantize_row(DType t, const float* src, void* dst, int64_t n);

// Typed reference functions (also used directly by the CPU backend to quantize activations).
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);
void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n);

// Helpers shared by the reference code and the kernels.
// ggml's get_scale_min_k4: 6-bit scale and min j (0..7) of a Q4_K / Q5_K block.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}
// The 16 signed 6-bit scales of a Q3_K block (value - 32 already applied).
void unpack_q3_k_scales(const uint8_t packed[12], int8_t out[16]);

}  // namespace rz::quant
