#include "runtime/ops.h"

#include <cmath>

#include "runtime/simd_avx2.h"

namespace rz::runtime::ops {
namespace {

inline float act1(float x, model::Activation a) {
    switch (a) {
        case model::Activation::kSilu: return x / (1.0f + std::exp(-x));
        case model::Activation::kGeluTanh: {
            constexpr float kSqrt2OverPi = 0.7978845608028654f;
            return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
        }
        case model::Activation::kGeluErf: return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
        case model::Activation::kRelu: return x > 0.0f ? x : 0.0f;
    }
    return x;
}

}  // namespace

void rms_norm(const float* x, const float* w, int n, float eps, float* out) {
    double ss = 0.0;
    for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const double scale = 1.0 / std::sqrt(ss / n + eps);
    for (int i = 0; i < n; ++i) {
        const double v = x[i] * scale;
        out[i] = static_cast<float>(w ? v * w[i] : v);
    }
}

void layer_norm(const float* x, const float* w, const float* b, int n, float eps, float* out) {
    double mean = 0.0;
    for (int i = 0; i < n; ++i) mean += x[i];
    mean /= n;
    double var = 0.0;
    for (int i = 0; i < n; ++i) {
        const double d = x[i] - mean;
        var += d * d;
    }
    var /= n;
    const double scale = 1.0 / std::sqrt(var + eps);
    for (int i = 0; i < n; ++i) {
        double v = (x[i] - mean) * scale;
        if (w) v *= w[i];
        if (b) v += b[i];
        out[i] = static_cast<float>(v);
    }
}

void rope_cos_sin(int32_t pos, const double* inv_freq, int n_half, float* cs) {
    for (int i = 0; i < n_half; ++i) {
        const double a = static_cast<double>(pos) * inv_freq[i];
        cs[2 * i] = static_cast<float>(std::cos(a));
        cs[2 * i + 1] = static_cast<float>(std::sin(a));
    }
}

void rope(float* x, int n_heads, int head_dim, int n_rot, const float* cs, model::RopeType type) {
    const int half = n_rot / 2;
    for (int h = 0; h < n_heads; ++h) {
        float* v = x + static_cast<int64_t>(h) * head_dim;
        for (int i = 0; i < half; ++i) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            float* a;
            float* b;
            if (type == model::RopeType::kNorm) {
                a = v + 2 * i;
                b = v + 2 * i + 1;
            } else {
                a = v + i;
                b = v + i + half;
            }
            const float x0 = *a, x1 = *b;
            *a = x0 * c - x1 * s;
            *b = x0 * s + x1 * c;
        }
    }
}

void add(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void add_bias(float* x, const float* b, int64_t n) { add(x, b, n); }

RZ_AVX2_TARGET static int64_t gated_avx2(const float* gate, const float* up, int64_t n, model::Activation act, float* out) {
    int64_t i = 0;
    if (act == model::Activation::kSilu) {
        for (; i + 8 <= n; i += 8) {
            const __m256 g = simd::silu256(_mm256_loadu_ps(gate + i));
            _mm256_storeu_ps(out + i, up ? _mm256_mul_ps(g, _mm256_loadu_ps(up + i)) : g);
        }
    } else if (act == model::Activation::kGeluTanh) {
        for (; i + 8 <= n; i += 8) {
            const __m256 g = simd::gelu_tanh256(_mm256_loadu_ps(gate + i));
            _mm256_storeu_ps(out + i, up ? _mm256_mul_ps(g, _mm256_loadu_ps(up + i)) : g);
        }
    }
    return i;  // elements done
}

void activate(float* x, int64_t n, model::Activation act) {
    const int64_t done = simd::have_avx2() ? gated_avx2(x, nullptr, n, act, x) : 0;
    for (int64_t i = done; i < n; ++i) x[i] = act1(x[i], act);
}

void gated(const float* gate, const float* up, int64_t n, model::Activation act, float* out) {
    const int64_t done = simd::have_avx2() ? gated_avx2(gate, up, n, act, out) : 0;
    for (int64_t i = done; i < n; ++i) out[i] = act1(gate[i], act) * up[i];
}

}  // namespace rz::runtime::ops
