// IQ4_NL / IQ4_XS quantizers as llama-quantize runs them without an importance matrix
// (ggml's quantize_row_iq4_nl_impl with ntry = 7 and weights x^2): per 32-element block a scale search
// over the non-linear codebook, and for IQ4_XS a 6-bit quantisation of the block scales.
#include <algorithm>

#include "quant/internal.h"
#include "realizar/core/fp16.h"

namespace rz::quant {
namespace {

// Index of the codebook value nearest to x (ties to the upper one, as ggml's binary search does).
int best_index_int8(int n, const int8_t* val, float x) {
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        const int mav = (ml + mu) / 2;
        if (x < val[mav]) mu = mav;
        else ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

constexpr int kNTry = 7;
constexpr float kGroupMaxEps = 1e-15f;

// super_block_size 32 (IQ4_NL) or 256 (IQ4_XS); block_size 32.
void iq4_impl(int super_block_size, const float* x, uint16_t* dh, uint8_t* q4, uint16_t* scales_h, uint8_t* scales_l) {
    const int8_t* values = kIQ4NLValues;
    constexpr int block_size = 32;
    float scales[kQK_K / 32];
    float weight[block_size];
    uint8_t L[kQK_K];
    std::memset(L, 0, sizeof(L));
    std::memset(q4, 0, static_cast<size_t>(super_block_size / 2));
    dh[0] = fp32_to_fp16(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < super_block_size / block_size; ++ib) {
        const float* xb = x + ib * block_size;
        uint8_t* Lb = L + ib * block_size;
        for (int j = 0; j < block_size; ++j) weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < block_size; ++j) {
            const float ax = std::fabs(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < kGroupMaxEps) {
            scales[ib] = 0;
            continue;
        }
        float d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < block_size; ++j) {
            const float al = id * xb[j];
            const int l = best_index_int8(16, values, al);
            Lb[j] = static_cast<uint8_t>(l);
            const float q = values[l];
            const float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -kNTry; itry <= kNTry; ++itry) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < block_size; ++j) {
                const float al = id * xb[j];
                const int l = best_index_int8(16, values, al);
                const float q = values[l];
                const float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        const float abs_d = std::fabs(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = d;
        }
    }
    if (super_block_size / block_size > 1) {
        *scales_h = 0;
        const float d = -max_scale / 32;
        dh[0] = fp32_to_fp16(d);
        const float id = d != 0.0f ? 1 / d : 0.f;
        for (int ib = 0; ib < super_block_size / block_size; ++ib) {
            int l = nearest_int(id * scales[ib]);
            l = std::max(-32, std::min(31, l));
            const float dl = d * l;
            const float idl = dl != 0.0f ? 1 / dl : 0.f;
            uint8_t* Lb = L + ib * block_size;
            const float* xb = x + ib * block_size;
            for (int j = 0; j < block_size; ++j) Lb[j] = static_cast<uint8_t>(best_index_int8(16, values, idl * xb[j]));
            l += 32;
            const auto l_l = static_cast<uint8_t>(l & 0xF);
            const auto l_h = static_cast<uint8_t>(l >> 4);
            if (ib % 2 == 0) scales_l[ib / 2] = l_l;
            else scales_l[ib / 2] = static_cast<uint8_t>(scales_l[ib / 2] | (l_l << 4));
            *scales_h = static_cast<uint16_t>(*scales_h | (l_h << 2 * (ib % 8)));
        }
    } else {
        dh[0] = fp32_to_fp16(scales[0]);
        const float id = scales[0] != 0.0f ? 1 / scales[0] : 0;
        for (int j = 0; j < super_block_size; ++j) L[j] = static_cast<uint8_t>(best_index_int8(16, values, id * x[j]));
    }
    for (int i = 0; i < super_block_size / 32; ++i) {
        for (int j = 0; j < 16; ++j) q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
    }
}

}  // namespace

void quantize_iq4_nl_ref(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockIQ4_NL*>(out);
    uint16_t unused_h = 0;
    for (int64_t i = 0; i < n / kQK4_NL; ++i) iq4_impl(kQK4_NL, x + kQK4_NL * i, &y[i].d, y[i].qs, &unused_h, nullptr);
}

void quantize_iq4_xs_ref(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockIQ4_XS*>(out);
    for (int64_t i = 0; i < n / kQK_K; ++i) iq4_impl(kQK_K, x + kQK_K * i, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l);
}

}  // namespace rz::quant
