// AVX-512 activation quantizers, bit-identical to the reference ones in rz_quant (tests/backend_cpu
// compares the bytes): same absmax choice, same scale arithmetic, same rounding (round-half-even via the
// default MXCSR mode for Q8_K, round-half-away-from-zero for Q8_0 / Q8_1 as roundf does).
// GCC 12's AVX-512 headers trip -Wuninitialized on their own internal undefined vectors (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include <string.h>

#include "backend/cpu/kernels.h"
#include "realizar/quant/blocks.h"

namespace rz::cpu::kern {
namespace {

using namespace rz::quant;

inline float hmax16(__m512 v) {
    __m256 m = _mm256_max_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

inline int hsum_epi32(__m512i v) {
    const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    return _mm_cvtsi128_si32(s4);
}

inline uint16_t f2h(float f) { return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }

// roundf: truncate, then step away from zero when the dropped fraction is >= 0.5 (exact: v - trunc(v)
// is exact in f32).
inline __m512i round_half_away(__m512 v) {
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_sub_ps(v, t);
    const __m512 absfrac = _mm512_abs_ps(frac);
    const __mmask16 up = _mm512_cmp_ps_mask(absfrac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));  // +-1
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, step));
}

template <bool kWithSum>
void quantize_q8_32(const float* x, int8_t* qs, uint16_t* dh, uint16_t* sh) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = hmax16(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = round_half_away(_mm512_mul_ps(v0, vid));
    const __m512i q1 = round_half_away(_mm512_mul_ps(v1, vid));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtepi32_epi8(q1));
    *dh = f2h(d);
    if constexpr (kWithSum) *sh = f2h(static_cast<float>(hsum_epi32(_mm512_add_epi32(q0, q1))) * d);
}

void quantize_q8_0(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_0*>(out);
    for (int64_t i = 0; i < n / 32; ++i) quantize_q8_32<false>(x + 32 * i, y[i].qs, &y[i].d, nullptr);
}

void quantize_q8_1(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_1*>(out);
    for (int64_t i = 0; i < n / 32; ++i) quantize_q8_32<true>(x + 32 * i, y[i].qs, &y[i].d, &y[i].s);
}

void quantize_q8_k(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(out);
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        __m512 vmax = _mm512_setzero_ps();
        for (int j = 0; j < kQK_K; j += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        const float amax = hmax16(vmax);
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            memset(y[i].qs, 0, sizeof(y[i].qs));
            memset(y[i].bsums, 0, sizeof(y[i].bsums));
            continue;
        }
        // The signed value of the first element with |x| == amax, as the reference picks it.
        float max = 0.0f;
        for (int j = 0; j < kQK_K; j += 16) {
            const __m512 v = _mm512_loadu_ps(x + j);
            const __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (m) {
                max = x[j + __builtin_ctz(m)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int j = 0; j < kQK_K; j += 16) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + j)));  // round half to even
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs + j), _mm512_cvtsepi32_epi8(q));
            y[i].bsums[j / 16] = static_cast<int16_t>(hsum_epi32(q));
        }
        y[i].d = 1 / iscale;
    }
}

}  // namespace

void fill_avx512_quantize(KernelTable& t) {
    t.quantize_q8_0 = quantize_q8_0;
    t.quantize_q8_1 = quantize_q8_1;
    t.quantize_q8_K = quantize_q8_k;
}

}  // namespace rz::cpu::kern
