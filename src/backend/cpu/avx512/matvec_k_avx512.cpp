// AVX-512 decode mat-vec for Q4_K / Q5_K / Q6_K weights (the per-row dot kernels in dot_avx512.cpp were
// vector-ALU bound at ~38 GB/s with the weights in L2, about what one core reads from DRAM). Savings per
// 256-element block, all exact integer arithmetic as before:
//  - the Q8_K activation is rearranged once per mat-vec into the nibble order of the weights (so no
//    shuffles per weight vector) with the 32-element sums that the min term needs;
//  - the four vpdpbusd results (int32 per 4 elements, |v| <= 4 * 31 * 128 < 2^15) are packed to int16 and
//    weighted by the 6-bit sub-block scales with two vpmaddwd, instead of four vpermd + four vpmulld;
//  - the scale words come from one broadcast and two vpshufb, the Q5_K fifth bits from vptestmb masks.
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

// Prefetch distance of the weight stream (measured on Zen 5: 8 KiB beat 1-4 KiB for the K-quants).
constexpr int kPrefetchK = 8192;

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }
inline float hsum128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline float hsum512(__m512 v) {
    const __m512 t = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    const __m256 u = _mm512_castps512_ps256(t);
    return hsum128(_mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1)));
}

// Prepared Q8_K activation, one per 256-element block: qs in weight-nibble order (for j = 0, 1: sub-blocks
// 4j, 4j+2 then 4j+1, 4j+3, 32 bytes each), bsum32[k] = sum of sub-block k's 32 activations, d.
struct PrepK {
    int8_t qs[256];
    int16_t bsum32[8];
    float d;
    int32_t pad[3];
};
static_assert(sizeof(PrepK) == 288, "layout");
static_assert(sizeof(PrepK) <= 4 * 256, "matvec_prep_bytes");

void prep_q8_k_nibble_order(int64_t n, const void* a, void* out) {
    const auto* y = static_cast<const BlockQ8_K*>(a);
    auto* p = static_cast<PrepK*>(out);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        for (int j = 0; j < 2; ++j) {
            const int8_t* src = y[i].qs + 128 * j;
            int8_t* dst = p[i].qs + 128 * j;
            memcpy(dst, src, 32);            // sub-block 4j: low nibbles of weight bytes 0-31
            memcpy(dst + 32, src + 64, 32);  // 4j+2: low nibbles of bytes 32-63
            memcpy(dst + 64, src + 32, 32);  // 4j+1: high nibbles of bytes 0-31
            memcpy(dst + 96, src + 96, 32);  // 4j+3: high nibbles of bytes 32-63
        }
        for (int k = 0; k < 8; ++k) p[i].bsum32[k] = static_cast<int16_t>(y[i].bsums[2 * k] + y[i].bsums[2 * k + 1]);
        p[i].d = y[i].d;
        memset(p[i].pad, 0, sizeof(p[i].pad));
    }
}

// Q4_K / Q5_K scales and mins (6-bit, packed in 12 bytes) -> 8 scales (bytes 0..7) and 8 mins (8..15), in
// vector registers (the scalar version's four 32-bit stores reloaded as one vector stalled store forwarding).
// Reads 16 bytes at `packed` (the quants follow the 12 scale bytes in both block types).
inline __m128i k4_unpack(const uint8_t* packed) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed));  // [in0, in1, in2, -]
    const __m128i k1 = _mm_set1_epi32(0x3f3f3f3f), k2 = _mm_set1_epi32(0x0f0f0f0f), k3 = _mm_set1_epi32(0x03030303);
    const __m128i low = _mm_and_si128(v, k1);                                                  // out0, out2
    const __m128i top = _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(v, 6), k3), 4);           // from in0, in1
    const __m128i in2 = _mm_shuffle_epi32(v, 0xAA);
    const __m128i nib = _mm_and_si128(_mm_srlv_epi32(in2, _mm_setr_epi32(0, 4, 0, 0)), k2);  // in2 & k2, in2 >> 4 & k2
    return _mm_unpacklo_epi32(low, _mm_or_si128(nib, top));                                   // out0, out1, out2, out3
}

