#pragma once
// Internal kernel tables of the CPU backend. Each ISA folder (generic/, avx2/, avx512/) is compiled with
// its own flags (see CMakeLists.txt) and fills a KernelTable; cpu_features() picks one at start-up.
// Rule for the ISA folders: they include only this header, <immintrin.h>, C headers and
// realizar/quant/blocks.h, and keep every helper in an anonymous namespace, so no inline function or
// template instantiated with AVX-512 flags can be merged by the linker into code that runs on older CPUs.
#include <stddef.h>
#include <stdint.h>

namespace rz::cpu::kern {

// Activation formats the dot kernels pair with (ggml's vec_dot_type).
enum class ActType : uint8_t { kF32, kQ8_0, kQ8_1, kQ8_K };

// dot(w_row, a_row) over n elements; w in the weight format, a in the activation format of the table entry.
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);
// out[i] = dot(w_row, a_row_i) for i < n_act; a rows are a_stride bytes apart. Lets a kernel decode a
// weight block once for several tokens (prefill).
using MultiDotFn = void (*)(int64_t n, const void* w, const void* a, size_t a_stride, int n_act, float* out);
// Decode mat-vec: y[r] = dot(row r of w, a) for r < n_rows, rows row_bytes apart, a in the entry's activation
// format. Several rows per pass share the activation loads, and the kernel prefetches the weight stream.
using MatvecFn = void (*)(int64_t n, const void* w, size_t row_bytes, int64_t n_rows, const void* a, float* y);
// Rearranges one activation row (n elements, the entry's activation format) into the form a MatvecFn reads
// (done once per mat-vec, not once per row or thread); out: matvec_prep_bytes(n) bytes, 64-byte aligned.
using MatvecPrepFn = void (*)(int64_t n, const void* a, void* out);
constexpr size_t matvec_prep_bytes(int64_t n) { return static_cast<size_t>(n) * 4 + 256; }
// dst[n] = f32 decode of n elements (SIMD dequantizers for get_row and the generic fallback).
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
// Activation quantizer: n a multiple of the activation block.
using QuantizeActFn = void (*)(const float* x, void* y, int64_t n);

constexpr int kMaxTypeId = 40;  // ggml ids below this

// ggml type ids (= rz::DType values), repeated here so the ISA folders need not include core headers.
namespace id {
constexpr int kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9, kQ2_K = 10,
              kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15, kIQ4_NL = 20, kIQ4_XS = 23, kBF16 = 30;
}  // namespace id

struct TypeKernels {
    VecDotFn dot = nullptr;
    MultiDotFn multi_dot = nullptr;  // optional
    ActType act = ActType::kF32;
    MatvecFn matvec = nullptr;  // optional (decode, one token); equals dot row by row up to rounding order
    MatvecPrepFn matvec_prep = nullptr;  // null: matvec reads the activation as dot does
};

// Prefill GEMM over "unpacked panels": 32 weight rows with every weight written as value = ws * u - wm,
// u an unsigned byte and (ws, wm) per sub-block of `sub` (16 or 32) elements and row. Layout:
//   panel[(k / 4) * 128 + r * 4 + k % 4] = u[r][k]     (two 64-byte vectors = rows 0-15, 16-31 x 4 k)
//   ws[s * 32 + r], wm[s * 32 + r]                     (s = k / sub)
// Activations: A[t * lda + k] int8, DA[t * lds + s] = scale of the 8-bit block holding sub-block s,
// DS[t * lds + s] = DA * sum of A over sub-block s. out[t * 32 + r] = sum_k value[r][k] * DA * A[t][k].
using GemmTileFn = void (*)(int64_t K, const uint8_t* panel, const float* ws, const float* wm, const int8_t* A,
                            int64_t lda, const float* DA, const float* DS, int64_t lds, int nt, float* out);
constexpr int kGemmRows = 32;      // rows per quantized panel
constexpr int kGemmMaxTokens = 4;  // nt <= this per quantized tile call
constexpr int kGemmRowsF = 16;     // rows per float panel
constexpr int kGemmMaxTokensF = 8; // nt <= this per float tile call
// Float variant for F32 / F16 / BF16 weights: panel[k * 16 + r] = W[r][k] (f32), X[t * ldx + k] f32,
// out[t * 16 + r] = sum_k panel * X (16 rows, nt <= kGemmMaxTokensF).
using GemmTileF32Fn = void (*)(int64_t K, const float* panel, const float* X, int64_t ldx, int nt, float* out);

// Converts one weight row of n elements to the panel form: u[n], ws[n / sub], wm[n / sub].
using UnpackRowFn = void (*)(const void* w, int64_t n, uint8_t* u, float* ws, float* wm);
// Sub-block size of a weight type in the panel form (0 = the type has no unpacker).
int unpack_sub(int type_id);
// Largest u the unpacker produces for a type (255 for the +128-shifted signed formats).
int unpack_max_u(int type_id);
UnpackRowFn unpack_row_fn(int type_id);

struct KernelTable {
    const char* isa_name = "generic";
    TypeKernels types[kMaxTypeId];
    GemmTileFn gemm_tile16 = nullptr;  // sub = 16; null where the ISA has no GEMM kernel
    GemmTileFn gemm_tile32 = nullptr;  // sub = 32
    int gemm_max_u = 255;              // largest unsigned panel value the quantized tiles handle exactly
    GemmTileF32Fn gemm_tile_f32 = nullptr;  // F32 / F16 / BF16 weights
    // 32 unpacked rows (K bytes each, `stride` apart) -> the quantized panel layout; null = scalar loop.
    void (*interleave_rows32)(const uint8_t* rows, int64_t stride, int64_t K, uint8_t* panel) = nullptr;
    QuantizeActFn quantize_q8_0 = nullptr;
    QuantizeActFn quantize_q8_1 = nullptr;
    QuantizeActFn quantize_q8_K = nullptr;
};

// Each fills the entries it implements and leaves the others untouched (so avx512 can layer over avx2
// over generic).
void fill_generic(KernelTable& t);
void fill_avx2(KernelTable& t);
void fill_avx2_gemm(KernelTable& t);  // part of fill_avx2
void fill_avx512(KernelTable& t);
void fill_avx512_gemm(KernelTable& t);      // part of fill_avx512
void fill_avx512_gemm_f32(KernelTable& t);  // part of fill_avx512
void fill_avx512_quantize(KernelTable& t);  // part of fill_avx512
void fill_avx512_interleave(KernelTable& t);  // part of fill_avx512
void fill_avx512_matvec(KernelTable& t);      // part of fill_avx512
void fill_avx512_matvec_k(KernelTable& t);    // part of fill_avx512

}  // namespace rz::cpu::kern
