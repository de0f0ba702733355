#pragma once
// Prefill path of matmul(): weights unpacked into 16-row panels once per call and reused by every token
// (see kernels.h for the panel form). Internal to the CPU backend.
#include <cstddef>
#include <cstdint>

#include "backend/cpu/kernels.h"
#include "realizar/core/dtype.h"
#include "realizar/core/thread_pool.h"

namespace rz::cpu {

// Tokens from which the panel GEMM beats one dot product per (row, token).
constexpr int64_t kGemmMinTokens = 8;

// True when the table has a GEMM kernel for this weight type.
bool gemm_available(const kern::KernelTable& kt, DType wtype);

// y[t, r] = W[r, :] . x[t, :], with x already quantized into `act` (a_row bytes per token, format
// act_type as the type's dot kernel wants). Requires gemm_available().
void gemm_prefill(const kern::KernelTable& kt, DType wtype, const unsigned char* W, size_t w_row_bytes, int64_t n_rows,
                  int64_t n_cols, const unsigned char* act, kern::ActType act_type, size_t a_row, int64_t n_tokens,
                  float* y, ThreadPool& pool);

}  // namespace rz::cpu