// vpshufb patterns over the 8 scale bytes (broadcast to every 128-bit lane): int16 words matching the
// packed int32 -> int16 layout (128-bit lanes 0-1: sub-blocks a, b; lanes 2-3: c, d; 4 words each).
#define RZ_W(i) static_cast<char>(i), static_cast<char>(0x80)
#define RZ_W4(i) RZ_W(i), RZ_W(i), RZ_W(i), RZ_W(i)
alignas(64) const char kScaleShuf[2][64] = {
    {RZ_W4(0), RZ_W4(1), RZ_W4(0), RZ_W4(1), RZ_W4(2), RZ_W4(3), RZ_W4(2), RZ_W4(3)},
    {RZ_W4(4), RZ_W4(5), RZ_W4(4), RZ_W4(5), RZ_W4(6), RZ_W4(7), RZ_W4(6), RZ_W4(7)}};
#undef RZ_W4
#undef RZ_W

// Q5_K fifth bits: bit s of qh[l] belongs to sub-block s. Per j, the low-nibble vector holds sub-blocks
// (4j | 4j+2) and the high-nibble one (4j+1 | 4j+3), 32 bytes each.
inline __m512i bit_pair(int lo_bit, int hi_bit) {
    return _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << lo_bit)), _mm256_set1_epi8(static_cast<char>(1 << hi_bit)), 1);
}

template <bool kFive>
float q45_k_row(int64_t n, const unsigned char* w, const PrepK* a) {
    constexpr size_t kBlock = kFive ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i shuf01 = _mm512_load_si512(kScaleShuf[0]), shuf23 = _mm512_load_si512(kScaleShuf[1]);
    __m512i bits[4];
    if constexpr (kFive) {
        bits[0] = bit_pair(0, 2);
        bits[1] = bit_pair(1, 3);
        bits[2] = bit_pair(4, 6);
        bits[3] = bit_pair(5, 7);
    }
    const __m512i sixteen = _mm512_set1_epi8(16);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i, w += kBlock) {
        for (size_t o = 0; o < kBlock; o += 64) _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetchK + o, _MM_HINT_T0);
        const uint8_t* qs;
        const uint8_t* scales;
        uint16_t dh, dminh;
        __m512i qh2 = _mm512_setzero_si512();
        if constexpr (kFive) {
            const auto* x = reinterpret_cast<const BlockQ5_K*>(w);
            qs = x->qs; scales = x->scales; dh = x->d; dminh = x->dmin;
            qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qh)));
        } else {
            const auto* x = reinterpret_cast<const BlockQ4_K*>(w);
            qs = x->qs; scales = x->scales; dh = x->d; dminh = x->dmin;
        }
        const __m128i sm = k4_unpack(scales);
        const PrepK& p = a[i];
        __m512i dots[4];
        for (int j = 0; j < 2; ++j) {
            const __m512i q = _mm512_loadu_si512(qs + 64 * j);
            __m512i lo = _mm512_and_si512(q, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            if constexpr (kFive) {
                lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh2, bits[2 * j]), lo, sixteen);
                hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh2, bits[2 * j + 1]), hi, sixteen);
            }
            dots[2 * j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(p.qs + 128 * j));
            dots[2 * j + 1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, _mm512_loadu_si512(p.qs + 128 * j + 64));
        }
        const __m512i sc = _mm512_broadcastq_epi64(sm);
        const __m512i s01 = _mm512_madd_epi16(_mm512_packs_epi32(dots[0], dots[1]), _mm512_shuffle_epi8(sc, shuf01));
        const __m512i s23 = _mm512_madd_epi16(_mm512_packs_epi32(dots[2], dots[3]), _mm512_shuffle_epi8(sc, shuf23));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s01, s23)), _mm512_set1_ps(p.d * h2f(dh)), acc);
        const __m128i mins = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.bsum32)));
        acc_m = _mm_fmadd_ps(_mm_cvtepi32_ps(mins), _mm_set1_ps(p.d * h2f(dminh)), acc_m);
    }
    return hsum512(acc) - hsum128(acc_m);
}

template <bool kFive>
void matvec_q45_k(int64_t n, const void* w, size_t rb, int64_t n_rows, const void* a, float* y) {
    const auto* wb = static_cast<const unsigned char*>(w);
    for (int64_t r = 0; r < n_rows; ++r) y[r] = q45_k_row<kFive>(n, wb + static_cast<size_t>(r) * rb, static_cast<const PrepK*>(a));
}

