// matmul / get_row over every weight type: activations are quantized once per call into the format the
// weight type's dot kernel pairs with (Q8_0 / Q8_1 / Q8_K, or kept f32), then rows are split across the
// pool. Types without a fused kernel go through the reference dequantizer row by row.
#include "realizar/backend/cpu/matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "backend/cpu/dispatch.h"
#include "backend/cpu/gemm.h"
#include "realizar/quant/quant.h"

namespace rz::cpu {
namespace {

// Below about this many multiply-adds per thread (~10 us of work), waking another thread costs more than it
// saves, and on an oversubscribed machine a descheduled worker turns every sync into a time slice: a tiny
// model (stories260K: 64-wide rows) must run on one thread.
constexpr int64_t kMinMacsPerThread = int64_t{1} << 16;

int64_t min_rows_per_thread(int64_t n_cols, int64_t n_tokens, int64_t floor_rows) {
    const int64_t macs_per_row = std::max<int64_t>(1, n_cols * n_tokens);
    return std::max(floor_rows, (kMinMacsPerThread + macs_per_row - 1) / macs_per_row);
}

using kern::ActType;

size_t act_row_bytes(ActType act, int64_t n_cols) {
    switch (act) {
        case ActType::kF32: return static_cast<size_t>(n_cols) * sizeof(float);
        case ActType::kQ8_0: return static_cast<size_t>(n_cols / 32) * sizeof(quant::BlockQ8_0);
        case ActType::kQ8_1: return static_cast<size_t>(n_cols / 32) * sizeof(quant::BlockQ8_1);
        case ActType::kQ8_K: return static_cast<size_t>(n_cols / 256) * sizeof(quant::BlockQ8_K);
    }
    return 0;
}

// Natural alignment of a weight type's storage unit (what its kernels may assume of W).
size_t weight_alignment(DType t) {
    switch (t) {
        case DType::F32: return 4;
        case DType::Q8_K: return 4;
        default: return 2;
    }
}

const kern::TypeKernels* fused_kernels(DType t) {
    const auto id = static_cast<uint32_t>(t);
    if (id >= kern::kMaxTypeId) return nullptr;
    const kern::TypeKernels& k = active_kernels().types[id];
    return k.dot ? &k : nullptr;
}

Status check_common(const char* what, DType wtype, const void* W, int64_t n_cols, const DTypeInfo** info_out) {
    const DTypeInfo* info = dtype_info(wtype);
    if (!info) return unsupported(fmt::format("{}: unknown weight type id {}", what, static_cast<uint32_t>(wtype)));
    if (!matmul_supports(wtype)) return unsupported(fmt::format("{}: weight type {} not supported", what, info->name));
    if (n_cols <= 0 || n_cols % info->block_size != 0) {
        return invalid_argument(
            fmt::format("{}: row length {} is not a positive multiple of the {} block size {}", what, n_cols, info->name, info->block_size));
    }
    if (W == nullptr) return invalid_argument(fmt::format("{}: null weight pointer", what));
    if (reinterpret_cast<uintptr_t>(W) % weight_alignment(wtype) != 0) {
        return invalid_argument(fmt::format("{}: {} weights at {} are not {}-byte aligned", what, info->name, W,
                                            weight_alignment(wtype)));
    }
    *info_out = info;
    return Status::Ok();
}

// Per-thread scratch that only grows (matmul runs hundreds of times per token; no allocation after warm-up).
// 64-byte aligned (the prepared mat-vec activations are read with aligned vector loads).
enum ScratchSlot { kActSlot = 0, kRowSlot = 1, kPrepSlot = 2 };

void* scratch_bytes(int slot, size_t n) {
    thread_local std::vector<unsigned char> buffers[3];
    auto& b = buffers[slot];
    if (b.size() < n + 64) b.resize(n + 64);
    const auto p = reinterpret_cast<uintptr_t>(b.data());
    return b.data() + ((64 - p % 64) % 64);
}

}  // namespace

bool matmul_supports(DType wtype) {
    if (fused_kernels(wtype)) return true;
    return quant::can_dequantize(wtype);
}

Status matmul(DType wtype, const void* W, int64_t n_rows, int64_t n_cols, const float* x, int64_t n_tokens, float* y,
              ThreadPool& pool) {
    const DTypeInfo* info = nullptr;
    RZ_RETURN_IF_ERROR(check_common("matmul", wtype, W, n_cols, &info));
    if (n_rows < 0 || n_tokens < 0) {
        return invalid_argument(fmt::format("matmul: negative shape (rows {}, tokens {})", n_rows, n_tokens));
    }
    if (n_rows == 0 || n_tokens == 0) return Status::Ok();
    if (x == nullptr || y == nullptr) return invalid_argument("matmul: null activation or output pointer");
    if (reinterpret_cast<uintptr_t>(x) % alignof(float) != 0 || reinterpret_cast<uintptr_t>(y) % alignof(float) != 0) {
        return invalid_argument("matmul: activation / output pointers are not 4-byte aligned");
    }
    const size_t w_row_bytes = static_cast<size_t>(n_cols / info->block_size) * info->type_size;
    const auto* wbytes = static_cast<const unsigned char*>(W);
    const kern::KernelTable& kt = active_kernels();
    const kern::TypeKernels* kk = fused_kernels(wtype);

    if (!kk) {
        // Dequantize fallback: each row decoded once into thread scratch, then dotted with every token in f32.
        const quant::QuantTraits* tr = quant::quant_traits(wtype);
        const kern::VecDotFn fdot = kt.types[kern::id::kF32].dot;
        pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1) {
            auto* row = static_cast<float*>(scratch_bytes(kRowSlot, static_cast<size_t>(n_cols) * sizeof(float)));
            for (int64_t r = r0; r < r1; ++r) {
                tr->to_float(wbytes + static_cast<size_t>(r) * w_row_bytes, row, n_cols);
                for (int64_t t = 0; t < n_tokens; ++t) y[t * n_rows + r] = fdot(n_cols, row, x + t * n_cols);
            }
        }, min_rows_per_thread(n_cols, n_tokens, 4));
        return Status::Ok();
    }

    // Quantize the activations once (split over tokens when there are several).
    const size_t a_row = act_row_bytes(kk->act, n_cols);
    const unsigned char* act = reinterpret_cast<const unsigned char*>(x);
    if (kk->act != ActType::kF32) {
        if (n_cols % (kk->act == ActType::kQ8_K ? 256 : 32) != 0) {
            return internal_error("matmul: activation block does not divide the row");  // block sizes match by table
        }
        auto* buf = static_cast<unsigned char*>(scratch_bytes(kActSlot, a_row * static_cast<size_t>(n_tokens)));
        const kern::QuantizeActFn qf = kk->act == ActType::kQ8_0   ? kt.quantize_q8_0
                                       : kk->act == ActType::kQ8_1 ? kt.quantize_q8_1
                                                                   : kt.quantize_q8_K;
        pool.parallel_for(n_tokens, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) qf(x + t * n_cols, buf + static_cast<size_t>(t) * a_row, n_cols);
        }, 8);
        act = buf;
    }

    if (n_tokens >= kGemmMinTokens && gemm_available(kt, wtype)) {
        gemm_prefill(kt, wtype, wbytes, w_row_bytes, n_rows, n_cols, act, kk->act, a_row, n_tokens, y, pool);
        return Status::Ok();
    }

    if (n_tokens == 1 && kk->matvec) {
        // Decode: the kernel streams a contiguous block of rows (prefetching ahead), after a one-off
        // rearrangement of the activation where the kernel wants one (shared by all threads).
        if (kk->matvec_prep) {
            void* prep = scratch_bytes(kPrepSlot, kern::matvec_prep_bytes(n_cols));
            kk->matvec_prep(n_cols, act, prep);
            act = static_cast<const unsigned char*>(prep);
        }
        const kern::MatvecFn mv = kk->matvec;
        pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1) {
            mv(n_cols, wbytes + static_cast<size_t>(r0) * w_row_bytes, w_row_bytes, r1 - r0, act, y + r0);
        }, min_rows_per_thread(n_cols, 1, 32));
        return Status::Ok();
    }

    const kern::VecDotFn dot = kk->dot;
    const kern::MultiDotFn multi = kk->multi_dot;
    // Tiles of rows x all tokens: a tile of weight rows stays in cache while every token passes over it.
    constexpr int64_t kRowTile = 8;
    pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1) {
        float out[64];
        for (int64_t rt = r0; rt < r1; rt += kRowTile) {
            const int64_t re = std::min(r1, rt + kRowTile);
            if (n_tokens == 1) {
                for (int64_t r = rt; r < re; ++r) y[r] = dot(n_cols, wbytes + static_cast<size_t>(r) * w_row_bytes, act);
                continue;
            }
            for (int64_t t0 = 0; t0 < n_tokens; t0 += 64) {
                const int n_act = static_cast<int>(std::min<int64_t>(64, n_tokens - t0));
                for (int64_t r = rt; r < re; ++r) {
                    const unsigned char* wr = wbytes + static_cast<size_t>(r) * w_row_bytes;
                    const unsigned char* a0 = act + static_cast<size_t>(t0) * a_row;
                    if (multi) {
                        multi(n_cols, wr, a0, a_row, n_act, out);
                    } else {
                        for (int j = 0; j < n_act; ++j) out[j] = dot(n_cols, wr, a0 + static_cast<size_t>(j) * a_row);
                    }
                    for (int j = 0; j < n_act; ++j) y[(t0 + j) * n_rows + r] = out[j];
                }
            }
        }
    }, min_rows_per_thread(n_cols, n_tokens, n_tokens == 1 ? 32 : 8));
    return Status::Ok();
}

const char* active_isa_name() { return active_kernels().isa_name; }

bool cpu_has_avx2() { return cpu_has_isa(Isa::kAvx2); }

Status get_row(DType wtype, const void* W, int64_t n_cols, int64_t r, float* dst) {
    const DTypeInfo* info = nullptr;
    RZ_RETURN_IF_ERROR(check_common("get_row", wtype, W, n_cols, &info));
    if (r < 0) return out_of_range(fmt::format("get_row: negative row index {}", r));
    if (dst == nullptr) return invalid_argument("get_row: null destination");
    const size_t w_row_bytes = static_cast<size_t>(n_cols / info->block_size) * info->type_size;
    const quant::QuantTraits* tr = quant::quant_traits(wtype);
    if (!tr) return unsupported(fmt::format("get_row: weight type {} cannot be decoded", info->name));
    tr->to_float(static_cast<const unsigned char*>(W) + static_cast<size_t>(r) * w_row_bytes, dst, n_cols);
    return Status::Ok();
}

}  // namespace rz::cpu
