// AVX2 prefill GEMM tiles (for CPUs without AVX-512 VNNI). Same panel layouts as the AVX-512 tiles (see
// kernels.h). Quantized: 16 rows (two ymm of int32 lanes) x 2 tokens per pass, u8 x s8 products through
// vpmaddubsw + vpmaddwd; vpmaddubsw saturates int16 pairs, so only weight types whose unsigned panel values
// stay <= 127 use it (KernelTable::gemm_max_u). Float: 16 rows x 4 tokens with FMA.
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/kernels.h"

namespace rz::cpu::kern {
namespace {

inline __m256i bcast4(const int8_t* p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Rows [16 * half, 16 * half + 16) of a 32-row panel, NT <= 2 tokens; out[t * 32 + r] for those rows.
template <int NT, int SUB>
void tile_half(int64_t K, int half, const uint8_t* panel, const float* ws, const float* wm, const int8_t* A, int64_t lda,
               const float* DA, const float* DS, int64_t lds, float* out) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc0[NT], acc1[NT];
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
    const int64_t nsub = K / SUB;
    for (int64_t s = 0; s < nsub; ++s) {
        __m256i ai0[NT], ai1[NT];
        for (int t = 0; t < NT; ++t) ai0[t] = ai1[t] = _mm256_setzero_si256();
        const uint8_t* p = panel + s * (SUB / 4) * 128 + 64 * half;
        const int8_t* a = A + s * SUB;
        for (int g = 0; g < SUB / 4; ++g) {
            const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + g * 128));
            const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + g * 128 + 32));
            for (int t = 0; t < NT; ++t) {
                const __m256i b = bcast4(a + t * lda + 4 * g);
                ai0[t] = _mm256_add_epi32(ai0[t], _mm256_madd_epi16(_mm256_maddubs_epi16(w0, b), ones));
                ai1[t] = _mm256_add_epi32(ai1[t], _mm256_madd_epi16(_mm256_maddubs_epi16(w1, b), ones));
            }
        }
        const float* wss = ws + s * 32 + 16 * half;
        const float* wms = wm + s * 32 + 16 * half;
        const __m256 vs0 = _mm256_load_ps(wss), vs1 = _mm256_load_ps(wss + 8);
        const __m256 vm0 = _mm256_load_ps(wms), vm1 = _mm256_load_ps(wms + 8);
        for (int t = 0; t < NT; ++t) {
            const __m256 da = _mm256_set1_ps(DA[t * lds + s]);
            const __m256 ds = _mm256_set1_ps(DS[t * lds + s]);
            acc0[t] = _mm256_fmadd_ps(vs0, _mm256_mul_ps(_mm256_cvtepi32_ps(ai0[t]), da), acc0[t]);
            acc1[t] = _mm256_fmadd_ps(vs1, _mm256_mul_ps(_mm256_cvtepi32_ps(ai1[t]), da), acc1[t]);
            acc0[t] = _mm256_fnmadd_ps(vm0, ds, acc0[t]);
            acc1[t] = _mm256_fnmadd_ps(vm1, ds, acc1[t]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        _mm256_storeu_ps(out + 32 * t + 16 * half, acc0[t]);
        _mm256_storeu_ps(out + 32 * t + 16 * half + 8, acc1[t]);
    }
}

template <int SUB>
void gemm_tile(int64_t K, const uint8_t* panel, const float* ws, const float* wm, const int8_t* A, int64_t lda,
               const float* DA, const float* DS, int64_t lds, int nt, float* out) {
    for (int t0 = 0; t0 < nt; t0 += 2) {
        const int n = nt - t0 < 2 ? 1 : 2;
        for (int half = 0; half < 2; ++half) {
            if (n == 2) {
                tile_half<2, SUB>(K, half, panel, ws, wm, A + t0 * lda, lda, DA + t0 * lds, DS + t0 * lds, lds, out + 32 * t0);
            } else {
                tile_half<1, SUB>(K, half, panel, ws, wm, A + t0 * lda, lda, DA + t0 * lds, DS + t0 * lds, lds, out + 32 * t0);
            }
        }
    }
}

// Float: panel[k * 16 + r], 16 rows x NT <= 4 tokens.
template <int NT>
void tile_f32(int64_t K, const float* panel, const float* X, int64_t ldx, float* out) {
    __m256 acc0[NT], acc1[NT];
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
        const __m256 w0 = _mm256_load_ps(panel + k * 16), w1 = _mm256_load_ps(panel + k * 16 + 8);
        for (int t = 0; t < NT; ++t) {
            const __m256 b = _mm256_broadcast_ss(X + t * ldx + k);
            acc0[t] = _mm256_fmadd_ps(w0, b, acc0[t]);
            acc1[t] = _mm256_fmadd_ps(w1, b, acc1[t]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        _mm256_storeu_ps(out + 16 * t, acc0[t]);
        _mm256_storeu_ps(out + 16 * t + 8, acc1[t]);
    }
}

void gemm_tile_f32(int64_t K, const float* panel, const float* X, int64_t ldx, int nt, float* out) {
    for (int t0 = 0; t0 < nt; t0 += 4) {
        const float* x = X + t0 * ldx;
        float* o = out + 16 * t0;
        switch (nt - t0 < 4 ? nt - t0 : 4) {
            case 1: tile_f32<1>(K, panel, x, ldx, o); break;
            case 2: tile_f32<2>(K, panel, x, ldx, o); break;
            case 3: tile_f32<3>(K, panel, x, ldx, o); break;
            default: tile_f32<4>(K, panel, x, ldx, o); break;
        }
    }
}

}  // namespace

void fill_avx2_gemm(KernelTable& t) {
    t.gemm_tile16 = gemm_tile<16>;
    t.gemm_tile32 = gemm_tile<32>;
    t.gemm_tile_f32 = gemm_tile_f32;
    t.gemm_max_u = 127;
}

}  // namespace rz::cpu::kern