// ---- Q6_K ----------------------------------------------------------------------------------------------------
// Per 128-element half h: 64 bytes of ql (low nibbles: elements 0-63, high nibbles: 64-127) and 32 bytes of
// qh (2 bits per element: bits 0-1 -> elements 0-31, 2-3 -> 32-63, 4-5 -> 64-95, 6-7 -> 96-127). The high
// bits are moved to bits 4-5 with one per-half variable word shift of the broadcast qh (bits cannot leak
// across bytes into bits 4-5) and merged with vpternlog; q in 0..63 meets the activations with vpdpbusd
// (|int32 lane| <= 4 * 63 * 128 < 2^15), the lanes are packed to int16 and weighted by the signed 8-bit
// scales with one vpmaddwd per half; the -32 offset is -32 * sum(scale * bsum), as in the dot kernel.
// int16 lane -> scale index after packing (128-bit lane k: sub-blocks 8h+k and 8h+4+k, 4 words each).
alignas(64) const int16_t kIdxQ6Pack[2][32] = {
    {0, 0, 0, 0, 4, 4, 4, 4, 1, 1, 1, 1, 5, 5, 5, 5, 2, 2, 2, 2, 6, 6, 6, 6, 3, 3, 3, 3, 7, 7, 7, 7},
    {8, 8, 8, 8, 12, 12, 12, 12, 9, 9, 9, 9, 13, 13, 13, 13, 10, 10, 10, 10, 14, 14, 14, 14, 11, 11, 11, 11, 15, 15, 15, 15}};

float q6_k_row(int64_t n, const unsigned char* w, const BlockQ8_K* a) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    // word shifts: elements 0-31 (bytes 0-31) need qh bits 0-1 -> 4-5 (<< 4), elements 32-63 bits 2-3 (<< 2);
    // elements 64-95 bits 4-5 stay, 96-127 bits 6-7 (>> 2).
    const __m512i shl_lo = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr_hi = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i idx0 = _mm512_load_si512(kIdxQ6Pack[0]), idx1 = _mm512_load_si512(kIdxQ6Pack[1]);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i, w += sizeof(BlockQ6_K)) {
        for (size_t o = 0; o < sizeof(BlockQ6_K); o += 64) _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetchK + o, _MM_HINT_T0);
        const auto* x = reinterpret_cast<const BlockQ6_K*>(w);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x->scales)));
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].bsums)));
        __m512i sumi = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5)));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        for (int h = 0; h < 2; ++h) {
            const __m512i ql = _mm512_loadu_si512(x->ql + 64 * h);
            const __m512i qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qh + 32 * h)));
            const __m512i h_lo = _mm512_and_si512(_mm512_sllv_epi16(qh2, shl_lo), m30);
            const __m512i h_hi = _mm512_and_si512(_mm512_srlv_epi16(qh2, shr_hi), m30);
            const __m512i q_lo = _mm512_ternarylogic_epi32(ql, m4, h_lo, 0xEA);                          // (A & B) | C
            const __m512i q_hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4, h_hi, 0xEA);
            const int8_t* q8 = a[i].qs + 128 * h;
            const __m512i d_lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q_lo, _mm512_loadu_si512(q8));
            const __m512i d_hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q_hi, _mm512_loadu_si512(q8 + 64));
            const __m512i s = _mm512_permutexvar_epi16(h == 0 ? idx0 : idx1, sc);
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(_mm512_packs_epi32(d_lo, d_hi), s));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(a[i].d * h2f(x->d)), acc);
    }
    return hsum512(acc);
}

void matvec_q6_k(int64_t n, const void* w, size_t rb, int64_t n_rows, const void* a, float* y) {
    const auto* wb = static_cast<const unsigned char*>(w);
    for (int64_t r = 0; r < n_rows; ++r) y[r] = q6_k_row(n, wb + static_cast<size_t>(r) * rb, static_cast<const BlockQ8_K*>(a));
}

}  // namespace

void fill_avx512_matvec_k(KernelTable& t) {
    t.types[id::kQ4_K].matvec = matvec_q45_k<false>;
    t.types[id::kQ4_K].matvec_prep = prep_q8_k_nibble_order;
    t.types[id::kQ5_K].matvec = matvec_q45_k<true>;
    t.types[id::kQ5_K].matvec_prep = prep_q8_k_nibble_order;
    t.types[id::kQ6_K].matvec = matvec_q6_k;
}

}  // namespace rz::cpu::kern
