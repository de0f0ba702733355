// AVX-512 VNNI prefill GEMM tile: 16 weight rows (one zmm of int32 lanes) x up to 8 tokens. Each 64-byte
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

template <int NT, int SUB>
void tile(int64_t K, const uint8_t* panel, const float* ws, const float* wm, const int8_t* A, int64_t lda,
          const float* DA, const float* DS, int64_t lds, float* out) {
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    const int64_t nsub = K / SUB;
    for (int64_t s = 0; s < nsub; ++s) {
        __m512i ai[NT];
        for (int t = 0; t < NT; ++t) ai[t] = _mm512_setzero_si512();
        const uint8_t* p = panel + s * (SUB / 4) * 64;
        const int8_t* a = A + s * SUB;
        for (int g = 0; g < SUB / 4; ++g) {
            const __m512i w = _mm512_load_si512(reinterpret_cast<const void*>(p + g * 64));
            for (int t = 0; t < NT; ++t) ai[t] = _mm512_dpbusd_epi32(ai[t], w, bcast4(a + t * lda + 4 * g));
        }
        const __m512 vs = _mm512_load_ps(ws + s * 16);
        const __m512 vm = _mm512_load_ps(wm + s * 16);
        for (int t = 0; t < NT; ++t) {
            const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(ai[t]), _mm512_set1_ps(DA[t * lds + s]));
            acc[t] = _mm512_fmadd_ps(vs, f, acc[t]);
            acc[t] = _mm512_fnmadd_ps(vm, _mm512_set1_ps(DS[t * lds + s]), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + 16 * t, acc[t]);
}

template <int SUB>
void gemm_tile(int64_t K, const uint8_t* panel, const float* ws, const float* wm, const int8_t* A, int64_t lda,
               const float* DA, const float* DS, int64_t lds, int nt, float* out) {
    switch (nt) {
        case 1: tile<1, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        case 2: tile<2, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        case 3: tile<3, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        case 4: tile<4, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        case 5: tile<5, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        case 6: tile<6, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        case 7: tile<7, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
        default: tile<8, SUB>(K, panel, ws, wm, A, lda, DA, DS, lds, out); break;
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
