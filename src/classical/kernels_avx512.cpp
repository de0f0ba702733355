// AVX-512 (F/DQ/BW/VL) kernels. Compiled with -mavx512* flags by src/classical/CMakeLists.txt; called only
// when cpuid reports the features (dispatch.cpp). Includes nothing from the standard library on purpose
// (see kernels.h). Math: Cephes-style exp (about 1 ulp), sigmoid/tanh from it, erf for GELU from
// Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7) - all well inside the 1e-5 contract.
#include "classical/kernels.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

namespace rz::classical::detail {
namespace {

inline int imin(int a, int b) { return a < b ? a : b; }

void softmax(float* y, int n);

inline __m512 exp_ps(__m512 x) {
    // Clamp so 2^n stays a normal float; exp(-87) ~ 1.6e-38 stands in for anything smaller.
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln2 split in two for accuracy
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

inline __m512 sigmoid_ps(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

inline __m512 tanh_ps(__m512 x) {
    // tanh(x) = 2 sigmoid(2x) - 1: absolute error ~1e-7 near 0, exact saturation at +-1.
    const __m512 s = sigmoid_ps(_mm512_add_ps(x, x));
    return _mm512_fmsub_ps(s, _mm512_set1_ps(2.0f), _mm512_set1_ps(1.0f));
}

inline __m512 gelu_ps(__m512 x) {
    // gelu(x) = 0.5 x (1 + erf(x / sqrt 2)) = 0.5 (x + |x| erf(|x| / sqrt 2)).
    const __m512 ax = _mm512_abs_ps(x);
    const __m512 z = _mm512_mul_ps(ax, _mm512_set1_ps(0.70710678118654752f));
    const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(z, z)));
    const __m512 erf_abs = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
    return _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_fmadd_ps(ax, erf_abs, x));
}

inline __m512 activate(__m512 v, int act) {
    switch (act) {
        case kActRelu: return _mm512_max_ps(v, _mm512_setzero_ps());
        case kActTanh: return tanh_ps(v);
        case kActSigmoid: return sigmoid_ps(v);
        case kActGelu: return gelu_ps(v);
        default: return v;
    }
}

// Horizontal max / sum of 16 lanes, result broadcast to every lane (stays in the vector domain).
inline __m512 bcast_max(__m512 v) {
    v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    v = _mm512_max_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_max_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}

inline __m512 bcast_sum(__m512 v) {
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}

// Softmax over the lanes in m (others come out 0), entirely in registers.
inline __m512 softmax16(__m512 v, __mmask16 m) {
    v = _mm512_mask_blend_ps(m, _mm512_set1_ps(-__builtin_inff()), v);
    const __m512 e = _mm512_maskz_mov_ps(m, exp_ps(_mm512_sub_ps(v, bcast_max(v))));
    return _mm512_div_ps(e, bcast_sum(e));
}

// One output tile of NC * 16 columns for one sample. K independent accumulator sets (even/odd inputs)
// hide the 4-cycle FMA latency when the tile is narrow.
template <int NC>
inline void tile_single(const float* w, const float* b, const float* x, int n_in, float* y, int act, int n_out = 16) {
    constexpr int K = NC == 1 ? 4 : 2;
    constexpr int W = NC * 16;
    __m512 acc[K][NC];
    for (int c = 0; c < NC; ++c) {
        acc[0][c] = _mm512_load_ps(b + 16 * c);
        for (int k = 1; k < K; ++k) acc[k][c] = _mm512_setzero_ps();
    }
    int i = 0;
    for (; i + K <= n_in; i += K) {
        for (int k = 0; k < K; ++k) {
            const __m512 xv = _mm512_set1_ps(x[i + k]);
            const float* row = w + static_cast<long>(i + k) * W;
            for (int c = 0; c < NC; ++c) acc[k][c] = _mm512_fmadd_ps(xv, _mm512_load_ps(row + 16 * c), acc[k][c]);
        }
    }
    for (; i < n_in; ++i) {
        const __m512 xv = _mm512_set1_ps(x[i]);
        const float* row = w + static_cast<long>(i) * W;
        for (int c = 0; c < NC; ++c) acc[0][c] = _mm512_fmadd_ps(xv, _mm512_load_ps(row + 16 * c), acc[0][c]);
    }
    for (int c = 0; c < NC; ++c) {
        __m512 s = acc[0][c];
        for (int k = 1; k < K; ++k) s = _mm512_add_ps(s, acc[k][c]);
        if (NC == 1 && act == kActSoftmax) {
            s = softmax16(s, static_cast<__mmask16>(n_out >= 16 ? 0xffff : (1u << n_out) - 1u));
        } else {
            s = activate(s, act);
        }
        _mm512_store_ps(y + 16 * c, s);
    }
}

// Four samples at once: each weight vector loaded once feeds four FMAs (4 x NC accumulators <= 16 regs).
template <int NC>
inline void tile_quad(const float* w, const float* b, const float* x, int x_stride, int n_in, float* y, int y_stride,
                      int act) {
    constexpr int W = NC * 16;
    __m512 acc[4][NC];
    for (int c = 0; c < NC; ++c) {
        const __m512 bv = _mm512_load_ps(b + 16 * c);
        for (int s = 0; s < 4; ++s) acc[s][c] = bv;
    }
    const float* x0 = x;
    const float* x1 = x + x_stride;
    const float* x2 = x + 2L * x_stride;
    const float* x3 = x + 3L * x_stride;
    for (int i = 0; i < n_in; ++i) {
        const float* row = w + static_cast<long>(i) * W;
        __m512 wv[NC];
        for (int c = 0; c < NC; ++c) wv[c] = _mm512_load_ps(row + 16 * c);
        const __m512 xv0 = _mm512_set1_ps(x0[i]);
        const __m512 xv1 = _mm512_set1_ps(x1[i]);
        const __m512 xv2 = _mm512_set1_ps(x2[i]);
        const __m512 xv3 = _mm512_set1_ps(x3[i]);
        for (int c = 0; c < NC; ++c) {
            acc[0][c] = _mm512_fmadd_ps(xv0, wv[c], acc[0][c]);
            acc[1][c] = _mm512_fmadd_ps(xv1, wv[c], acc[1][c]);
            acc[2][c] = _mm512_fmadd_ps(xv2, wv[c], acc[2][c]);
            acc[3][c] = _mm512_fmadd_ps(xv3, wv[c], acc[3][c]);
        }
    }
    for (int s = 0; s < 4; ++s) {
        for (int c = 0; c < NC; ++c) _mm512_store_ps(y + static_cast<long>(s) * y_stride + 16 * c, activate(acc[s][c], act));
    }
}

void dense(const LayerView& l, const float* x, float* y) {
    if (l.n_out_pad == 16 && l.act == kActSoftmax) {  // small classifier: softmax fused in registers
        tile_single<1>(l.w, l.b, x, l.n_in, y, l.act, l.n_out);
        return;
    }
    // A softmax spanning several tiles runs after all of them; the tiles themselves store the logits.
    const int act = l.act == kActSoftmax ? kActIdentity : l.act;
    for (int t0 = 0; t0 < l.n_out_pad; t0 += kTile) {
        const int width = imin(kTile, l.n_out_pad - t0);
        const float* w = l.w + static_cast<long>(t0) * l.n_in;
        switch (width / 16) {
            case 1: tile_single<1>(w, l.b + t0, x, l.n_in, y + t0, act); break;
            case 2: tile_single<2>(w, l.b + t0, x, l.n_in, y + t0, act); break;
            case 3: tile_single<3>(w, l.b + t0, x, l.n_in, y + t0, act); break;
            default: tile_single<4>(w, l.b + t0, x, l.n_in, y + t0, act); break;
        }
    }
    if (l.act == kActSoftmax) softmax(y, l.n_out);
}

void dense_batch(const LayerView& l, const float* x, int x_stride, float* y, int y_stride, int n) {
    int s = 0;
    for (; s + 4 <= n; s += 4) {
        const float* xs = x + static_cast<long>(s) * x_stride;
        float* ys = y + static_cast<long>(s) * y_stride;
        for (int t0 = 0; t0 < l.n_out_pad; t0 += kTile) {
            const int width = imin(kTile, l.n_out_pad - t0);
            const float* w = l.w + static_cast<long>(t0) * l.n_in;
            switch (width / 16) {
                case 1: tile_quad<1>(w, l.b + t0, xs, x_stride, l.n_in, ys + t0, y_stride, l.act); break;
                case 2: tile_quad<2>(w, l.b + t0, xs, x_stride, l.n_in, ys + t0, y_stride, l.act); break;
                case 3: tile_quad<3>(w, l.b + t0, xs, x_stride, l.n_in, ys + t0, y_stride, l.act); break;
                default: tile_quad<4>(w, l.b + t0, xs, x_stride, l.n_in, ys + t0, y_stride, l.act); break;
            }
        }
    }
    for (; s < n; ++s) dense(l, x + static_cast<long>(s) * x_stride, y + static_cast<long>(s) * y_stride);
    if (l.act == kActSoftmax) {
        for (int r = 0; r < n - n % 4; ++r) softmax(y + static_cast<long>(r) * y_stride, l.n_out);
    }
}

void softmax(float* y, int n) {
    const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
    __m512 vmax = neg_inf;
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1u);
        vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(neg_inf, m, y + i));
    }
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 vsum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1u);
        const __m512 e = _mm512_maskz_mov_ps(m, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, y + i), mx)));
        _mm512_mask_storeu_ps(y + i, m, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), inv));
    }
}

}  // namespace

const KernelTable& avx512_kernels() {
    static const KernelTable table{"avx512", dense, dense_batch, softmax};
    return table;
}

}  // namespace rz::classical::detail

#else
// Built without the ISA flags (a non-x86 target): the table exists so dispatch links, but isa_supported()
// never selects it.
namespace rz::classical::detail {
const KernelTable& avx512_kernels() { return scalar_kernels(); }
}  // namespace rz::classical::detail
#endif
