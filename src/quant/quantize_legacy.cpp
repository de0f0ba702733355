// Reference quantizers of the 32-element block formats and of the Q8_K activation format, following
// ggml's quantize_row_*_ref algorithms step by step (same scale choice, same rounding), so the bytes
// equal what llama-quantize writes without an importance matrix.
#include <algorithm>
#include <cfloat>

#include "quant/internal.h"
#include "realizar/core/fp16.h"

namespace rz::quant {

namespace {

void q_f32(const float* x, void* y, int64_t n) { std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); }

void q_f16(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

void q_bf16(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < n; ++i) out[i] = fp32_to_bf16(x[i]);
}

// Value with the largest magnitude (first one on ties), as the symmetric legacy formats pick it.
float signed_absmax(const float* x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

void q_q4_0(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ4_0*>(out);
    for (int64_t i = 0; i < n / kQK4_0; ++i, x += kQK4_0) {
        const float d = signed_absmax(x, kQK4_0) / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
            const int xi1 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + kQK4_0 / 2] * id + 8.5f)));
            y[i].qs[j] = static_cast<uint8_t>(static_cast<uint8_t>(xi0) | (static_cast<uint8_t>(xi1) << 4));
        }
    }
}

void min_max(const float* x, int n, float* mn, float* mx) {
    *mn = FLT_MAX;
    *mx = -FLT_MAX;
    for (int j = 0; j < n; ++j) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

void q_q4_1(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ4_1*>(out);
    for (int64_t i = 0; i < n / kQK4_1; ++i, x += kQK4_1) {
        float mn, mx;
        min_max(x, kQK4_1, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(mn);
        for (int j = 0; j < kQK4_1 / 2; ++j) {
            const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - mn) * id + 0.5f)));
            const int xi1 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j + kQK4_1 / 2] - mn) * id + 0.5f)));
            y[i].qs[j] = static_cast<uint8_t>(static_cast<uint8_t>(xi0) | (static_cast<uint8_t>(xi1) << 4));
        }
    }
}

void pack_q5(const uint8_t xi[32], uint8_t qs[16], uint8_t qh_bytes[4]) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = static_cast<uint8_t>((xi[j] & 0x0F) | ((xi[j + 16] & 0x0F) << 4));
        qh |= ((xi[j] & 0x10u) >> 4) << j;
        qh |= ((xi[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(qh_bytes, &qh, 4);
}

void q_q5_0(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ5_0*>(out);
    for (int64_t i = 0; i < n / kQK5_0; ++i, x += kQK5_0) {
        const float d = signed_absmax(x, kQK5_0) / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        uint8_t xi[32];
        for (int j = 0; j < 32; ++j) {
            xi[j] = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f))));
        }
        pack_q5(xi, y[i].qs, y[i].qh);
    }
}

void q_q5_1(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ5_1*>(out);
    for (int64_t i = 0; i < n / kQK5_1; ++i, x += kQK5_1) {
        float mn, mx;
        min_max(x, kQK5_1, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(mn);
        uint8_t xi[32];
        // ggml casts straight to uint8_t here (no clamp): the value is at most 31.5 by construction.
        for (int j = 0; j < 32; ++j) xi[j] = static_cast<uint8_t>(static_cast<int>((x[j] - mn) * id + 0.5f));
        pack_q5(xi, y[i].qs, y[i].qh);
    }
}

void q_q8_0(const float* x, void* y, int64_t n) { quantize_row_q8_0(x, static_cast<BlockQ8_0*>(y), n); }
void q_q8_1(const float* x, void* y, int64_t n) { quantize_row_q8_1(x, static_cast<BlockQ8_1*>(y), n); }
void q_q8_k(const float* x, void* y, int64_t n) { quantize_row_q8_K(x, static_cast<BlockQ8_K*>(y), n); }

float absmax(const float* x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
    return amax;
}

}  // namespace

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t i = 0; i < n / kQK8_0; ++i, x += kQK8_0) {
        const float d = absmax(x, kQK8_0) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    }
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
    for (int64_t i = 0; i < n / kQK8_1; ++i, x += kQK8_1) {
        const float d = absmax(x, kQK8_1) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < kQK8_1; ++j) {
            y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
            sum += y[i].qs[j];
        }
        y[i].s = fp32_to_fp16(static_cast<float>(sum) * d);
    }
}

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < kQK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            std::memset(y[i].qs, 0, sizeof(y[i].qs));
            std::memset(y[i].bsums, 0, sizeof(y[i].bsums));
            continue;
        }
        // -127/max (not -128) keeps every quant in [-127, 127], as ggml does.
        const float iscale = -127.f / max;
        for (int j = 0; j < kQK_K; ++j) y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
        for (int j = 0; j < kQK_K / 16; ++j) {
            int sum = 0;
            for (int k = 0; k < 16; ++k) sum += y[i].qs[j * 16 + k];
            y[i].bsums[j] = static_cast<int16_t>(sum);
        }
        y[i].d = 1 / iscale;
    }
}

QuantizeFn reference_quantizer(DType t) {
    switch (t) {
        case DType::F32: return q_f32;
        case DType::F16: return q_f16;
        case DType::BF16: return q_bf16;
        case DType::Q4_0: return q_q4_0;
        case DType::Q4_1: return q_q4_1;
        case DType::Q5_0: return q_q5_0;
        case DType::Q5_1: return q_q5_1;
        case DType::Q8_0: return q_q8_0;
        case DType::Q8_1: return q_q8_1;
        case DType::Q8_K: return q_q8_k;
        case DType::Q2_K: return quantize_q2_k_ref;
        case DType::Q3_K: return quantize_q3_k_ref;
        case DType::Q4_K: return quantize_q4_k_ref;
        case DType::Q5_K: return quantize_q5_k_ref;
        case DType::Q6_K: return quantize_q6_k_ref;
        case DType::IQ4_NL: return quantize_iq4_nl_ref;
        case DType::IQ4_XS: return quantize_iq4_xs_ref;
        default: return nullptr;
    }
}

}  // namespace rz::quant
