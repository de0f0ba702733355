// AVX-512 (F/BW/VL/DQ + VNNI + BF16) decode dot kernels; they layer over the AVX2 table (types without an
// AVX-512 kernel keep the AVX2 one). The prefill GEMM tile lives in gemm_avx512.cpp. See kernels.h for
// the rules of this folder (no inline functions or templates shared with other translation units).
// GCC 12's AVX-512 headers trip -Wuninitialized on their own internal undefined vectors (GCC bug 105593);
// silence it for the header only.
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

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
// (Not _mm512_reduce_add_ps: GCC 12 flags its internal undefined vector under -Werror=uninitialized.)
inline float hsum512(__m512 v) {
    const __m512 t = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    return hsum256(_mm512_castps512_ps256(t));
}
inline __m512i cat256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// ---- float weights ----------------------------------------------------------------------------------------

float dot_f32(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
    }
    if (i + 16 <= n) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
        i += 16;
    }
    if (i < n) {  // masked tail: any row length works
        const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), acc1);
    }
    return hsum512(_mm512_add_ps(acc0, acc1));
}

float dot_f16(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const float*>(a);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(load256(x + i)), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtph_ps(load256(x + i + 16)), _mm512_loadu_ps(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_cvtph_ps(load256(x + i + 32)), _mm512_loadu_ps(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_cvtph_ps(load256(x + i + 48)), _mm512_loadu_ps(y + i + 48), acc3);
    }
    for (; i < n; i += 16) {
        const int64_t left = n - i < 16 ? n - i : 16;
        const __mmask16 m = static_cast<__mmask16>((1u << left) - 1);
        acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)), _mm512_maskz_loadu_ps(m, y + i), acc0);
    }
    return hsum512(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// BF16 weights widen exactly to f32 (a shift); activations stay f32, so no rounding of x to bf16.
float dot_bf16(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const float*>(a);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    auto widen = [](__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); };
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(widen(load256(x + i)), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(widen(load256(x + i + 16)), _mm512_loadu_ps(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(widen(load256(x + i + 32)), _mm512_loadu_ps(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(widen(load256(x + i + 48)), _mm512_loadu_ps(y + i + 48), acc3);
    }
    for (; i < n; i += 16) {
        const int64_t left = n - i < 16 ? n - i : 16;
        const __mmask16 m = static_cast<__mmask16>((1u << left) - 1);
        acc0 = _mm512_fmadd_ps(widen(_mm256_maskz_loadu_epi16(m, x + i)), _mm512_maskz_loadu_ps(m, y + i), acc0);
    }
    return hsum512(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// ---- 32-element blocks: two blocks per 512-bit vector --------------------------------------------------------

// |w| (as u8) and a with w's sign, for vpdpbusd on signed x signed data.
inline __m512i dot_s8x2(__m512i acc, __m512i wv, __m512i av) {
    const __mmask64 neg = _mm512_movepi8_mask(wv);
    const __m512i aw = _mm512_mask_sub_epi8(av, neg, _mm512_setzero_si512(), av);
    return _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(wv), aw);
}


alignas(64) const int32_t kIdxPair[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                             {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}};

// d_w * d_a of four consecutive blocks as 4 floats (one F16C conversion per side).
template <typename BW, typename BA>
inline __m128 block_scales4(const BW* x, const BA* y) {
    const __m128 dw = _mm_cvtph_ps(_mm_setr_epi16(static_cast<int16_t>(x[0].d), static_cast<int16_t>(x[1].d),
                                                  static_cast<int16_t>(x[2].d), static_cast<int16_t>(x[3].d), 0, 0, 0, 0));
    const __m128 da = _mm_cvtph_ps(_mm_setr_epi16(static_cast<int16_t>(y[0].d), static_cast<int16_t>(y[1].d),
                                                  static_cast<int16_t>(y[2].d), static_cast<int16_t>(y[3].d), 0, 0, 0, 0));
    return _mm_mul_ps(dw, da);
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const int64_t nb = n / 32;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    const __m512i idx01 = _mm512_load_si512(kIdxPair[0]), idx23 = _mm512_load_si512(kIdxPair[1]);
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        const __m512 d4 = _mm512_castps128_ps512(block_scales4(x + i, y + i));
        const __m512i s01 = dot_s8x2(_mm512_setzero_si512(), cat256(load256(x[i].qs), load256(x[i + 1].qs)),
                                     cat256(load256(y[i].qs), load256(y[i + 1].qs)));
        const __m512i s23 = dot_s8x2(_mm512_setzero_si512(), cat256(load256(x[i + 2].qs), load256(x[i + 3].qs)),
                                     cat256(load256(y[i + 2].qs), load256(y[i + 3].qs)));
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s01), _mm512_permutexvar_ps(idx01, d4), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s23), _mm512_permutexvar_ps(idx23, d4), acc1);
    }
    float tail = 0.0f;
    for (; i < nb; ++i) {
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(load256(x[i].qs)),
                                              _mm256_sign_epi8(load256(y[i].qs), load256(x[i].qs)));
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
        const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        const int s = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
        tail += static_cast<float>(s) * (h2f(x[i].d) * h2f(y[i].d));
    }
    return hsum512(_mm512_add_ps(acc0, acc1)) + tail;
}

