// AVX2 + FMA kernels. Compiled with -mavx2 -mfma by src/classical/CMakeLists.txt; called only when cpuid
// reports both (dispatch.cpp). No standard-library includes on purpose (see kernels.h). Same math as the
// AVX-512 file, eight lanes at a time.
#include "classical/kernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace rz::classical::detail {
namespace {

inline int imin(int a, int b) { return a < b ? a : b; }

void softmax(float* y, int n);

inline __m256 exp_ps(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // 2^n built in the exponent field; n is in [-126, 126] thanks to the clamp.
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 sigmoid_ps(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

inline __m256 tanh_ps(__m256 x) {
    const __m256 s = sigmoid_ps(_mm256_add_ps(x, x));
    return _mm256_fmsub_ps(s, _mm256_set1_ps(2.0f), _mm256_set1_ps(1.0f));
}

inline __m256 gelu_ps(__m256 x) {
    const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 z = _mm256_mul_ps(ax, _mm256_set1_ps(0.70710678118654752f));
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(z, z)));
    const __m256 erf_abs = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    return _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_fmadd_ps(ax, erf_abs, x));
}

inline __m256 activate(__m256 v, int act) {
    switch (act) {
        case kActRelu: return _mm256_max_ps(v, _mm256_setzero_ps());
        case kActTanh: return tanh_ps(v);
        case kActSigmoid: return sigmoid_ps(v);
        case kActGelu: return gelu_ps(v);
        default: return v;
    }
}

// One output tile of NC * 8 columns (NC even: tiles are multiples of 16) for one sample, K accumulator
// sets over interleaved inputs to cover the FMA latency, within 16 ymm registers.
template <int NC>
inline void tile_single(const float* w, const float* b, const float* x, int n_in, float* y, int act) {
    constexpr int K = NC == 2 ? 4 : (NC <= 6 ? 2 : 1);
    constexpr int W = NC * 8;
    __m256 acc[K][NC];
    for (int c = 0; c < NC; ++c) {
        acc[0][c] = _mm256_load_ps(b + 8 * c);
        for (int k = 1; k < K; ++k) acc[k][c] = _mm256_setzero_ps();
    }
    int i = 0;
    for (; i + K <= n_in; i += K) {
        for (int k = 0; k < K; ++k) {
            const __m256 xv = _mm256_broadcast_ss(x + i + k);
            const float* row = w + static_cast<long>(i + k) * W;
            for (int c = 0; c < NC; ++c) acc[k][c] = _mm256_fmadd_ps(xv, _mm256_load_ps(row + 8 * c), acc[k][c]);
        }
    }
    for (; i < n_in; ++i) {
        const __m256 xv = _mm256_broadcast_ss(x + i);
        const float* row = w + static_cast<long>(i) * W;
        for (int c = 0; c < NC; ++c) acc[0][c] = _mm256_fmadd_ps(xv, _mm256_load_ps(row + 8 * c), acc[0][c]);
    }
    for (int c = 0; c < NC; ++c) {
        __m256 s = acc[0][c];
        for (int k = 1; k < K; ++k) s = _mm256_add_ps(s, acc[k][c]);
        _mm256_store_ps(y + 8 * c, activate(s, act));
    }
}

// Four samples x 16 columns (one sub-block of a tile whose rows are W floats apart): 8 accumulators.
inline void block_quad(const float* w, int W, const float* b, const float* x, int x_stride, int n_in, float* y,
                       int y_stride, int act) {
    __m256 acc[4][2];
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    for (int s = 0; s < 4; ++s) {
        acc[s][0] = b0;
        acc[s][1] = b1;
    }
    for (int i = 0; i < n_in; ++i) {
        const float* row = w + static_cast<long>(i) * W;
        const __m256 w0 = _mm256_load_ps(row);
        const __m256 w1 = _mm256_load_ps(row + 8);
        for (int s = 0; s < 4; ++s) {
            const __m256 xv = _mm256_broadcast_ss(x + static_cast<long>(s) * x_stride + i);
            acc[s][0] = _mm256_fmadd_ps(xv, w0, acc[s][0]);
            acc[s][1] = _mm256_fmadd_ps(xv, w1, acc[s][1]);
        }
    }
    for (int s = 0; s < 4; ++s) {
        _mm256_store_ps(y + static_cast<long>(s) * y_stride, activate(acc[s][0], act));
        _mm256_store_ps(y + static_cast<long>(s) * y_stride + 8, activate(acc[s][1], act));
    }
}

void dense(const LayerView& l, const float* x, float* y) {
    for (int t0 = 0; t0 < l.n_out_pad; t0 += kTile) {
        const int width = imin(kTile, l.n_out_pad - t0);
        const float* w = l.w + static_cast<long>(t0) * l.n_in;
        switch (width / 16) {
            case 1: tile_single<2>(w, l.b + t0, x, l.n_in, y + t0, l.act); break;
            case 2: tile_single<4>(w, l.b + t0, x, l.n_in, y + t0, l.act); break;
            case 3: tile_single<6>(w, l.b + t0, x, l.n_in, y + t0, l.act); break;
            default: tile_single<8>(w, l.b + t0, x, l.n_in, y + t0, l.act); break;
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
            for (int c0 = 0; c0 < width; c0 += 16) {
                block_quad(w + c0, width, l.b + t0 + c0, xs, x_stride, l.n_in, ys + t0 + c0, y_stride, l.act);
            }
        }
    }
    for (; s < n; ++s) dense(l, x + static_cast<long>(s) * x_stride, y + static_cast<long>(s) * y_stride);
    if (l.act == kActSoftmax) {
        for (int r = 0; r < n - n % 4; ++r) softmax(y + static_cast<long>(r) * y_stride, l.n_out);
    }
}

inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

inline float hsum(__m256 v) {
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

// Lanes i..i+7 that are < n: all-ones mask.
inline __m256 lane_mask(int i, int n) {
    const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx));
}

void softmax(float* y, int n) {
    // y is padded to a multiple of 16 floats, so full-vector loads past n stay inside the buffer.
    const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
    __m256 vmax = neg_inf;
    for (int i = 0; i < n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(neg_inf, _mm256_loadu_ps(y + i), lane_mask(i, n)));
    const __m256 mx = _mm256_set1_ps(hmax(vmax));
    __m256 vsum = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        const __m256 e = _mm256_and_ps(exp_ps(_mm256_sub_ps(_mm256_loadu_ps(y + i), mx)), lane_mask(i, n));
        _mm256_storeu_ps(y + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum(vsum));
    for (int i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
}

}  // namespace

const KernelTable& avx2_kernels() {
    static const KernelTable table{"avx2", dense, dense_batch, softmax};
    return table;
}

}  // namespace rz::classical::detail

#else
// Built without the ISA flags (a non-x86 target): the table exists so dispatch links, but isa_supported()
// never selects it.
namespace rz::classical::detail {
const KernelTable& avx2_kernels() { return scalar_kernels(); }
}  // namespace rz::classical::detail
#endif
