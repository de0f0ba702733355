// AVX-512 decode mat-vec kernels (y = W x, one token) for the weight types whose per-row dot kernel spent
// most of its time on activation handling: F16 / BF16 (a 14336-long f32 activation is larger than L1: four
// rows share each activation load) and Q4_0 / Q8_0 (the activation is rearranged once per mat-vec, so the
// per-row work is only the weight decode; see Group8). Every kernel prefetches each line of its weight stream
// a few KiB ahead: with the decode work between the loads, the hardware prefetchers alone kept too few
// misses in flight (priming only the start of each coming 4 KiB page was not enough either; measured gains
// and distances: docs/perf/quant.md).
// See kernels.h for the rules of this folder.
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

// Prefetch distances, measured on a Zen 5 VM (docs/perf/quant.md): two pages ahead for the one-row quantized
// kernels; half a page ahead in each of the four rows the float kernel streams at once.
constexpr int kPrefetchQ = 8192;
constexpr int kPrefetchF = 2048;

inline void prefetch(const void* p, int ahead) { _mm_prefetch(static_cast<const char*>(p) + ahead, _MM_HINT_T0); }

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }
inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline float hsum512(__m512 v) {
    const __m512 t = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    return hsum256(_mm512_castps512_ps256(t));
}
inline int hsum_epi32_256(__m256i p) {
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
}
inline __m512i cat256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
inline __m512i cat128x4(const void* p0, const void* p1, const void* p2, const void* p3) {
    __m512i v = _mm512_castsi128_si512(load128(p0));
    v = _mm512_inserti32x4(v, load128(p1), 1);
    v = _mm512_inserti32x4(v, load128(p2), 2);
    return _mm512_inserti32x4(v, load128(p3), 3);
}

// ---- float weights: four rows per pass share the f32 activation loads --------------------------------------

__m512 widen_f16(__m256i h) { return _mm512_cvtph_ps(h); }
__m512 widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

template <int R, __m512 (*kWiden)(__m256i)>
void half_rows(int64_t n, const unsigned char* w, size_t rb, const float* x, float* y) {
    __m512 acc0[R], acc1[R];
    const uint16_t* p[R];
    for (int r = 0; r < R; ++r) {
        acc0[r] = acc1[r] = _mm512_setzero_ps();
        p[r] = reinterpret_cast<const uint16_t*>(w + static_cast<size_t>(r) * rb);
    }
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
        for (int r = 0; r < R; ++r) {
            prefetch(p[r] + i, kPrefetchF);
            acc0[r] = _mm512_fmadd_ps(kWiden(load256(p[r] + i)), x0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(kWiden(load256(p[r] + i + 16)), x1, acc1[r]);
        }
    }
    for (; i < n; i += 16) {  // masked tail: any row length
        const int64_t left = n - i < 16 ? n - i : 16;
        const __mmask16 m = static_cast<__mmask16>((1u << left) - 1);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        for (int r = 0; r < R; ++r) acc0[r] = _mm512_fmadd_ps(kWiden(_mm256_maskz_loadu_epi16(m, p[r] + i)), xv, acc0[r]);
    }
    for (int r = 0; r < R; ++r) y[r] = hsum512(_mm512_add_ps(acc0[r], acc1[r]));
}

template <__m512 (*kWiden)(__m256i)>
void matvec_half(int64_t n, const void* w, size_t rb, int64_t n_rows, const void* a, float* y) {
    const auto* wb = static_cast<const unsigned char*>(w);
    const auto* x = static_cast<const float*>(a);
    int64_t r = 0;
    for (; r + 4 <= n_rows; r += 4) half_rows<4, kWiden>(n, wb + static_cast<size_t>(r) * rb, rb, x, y + r);
    for (; r < n_rows; ++r) half_rows<1, kWiden>(n, wb + static_cast<size_t>(r) * rb, rb, x, y + r);
}

// ---- Q4_0 / Q8_0: compact prepared activations ---------------------------------------------------------------
// The prepared activation must stay in L1 next to the streamed weights (a 14336-long row: 18 KiB here plus
// 8-15 KiB of weights per row in flight); a layout with per-lane expanded scales (3 B per element) was
// 40% slower from DRAM than the plain per-row kernel. Per group of 4 blocks (128 elements), 160 bytes:
//   qs[128]   int8 activations; Q8_0: the 4 blocks back to back; Q4_0: 128-bit lane b of the first 64 bytes
//             holds block b's elements 0-15 (they meet the low nibbles), of the second 64 bytes 16-31
//   corr[4]   int32 per block: Q8_0: -128 * sum(a) (the kernel flips the weights' sign bit, u = w + 128, so
//             vpdpbusd(corr, u, a) is the exact sum of w * a); Q4_0: -8 * sum(a) (weights are u - 8)
//   da[4]     f32 d_a per block
// corr and da are expanded to lanes by one vpermd each, shared by the R rows of a pass; d_w * d_a is exact
// in f32 (two 11-bit mantissas), as in the reference. Blocks past the last whole group follow unchanged.
struct Group8 {
    int8_t qs[128];
    int32_t corr[4];
    float da[4];
};
static_assert(sizeof(Group8) == 160, "layout");
static_assert(sizeof(Group8) <= 4 * 128, "matvec_prep_bytes");

