#pragma once
// CONTRACT between the CPU backend (owned by the quantization work) and the runtime.
// Matrix products over weights in any supported storage type, used in place (no f32 copy of quantized
// weights). The implementation quantizes activations as each weight type's kernel wants (Q8_0 / Q8_K)
// and picks AVX-512 / AVX2 / scalar kernels at start-up from cpuid.
#include <cstdint>

#include "realizar/core/dtype.h"
#include "realizar/core/status.h"
#include "realizar/core/thread_pool.h"

namespace rz::cpu {

// True when matmul() handles weights of this type.
bool matmul_supports(DType wtype);

// y[t, r] = sum_c W[r, c] * x[t, c]   for t < n_tokens, r < n_rows.
//   W: [n_rows, n_cols] in wtype, rows contiguous, row stride = dtype_bytes(wtype, n_cols)
//   x: [n_tokens, n_cols] f32 row-major;  y: [n_tokens, n_rows] f32 row-major (overwritten)
// Errors: unsupported type, n_cols not a multiple of the type's block size.
Status matmul(DType wtype, const void* W, int64_t n_rows, int64_t n_cols, const float* x, int64_t n_tokens, float* y,
              ThreadPool& pool);

// Row r of W as f32 (embedding lookups): dst[n_cols].
Status get_row(DType wtype, const void* W, int64_t n_cols, int64_t r, float* dst);

// Kernel set chosen at start-up from cpuid: "avx512", "avx2" or "generic" (RZ_CPU_ISA=avx2|generic forces a
// lower one). For logs and benchmark reports.
const char* active_isa_name();
// Whether this CPU (and OS) runs AVX2 + FMA + F16C code, whatever RZ_CPU_ISA selects for the kernels (the
// runtime's own AVX2 loops check it).
bool cpu_has_avx2();

}  // namespace rz::cpu
