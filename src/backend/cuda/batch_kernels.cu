// Batched-path kernels (batch.h): weight dequantization into the GEMM scratch (f16 or f32), the cuBLAS GEMM,
// and the row-wise ops of a batched forward pass (RMSNorm, RoPE, KV store, SwiGLU, bias). The attention is in
// batch_attention.cu.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cuda/batch_common.cuh"
#include "realizar/backend/cuda/batch.h"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda::batch {
namespace {

using detail::blocks_for;
using detail::stream;

// One cuBLAS handle for the process, bound to the backend stream (created on first use), with its own 32 MiB
// workspace so that GEMMs can be captured into CUDA graphs (no allocation inside a capture).
Result<cublasHandle_t> handle() {
    static cublasHandle_t h = nullptr;
    static cublasStatus_t st = [] {
        cublasStatus_t s = cublasCreate(&h);
        if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(h, stream());
        constexpr size_t kWorkspace = size_t{32} << 20;
        void* ws = nullptr;
        if (s == CUBLAS_STATUS_SUCCESS && cudaMalloc(&ws, kWorkspace) == cudaSuccess) s = cublasSetWorkspace(h, ws, kWorkspace);
        else if (s == CUBLAS_STATUS_SUCCESS) s = CUBLAS_STATUS_ALLOC_FAILED;
        return s;
    }();
    if (st != CUBLAS_STATUS_SUCCESS)
        return Status(StatusCode::kInternal, std::string("cuBLAS initialisation failed: ") + cublasGetStatusString(st));
    return h;
}

Status cublas_check(cublasStatus_t s, const char* what) {
    if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
    return Status(StatusCode::kInternal, std::string("cuBLAS ") + what + ": " + cublasGetStatusString(s));
}

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
    const __half2 h = __floats2half2_rn(a, b);  // a in the low half (the lower address)
    return *reinterpret_cast<const uint32_t*>(&h);
}

// One thread per 8 consecutive elements: rows [row0, row0 + n) or idx[0..n) of W into out [n, cols] (cols % 32 == 0).
template <int T, typename O>
__global__ void dequant_kernel(const uint8_t* __restrict__ W, size_t rb, int ng, int row0, int n, const int32_t* __restrict__ idx,
                               O* __restrict__ out) {
    const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (t >= static_cast<int64_t>(n) * ng) return;
    const int i = static_cast<int>(t / ng), g = static_cast<int>(t % ng);
    const int64_t r = idx ? idx[i] : row0 + i;
    float v[8];
    detail::deq8<T>(W + static_cast<size_t>(r) * rb, g, ng, v);
    if constexpr (sizeof(O) == 2) {
        reinterpret_cast<uint4*>(out)[t] = make_uint4(pack_half2(v[0], v[1]), pack_half2(v[2], v[3]), pack_half2(v[4], v[5]), pack_half2(v[6], v[7]));
    } else {
        reinterpret_cast<float4*>(out)[2 * t] = make_float4(v[0], v[1], v[2], v[3]);
        reinterpret_cast<float4*>(out)[2 * t + 1] = make_float4(v[4], v[5], v[6], v[7]);
    }
}

// Plain types with rows that are not a multiple of 32: one thread per element.
template <int T, typename O>
__global__ void dequant_plain_kernel(const uint8_t* __restrict__ W, size_t rb, int cols, int row0, int n, const int32_t* __restrict__ idx,
                                     O* __restrict__ out) {
    const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (g >= static_cast<int64_t>(n) * cols) return;
    const int i = static_cast<int>(g / cols), c = static_cast<int>(g % cols);
    const int64_t r = idx ? idx[i] : row0 + i;
    out[g] = rz::cuda::detail::to_cache<O>(detail::plain_at<T>(W + static_cast<size_t>(r) * rb, c));  // float or half (rn)
}

