// Scalar dot kernels: the reference every SIMD kernel is tested against, and the fallback on CPUs without
// AVX2. Integer sums inside a block are exact; float accumulation runs block by block in order.
#include <cmath>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "realizar/core/fp16.h"
#include "realizar/quant/blocks.h"
#include "realizar/quant/quant.h"

namespace rz::cpu::kern {
namespace {

using namespace rz::quant;

float dot_f32(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    double acc = 0.0;  // the reference favours accuracy over speed
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * y[i];
    return static_cast<float>(acc);
}

float dot_f16(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const float*>(a);
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(fp16_to_fp32(x[i])) * y[i];
    return static_cast<float>(acc);
}

float dot_bf16(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const float*>(a);
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(bf16_to_fp32(x[i])) * y[i];
    return static_cast<float>(acc);
}

int dot_i8(const int8_t* q, const int8_t* a, int n) {
    int s = 0;
    for (int i = 0; i < n; ++i) s += q[i] * a[i];
    return s;
}

// ---- 32-element blocks against Q8_0 / Q8_1 ---------------------------------------------------------------

float dot_q4_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / 32; ++i) {
        int s = 0;
        for (int j = 0; j < 16; ++j) {
            s += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
            s += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        acc += static_cast<float>(s) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
    }
    return acc;
}

float dot_q4_1(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / 32; ++i) {
        int s = 0;
        for (int j = 0; j < 16; ++j) {
            s += (x[i].qs[j] & 0xF) * y[i].qs[j];
            s += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        acc += static_cast<float>(s) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d)) +
               fp16_to_fp32(x[i].m) * fp16_to_fp32(y[i].s);
    }
    return acc;
}

template <typename Block>
int q5_sum(const Block& b, const int8_t* a, int offset) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    int s = 0;
    for (int j = 0; j < 16; ++j) {
        const int q0 = (b.qs[j] & 0xF) | static_cast<int>(((qh >> j) << 4) & 0x10);
        const int q1 = (b.qs[j] >> 4) | static_cast<int>((qh >> (j + 12)) & 0x10);
        s += (q0 - offset) * a[j] + (q1 - offset) * a[j + 16];
    }
    return s;
}

float dot_q5_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / 32; ++i) {
        acc += static_cast<float>(q5_sum(x[i], y[i].qs, 16)) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
    }
    return acc;
}

float dot_q5_1(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / 32; ++i) {
        acc += static_cast<float>(q5_sum(x[i], y[i].qs, 0)) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d)) +
               fp16_to_fp32(x[i].m) * fp16_to_fp32(y[i].s);
    }
    return acc;
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / 32; ++i) {
        acc += static_cast<float>(dot_i8(x[i].qs, y[i].qs, 32)) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
    }
    return acc;
}

float dot_iq4_nl(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / 32; ++i) {
        int s = 0;
        for (int j = 0; j < 16; ++j) {
            s += kIQ4NLValues[x[i].qs[j] & 0xF] * y[i].qs[j] + kIQ4NLValues[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        }
        acc += static_cast<float>(s) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
    }
    return acc;
}

// ---- K-quants against Q8_K ------------------------------------------------------------------------------

float dot_q2_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ2_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int summs = 0;
        for (int j = 0; j < 16; ++j) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        int isum = 0, is = 0;
        const int8_t* q8 = y[i].qs;
        for (int half = 0; half < 2; ++half) {
            const uint8_t* q2 = x[i].qs + 32 * half;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; ++part) {
                    int s = 0;
                    for (int l = 0; l < 16; ++l) s += ((q2[l + 16 * part] >> shift) & 3) * q8[l];
                    isum += (x[i].scales[is++] & 0xF) * s;
                    q8 += 16;
                }
            }
        }
        const float dall = y[i].d * fp16_to_fp32(x[i].d);
        const float dmin = y[i].d * fp16_to_fp32(x[i].dmin);
        acc += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
    }
    return acc;
}

float dot_q3_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ3_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t sc[16];
        unpack_q3_k_scales(x[i].scales, sc);
        int isum = 0, is = 0;
        const int8_t* q8 = y[i].qs;
        uint8_t m = 1;
        for (int half = 0; half < 2; ++half) {
            const uint8_t* q3 = x[i].qs + 32 * half;
            for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
                for (int part = 0; part < 2; ++part) {
                    int s = 0;
                    for (int l = 0; l < 16; ++l) {
                        const int v = ((q3[l + 16 * part] >> shift) & 3) - ((x[i].hmask[l + 16 * part] & m) ? 0 : 4);
                        s += v * q8[l];
                    }
                    isum += sc[is++] * s;
                    q8 += 16;
                }
            }
        }
        acc += y[i].d * fp16_to_fp32(x[i].d) * static_cast<float>(isum);
    }
    return acc;
}