inline __m256i nibbles32(const uint8_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0F));
}

inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Four 16-byte pieces (p0..p3) as one 512-bit vector.
inline __m512i cat128x4(const void* p0, const void* p1, const void* p2, const void* p3) {
    __m512i v = _mm512_castsi128_si512(load128(p0));
    v = _mm512_inserti32x4(v, load128(p1), 1);
    v = _mm512_inserti32x4(v, load128(p2), 2);
    return _mm512_inserti32x4(v, load128(p3), 3);
}

alignas(64) const int32_t kIdxQuad[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};

// Q4_0 against Q8_0, four blocks per step: 128-bit lane b holds block b's low nibbles (elements 0-15) in
// `lo` and its high nibbles (16-31) in `hi`; the activations are gathered the same way. u * a and 8 * a
// both go through vpdpbusd (u = nibble, weight = u - 8), then each lane quad gets its block's d_w * d_a.
float dot_q4_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const int64_t nb = n / 32;
    __m512 acc = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i eight = _mm512_set1_epi8(8);
    const __m512i idx = _mm512_load_si512(kIdxQuad);
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        const __m512i v = cat128x4(x[i].qs, x[i + 1].qs, x[i + 2].qs, x[i + 3].qs);
        const __m512i lo = _mm512_and_si512(v, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        const __m512i a_lo = cat128x4(y[i].qs, y[i + 1].qs, y[i + 2].qs, y[i + 3].qs);
        const __m512i a_hi = cat128x4(y[i].qs + 16, y[i + 1].qs + 16, y[i + 2].qs + 16, y[i + 3].qs + 16);
        const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, a_lo), hi, a_hi);
        const __m512i o = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, a_lo), eight, a_hi);
        const __m512 d = _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(block_scales4(x + i, y + i)));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s, o)), d, acc);
    }
    float tail = 0.0f;
    for (; i < nb; ++i) {
        const __m256i q = _mm256_sub_epi8(nibbles32(x[i].qs), _mm256_set1_epi8(8));
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(q), _mm256_sign_epi8(load256(y[i].qs), q));
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
        const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        const int si = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
        tail += static_cast<float>(si) * (h2f(x[i].d) * h2f(y[i].d));
    }
    return hsum512(acc) + tail;
}

// ---- K-quants ------------------------------------------------------------------------------------------------

