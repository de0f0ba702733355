// Pinned host buffers and non-synchronising copies on the backend stream (cuda.h). Why: the one-token decode
// step of the generation loop uploaded 8 bytes and downloaded n_vocab floats through pageable memory, each copy
// followed by a stream synchronisation; with pinned buffers both copies are plain DMA in stream order around
// the graph launch and the step synchronises once.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {

namespace {
Status cuda_status(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return Status::Ok();
    return Status(StatusCode::kInternal, std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
}  // namespace

Result<void*> host_alloc(size_t bytes) {
    void* p = nullptr;
    RZ_RETURN_IF_ERROR(cuda_status(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "pinned host allocation"));
    return p;
}

void host_free(void* p) {
    if (p) (void)cudaFreeHost(p);
}

Status copy_async(void* dst, const void* src, size_t bytes) {
    return cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, detail::stream()), "async copy");
}

// Q6_K block {ql[128]; qh[64]; int8 scales[16]; half d} (210 bytes) -> four row arrays; the 32-element blocks
// {half d; [qh[4]]; qs[Q]} of Q8_0 (34 bytes), Q4_0 / IQ4_NL (18) and Q5_0 (22) -> groups of 8 blocks (g32_block in
// common.cuh); Q3_K's 110-byte blocks -> 112 (kQ3Bytes); rows padded to row_bytes (cuda.h).
void pack_rows(DType t, int64_t n_cols, int64_t rows, const void* src, void* dst) {
    const size_t srb = detail::file_row_bytes(t, n_cols), drb = row_bytes(t, n_cols);
    const auto* s = static_cast<const uint8_t*>(src);
    auto* d = static_cast<uint8_t*>(dst);
    if (!detail::repacked(t)) {
        std::memcpy(d, s, srb * static_cast<size_t>(rows));
        return;
    }
    if (t == DType::Q3_K) {  // each block (K = 110 bytes), then 2 zero bytes
        const size_t K = dtype_info(t)->type_size, nb = static_cast<size_t>(n_cols / 256);
        for (int64_t r = 0; r < rows; ++r, s += srb, d += drb)
            for (size_t b = 0; b < nb; ++b) {
                std::memcpy(d + detail::kQ3Bytes * b, s + K * b, K);
                std::memset(d + detail::kQ3Bytes * b + K, 0, detail::kQ3Bytes - K);
            }
        return;
    }
    if (t != DType::Q6_K) {  // each group of m blocks: m codes, then m qh words (Q5_0), then m scales
        const size_t K = dtype_info(t)->type_size, Q = t == DType::Q8_0 ? 32 : 16, H = K - 2 - Q;  // H: 4 (Q5_0) or 0
        const size_t nb = static_cast<size_t>(n_cols / 32);
        for (int64_t r = 0; r < rows; ++r, s += srb, d += drb) {
            for (size_t g0 = 0; g0 < nb; g0 += 8) {
                const size_t m = std::min<size_t>(8, nb - g0);
                uint8_t* g = d + K * g0;
                for (size_t j = 0; j < m; ++j) {
                    const uint8_t* blk = s + K * (g0 + j);
                    std::memcpy(g + Q * j, blk + 2 + H, Q);
                    if (H != 0) std::memcpy(g + Q * m + H * j, blk + 2, H);
                    std::memcpy(g + (K - 2) * m + 2 * j, blk, 2);
                }
            }
            std::memset(d + K * nb, 0, drb - K * nb);
        }
        return;
    }
    const size_t nb = static_cast<size_t>(n_cols / 256);  // Q6_K
    for (int64_t r = 0; r < rows; ++r, s += srb, d += drb) {
        for (size_t b = 0; b < nb; ++b) {
            const uint8_t* blk = s + 210 * b;
            std::memcpy(d + 128 * b, blk, 128);
            std::memcpy(d + 128 * nb + 64 * b, blk + 128, 64);
            std::memcpy(d + 192 * nb + 16 * b, blk + 192, 16);
            std::memcpy(d + 208 * nb + 2 * b, blk + 208, 2);
        }
        std::memset(d + 210 * nb, 0, drb - 210 * nb);
    }
}

Status upload_rows(void* dst, DType t, int64_t n_cols, int64_t rows, const void* src) {
    const size_t drb = row_bytes(t, n_cols);
    if (!detail::repacked(t)) return upload(dst, src, drb * static_cast<size_t>(rows));
    const size_t srb = detail::file_row_bytes(t, n_cols);
    // Through a bounded host buffer (~16 MB), so a large head does not need a second full-size host copy.
    const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>((size_t{16} << 20) / drb));
    std::vector<uint8_t> buf(drb * static_cast<size_t>(std::min(chunk, rows)));
    for (int64_t r = 0; r < rows; r += chunk) {
        const int64_t n = std::min(chunk, rows - r);
        pack_rows(t, n_cols, n, static_cast<const uint8_t*>(src) + srb * static_cast<size_t>(r), buf.data());
        RZ_RETURN_IF_ERROR(upload(static_cast<uint8_t*>(dst) + drb * static_cast<size_t>(r), buf.data(), drb * static_cast<size_t>(n)));
    }
    return Status::Ok();
}

}  // namespace rz::cuda