template <typename O>
void dequant_launch(DType t, const void* W, int cols, int row0, int n, const int32_t* idx, O* out) {
    const auto* w = static_cast<const uint8_t*>(W);
    const size_t rb = row_bytes(t, cols);  // the device layout (Q6_K repacked)
    if (cols % 32 != 0) {
        const int g = blocks_for(static_cast<int64_t>(n) * cols, 256);
        if (t == DType::F32) dequant_plain_kernel<static_cast<int>(DType::F32), O><<<g, 256, 0, stream()>>>(w, rb, cols, row0, n, idx, out);
        if (t == DType::F16) dequant_plain_kernel<static_cast<int>(DType::F16), O><<<g, 256, 0, stream()>>>(w, rb, cols, row0, n, idx, out);
        if (t == DType::BF16) dequant_plain_kernel<static_cast<int>(DType::BF16), O><<<g, 256, 0, stream()>>>(w, rb, cols, row0, n, idx, out);
        return;
    }
    const int ng = cols / 8;
    const int g = blocks_for(static_cast<int64_t>(n) * ng, 256);
#define RZ_DQ(D) dequant_kernel<static_cast<int>(DType::D), O><<<g, 256, 0, stream()>>>(w, rb, ng, row0, n, idx, out)
    switch (t) {
        case DType::F32: RZ_DQ(F32); break;
        case DType::F16: RZ_DQ(F16); break;
        case DType::BF16: RZ_DQ(BF16); break;
        case DType::Q8_0: RZ_DQ(Q8_0); break;
        case DType::Q4_0: RZ_DQ(Q4_0); break;
        case DType::Q4_K: RZ_DQ(Q4_K); break;
        case DType::Q5_K: RZ_DQ(Q5_K); break;
        case DType::Q6_K: RZ_DQ(Q6_K); break;
        case DType::Q4_1: RZ_DQ(Q4_1); break;
        case DType::Q5_0: RZ_DQ(Q5_0); break;
        case DType::Q5_1: RZ_DQ(Q5_1); break;
        case DType::IQ4_NL: RZ_DQ(IQ4_NL); break;
        case DType::Q2_K: RZ_DQ(Q2_K); break;
        case DType::Q3_K: RZ_DQ(Q3_K); break;
        case DType::IQ4_XS: RZ_DQ(IQ4_XS); break;
        default: break;
    }
#undef RZ_DQ
}

// One block per row; sums of squares in double like ops::rms_norm. Rows of up to kNormVals * blockDim elements
// stay in registers between the two passes, and the weights are loaded with them before the reduction: in a
// decode step (a few rows) the kernel is a chain of dependent memory round trips, not bandwidth (ncu, H200: 8 us
// for 4 rows of 2048 with the re-reads). Same operations in the same order either way.
constexpr int kNormVals = 16;
__global__ void rms_norm_rows_kernel(const float* __restrict__ x, int ldx, const int32_t* __restrict__ rows, const float* __restrict__ w,
                                     int n, float eps, float* __restrict__ out32, __half* __restrict__ out16, int regs) {
    const int i = blockIdx.x;
    const float* xr = x + static_cast<size_t>(rows ? rows[i] : i) * ldx;
    auto put = [&](int c, double v, float wc) {  // wc = w[c]
        const float o = static_cast<float>(w ? v * wc : v);
        if (out32) out32[static_cast<size_t>(i) * n + c] = o;
        if (out16) out16[static_cast<size_t>(i) * n + c] = __float2half_rn(o);
    };
    double ss = 0.0;
    if (regs && n <= kNormVals * static_cast<int>(blockDim.x)) {
        float xv[kNormVals], wv[kNormVals];
#pragma unroll
        for (int k = 0; k < kNormVals; ++k) {
            const int c = static_cast<int>(threadIdx.x + k * blockDim.x);
            xv[k] = c < n ? xr[c] : 0.0f;
            wv[k] = w && c < n ? w[c] : 1.0f;
        }
#pragma unroll
        for (int k = 0; k < kNormVals; ++k) ss += static_cast<double>(xv[k]) * xv[k];
        const double scale = 1.0 / sqrt(rz::cuda::detail::block_sum(ss) / n + eps);
#pragma unroll
        for (int k = 0; k < kNormVals; ++k) {
            const int c = static_cast<int>(threadIdx.x + k * blockDim.x);
            if (c >= n) break;
            put(c, xv[k] * scale, wv[k]);
        }
        return;
    }
    for (int c = threadIdx.x; c < n; c += blockDim.x) ss += static_cast<double>(xr[c]) * xr[c];
    const double scale = 1.0 / sqrt(rz::cuda::detail::block_sum(ss) / n + eps);
    for (int c = threadIdx.x; c < n; c += blockDim.x) put(c, xr[c] * scale, w ? w[c] : 1.0f);
}

// Rotary pair i of one head x (half = n_rot / 2 pairs) at position p: elements i0, i1 rotated by p inv_freq[i], the
// angle in double like ops::rope_cos_sin (NEOX pairs i, i + half; NORM 2i, 2i + 1).
struct RotPair {
    int i0, i1;
    float y0, y1;
};
__device__ __forceinline__ RotPair rotate_pair(const float* x, int i, int half, int p, const double* inv_freq, int neox) {
    const double a = static_cast<double>(p) * inv_freq[i];
    const int2 ix = rz::cuda::detail::rope_idx(i, half, neox);
    const float2 y = rz::cuda::detail::rope_rot(x[ix.x], x[ix.y], static_cast<float>(cos(a)), static_cast<float>(sin(a)));
    return RotPair{ix.x, ix.y, y.x, y.y};
}

