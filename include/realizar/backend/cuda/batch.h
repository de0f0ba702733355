#pragma once
// Host API of the batched (prefill / multi-sequence decode) path of the CUDA backend. Plain C++ like cuda.h.
// A batch of n tokens runs each weight matrix as one GEMM: the matrix is dequantized (in row chunks) into a
// bounded device scratch in f16 (or f32), then cuBLAS multiplies X[n, in] by W^T with f32 accumulation and
// f32 output. Everything here runs on the backend's one stream (cuda.h's), in order with the decode kernels.
// Activation layouts are row-major [token][feature]; "ld" is the row stride in elements.
#include <cstddef>
#include <cstdint>

#include "realizar/backend/cuda/arch.h"
#include "realizar/core/dtype.h"
#include "realizar/core/status.h"

namespace rz::cuda::batch {

// Waits for the stream and surfaces asynchronous errors (kernel faults, cuBLAS failures): cuda::sync.
Status finish(const char* where);

// CUDA graphs of the batched path (relaxed capture mode): work issued between capture_begin() and capture_end()
// is recorded, not run; a failed capture_end() leaves the stream usable.
Status capture_begin();
Result<void*> capture_end();  // an executable graph
Status graph_launch(void* graph);
void graph_destroy(void* graph);

// GEMM precision of a weight matrix. kAuto: f32 GEMM (cublasSgemm, no TF32) for f32/f16/bf16 weights, so the
// float models stay within 1e-3 of the CPU; f16 inputs with f32 accumulation for quantized weights (their
// CPU path quantizes activations to 8 bits anyway). kF16 / kF32 force one precision for every matrix.
enum class GemmMode { kAuto, kF16, kF32 };
bool gemm_f16(DType weight, GemmMode mode);
// Bytes of scratch linear() needs to convert one row of W (0 when W is used in place).
size_t scratch_row_bytes(DType weight, int cols, bool f16);

// Y[t, 0:rows] = beta * Y[t, 0:rows] + sum_c X[t, c] W[r, c] for t < n. W [rows, cols] of type t as stored;
// X [n, cols] (ld cols) is f16 when f16 else f32; Y f32 with row stride ldy. Up to mmv_max tokens (and rows a
// multiple of 32) a multi-vector mat-vec reads W in place (exact weights, 8 tokens per pass over W); beyond, W
// is converted through `scratch` (scratch_bytes) in chunks of rows for the GEMM, so any matrix size works with a
// bounded scratch (which must hold at least one row).
Status linear(DType t, const void* W, int rows, int cols, const void* X, int n, float beta, float* Y, int ldy, bool f16,
              void* scratch, size_t scratch_bytes, int mmv_max = 0);

// out[i, 0:cols] = W[idx ? idx[i] : row0 + i, :] dequantized, for i < n; out is f16 (f16_out) or f32, ld cols.
void dequant_rows(DType t, const void* W, int cols, int row0, int n, const int32_t* idx, bool f16_out, void* out);

// Row i of the output = RMSNorm(x[rows ? rows[i] : i]) * w (sums in double like the CPU); x has stride ldx,
// outputs stride n_cols; either output may be null (the f32 and/or f16 copy the next GEMMs read).
void rms_norm_rows(const float* x, int ldx, const int32_t* rows, int n, const float* w, int n_cols, float eps, float* out32, void* out16);

// RoPE of q [n_head, hd] at column 0 and k [n_head_kv, hd] at column k_col of each of the n rows of qk (stride ld),
// row t at position pos[t] (device). inv_freq: n_rot/2 doubles on the device.
void rope_rows(float* qk, int ld, int k_col, int n, int n_head, int n_head_kv, int hd, int n_rot, const double* inv_freq,
               const int32_t* pos, bool neox);

// Stores k (column k_col) and v (column v_col) of each row of src (stride ld) at position pos[t] of sequence seq[t]:
// cache element (seq, g, p, d) at ((seq * n_head_kv + g) * n_ctx + p) * hd + d of kc / vc (f16 or f32).
void kv_store_rows(const float* src, int ld, int k_col, int v_col, int n, void* kc, void* vc, bool f16, int n_head_kv, int n_ctx,
                   int hd, const int32_t* seq, const int32_t* pos);

// rope_rows (inv_freq null: none) then kv_store_rows of the k and v columns of qkv, in one launch with programmatic
// dependent launch (the fused decode steps of several sequences); q is rotated in place, k goes to the cache only.
void rope_store_rows(float* qkv, int ld, int k_col, int v_col, int n, int n_head, int n_head_kv, int hd, int n_rot, const double* inv_freq,
                     bool neox, void* kc, void* vc, bool f16, int n_ctx, const int32_t* seq, const int32_t* pos);

// Causal attention for a batch whose k/v are already in the cache: query row t (q at column 0 of qrows, stride ldq)
// head h attends positions [0, pos[t]] of sequence seq[t] (with a sliding window n_swa > 0: (pos[t] - n_swa,
// pos[t]]), kv head h / (n_head / n_head_kv).
// tiles: n_tiles pairs {first row, row count} of consecutive rows of ONE sequence with consecutive positions, at most
// tile_rows(n_head, n_head_kv, hd) rows each (the caller builds them). out [n, n_head * hd]: f32 and/or f16 (either may be null).
// With an f16 cache, an f16-only output and head_dim 64, 80, 96 or 128, S = Q K^T and P V run on tensor cores (f16 q and
// P, f32 accumulation and softmax; what attention_tensor_cores() reports; RZ_CUDA_ATT=simt turns it off), else
// on the CUDA cores in f32. n: the batch's rows; with device scratch (scratch_floats floats, free during the call)
// the tensor-core kernel splits the keys of tiles too few to fill the GPU over several blocks (a short prompt
// after a long history), needing n * n_head * (hd + 2) floats a split; without it each tile is one block.
int tile_rows(int n_head, int n_head_kv, int hd);
bool attention_tensor_cores(bool f16_cache, bool out32, int hd);
void attention_prefill(const float* q, int ldq, const void* kc, const void* vc, bool f16, int n_head, int n_head_kv, int hd, int n_ctx,
                       const int32_t* seq, const int32_t* pos, const int32_t* tiles, int n_tiles, float scale, float* out32, void* out16,
                       int n_swa = 0, int n = 0, float* scratch = nullptr, size_t scratch_floats = 0);

// out[t, i] = silu(gu[t, i]) * gu[t, F + i] (gate | up of one row, stride 2F); outputs f32 and/or f16, stride F.
void swiglu_rows(const float* gu, int n, int F, float* out32, void* out16);
// y[t, c] += bias[c] for c < cols, t < n.
void add_bias_rows(float* y, int ld, int n, int cols, const float* bias);

// Row-wise ops of the non-llama blocks (batch_arch.cu), on the backend stream like everything here.
// Row i of the output = LayerNorm(x[rows ? rows[i] : i]) * w + b (w, b may be null; mean and variance in
// double, two passes, like ops::layer_norm); x has stride ldx, outputs stride n_cols; either output may be null.
void layer_norm_rows(const float* x, int ldx, const int32_t* rows, int n, const float* w, const float* b, int n_cols, float eps, float* out32,
                     void* out16);
// Per-head RMSNorm in place (qwen3's q/k norm): the n_head heads [hd] of q at column 0 with weight wq and the
// n_head_kv heads of k at column k_col with weight wk, in each of the n rows of qk (stride ld); a null weight
// leaves those heads as they are. Sums of squares in double like ops::rms_norm.
void head_rms_norm_rows(float* qk, int ld, int k_col, int n, int n_head, int n_head_kv, int hd, const float* wq, const float* wk, float eps);
// x[t, c] = x[t, c] * scale + (y ? y[t, c] : 0) for t < n, c < cols (stride cols): the embedding scale (gemma)
// and the learned position rows (gpt2), in the CPU's order (scale, then add).
void scale_add_rows(float* x, int n, int cols, float scale, const float* y);
// out[t, i] = act(a[t, i] + (bias ? bias[i] : 0)) * (b ? b[t, i] : 1) for t < n, i < F: a and b have stride ld,
// outputs (f32 and/or f16, either may be null) stride F. Gated FFNs pass gate | up (b = a + F, ld 2F); plain
// FFNs pass the up projection and its bias (b null). The activations are arch.h's, as the decode kernels compute them.
void act_rows(const float* a, const float* b, int ld, int n, int F, const float* bias, Act act, float* out32, void* out16);

}  // namespace rz::cuda::batch