template <bool kQ4>
void prep_group8(int64_t n, const void* a, void* out) {
    const auto* y = static_cast<const BlockQ8_0*>(a);
    auto* g = static_cast<Group8*>(out);
    const int64_t nb = n / 32, ng = nb / 4;
    for (int64_t j = 0; j < ng; ++j, y += 4) {
        for (int b = 0; b < 4; ++b) {
            if (kQ4) {
                memcpy(g[j].qs + 16 * b, y[b].qs, 16);
                memcpy(g[j].qs + 64 + 16 * b, y[b].qs + 16, 16);
            } else {
                memcpy(g[j].qs + 32 * b, y[b].qs, 32);
            }
            const int sum = hsum_epi32_256(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), load256(y[b].qs)));
            g[j].corr[b] = (kQ4 ? -8 : -128) * sum;
            g[j].da[b] = h2f(y[b].d);
        }
    }
    memcpy(static_cast<void*>(g + ng), y, static_cast<size_t>(nb - 4 * ng) * sizeof(BlockQ8_0));
}

// Lane -> block for a vector holding two blocks (8 lanes each) / four blocks (4 lanes each); corr goes to the
// first lane of each block only (the other lanes get 0 by the zeroing mask).
alignas(64) const int32_t kLaneBlock2[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                                {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}};
alignas(64) const int32_t kLaneBlock4[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
constexpr __mmask16 kFirstOf8 = 0x0101, kFirstOf4 = 0x1111;

// Word index of block b's scale d in 4 consecutive BlockQ8_0 (34 bytes) / BlockQ4_0 (18 bytes), over the
// words whose f32 conversion lands on block b's int32 lanes.
alignas(64) const int16_t kIdxDQ8[32] = {0,  0,  0,  0,  0,  0,  0,  0,  17, 17, 17, 17, 17, 17, 17, 17,
                                         34, 34, 34, 34, 34, 34, 34, 34, 51, 51, 51, 51, 51, 51, 51, 51};
alignas(64) const int16_t kIdxDQ4[32] = {0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27,
                                         0, 0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0};

inline float tail_q8_0(const BlockQ8_0* x, const BlockQ8_0* a, int64_t nt) {
    float t = 0.0f;
    for (int64_t b = 0; b < nt; ++b) {
        const __m256i wq = load256(x[b].qs);
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wq), _mm256_sign_epi8(load256(a[b].qs), wq));
        t += static_cast<float>(hsum_epi32_256(p)) * (h2f(x[b].d) * h2f(a[b].d));
    }
    return t;
}

inline float tail_q4_0(const BlockQ4_0* x, const BlockQ8_0* a, int64_t nt) {
    float t = 0.0f;
    for (int64_t b = 0; b < nt; ++b) {
        const __m128i q = load128(x[b].qs);
        const __m256i u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
        const __m256i a8 = load256(a[b].qs);
        const __m256i p = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, a8),
                                           _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), a8));
        t += static_cast<float>(hsum_epi32_256(p)) * (h2f(x[b].d) * h2f(a[b].d));
    }
    return t;
}