// One thread per (row, head of q then k, rotary pair).
__global__ void rope_rows_kernel(float* qk, int ld, int k_col, int n, int n_head, int n_head_kv, int hd, int n_rot, const double* inv_freq,
                                 const int32_t* pos, int neox) {
    const int half = n_rot / 2, per_row = (n_head + n_head_kv) * half;
    const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (g >= static_cast<int64_t>(n) * per_row) return;
    const int t = static_cast<int>(g / per_row), r = static_cast<int>(g % per_row);
    const int h = r / half, i = r % half;
    float* row = qk + static_cast<size_t>(t) * ld;
    float* x = h < n_head ? row + h * hd : row + k_col + (h - n_head) * hd;
    const RotPair r2 = rotate_pair(x, i, half, pos[t], inv_freq, neox);
    x[r2.i0] = r2.y0;
    x[r2.i1] = r2.y1;
}

template <typename C>
__global__ void kv_store_rows_kernel(const float* src, int ld, int k_col, int v_col, int n, C* kc, C* vc, int n_head_kv, int n_ctx, int hd,
                                     const int32_t* seq, const int32_t* pos) {
    const int kv = n_head_kv * hd;
    const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (g >= static_cast<int64_t>(n) * kv) return;
    const int t = static_cast<int>(g / kv), j = static_cast<int>(g % kv);
    const int gh = j / hd, d = j % hd;
    const size_t o = ((static_cast<size_t>(seq[t]) * n_head_kv + gh) * n_ctx + pos[t]) * hd + d;
    const float* row = src + static_cast<size_t>(t) * ld;
    kc[o] = rz::cuda::detail::to_cache<C>(row[k_col + j]);
    vc[o] = rz::cuda::detail::to_cache<C>(row[v_col + j]);
}

// rope_rows and kv_store_rows in one launch (the fused decode steps of several sequences, decode_rows.cu): per row t,
// threads [0, Hq) rotate a pair of q, [Hq, Hq + Hk) a pair of k and store both into the cache, then one thread per
// k element past n_rot and per v element stores it. The same float operations as the two kernels. Launched with
// programmatic dependent launch: it waits for q|k|v before reading them and lets the attention launch early.
template <typename C>
__global__ void rope_store_rows_kernel(float* qkv, int ld, int k_col, int v_col, int n, int n_head, int n_head_kv, int hd, int n_rot,
                                       const double* inv_freq, const int32_t* seq, const int32_t* pos, int neox, C* kc, C* vc, int n_ctx) {
    rz::cuda::detail::pdl_sync(0);
    const int half = inv_freq ? n_rot / 2 : 0, hq = n_head * half, hk = n_head_kv * half, tail = hd - 2 * half;
    const int per_row = hq + hk + n_head_kv * tail + n_head_kv * hd;
    const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (g >= static_cast<int64_t>(n) * per_row) return;
    const int t = static_cast<int>(g / per_row);
    int r = static_cast<int>(g % per_row);
    float* row = qkv + static_cast<size_t>(t) * ld;
    const size_t cache_head = static_cast<size_t>(seq[t]) * n_head_kv;  // + head, then * n_ctx + pos, * hd + d
    auto at = [&](int gh, int d) { return ((cache_head + gh) * n_ctx + pos[t]) * hd + d; };
    using rz::cuda::detail::to_cache;
    if (r < hq + hk) {  // a rotary pair of q (stays in qkv) or of k (into the cache)
        const bool is_q = r < hq;
        const int h = (is_q ? r : r - hq) / half, i = (is_q ? r : r - hq) % half;
        float* x = is_q ? row + h * hd : row + k_col + h * hd;
        const RotPair y = rotate_pair(x, i, half, pos[t], inv_freq, neox);
        if (is_q) {
            x[y.i0] = y.y0, x[y.i1] = y.y1;
        } else {
            kc[at(h, y.i0)] = to_cache<C>(y.y0);
            kc[at(h, y.i1)] = to_cache<C>(y.y1);
        }
        return;
    }
    r -= hq + hk;
    if (r < n_head_kv * tail) {  // k elements past the rotary ones
        const int h = r / tail, d = 2 * half + r % tail;
        kc[at(h, d)] = to_cache<C>(row[k_col + h * hd + d]);
        return;
    }
    r -= n_head_kv * tail;
    vc[at(r / hd, r % hd)] = to_cache<C>(row[v_col + r]);
}

