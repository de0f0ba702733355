// AVX2 + FMA + F16C dot kernels (compiled with -mavx2 -mfma -mf16c only; see kernels.h for the rules of
// this folder). Integer products use the maddubs (u8 x s8) idiom: symmetric formats take the sign of the
// weight over to the activation so the weight operand is |w|.
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "realizar/quant/blocks.h"

namespace rz::cpu::kern {
namespace {

using namespace rz::quant;

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Sum of products of 32 signed weights and 32 signed activations as 8 int32 lanes.
inline __m256i dot_s8(__m256i w, __m256i a) {
    const __m256i ax = _mm256_sign_epi8(w, w);
    const __m256i sy = _mm256_sign_epi8(a, w);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}
// Same for unsigned weights (< 128).
inline __m256i dot_u8(__m256i w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}

// 16 bytes -> 32 nibbles: low nibbles in bytes 0..15, high nibbles in 16..31 (ggml element order).
inline __m256i unpack_nibbles(const uint8_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

// 5th bits of a Q5_0/Q5_1 block as 0x10 in the bytes whose bit is set.
inline __m256i q5_high_bits(const uint8_t qh_bytes[4]) {
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), shuf);
    const __m256i bitmask = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL);
    v = _mm256_or_si256(v, bitmask);
    v = _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

// ---- float weights against f32 activations --------------------------------------------------------------

float dot_f32(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) s += x[i] * y[i];
    return s;
}

float dot_f16(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const float*>(a);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    auto ld = [x](int64_t k) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k))); };
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(ld(i + 8), _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(ld(i + 16), _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(ld(i + 24), _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(y + i), acc0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) s += h2f(x[i]) * y[i];
    return s;
}

float dot_bf16(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const float*>(a);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    auto ld = [x](int64_t k) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(ld(i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(y + i), acc0);
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) {
        uint32_t bits = static_cast<uint32_t>(x[i]) << 16;
        float f;
        memcpy(&f, &bits, 4);
        s += f * y[i];
    }
    return s;
}

// ---- 32-element blocks ----------------------------------------------------------------------------------

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

float dot_q4_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < n / 32; ++i) {
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), off);
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8(q, load256(y[i].qs))), acc);
    }
    return hsum8(acc);
}

float dot_q4_1(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < n / 32; ++i) {
        summs += h2f(x[i].m) * h2f(y[i].s);
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8(unpack_nibbles(x[i].qs), load256(y[i].qs))), acc);
    }
    return hsum8(acc) + summs;
}

float dot_q5_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(16);
    for (int64_t i = 0; i < n / 32; ++i) {
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(x[i].qs), q5_high_bits(x[i].qh)), off);
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8(q, load256(y[i].qs))), acc);
    }
    return hsum8(acc);
}

float dot_q5_1(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < n / 32; ++i) {
        summs += h2f(x[i].m) * h2f(y[i].s);
        const __m256i q = _mm256_or_si256(unpack_nibbles(x[i].qs), q5_high_bits(x[i].qh));
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8(q, load256(y[i].qs))), acc);
    }
    return hsum8(acc) + summs;
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    const int64_t nb = n / 32;
    for (; i + 2 <= nb; i += 2) {
        const __m256 d0 = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256 d1 = _mm256_set1_ps(h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(dot_s8(load256(x[i].qs), load256(y[i].qs))), acc0);
        acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(dot_s8(load256(x[i + 1].qs), load256(y[i + 1].qs))), acc1);
    }
    for (; i < nb; ++i) {
        const __m256 d0 = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(dot_s8(load256(x[i].qs), load256(y[i].qs))), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

inline __m256i iq4nl_lookup(const uint8_t* qs) {
    const __m128i tbl128 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues));
    const __m256i tbl = _mm256_set_m128i(tbl128, tbl128);
    return _mm256_shuffle_epi8(tbl, unpack_nibbles(qs));
}

float dot_iq4_nl(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; ++i) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8(iq4nl_lookup(x[i].qs), load256(y[i].qs))), acc);
    }
    return hsum8(acc);
}

// ---- K-quants against Q8_K ------------------------------------------------------------------------------

// int16 scale vector: s0 for the low 128-bit lane (first 16 elements), s1 for the high lane.
inline __m256i scale_pair(int s0, int s1) {
    return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(s1)), _mm_set1_epi16(static_cast<int16_t>(s0)));
}