// Q4_K / Q5_K scales and mins (6-bit, packed in 12 bytes) -> 8 scales (bytes 0..7) and 8 mins (8..15).
inline void k4_unpack(const uint8_t* packed, uint32_t out[4]) {
    constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    memcpy(out, packed, 12);
    out[3] = ((out[2] >> 4) & kmask2) | (((out[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = out[1] & kmask1;
    out[1] = (out[2] & kmask2) | (((out[0] >> 6) & kmask3) << 4);
    out[2] = uaux;
    out[0] &= kmask1;
}

// int32 lane -> scale index, for a vector holding sub-blocks (2p, 2p+1) in its two 256-bit halves.
alignas(64) const int32_t kIdxK4[4][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                           {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
                                           {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},
                                           {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7}};

// Sum over the 8 sub-blocks of min_j * (bsums[2j] + bsums[2j+1]) as 8 int32 lanes (summed later).
inline __m256i k4_min_terms(const uint32_t sm[4], const int16_t* bsums) {
    const __m128i mins8 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm + 2)));
    const __m256i mins_dup = _mm256_set_m128i(_mm_unpackhi_epi16(mins8, mins8), _mm_unpacklo_epi16(mins8, mins8));
    return _mm256_madd_epi16(load256(bsums), mins_dup);
}

// Q4_K / Q5_K against Q8_K. Per 64 bytes of quants (sub-blocks 4j..4j+3): the low nibbles hold sub-blocks
// (4j, 4j+2) and the high nibbles (4j+1, 4j+3); two 128-bit-lane shuffles put them back in element order
// so the activations are plain 64-byte loads, vpdpbusd gives one int32 per 4 elements, and a vpmulld with
// the lane's sub-block scale (vpermd from the 8 scales) weights them.
template <bool kFive>
float dot_q45_k(int64_t n, const void* w, const void* a) {
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i idx0 = _mm512_load_si512(kIdxK4[0]), idx1 = _mm512_load_si512(kIdxK4[1]);
    const __m512i idx2 = _mm512_load_si512(kIdxK4[2]), idx3 = _mm512_load_si512(kIdxK4[3]);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const uint8_t* qs;
        const uint8_t* scales;
        float d, dmin;
        if constexpr (kFive) {
            const auto* x = static_cast<const BlockQ5_K*>(w) + i;
            qs = x->qs; scales = x->scales; d = h2f(x->d); dmin = h2f(x->dmin);
        } else {
            const auto* x = static_cast<const BlockQ4_K*>(w) + i;
            qs = x->qs; scales = x->scales; d = h2f(x->d); dmin = h2f(x->dmin);
        }
        uint32_t sm[4];
        k4_unpack(scales, sm);
        const __m512i sc32 = _mm512_castsi256_si512(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm))));
        acc_m = _mm256_fmadd_ps(_mm256_cvtepi32_ps(k4_min_terms(sm, y[i].bsums)), _mm256_set1_ps(y[i].d * dmin), acc_m);
        __m512i sumi = _mm512_setzero_si512();
        for (int j = 0; j < 2; ++j) {
            const __m512i q = load512(qs + 64 * j);
            __m512i lo = _mm512_and_si512(q, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            if constexpr (kFive) {
                const auto* x = static_cast<const BlockQ5_K*>(w) + i;
                const __m256i qh = load256(x->qh);
                // 5th bit of sub-block s is bit s of qh[l]: here s = 4j, 4j+2 (lo) and 4j+1, 4j+3 (hi).
                const __m512i qh2 = cat256(qh, qh);
                const __m512i sh_lo = _mm512_inserti64x4(_mm512_set1_epi64(4 * j), _mm256_set1_epi64x(4 * j + 2), 1);
                const __m512i sh_hi = _mm512_inserti64x4(_mm512_set1_epi64(4 * j + 1), _mm256_set1_epi64x(4 * j + 3), 1);
                const __m512i one = _mm512_set1_epi8(1);
                const __m512i hb_lo = _mm512_and_si512(_mm512_srlv_epi64(qh2, sh_lo), one);
                const __m512i hb_hi = _mm512_and_si512(_mm512_srlv_epi64(qh2, sh_hi), one);
                lo = _mm512_or_si512(lo, _mm512_slli_epi16(hb_lo, 4));
                hi = _mm512_or_si512(hi, _mm512_slli_epi16(hb_hi, 4));
            }
            const __m512i w0 = _mm512_shuffle_i64x2(lo, hi, 0x44);  // sub-blocks 4j, 4j+1
            const __m512i w1 = _mm512_shuffle_i64x2(lo, hi, 0xEE);  // sub-blocks 4j+2, 4j+3
            const int8_t* q8 = y[i].qs + 128 * j;
            const __m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w0, load512(q8));
            const __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w1, load512(q8 + 64));
            const __m512i s0 = _mm512_permutexvar_epi32(j == 0 ? idx0 : idx2, sc32);
            const __m512i s1 = _mm512_permutexvar_epi32(j == 0 ? idx1 : idx3, sc32);
            sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(_mm512_mullo_epi32(d0, s0), _mm512_mullo_epi32(d1, s1)));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(y[i].d * d), acc);
    }
    return hsum512(acc) - hsum256(acc_m);
}