float q8_0_row(int64_t n, const unsigned char* w, const Group8* g) {
    const int64_t nb = n / 32, ng = nb / 4;
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const __m512i idx = _mm512_load_si512(kIdxDQ8);
    const __m512i lb0 = _mm512_load_si512(kLaneBlock2[0]), lb1 = _mm512_load_si512(kLaneBlock2[1]);
    const auto* x = reinterpret_cast<const BlockQ8_0*>(w);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t j = 0; j < ng; ++j, x += 4) {
        const unsigned char* xb = reinterpret_cast<const unsigned char*>(x);
        prefetch(xb, kPrefetchQ);
        prefetch(xb + 64, kPrefetchQ);
        prefetch(xb + 128, kPrefetchQ);
        const __m512i c4 = _mm512_castsi128_si512(load128(g[j].corr));
        const __m512 da4 = _mm512_castps128_ps512(_mm_loadu_ps(g[j].da));
        const __m512i w01 = _mm512_xor_si512(cat256(load256(x[0].qs), load256(x[1].qs)), flip);
        const __m512i w23 = _mm512_xor_si512(cat256(load256(x[2].qs), load256(x[3].qs)), flip);
        const __m512i s01 = _mm512_dpbusd_epi32(_mm512_maskz_permutexvar_epi32(kFirstOf8, lb0, c4), w01, _mm512_loadu_si512(g[j].qs));
        const __m512i s23 = _mm512_dpbusd_epi32(_mm512_maskz_permutexvar_epi32(kFirstOf8, lb1, c4), w23, _mm512_loadu_si512(g[j].qs + 64));
        const __m512i dh = _mm512_permutex2var_epi16(_mm512_loadu_si512(xb), idx, _mm512_loadu_si512(xb + 64));
        const __m512 d01 = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(dh)), _mm512_permutexvar_ps(lb0, da4));
        const __m512 d23 = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(dh, 1)), _mm512_permutexvar_ps(lb1, da4));
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s01), d01, acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s23), d23, acc1);
    }
    return hsum512(_mm512_add_ps(acc0, acc1)) + tail_q8_0(x, reinterpret_cast<const BlockQ8_0*>(g + ng), nb - 4 * ng);
}

inline __m512 q4_0_group(const BlockQ4_0* x, const Group8& g, __m512i m4, __m512i idx, __m512i lb, __m512 acc) {
    const __m512i v = cat128x4(x[0].qs, x[1].qs, x[2].qs, x[3].qs);
    const __m512i lo = _mm512_and_si512(v, m4);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    const __m512i c = _mm512_maskz_permutexvar_epi32(kFirstOf4, lb, _mm512_castsi128_si512(load128(g.corr)));
    const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, lo, _mm512_loadu_si512(g.qs)), hi, _mm512_loadu_si512(g.qs + 64));
    const __m512i dh = _mm512_permutexvar_epi16(idx, _mm512_loadu_si512(x));
    const __m512 da = _mm512_permutexvar_ps(lb, _mm512_castps128_ps512(_mm_loadu_ps(g.da)));
    const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(dh)), da);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc);
}

float q4_0_row(int64_t n, const unsigned char* w, const Group8* g) {
    const int64_t nb = n / 32, ng = nb / 4;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i idx = _mm512_load_si512(kIdxDQ4);
    const __m512i lb = _mm512_load_si512(kLaneBlock4);
    const auto* x = reinterpret_cast<const BlockQ4_0*>(w);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 2 <= ng; j += 2, x += 8) {  // two groups (144 bytes) per step: two accumulation chains
        const unsigned char* xb = reinterpret_cast<const unsigned char*>(x);
        prefetch(xb, kPrefetchQ);
        prefetch(xb + 64, kPrefetchQ);
        prefetch(xb + 128, kPrefetchQ);
        acc0 = q4_0_group(x, g[j], m4, idx, lb, acc0);
        acc1 = q4_0_group(x + 4, g[j + 1], m4, idx, lb, acc1);
    }
    if (j < ng) {
        acc0 = q4_0_group(x, g[j], m4, idx, lb, acc0);
        x += 4;
    }
    return hsum512(_mm512_add_ps(acc0, acc1)) + tail_q4_0(x, reinterpret_cast<const BlockQ8_0*>(g + ng), nb - 4 * ng);
}

// Rows are streamed one at a time: passes over 2 or 4 rows sharing the activation loads were 30-40% faster
// with the weights in L2 but up to 30% slower from DRAM (more concurrent streams for the prefetchers).
template <float (*kRow)(int64_t, const unsigned char*, const Group8*)>
void matvec_group8(int64_t n, const void* w, size_t rb, int64_t n_rows, const void* a, float* y) {
    const auto* wb = static_cast<const unsigned char*>(w);
    const auto* g = static_cast<const Group8*>(a);
    for (int64_t r = 0; r < n_rows; ++r) y[r] = kRow(n, wb + static_cast<size_t>(r) * rb, g);
}

}  // namespace

void fill_avx512_matvec(KernelTable& t) {
    t.types[id::kF16].matvec = matvec_half<widen_f16>;
    // Widening bf16 -> f32 (a shift) and FMA, not vdpbf16ps: an exact vdpbf16ps product needs x split into
    // three bf16 parts, and that kernel streamed 10-15% slower from DRAM on Zen 5 (docs/perf/quant.md).
    t.types[id::kBF16].matvec = matvec_half<widen_bf16>;
    t.types[id::kQ8_0].matvec = matvec_group8<q8_0_row>;
    t.types[id::kQ8_0].matvec_prep = prep_group8<false>;
    t.types[id::kQ4_0].matvec = matvec_group8<q4_0_row>;
    t.types[id::kQ4_0].matvec_prep = prep_group8<true>;
}

}  // namespace rz::cpu::kern
