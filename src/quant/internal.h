#pragma once
// Internals shared by the rz_quant sources (not installed).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "realizar/quant/quant.h"

namespace rz::quant {

DequantizeFn reference_dequantizer(DType t);
QuantizeFn reference_quantizer(DType t);

// ggml's nearest_int: round half to even through the 1.5*2^23 trick (valid for |x| <= 2^22).
inline int nearest_int(float fval) {
    const float val = fval + 12582912.f;
    int32_t i;
    std::memcpy(&i, &val, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

// K-family reference quantizers (quantize_k.cpp) and IQ4 (quantize_iq4.cpp).
void quantize_q2_k_ref(const float* x, void* y, int64_t n);
void quantize_q3_k_ref(const float* x, void* y, int64_t n);
void quantize_q4_k_ref(const float* x, void* y, int64_t n);
void quantize_q5_k_ref(const float* x, void* y, int64_t n);
void quantize_q6_k_ref(const float* x, void* y, int64_t n);
void quantize_iq4_nl_ref(const float* x, void* y, int64_t n);
void quantize_iq4_xs_ref(const float* x, void* y, int64_t n);

}  // namespace rz::quant