// Q6_K: int16 lane -> 16-element sub-block index within a 128-element half.
alignas(64) const int16_t kIdxQ6[2][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7}};

float dot_q6_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m512 acc = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x03);
    const __m512i idx_lo = _mm512_load_si512(kIdxQ6[0]), idx_hi = _mm512_load_si512(kIdxQ6[1]);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        // sum sc * (q - 32) * a = sum sc * q * a - 32 * sum sc * bsum
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales)));
        const __m256i corr = _mm256_madd_epi16(sc16, load256(y[i].bsums));
        __m512i sumi = _mm512_zextsi256_si512(_mm256_mullo_epi32(corr, _mm256_set1_epi32(-32)));
        const __m512i sc_all = _mm512_castsi256_si512(sc16);
        for (int half = 0; half < 2; ++half) {
            const __m512i ql = load512(x[i].ql + 64 * half);
            const __m256i qh = load256(x[i].qh + 32 * half);
            // bytes 0..31: elements 0..31 (qh bits 0-1), bytes 32..63: elements 32..63 (bits 2-3)
            const __m512i h_lo = cat256(_mm256_and_si256(qh, m2), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
            // elements 64..95 (bits 4-5) and 96..127 (bits 6-7)
            const __m512i h_hi = cat256(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), _mm256_and_si256(_mm256_srli_epi16(qh, 6), m2));
            const __m512i q_lo = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(h_lo, 4));
            const __m512i q_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_slli_epi16(h_hi, 4));
            const int8_t* q8 = y[i].qs + 128 * half;
            const __m512i p_lo = _mm512_maddubs_epi16(q_lo, load512(q8));
            const __m512i p_hi = _mm512_maddubs_epi16(q_hi, load512(q8 + 64));
            // scales of this half are sc[8*half .. 8*half+7]
            const __m512i sc_half = half == 0 ? sc_all : _mm512_castsi256_si512(_mm256_permute2x128_si256(sc16, sc16, 0x11));
            const __m512i s_lo = _mm512_permutexvar_epi16(idx_lo, sc_half);
            const __m512i s_hi = _mm512_permutexvar_epi16(idx_hi, sc_half);
            sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(_mm512_madd_epi16(p_lo, s_lo), _mm512_madd_epi16(p_hi, s_hi)));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(y[i].d * h2f(x[i].d)), acc);
    }
    return hsum512(acc);
}

}  // namespace

void fill_avx512(KernelTable& t) {
    t.isa_name = "avx512";
    t.types[id::kF32] = {dot_f32, nullptr, ActType::kF32};
    t.types[id::kF16] = {dot_f16, nullptr, ActType::kF32};
    t.types[id::kBF16] = {dot_bf16, nullptr, ActType::kF32};
    t.types[id::kQ4_0] = {dot_q4_0, nullptr, ActType::kQ8_0};
    t.types[id::kQ8_0] = {dot_q8_0, nullptr, ActType::kQ8_0};
    t.types[id::kQ4_K] = {dot_q45_k<false>, nullptr, ActType::kQ8_K};
    t.types[id::kQ5_K] = {dot_q45_k<true>, nullptr, ActType::kQ8_K};
    t.types[id::kQ6_K] = {dot_q6_k, nullptr, ActType::kQ8_K};
    fill_avx512_gemm(t);
    t.gemm_max_u = 255;
    fill_avx512_gemm_f32(t);
    fill_avx512_quantize(t);
    fill_avx512_interleave(t);
    fill_avx512_matvec(t);
    fill_avx512_matvec_k(t);  // Q4_K / Q5_K / Q6_K
}

}  // namespace rz::cpu::kern
