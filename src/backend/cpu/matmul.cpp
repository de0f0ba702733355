// Scalar baseline for F32/F16/BF16 weights. The quantization work replaces this with per-ISA kernels over
// every ggml type (see issue "Quantization"); the contract in matmul.h stays.
#include "realizar/backend/cpu/matmul.h"

#include <fmt/format.h>

#include "realizar/core/fp16.h"

namespace rz::cpu {
namespace {

template <typename Load>
void matmul_rows(const Load& load, int64_t r0, int64_t r1, int64_t n_cols, const float* x, int64_t n_tokens,
                 int64_t n_rows, float* y) {
    for (int64_t r = r0; r < r1; ++r) {
        for (int64_t t = 0; t < n_tokens; ++t) {
            const float* xt = x + t * n_cols;
            float acc = 0.0f;
            for (int64_t c = 0; c < n_cols; ++c) acc += load(r * n_cols + c) * xt[c];
            y[t * n_rows + r] = acc;
        }
    }
}

}  // namespace

bool matmul_supports(DType wtype) { return wtype == DType::F32 || wtype == DType::F16 || wtype == DType::BF16; }

Status matmul(DType wtype, const void* W, int64_t n_rows, int64_t n_cols, const float* x, int64_t n_tokens, float* y,
              ThreadPool& pool) {
    if (!matmul_supports(wtype)) return unsupported(fmt::format("matmul: weight type {} not supported", dtype_name(wtype)));
    pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1) {
        switch (wtype) {
            case DType::F32: {
                const auto* w = static_cast<const float*>(W);
                matmul_rows([w](int64_t i) { return w[i]; }, r0, r1, n_cols, x, n_tokens, n_rows, y);
                break;
            }
            case DType::F16: {
                const auto* w = static_cast<const uint16_t*>(W);
                matmul_rows([w](int64_t i) { return fp16_to_fp32(w[i]); }, r0, r1, n_cols, x, n_tokens, n_rows, y);
                break;
            }
            default: {
                const auto* w = static_cast<const uint16_t*>(W);
                matmul_rows([w](int64_t i) { return bf16_to_fp32(w[i]); }, r0, r1, n_cols, x, n_tokens, n_rows, y);
                break;
            }
        }
    }, 16);
    return Status::Ok();
}

Status get_row(DType wtype, const void* W, int64_t n_cols, int64_t r, float* dst) {
    switch (wtype) {
        case DType::F32: {
            const auto* w = static_cast<const float*>(W) + r * n_cols;
            for (int64_t c = 0; c < n_cols; ++c) dst[c] = w[c];
            return Status::Ok();
        }
        case DType::F16:
        case DType::BF16: {
            const auto* w = static_cast<const uint16_t*>(W) + r * n_cols;
            for (int64_t c = 0; c < n_cols; ++c) dst[c] = wtype == DType::F16 ? fp16_to_fp32(w[c]) : bf16_to_fp32(w[c]);
            return Status::Ok();
        }
        default:
            return unsupported(fmt::format("get_row: weight type {} not supported", dtype_name(wtype)));
    }
}

}  // namespace rz::cpu