float dot_q4_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int isum = 0, summs = 0;
        const uint8_t* q4 = x[i].qs;
        const int8_t* q8 = y[i].qs;
        for (int j = 0; j < 8; j += 2, q4 += 32, q8 += 64) {
            uint8_t sc0, m0, sc1, m1;
            get_scale_min_k4(j, x[i].scales, &sc0, &m0);
            get_scale_min_k4(j + 1, x[i].scales, &sc1, &m1);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; ++l) {
                s0 += (q4[l] & 0xF) * q8[l];
                s1 += (q4[l] >> 4) * q8[l + 32];
            }
            isum += sc0 * s0 + sc1 * s1;
            summs += m0 * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]) + m1 * (y[i].bsums[2 * j + 2] + y[i].bsums[2 * j + 3]);
        }
        acc += y[i].d * fp16_to_fp32(x[i].d) * static_cast<float>(isum) -
               y[i].d * fp16_to_fp32(x[i].dmin) * static_cast<float>(summs);
    }
    return acc;
}

float dot_q5_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int isum = 0, summs = 0;
        const uint8_t* q5 = x[i].qs;
        const int8_t* q8 = y[i].qs;
        unsigned u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2, q5 += 32, q8 += 64, u1 <<= 2, u2 <<= 2) {
            uint8_t sc0, m0, sc1, m1;
            get_scale_min_k4(j, x[i].scales, &sc0, &m0);
            get_scale_min_k4(j + 1, x[i].scales, &sc1, &m1);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; ++l) {
                s0 += ((q5[l] & 0xF) + ((x[i].qh[l] & u1) ? 16 : 0)) * q8[l];
                s1 += ((q5[l] >> 4) + ((x[i].qh[l] & u2) ? 16 : 0)) * q8[l + 32];
            }
            isum += sc0 * s0 + sc1 * s1;
            summs += m0 * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]) + m1 * (y[i].bsums[2 * j + 2] + y[i].bsums[2 * j + 3]);
        }
        acc += y[i].d * fp16_to_fp32(x[i].d) * static_cast<float>(isum) -
               y[i].d * fp16_to_fp32(x[i].dmin) * static_cast<float>(summs);
    }
    return acc;
}

float dot_q6_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t q[kQK_K];
        const uint8_t* ql = x[i].ql;
        const uint8_t* qh = x[i].qh;
        for (int half = 0; half < 2; ++half, ql += 64, qh += 32) {
            int8_t* o = q + 128 * half;
            for (int l = 0; l < 32; ++l) {
                o[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int isum = 0;
        for (int j = 0; j < 16; ++j) isum += x[i].scales[j] * dot_i8(q + 16 * j, y[i].qs + 16 * j, 16);
        acc += y[i].d * fp16_to_fp32(x[i].d) * static_cast<float>(isum);
    }
    return acc;
}

float dot_iq4_xs(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_XS*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float acc = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int isum = 0;
        const uint8_t* qs = x[i].qs;
        const int8_t* q8 = y[i].qs;
        for (int ib = 0; ib < 8; ++ib, qs += 16, q8 += 32) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            int s = 0;
            for (int j = 0; j < 16; ++j) s += kIQ4NLValues[qs[j] & 0xF] * q8[j] + kIQ4NLValues[qs[j] >> 4] * q8[j + 16];
            isum += (ls - 32) * s;
        }
        acc += y[i].d * fp16_to_fp32(x[i].d) * static_cast<float>(isum);
    }
    return acc;
}

}  // namespace

void fill_generic(KernelTable& t) {
    t.isa_name = "generic";
    t.types[id::kF32] = {dot_f32, nullptr, ActType::kF32};
    t.types[id::kF16] = {dot_f16, nullptr, ActType::kF32};
    t.types[id::kBF16] = {dot_bf16, nullptr, ActType::kF32};
    t.types[id::kQ4_0] = {dot_q4_0, nullptr, ActType::kQ8_0};
    t.types[id::kQ4_1] = {dot_q4_1, nullptr, ActType::kQ8_1};
    t.types[id::kQ5_0] = {dot_q5_0, nullptr, ActType::kQ8_0};
    t.types[id::kQ5_1] = {dot_q5_1, nullptr, ActType::kQ8_1};
    t.types[id::kQ8_0] = {dot_q8_0, nullptr, ActType::kQ8_0};
    t.types[id::kIQ4_NL] = {dot_iq4_nl, nullptr, ActType::kQ8_0};
    t.types[id::kQ2_K] = {dot_q2_k, nullptr, ActType::kQ8_K};
    t.types[id::kQ3_K] = {dot_q3_k, nullptr, ActType::kQ8_K};
    t.types[id::kQ4_K] = {dot_q4_k, nullptr, ActType::kQ8_K};
    t.types[id::kQ5_K] = {dot_q5_k, nullptr, ActType::kQ8_K};
    t.types[id::kQ6_K] = {dot_q6_k, nullptr, ActType::kQ8_K};
    t.types[id::kIQ4_XS] = {dot_iq4_xs, nullptr, ActType::kQ8_K};
    t.quantize_q8_0 = [](const float* x, void* y, int64_t n) { quantize_row_q8_0(x, static_cast<BlockQ8_0*>(y), n); };
    t.quantize_q8_1 = [](const float* x, void* y, int64_t n) { quantize_row_q8_1(x, static_cast<BlockQ8_1*>(y), n); };
    t.quantize_q8_K = [](const float* x, void* y, int64_t n) { quantize_row_q8_K(x, static_cast<BlockQ8_K*>(y), n); };
}

}  // namespace rz::cpu::kern
