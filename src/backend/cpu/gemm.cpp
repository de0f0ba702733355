#include "backend/cpu/gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "realizar/core/fp16.h"
#include "realizar/quant/blocks.h"

namespace rz::cpu {
namespace {

// 64-byte aligned, grow-only per-thread buffers (the tile kernel uses aligned vector loads).
struct AlignedScratch {
    std::vector<unsigned char> bytes;
    unsigned char* get(size_t n) {
        if (bytes.size() < n + 64) bytes.resize(n + 64);
        const auto p = reinterpret_cast<uintptr_t>(bytes.data());
        return bytes.data() + ((64 - p % 64) % 64);
    }
};

AlignedScratch& thread_scratch(int slot) {
    thread_local AlignedScratch s[3];
    return s[slot];
}

size_t round64(size_t n) { return (n + 63) / 64 * 64; }

// Activations of one token in the GEMM layout: int8 row, block scale and scaled block sum per sub-block.
void prepare_token(kern::ActType act, const unsigned char* q, int64_t n, int sub, int8_t* a8, float* da, float* ds) {
    const int64_t nsub = n / sub;
    switch (act) {
        case kern::ActType::kQ8_0: {
            const auto* b = reinterpret_cast<const quant::BlockQ8_0*>(q);
            for (int64_t i = 0; i < n / 32; ++i) {
                std::memcpy(a8 + 32 * i, b[i].qs, 32);
                const float d = fp16_to_fp32(b[i].d);
                int s = 0;
                for (int j = 0; j < 32; ++j) s += b[i].qs[j];
                da[i] = d;
                ds[i] = d * static_cast<float>(s);
            }
            break;
        }
        case kern::ActType::kQ8_1: {
            // The offset term uses the stored fp16 s, exactly as the Q8_1 dot kernels do.
            const auto* b = reinterpret_cast<const quant::BlockQ8_1*>(q);
            for (int64_t i = 0; i < n / 32; ++i) {
                std::memcpy(a8 + 32 * i, b[i].qs, 32);
                da[i] = fp16_to_fp32(b[i].d);
                ds[i] = fp16_to_fp32(b[i].s);
            }
            break;
        }
        case kern::ActType::kQ8_K: {
            const auto* b = reinterpret_cast<const quant::BlockQ8_K*>(q);
            const int per_block = quant::kQK_K / sub;
            for (int64_t i = 0; i < n / quant::kQK_K; ++i) {
                std::memcpy(a8 + quant::kQK_K * i, b[i].qs, quant::kQK_K);
                for (int j = 0; j < per_block; ++j) {
                    const int s = sub == 16 ? b[i].bsums[j] : b[i].bsums[2 * j] + b[i].bsums[2 * j + 1];
                    da[i * per_block + j] = b[i].d;
                    ds[i * per_block + j] = b[i].d * static_cast<float>(s);
                }
            }
            break;
        }
        case kern::ActType::kF32:
            for (int64_t i = 0; i < nsub; ++i) da[i] = ds[i] = 0.0f;  // not reached: no float types here
            break;
    }
}

}  // namespace

bool gemm_available(const kern::KernelTable& kt, DType wtype) {
    if (wtype == DType::F32 || wtype == DType::F16 || wtype == DType::BF16) return kt.gemm_tile_f32 != nullptr;
    const int id = static_cast<int>(wtype);
    const int sub = kern::unpack_sub(id);
    if (sub == 0 || kern::unpack_row_fn(id) == nullptr) return false;
    if (kern::unpack_max_u(id) > kt.gemm_max_u) return false;
    return (sub == 16 ? kt.gemm_tile16 : kt.gemm_tile32) != nullptr;
}

namespace {

void gemm_prefill_float(const kern::KernelTable& kt, DType wtype, const unsigned char* W, size_t w_row_bytes,
                        int64_t n_rows, int64_t K, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
    const int64_t n_panels = (n_rows + kern::kGemmRowsF - 1) / kern::kGemmRowsF;
    pool.parallel_for(n_panels, [&](int64_t p0, int64_t p1) {
        auto* panel = reinterpret_cast<float*>(thread_scratch(1).get(static_cast<size_t>(K) * kern::kGemmRowsF * sizeof(float)));
        auto* row = reinterpret_cast<float*>(thread_scratch(2).get(static_cast<size_t>(K) * sizeof(float)));
        float out[kern::kGemmRowsF * kern::kGemmMaxTokensF];
        for (int64_t p = p0; p < p1; ++p) {
            const int64_t r0 = p * kern::kGemmRowsF;
            const int rows = static_cast<int>(std::min<int64_t>(kern::kGemmRowsF, n_rows - r0));
            for (int r = 0; r < kern::kGemmRowsF; ++r) {
                const unsigned char* src = W + static_cast<size_t>(r0 + r) * w_row_bytes;
                if (r >= rows) {
                    std::fill(row, row + K, 0.0f);
                } else if (wtype == DType::F32) {
                    std::memcpy(row, src, static_cast<size_t>(K) * sizeof(float));
                } else {
                    const auto* h = reinterpret_cast<const uint16_t*>(src);
                    if (wtype == DType::F16) {
                        for (int64_t k = 0; k < K; ++k) row[k] = fp16_to_fp32(h[k]);
                    } else {
                        for (int64_t k = 0; k < K; ++k) row[k] = bf16_to_fp32(h[k]);
                    }
                }
                for (int64_t k = 0; k < K; ++k) panel[k * kern::kGemmRowsF + r] = row[k];
            }
            for (int64_t t0 = 0; t0 < n_tokens; t0 += kern::kGemmMaxTokensF) {
                const int nt = static_cast<int>(std::min<int64_t>(kern::kGemmMaxTokensF, n_tokens - t0));
                kt.gemm_tile_f32(K, panel, x + t0 * K, K, nt, out);
                for (int t = 0; t < nt; ++t) {
                    std::memcpy(y + (t0 + t) * n_rows + r0, out + t * kern::kGemmRowsF, static_cast<size_t>(rows) * sizeof(float));
                }
            }
        }
    }, 1);
}

}  // namespace

void gemm_prefill(const kern::KernelTable& kt, DType wtype, const unsigned char* W, size_t w_row_bytes, int64_t n_rows,
                  int64_t n_cols, const unsigned char* act, kern::ActType act_type, size_t a_row, int64_t n_tokens,
                  float* y, ThreadPool& pool) {
    if (wtype == DType::F32 || wtype == DType::F16 || wtype == DType::BF16) {
        gemm_prefill_float(kt, wtype, W, w_row_bytes, n_rows, n_cols, reinterpret_cast<const float*>(act), n_tokens, y, pool);
        return;
    }
    const int id = static_cast<int>(wtype);
    const int sub = kern::unpack_sub(id);
    const kern::UnpackRowFn unpack = kern::unpack_row_fn(id);
    const kern::GemmTileFn tile = sub == 16 ? kt.gemm_tile16 : kt.gemm_tile32;
    const int64_t K = n_cols;
    const int64_t nsub = K / sub;

    // Activations: [n_tokens][K] int8 + [n_tokens][nsub] scales and scaled sums (caller-thread scratch).
    const size_t a8_bytes = round64(static_cast<size_t>(n_tokens * K));
    const size_t s_bytes = round64(static_cast<size_t>(n_tokens * nsub) * sizeof(float));
    unsigned char* abuf = thread_scratch(0).get(a8_bytes + 2 * s_bytes);
    auto* A8 = reinterpret_cast<int8_t*>(abuf);
    auto* DA = reinterpret_cast<float*>(abuf + a8_bytes);
    auto* DS = reinterpret_cast<float*>(abuf + a8_bytes + s_bytes);
    pool.parallel_for(n_tokens, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            prepare_token(act_type, act + static_cast<size_t>(t) * a_row, K, sub, A8 + t * K, DA + t * nsub, DS + t * nsub);
        }
    }, 16);

    const int64_t n_panels = (n_rows + kern::kGemmRows - 1) / kern::kGemmRows;
    pool.parallel_for(n_panels, [&](int64_t p0, int64_t p1) {
        const size_t panel_bytes = static_cast<size_t>(K) * kern::kGemmRows;
        const size_t scale_bytes = round64(static_cast<size_t>(nsub) * kern::kGemmRows * sizeof(float));
        unsigned char* buf = thread_scratch(1).get(panel_bytes + 2 * scale_bytes);
        uint8_t* panel = buf;
        auto* ws = reinterpret_cast<float*>(buf + panel_bytes);
        auto* wm = reinterpret_cast<float*>(buf + panel_bytes + scale_bytes);
        // 32 unpacked rows side by side, then interleaved into the panel in one pass.
        const size_t row_stride = round64(static_cast<size_t>(K));
        const size_t rs_bytes = round64(static_cast<size_t>(nsub) * 4);
        unsigned char* rbuf = thread_scratch(2).get(row_stride * kern::kGemmRows + 2 * rs_bytes);
        uint8_t* urows = rbuf;
        auto* ws_row = reinterpret_cast<float*>(rbuf + row_stride * kern::kGemmRows);
        auto* wm_row = reinterpret_cast<float*>(rbuf + row_stride * kern::kGemmRows + rs_bytes);
        float out[kern::kGemmRows * kern::kGemmMaxTokens];
        for (int64_t p = p0; p < p1; ++p) {
            const int64_t r0 = p * kern::kGemmRows;
            const int rows = static_cast<int>(std::min<int64_t>(kern::kGemmRows, n_rows - r0));
            for (int r = 0; r < kern::kGemmRows; ++r) {
                uint8_t* urow = urows + static_cast<size_t>(r) * row_stride;
                if (r < rows) {
                    unpack(W + static_cast<size_t>(r0 + r) * w_row_bytes, K, urow, ws_row, wm_row);
                } else {
                    std::memset(urow, 0, static_cast<size_t>(K));
                    std::fill(ws_row, ws_row + nsub, 0.0f);
                    std::fill(wm_row, wm_row + nsub, 0.0f);
                }
                for (int64_t s = 0; s < nsub; ++s) {
                    ws[s * kern::kGemmRows + r] = ws_row[s];
                    wm[s * kern::kGemmRows + r] = wm_row[s];
                }
            }
            if (kt.interleave_rows32) {
                kt.interleave_rows32(urows, static_cast<int64_t>(row_stride), K, panel);
            } else {
                for (int r = 0; r < kern::kGemmRows; ++r) {
                    for (int64_t k4 = 0; k4 < K / 4; ++k4) {
                        std::memcpy(panel + k4 * (4 * kern::kGemmRows) + r * 4, urows + static_cast<size_t>(r) * row_stride + 4 * k4, 4);
                    }
                }
            }
            for (int64_t t0 = 0; t0 < n_tokens; t0 += kern::kGemmMaxTokens) {
                const int nt = static_cast<int>(std::min<int64_t>(kern::kGemmMaxTokens, n_tokens - t0));
                tile(K, panel, ws, wm, A8 + t0 * K, K, DA + t0 * nsub, DS + t0 * nsub, nsub, nt, out);
                for (int t = 0; t < nt; ++t) {
                    std::memcpy(y + (t0 + t) * n_rows + r0, out + t * kern::kGemmRows, static_cast<size_t>(rows) * sizeof(float));
                }
            }
        }
    }, 1);
}

}  // namespace rz::cpu