// Q4_K / Q5_K: the 8 six-bit scales and mins of a block.
inline void k4_scales(const uint8_t* q, uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = q[j] & 63;
        mn[j] = q[j + 4] & 63;
        sc[j + 4] = static_cast<uint8_t>((q[j + 8] & 0xF) | ((q[j] >> 6) << 4));
        mn[j + 4] = static_cast<uint8_t>((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
    }
}

float dot_q4_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ4_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m256 acc = _mm256_setzero_ps();
    float acc_m = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        uint8_t sc[8], mn[8];
        k4_scales(x[i].scales, sc, mn);
        int summs = 0;
        for (int j = 0; j < 8; ++j) summs += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        acc_m += y[i].d * h2f(x[i].dmin) * static_cast<float>(summs);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i q = load256(x[i].qs + 32 * j);
            const __m256i lo = _mm256_and_si256(q, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i p0 = _mm256_maddubs_epi16(lo, load256(y[i].qs + 64 * j));
            const __m256i p1 = _mm256_maddubs_epi16(hi, load256(y[i].qs + 64 * j + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) - acc_m;
}

float dot_q5_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ5_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m256 acc = _mm256_setzero_ps();
    float acc_m = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i h16 = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        uint8_t sc[8], mn[8];
        k4_scales(x[i].scales, sc, mn);
        int summs = 0;
        for (int j = 0; j < 8; ++j) summs += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        acc_m += y[i].d * h2f(x[i].dmin) * static_cast<float>(summs);
        const __m256i qh = load256(x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i q = load256(x[i].qs + 32 * j);
            const __m256i b0 = _mm256_set1_epi8(static_cast<char>(1 << (2 * j)));
            const __m256i b1 = _mm256_set1_epi8(static_cast<char>(1 << (2 * j + 1)));
            const __m256i h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), h16);
            const __m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), h16);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
            const __m256i p0 = _mm256_maddubs_epi16(lo, load256(y[i].qs + 64 * j));
            const __m256i p1 = _mm256_maddubs_epi16(hi, load256(y[i].qs + 64 * j + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) - acc_m;
}

float dot_q6_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m256 acc = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x03);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const int8_t* sc = x[i].scales;
        // q - 32 handled through the block sums: sum(sc * (q-32) * a) = sum(sc * q * a) - 32 * sum(sc * bsum).
        int corr = 0;
        for (int j = 0; j < 16; ++j) corr += sc[j] * y[i].bsums[j];
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = x[i].ql + 64 * half;
            const __m256i qh = load256(x[i].qh + 32 * half);
            const __m256i l0 = load256(ql);
            const __m256i l1 = load256(ql + 32);
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
            const __m256i q2 =
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
            const __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
            const int8_t* q8 = y[i].qs + 128 * half;
            const int8_t* s = sc + 8 * half;
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, load256(q8)), scale_pair(s[0], s[1]));
            const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, load256(q8 + 32)), scale_pair(s[2], s[3]));
            const __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q3, load256(q8 + 64)), scale_pair(s[4], s[5]));
            const __m256i p4 = _mm256_madd_epi16(_mm256_maddubs_epi16(q4, load256(q8 + 96)), scale_pair(s[6], s[7]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p1, p2), _mm256_add_epi32(p3, p4)));
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

float dot_q2_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ2_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m256 acc = _mm256_setzero_ps();
    float acc_m = 0.0f;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int summs = 0;
        for (int j = 0; j < 16; ++j) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        acc_m += y[i].d * h2f(x[i].dmin) * static_cast<float>(summs);
        __m256i sumi = _mm256_setzero_si256();
        int is = 0;
        const int8_t* q8 = y[i].qs;
        for (int half = 0; half < 2; ++half) {
            const __m256i q = load256(x[i].qs + 32 * half);
            for (int shift = 0; shift < 8; shift += 2, q8 += 32, is += 2) {
                const __m256i v = _mm256_and_si256(_mm256_srli_epi16(q, shift), m3);
                const __m256i p = _mm256_maddubs_epi16(v, load256(q8));
                const __m256i s = scale_pair(x[i].scales[is] & 0xF, x[i].scales[is + 1] & 0xF);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) - acc_m;
}

float dot_q3_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ3_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m256 acc = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i four = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        // Unpack the 16 six-bit scales (offset 32), as ggml's kmask trick does.
        uint32_t aux[4];
        memcpy(aux, x[i].scales, 12);
        const uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & 0x0f0f0f0f) | (((tmp >> 4) & 0x03030303) << 4);
        aux[3] = ((aux[1] >> 4) & 0x0f0f0f0f) | (((tmp >> 6) & 0x03030303) << 4);
        aux[0] = (aux[0] & 0x0f0f0f0f) | (((tmp >> 0) & 0x03030303) << 4);
        aux[1] = (aux[1] & 0x0f0f0f0f) | (((tmp >> 2) & 0x03030303) << 4);
        int8_t sc[16];
        memcpy(sc, aux, 16);
        // value = (lo | h<<2) - 4: the -4 goes through the block sums.
        int corr = 0;
        for (int j = 0; j < 16; ++j) {
            sc[j] = static_cast<int8_t>(sc[j] - 32);
            corr += sc[j] * y[i].bsums[j];
        }
        const __m256i hm = load256(x[i].hmask);
        __m256i sumi = _mm256_setzero_si256();
        int is = 0, bit = 0;
        const int8_t* q8 = y[i].qs;
        for (int half = 0; half < 2; ++half) {
            const __m256i q = load256(x[i].qs + 32 * half);
            for (int shift = 0; shift < 8; shift += 2, q8 += 32, is += 2, ++bit) {
                const __m256i b = _mm256_set1_epi8(static_cast<char>(1 << bit));
                const __m256i h = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, b), b), four);
                const __m256i v = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, shift), m3), h);
                const __m256i p = _mm256_maddubs_epi16(v, load256(q8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(sc[is], sc[is + 1])));
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(4 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

float dot_iq4_xs(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockIQ4_XS*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            const __m256i q = iq4nl_lookup(x[i].qs + 16 * ib);
            const __m256i a8 = load256(y[i].qs + 32 * ib);
            const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a8, q));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set1_epi16(static_cast<int16_t>(ls - 32))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

}  // namespace

void fill_avx2(KernelTable& t) {
    t.isa_name = "avx2";
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
    fill_avx2_gemm(t);
}

}  // namespace rz::cpu::kern