__global__ void swiglu_rows_kernel(const float* __restrict__ gu, int n, int F, float* __restrict__ out32, __half* __restrict__ out16) {
    const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (g >= static_cast<int64_t>(n) * F) return;
    const int64_t t = g / F, i = g % F;
    const float x = gu[t * 2 * F + i];
    const float o = x / (1.0f + expf(-x)) * gu[t * 2 * F + F + i];
    if (out32) out32[g] = o;
    if (out16) out16[g] = __float2half_rn(o);
}

__global__ void add_bias_rows_kernel(float* y, int ld, int n, int cols, const float* bias) {
    const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (g >= static_cast<int64_t>(n) * cols) return;
    y[(g / cols) * ld + g % cols] += bias[g % cols];
}

}  // namespace

// The batched path shares the backend stream: finishing it is cuda::sync, its graphs launch like the decode ones.
Status finish(const char* where) { return cuda::sync(where); }

Status capture_begin() {
    RZ_RETURN_IF_ERROR(handle().status());  // created (and its workspace allocated) before any capture
    const cudaError_t e = cudaStreamBeginCapture(stream(), cudaStreamCaptureModeRelaxed);
    if (e == cudaSuccess) return Status::Ok();
    (void)cudaGetLastError();
    return Status(StatusCode::kInternal, std::string("CUDA graph capture (batched path): ") + cudaGetErrorString(e));
}

Result<void*> capture_end() {
    cudaGraph_t g = nullptr;
    cudaError_t e = cudaStreamEndCapture(stream(), &g);
    cudaGraphExec_t x = nullptr;
    if (e == cudaSuccess) e = cudaGraphInstantiate(&x, g, 0);
    if (g) (void)cudaGraphDestroy(g);
    if (e == cudaSuccess) return static_cast<void*>(x);
    (void)cudaGetLastError();
    return Status(StatusCode::kInternal, std::string("CUDA graph capture (batched path): ") + cudaGetErrorString(e));
}

Status graph_launch(void* graph) { return cuda::graph_launch(graph); }

void graph_destroy(void* graph) { cuda::graph_destroy(graph); }

bool gemm_f16(DType weight, GemmMode mode) {
    if (mode != GemmMode::kAuto) return mode == GemmMode::kF16;
    return !(weight == DType::F32 || weight == DType::F16 || weight == DType::BF16);
}

size_t scratch_row_bytes(DType weight, int cols, bool f16) {
    if ((f16 && weight == DType::F16) || (!f16 && weight == DType::F32)) return 0;
    return static_cast<size_t>(cols) * (f16 ? 2 : 4);
}

void dequant_rows(DType t, const void* W, int cols, int row0, int n, const int32_t* idx, bool f16_out, void* out) {
    if (n <= 0) return;
    if (f16_out) dequant_launch(t, W, cols, row0, n, idx, static_cast<__half*>(out));
    else dequant_launch(t, W, cols, row0, n, idx, static_cast<float*>(out));
}

Status linear(DType t, const void* W, int rows, int cols, const void* X, int n, float beta, float* Y, int ldy, bool f16, void* scratch,
              size_t scratch_bytes, int mmv_max) {
    if (n <= 0 || rows <= 0) return Status::Ok();
    const size_t rb = row_bytes(t, cols);  // the device layout (Q6_K repacked)
    if (n <= mmv_max && cols % 32 == 0) {
        detail::mmv(t, W, rb, rows, cols, X, f16, n, beta, Y, ldy);
        return Status::Ok();
    }
    RZ_ASSIGN_OR_RETURN(cublasHandle_t h, handle());
    const float alpha = 1.0f;
    const size_t srb = scratch_row_bytes(t, cols, f16);
    // Row chunks of W (all rows at once when W is read in place). cuBLAS is column-major: Y^T[rows, n] (ld ldy)
    // = W[rows, cols] (column-major [cols, rows], transposed) * X^T (column-major [cols, n]).
    const int chunk = srb == 0 ? rows : static_cast<int>(std::min<size_t>(rows, scratch_bytes / srb));
    if (chunk < 1) return Status(StatusCode::kInternal, "batched GEMM: the weight scratch cannot hold one row");
    for (int r0 = 0; r0 < rows; r0 += chunk) {
        const int m = std::min(chunk, rows - r0);
        const void* A = static_cast<const uint8_t*>(W) + rb * static_cast<size_t>(r0);
        if (srb != 0) {
            dequant_rows(t, W, cols, r0, m, nullptr, f16, scratch);
            A = scratch;
        }
        if (f16)
            RZ_RETURN_IF_ERROR(cublas_check(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, cols, &alpha, A, CUDA_R_16F, cols, X, CUDA_R_16F, cols,
                                                         &beta, Y + r0, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                                            "GemmEx (f16 inputs, f32 output)"));
        else
            RZ_RETURN_IF_ERROR(cublas_check(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, cols, &alpha, static_cast<const float*>(A), cols,
                                                        static_cast<const float*>(X), cols, &beta, Y + r0, ldy),
                                            "Sgemm"));
    }
    return Status::Ok();
}

