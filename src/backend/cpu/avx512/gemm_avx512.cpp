// AVX-512 VNNI prefill GEMM tile: 32 weight rows (two zmm of int32 lanes) x up to 4 tokens. Each 64-byte
// panel vector (16 rows x 4 k) is loaded once and multiplied with a 4-byte broadcast of every token's
// activations (vpdpbusd: u8 weights x s8 activations, exact int32 sums); per sub-block the int sums are
// scaled in f32 and the zero-point term wm * DS is subtracted. See kernels.h for the layouts and the
// rules of this folder.
// GCC 12's AVX-512 headers trip -Wuninitialized on their own internal undefined vectors (GCC bug 105593);
// silence it for the header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include <string.h>

#include "backend/cpu/kernels.h"

namespace rz::cpu::kern {
namespace {

inline __m512i bcast4(const int8_t* p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// 32 rows (two zmm of int32 lanes) x NT <= 4 tokens: per 4-k group, two panel loads and NT broadcasts
// feed 2 * NT vpdpbusd (fewer loads per multiply than 16 rows x 8 tokens; loads are the limit here).
template <int NT, int SUB>
void tile(int64_t K, const uint8_t* panel, const float* ws, const float* wm, const int8_t* A, int64_t lda,
          const float* DA, const float* DS, int64_t lds, float* out) {
    __m512 acc0[NT], acc1[NT];
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
    const int64_t nsub = K / SUB;
    for (int64_t s = 0; s < nsub; ++s) {
        // Two chains per accumulator (even / odd k groups) so 4 * NT vpdpbusd are independent: the
        // instruction's latency, not its throughput, limited a single chain per accumulator.
        __m512i ai0[NT], ai1[NT], bi0[NT], bi1[NT];
        for (int t = 0; t < NT; ++t) ai0[t] = ai1[t] = bi0[t] = bi1[t] = _mm512_setzero_si512();
        const uint8_t* p = panel + s * (SUB / 4) * 128;
        const int8_t* a = A + s * SUB;
        for (int g = 0; g < SUB / 4; g += 2) {
            const __m512i w0 = _mm512_load_si512(reinterpret_cast<const void*>(p + g * 128));
            const __m512i w1 = _mm512_load_si512(reinterpret_cast<const void*>(p + g * 128 + 64));
            const __m512i v0 = _mm512_load_si512(reinterpret_cast<const void*>(p + g * 128 + 128));
            const __m512i v1 = _mm512_load_si512(reinterpret_cast<const void*>(p + g * 128 + 192));
            for (int t = 0; t < NT; ++t) {
                const __m512i b = bcast4(a + t * lda + 4 * g);
                ai0[t] = _mm512_dpbusd_epi32(ai0[t], w0, b);
                ai1[t] = _mm512_dpbusd_epi32(ai1[t], w1, b);
                const __m512i c = bcast4(a + t * lda + 4 * g + 4);
                bi0[t] = _mm512_dpbusd_epi32(bi0[t], v0, c);
                bi1[t] = _mm512_dpbusd_epi32(bi1[t], v1, c);
            }
        }
        for (int t = 0; t < NT; ++t) {
            ai0[t] = _mm512_add_epi32(ai0[t], bi0[t]);
            ai1[t] = _mm512_add_epi32(ai1[t], bi1[t]);
        }
        const __m512 vs0 = _mm512_load_ps(ws + s * 32), vs1 = _mm512_load_ps(ws + s * 32 + 16);
        const __m512 vm0 = _mm512_load_ps(wm + s * 32), vm1 = _mm512_load_ps(wm + s * 32 + 16);
        for (int t = 0; t < NT; ++t) {
            const __m512 da = _mm512_set1_ps(DA[t * lds + s]);
            const __m512 ds = _mm512_set1_ps(DS[t * lds + s]);
            acc0[t] = _mm512_fmadd_ps(vs0, _mm512_mul_ps(_mm512_cvtepi32_ps(ai0[t]), da), acc0[t]);
            acc1[t] = _mm512_fmadd_ps(vs1, _mm512_mul_ps(_mm512_cvtepi32_ps(ai1[t]), da), acc1[t]);
            acc0[t] = _mm512_fnmadd_ps(vm0, ds, acc0[t]);
            acc1[t] = _mm512_fnmadd_ps(vm1, ds, acc1[t]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        _mm512_storeu_ps(out + 32 * t, acc0[t]);
        _mm512_storeu_ps(out + 32 * t + 16, acc1[t]);
    }
}

template <int SUB>
void gemm_tile(int64_t K, const uint8_t* panel, const float* ws, const float* wm, const int8_t* A, int64_t lda,
               const float* DA, const float* DS, int64_t lds, int nt, float* out) {
    switch (nt) {
        case 1: tile<1, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        case 2: tile<2, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        case 3: tile<3, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        default: tile<4, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
    }
}

}  // namespace

void fill_avx512_gemm(KernelTable& t) {
    t.gemm_tile16 = gemm_tile<16>;
    t.gemm_tile32 = gemm_tile<32>;
}

}  // namespace rz::cpu::kern

namespace rz::cpu::kern {
namespace {

// Float GEMM tile for F32 / F16 / BF16 weights: panel[k * 16 + r] = W[r][k] as f32, x rows f32.
// One 16-row column of W per k, broadcast-multiplied with each token's x[t][k] (vfmadd with a broadcast
// memory operand): NT accumulators, one weight load per NT FMAs.
template <int NT>
void tile_f32(int64_t K, const float* panel, const float* X, int64_t ldx, float* out) {
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
        const __m512 w = _mm512_load_ps(panel + k * 16);
        for (int t = 0; t < NT; ++t) acc[t] = _mm512_fmadd_ps(w, _mm512_set1_ps(X[t * ldx + k]), acc[t]);
    }
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + 16 * t, acc[t]);
}

void gemm_tile_f32(int64_t K, const float* panel, const float* X, int64_t ldx, int nt, float* out) {
    switch (nt) {
        case 1: tile_f32<1>(K, panel, X, ldx, out); break;
        case 2: tile_f32<2>(K, panel, X, ldx, out); break;
        case 3: tile_f32<3>(K, panel, X, ldx, out); break;
        case 4: tile_f32<4>(K, panel, X, ldx, out); break;
        case 5: tile_f32<5>(K, panel, X, ldx, out); break;
        case 6: tile_f32<6>(K, panel, X, ldx, out); break;
        case 7: tile_f32<7>(K, panel, X, ldx, out); break;
        default: tile_f32<8>(K, panel, X, ldx, out); break;
    }
}

}  // namespace

void fill_avx512_gemm_f32(KernelTable& t) { t.gemm_tile_f32 = gemm_tile_f32; }

}  // namespace rz::cpu::kern

namespace rz::cpu::kern {
namespace {

// 16 x 16 transpose of 32-bit elements held in r[0..15] (row i = r[i]); afterwards r[j] holds column j.
inline void transpose16x16_epi32(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    // Now within each 128-bit lane L of r[4q + c], element e (0..3) holds row 4q + e, column 4L + c'
    // where c' follows the unpack order (0, 1, 2, 3 for c = 0, 1, 2, 3).
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);       // lanes 0,2 of r[i] | lanes 0,2 of r[i+4]
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xDD);   // lanes 1,3 | lanes 1,3
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);        // column 4*0 + i  (lane 0)
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xDD);    // column 4*2 + i  (lane 2)
        r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);  // column 4*1 + i
        r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xDD); // column 4*3 + i
    }
}

// rows: 32 rows of K bytes, `stride` apart -> panel[(k / 4) * 128 + r * 4 + k % 4].
void interleave_rows32(const uint8_t* rows, int64_t stride, int64_t K, uint8_t* panel) {
    int64_t k = 0;
    for (; k + 64 <= K; k += 64) {
        for (int half = 0; half < 2; ++half) {
            __m512i r[16];
            for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(rows + (16 * half + i) * stride + k);
            transpose16x16_epi32(r);
            for (int j = 0; j < 16; ++j) _mm512_store_si512(panel + (k / 4 + j) * 128 + 64 * half, r[j]);
        }
    }
    for (; k < K; k += 4) {
        for (int r = 0; r < 32; ++r) memcpy(panel + (k / 4) * 128 + r * 4, rows + r * stride + k, 4);
    }
}

}  // namespace

void fill_avx512_interleave(KernelTable& t) { t.interleave_rows32 = interleave_rows32; }

}  // namespace rz::cpu::kern