void rms_norm_rows(const float* x, int ldx, const int32_t* rows, int n, const float* w, int n_cols, float eps, float* out32, void* out16) {
    if (n <= 0) return;
    const int regs = rz::cuda::detail::env_int("RZ_CUDA_NORM_REGS", 1) != 0 ? 1 : 0;  // 0: the two-pass loop (A/B runs)
    rms_norm_rows_kernel<<<n, 256, 0, stream()>>>(x, ldx, rows, w, n_cols, eps, out32, static_cast<__half*>(out16), regs);
}

void rope_rows(float* qk, int ld, int k_col, int n, int n_head, int n_head_kv, int hd, int n_rot, const double* inv_freq, const int32_t* pos,
               bool neox) {
    const int64_t total = static_cast<int64_t>(n) * (n_head + n_head_kv) * (n_rot / 2);
    if (total <= 0) return;
    rope_rows_kernel<<<blocks_for(total, 256), 256, 0, stream()>>>(qk, ld, k_col, n, n_head, n_head_kv, hd, n_rot, inv_freq, pos, neox ? 1 : 0);
}

void kv_store_rows(const float* src, int ld, int k_col, int v_col, int n, void* kc, void* vc, bool f16, int n_head_kv, int n_ctx, int hd,
                   const int32_t* seq, const int32_t* pos) {
    const int64_t total = static_cast<int64_t>(n) * n_head_kv * hd;
    if (total <= 0) return;
    const int g = blocks_for(total, 256);
    if (f16)
        kv_store_rows_kernel<__half><<<g, 256, 0, stream()>>>(src, ld, k_col, v_col, n, static_cast<__half*>(kc), static_cast<__half*>(vc), n_head_kv,
                                                            n_ctx, hd, seq, pos);
    else
        kv_store_rows_kernel<float><<<g, 256, 0, stream()>>>(src, ld, k_col, v_col, n, static_cast<float*>(kc), static_cast<float*>(vc), n_head_kv,
                                                           n_ctx, hd, seq, pos);
}

void rope_store_rows(float* qkv, int ld, int k_col, int v_col, int n, int n_head, int n_head_kv, int hd, int n_rot, const double* inv_freq,
                     bool neox, void* kc, void* vc, bool f16, int n_ctx, const int32_t* seq, const int32_t* pos) {
    const int half = inv_freq ? n_rot / 2 : 0;
    const int64_t total = static_cast<int64_t>(n) * ((n_head + n_head_kv) * half + n_head_kv * (hd - 2 * half) + n_head_kv * hd);
    if (total <= 0) return;
    const int g = blocks_for(total, 256);
    if (f16)
        rz::cuda::detail::launch(rope_store_rows_kernel<__half>, g, 256, 0, qkv, ld, k_col, v_col, n, n_head, n_head_kv, hd, n_rot, inv_freq, seq, pos,
                                 neox ? 1 : 0, static_cast<__half*>(kc), static_cast<__half*>(vc), n_ctx);
    else
        rz::cuda::detail::launch(rope_store_rows_kernel<float>, g, 256, 0, qkv, ld, k_col, v_col, n, n_head, n_head_kv, hd, n_rot, inv_freq, seq, pos,
                                 neox ? 1 : 0, static_cast<float*>(kc), static_cast<float*>(vc), n_ctx);
}

void swiglu_rows(const float* gu, int n, int F, float* out32, void* out16) {
    const int64_t total = static_cast<int64_t>(n) * F;
    if (total <= 0) return;
    swiglu_rows_kernel<<<blocks_for(total, 256), 256, 0, stream()>>>(gu, n, F, out32, static_cast<__half*>(out16));
}

void add_bias_rows(float* y, int ld, int n, int cols, const float* bias) {
    const int64_t total = static_cast<int64_t>(n) * cols;
    if (total <= 0 || !bias) return;
    add_bias_rows_kernel<<<blocks_for(total, 256), 256, 0, stream()>>>(y, ld, n, cols, bias);
}

}  // namespace rz::cuda::batch
