#pragma once
// Host API of the CUDA backend (rz_cuda). Plain C++ (no CUDA headers) so the runtime can call it; only
// available when RZ_HAVE_CUDA is defined. All device pointers are raw; every kernel and copy runs on one
// non-blocking stream of the backend, so a forward pass is a sequence of launches with no host
// synchronisation until the logits are copied back, and a decode step can be captured as a CUDA graph.
// Token ids and positions are read from device memory (int32) so a captured graph can be replayed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "realizar/backend/cuda/arch.h"
#include "realizar/core/dtype.h"
#include "realizar/core/status.h"

namespace rz::cuda {

// Devices usable by this process: 0 when there is no driver, no device, or the runtime fails.
int device_count();
std::string device_name(int device);

Result<void*> alloc(size_t bytes, const std::string& what);  // zeroed (in stream order); the error names `what` and the size
void free(void* p);
Status upload(void* dst, const void* src, size_t bytes);
Status download(void* dst, const void* src, size_t bytes);  // synchronises the stream
// Page-locked host memory (src/backend/cuda/host_io.cu) and stream-ordered copies that do not synchronise: the
// one-token decode step copies its {token, pos} in and its logits out through pinned buffers, so neither copy
// stages through a pageable bounce buffer nor waits on the host (sync() ends the step).
Result<void*> host_alloc(size_t bytes);
void host_free(void* p);
Status copy_async(void* dst, const void* src, size_t bytes);  // direction from the pointers (cudaMemcpyDefault)
Status sync(const char* where);                            // surfaces asynchronous kernel errors

// Weight types the mat-vec / row-gather kernels read in place: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, and
// (generic dequantizing kernels; int8 kernels in the fused decode layer only) Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K,
// IQ4_XS.
bool weight_supported(DType t);
// Device layout of weight rows. Every type keeps the file's block layout except Q6_K, Q8_0, Q4_0, IQ4_NL, Q5_0 and
// Q3_K, whose 210-, 34-, 18-, 22- and 110-byte blocks allow only 2-byte aligned loads (the Q6_K output head, the
// largest matrix of a Q4_K_M model, read at 1.7 TB/s with 16-bit loads and 46% issue efficiency). Each Q6_K row is
// stored as four arrays, ql [nb][128], qh [nb][64], int8 scales [nb][16] and half d [nb] (nb = n_cols / 256 blocks);
// each Q8_0, Q4_0, IQ4_NL and Q5_0 row as groups of 8 blocks, their codes, then (Q5_0) their high-bit words, then
// their half scales (a short last group likewise); each Q3_K block is followed by 2 zero bytes (112-byte blocks).
// Rows are padded to a multiple of 16 bytes, so codes start 16-byte aligned and the kernels read 8- and 16-byte
// words. upload_rows converts; a raw upload() of those types' bytes is wrong.
// row_bytes: the device row stride of n_cols elements (n_cols a multiple of the block size).
size_t row_bytes(DType t, int64_t n_cols);
// Host: rows x n_cols of type t from the file's layout (src, rows packed back to back) into the device layout
// (dst, rows x row_bytes(t, n_cols) bytes).
void pack_rows(DType t, int64_t n_cols, int64_t rows, const void* src, void* dst);
// Uploads rows x n_cols of type t given in the file's layout into the device layout at dst.
Status upload_rows(void* dst, DType t, int64_t n_cols, int64_t rows, const void* src);

// y[r] = (accumulate ? y[r] : 0) + bias[r] + sum_c W[r, c] x[c]; W [rows, cols] in dtype t. bias may be null.
void matvec(DType t, const void* W, int rows, int cols, const float* x, const float* bias, bool accumulate, float* y);
// Q8_0 / Q4_K / Q6_K weights with rows a multiple of 256 (up to 131072) take int8 activations: x is
// quantized per 32 elements (scale amax/127, round to nearest even) and the dot products use __dp4a. On by
// default; RZ_CUDA_INT8=0 in the environment or set_int8_activations(false) selects the float kernels.
void set_int8_activations(bool on);
bool int8_activations();
// The same over x' = silu(x) * up (SwiGLU fused into the down projection).
void matvec_glu(DType t, const void* W, int rows, int cols, const float* x, const float* up, const float* bias, bool accumulate, float* y);
// out[0:cols] = scale * W[*row, :] (dequantised; row is a device int).
void get_row(DType t, const void* W, int cols, const int32_t* row, float scale, float* out);
// With int8 activations on (and n a multiple of 32), rms_norm also writes the int8 copy of out, and the
// following int8 mat-vecs over x == out skip their quantize launch: until the next rms_norm, free() or an
// int8 mat-vec over another x, the caller must not write `out` by other means. attention_decode does the same
// for its out (head_dim a multiple of 32).
void rms_norm(const float* x, const float* w, int n, float eps, float* out);
// Rotates q [n_head, hd] and k [n_head_kv, hd] in place at position *pos (inv_freq: n_rot/2 doubles on device).
void rope(float* q, int n_head, float* k, int n_head_kv, int hd, int n_rot, const double* inv_freq, const int32_t* pos, bool neox);
// Writes k, v [n_head_kv, hd] at position *pos into caches laid out [n_head_kv][n_ctx][hd] (f16 or f32).
void kv_store(const float* k, const float* v, void* kc, void* vc, bool f16, int n_head_kv, int n_ctx, int hd, const int32_t* pos);
// One query token at position *pos: out[h] = softmax(q[h] K[g]^T * scale) V[g] over positions [0, *pos]
// (with a sliding window n_swa > 0: (*pos - n_swa, *pos]), g = h / (n_head / n_head_kv). scores: device
// scratch of n_head * n_ctx floats.
void attention_decode(const float* q, const void* kc, const void* vc, bool f16, int n_head, int n_head_kv, int hd, int n_ctx,
                      const int32_t* pos, float scale, float* scores, float* out, int n_swa = 0);
void swiglu(const float* gate, const float* up, int n, float* out);  // out = silu(gate) * up
void argmax(const float* x, int n, int32_t* out);                    // out: one device int

// ---- Fused decode layer (src/backend/cuda/decode_fused.cu) ------------------------------------------------
// A llama-family layer in 5 launches: [norm + q|k|v] [rope + kv store + attention] [o + residual]
// [norm + gate|up + silu * up] [down + residual]. The mat-vecs take int8 activations (one scale per 32) and
// __dp4a; x' = rms_norm(x) * w is normalised and quantized by every block into its shared memory (no norm
// launch), silu(gate) * up and the attention output are quantized by the kernels that produce them into the
// backend's fused activation buffer, which matvec_act reads. On sm_90 the launches use programmatic
// dependent launch: each kernel prefetches its weights into L2 while the previous one finishes
// (RZ_CUDA_PDL=0 or set_pdl(false) turns it off).
void set_pdl(bool on);
bool pdl_enabled();
// Whether the fused mat-vecs read weights of type t with rows of `cols` (every quantized type above: Q8_0, Q4_0,
// Q4_1, Q5_0, Q5_1, IQ4_NL with cols % 32 == 0; Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS with cols % 256 == 0; up to
// kFusedMaxNormCols for the normalising kernels, 131072 for matvec_act).
constexpr int kFusedMaxNormCols = 32768;
bool fused_supported(DType t, int cols);
// One mat-vec of a fused launch: y[0:rows] = (accumulate ? y : 0) + bias + W x; bias may be null.
struct MatvecSeg {
    DType t = DType::F32;
    const void* W = nullptr;
    int rows = 0;
    const float* bias = nullptr;
    float* y = nullptr;
    int act = -1;  // the fused one-token mat-vecs only (not with accumulate): y = act(W x + bias), an Act (arch.h); -1: none
    int ld = 0;    // matvec_rows only: this segment's y row stride (0: the call's ldy)
};
// y_s = W_s q8(rms_norm(x[0:cols]) * norm_w) for 1-3 segments (q, k, v when not stacked) in one launch.
void matvec_norm(const MatvecSeg* segs, int nseg, int cols, const float* x, const float* norm_w, float eps, bool accumulate);
// g = Wg x', u = Wu x' with x' = q8(rms_norm(x) * norm_w) (Wg, Wu [n_ff, cols]; n_ff % 32 == 0); the fused
// activation buffer receives q8(silu(g) * u) [n_ff]; h (may be null) receives silu(g) * u in float.
void matvec_glu_norm(DType tg, const void* Wg, DType tu, const void* Wu, int n_ff, int cols, const float* x, const float* norm_w,
                     float eps, float* h);
// y = (accumulate ? y : 0) + bias + W a over the fused activation buffer a [cols] (written by
// matvec_glu_norm or attention_fused with quant_out).
void matvec_act(const MatvecSeg& seg, int cols, bool accumulate);
// The prologue of the other blocks (phi2, gpt2, gemma): x' = LayerNorm(x) * w + b (sums in double), RMSNorm as above,
// or x itself (kNone: the o projection over attention output that attention_fused cannot quantize, head_dim % 32 != 0).
enum class NormKind : int { kRms = 0, kLayer = 1, kNone = 2 };
struct NormSpec {
    NormKind kind = NormKind::kRms;
    const float* w = nullptr;  // [cols]; null only with kNone
    const float* b = nullptr;  // kLayer: [cols] or null
    float eps = 0.0f;
};
// matvec_norm with any prologue: y_s = W_s q8(norm(x[0:cols])).
void matvec_prologue(const MatvecSeg* segs, int nseg, int cols, const float* x, const NormSpec& norm, bool accumulate);
// y = (accumulate ? y : 0) + A q8(xa [cols_a]) + B q8(xb [cols_b]) + both biases in one launch (a.y == b.y, the same
// rows): a parallel block's o and down projections, both adding to the residual (phi-2: one launch a layer fewer).
// matvec_pair_supported: the types and widths it takes (fused_supported, one kernel's type sets, shared memory).
bool matvec_pair_supported(DType ta, int cols_a, DType tb, int cols_b);
void matvec_pair(const MatvecSeg& a, int cols_a, const float* xa, const MatvecSeg& b, int cols_b, const float* xb, bool accumulate);
// The FFN's first half with any prologue and activation (n_ff % 32 == 0): gated (Wg non-null): q8(act(g) * u) into the
// fused activation buffer, as matvec_glu_norm; plain (Wg null: phi2, gpt2): q8(act(Wu x' + up_b)).
// h (may be null) receives the same values in float.
void matvec_ffn_norm(DType tg, const void* Wg, DType tu, const void* Wu, const float* up_b, int n_ff, int cols, const float* x,
                     const NormSpec& norm, Act act, float* h);
// ---- The same mat-vecs for m <= kFusedRowsMax tokens at once (src/backend/cuda/decode_rows.cu): a decode step
// of several sequences reads each weight once. Up to kFusedRowsDp4a tokens: every type of fused_supported; more (up to
// kFusedRowsMax): every such type but Q4_1 and Q5_1 (tensor cores; a block takes 16 tokens, a step of 17-32 two
// token groups). fused_rows_supported(t, cols, m): type t with rows of `cols` (a multiple of 256) for m tokens;
// fused_rows_mix: whether one launch (q, k, v segments) may hold these n types (not Q8_0 with Q5_K, Q4_0 or a
// low-bit or legacy type, nor a low-bit type (Q3_K, Q2_K, IQ4_XS, IQ4_NL) with a legacy one (Q4_1, Q5_0, Q5_1));
// fused_rows_fit: m tokens of norm_cols-long normed rows and act_cols-long fused-buffer rows fit the kernels' shared
// memory and the fused activation buffer.
constexpr int kFusedRowsMax = 32;
constexpr int kFusedRowsDp4a = 8;
bool fused_rows_supported(DType t, int cols, int m);
bool fused_rows_mix(const DType* types, int n);
bool fused_rows_fit(int m, int norm_cols, int act_cols);
// For each token t < m: y_s[t ldy_s + r] = (accumulate ? y : 0) + bias + W_s x'_t (ldy_s: the segment's ld, else ldy), with x'_t = q8(rms_norm(x_t) * norm_w)
// (x_t = x + t ldx), q8(x_t) when norm_w is null, and row t of the fused activation buffer ([m, cols]) when x is null.
void matvec_rows(const MatvecSeg* segs, int nseg, int cols, const float* x, int ldx, const float* norm_w, float eps, int m, int ldy,
                 bool accumulate);
// A parallel block's o and down of m tokens in one launch (matvec_pair's rows version): y_t += A q8(xa_t) + B a_t +
// both biases, xa [m, cols_a] floats at ldx (the attention output), a_t the fused activation buffer's row t
// ([m, cols_b], act_rows_q8's), A and B of the same rows and output (a.y at row stride a.ld, 0: a.rows).
// matvec_rows_pair_supported: the types, widths and token counts it has kernels for (Q4_K / Q6_K mixes at 2-16
// tokens, Q5_K from 3, as token groups of 8 above 8 where the tiles fit a wave; Q8_0 with Q4_K / Q6_K at 2-8).
bool matvec_rows_pair_supported(DType ta, int cols_a, DType tb, int cols_b, int rows, int m);
void matvec_rows_pair(const MatvecSeg& a, int cols_a, const float* xa, int ldx, const MatvecSeg& b, int cols_b, int m);
// matvec_glu_norm for m tokens (Wg, Wu of type t): row t of the fused activation buffer ([m, n_ff]) receives
// q8(act(g_t) * u_t).
void matvec_glu_rows(DType t, const void* Wg, const void* Wu, int n_ff, int cols, const float* x, int ldx, const float* norm_w, float eps, int m,
                     Act act = Act::kSilu);
// A plain FFN's activation of m tokens from their float up projections (rows of stride ld) into the fused activation
// buffer's rows [m, F] for matvec_rows over it: q8(act(a_t + bias)) (bias may be null).
void act_rows_q8(const float* a, int ld, int m, int F, const float* bias, Act act);
// RoPE of q [n_head, hd] and k [n_head_kv, hd] at *pos with rope_cs [n_ctx][n_rot / 2] (cos, sin) pairs (the
// CPU's ops::rope_cos_sin values; null: no rotation), store of k and v into the
// caches at *pos (by the first query head of each group) and decode attention over positions [0, *pos], split-KV
// blocks per query head, or, over an f16 cache with head_dim 64 / 80 / 96 / 128 / 256 (groups of 1 too, with G = 1), per G query heads of a kv head (attention_gqa.cu; RZ_CUDA_ATTN_GQA=0: never), G =
// attention_fused_heads(..., pos_hint): pos_hint is the position the host expects *pos to hold (a graph captured at
// one position replays at others: key graphs by that G); -1: G = 2 (even groups). q, k, v are not modified. *pos is read before the wait on the previous
// kernel: it must come from the host (an upload), never from a kernel of the same pass. out [n_head, hd]; with
// quant_out (hd % 32 == 0) also the fused activation buffer. scores: device scratch of n_head * n_ctx floats.
// n_swa > 0: sliding window, positions (*pos - n_swa, *pos] only. q_norm / k_norm (qwen3; [hd] each, or null):
// every q head and the current k head RMS-normalised with that weight (eps qk_eps) before RoPE, as head_rms_norm.
void attention_fused(const float* q, const float* k, const float* v, void* kc, void* vc, bool f16, int n_head, int n_head_kv, int hd,
                     int n_ctx, int n_rot, const float* rope_cs, bool neox, const int32_t* pos, float scale, float* scores, bool quant_out,
                     float* out, int n_swa = 0, const float* q_norm = nullptr, const float* k_norm = nullptr, float qk_eps = 0.0f,
                     int pos_hint = -1);
// The query heads a block attention_fused's kernel by kv head takes at position pos (1, 2 or 4: fewer while the
// context, or the sliding window n_swa > 0, is short, so that the blocks fill the GPU), or 0 where the split kernel
// runs instead.
int attention_fused_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int pos, int n_swa = 0);
// Decode attention of m query rows, one per sequence (a batched decode step): row i is sequence seq[i] at
// position pos[i], whose k and v the caller has already roped and stored; the split-KV kernel of
// attention_fused over caches laid out [seq][n_head_kv][n_ctx][hd]. q rows of stride ldq (roped); out rows of
// stride ldo, f32 (out32) or f16 (out16). seq and pos: device arrays uploaded by the host. scratch: at least
// attention_decode_rows_scratch(m_max, ...) floats for any m <= m_max. False, with nothing launched, for shapes
// it does not take (m * n_head > 1024, head_dim > 256, more than 8192 positions per split); then use the
// batched prefill attention. Shapes where attention_decode_rows_tc() holds take a tensor-core kernel instead (a
// block per kv head's group of query heads; q and the softmax weights as f16 high and low parts, f32
// accumulation: float precision). f16: the cache type (the tensor-core kernel's partials grow with n_ctx).
// tensor_cores = false: the CUDA-core kernel for every shape (faster after short contexts; rows_tc_from()).
// quant_rows (hd % 32 == 0, m n_head hd <= the fused activation buffer): also q8 of each output row into row i of the
// fused activation buffer ([m, n_head hd]), the rows matvec_rows reads with x null: the o projection then needs no
// quantization of its own (a launch a layer at 8+ tokens, each block's prologue below).
// rope (the CUDA-core kernel only; tensor_cores is then ignored): the q rows hold each row's q | k | v as the q|k|v
// projection wrote them ([n_head hd | n_head_kv hd | n_head_kv hd] at stride ldq, not roped, not in the cache), and
// the kernel applies the q/k norms (qwen3) and RoPE itself (q_norm, k_norm: [hd] or null; rope_cs [n_ctx][n_rot / 2]
// (cos, sin), or null: no rotation) and stores each row's k and v at its position, as the one-token attention_fused
// does: no separate RoPE + KV store launch. q is not modified. False, with nothing launched or stored, as above.
// gqa > 0 (with rope, an f32 output; attention_decode_rows_heads): a block per (row, gqa query heads of a kv head,
// split) that reads each cached row once for its heads (the one-token attention_fused's kernel), instead of a block
// per (row, query head, split); the shapes it does not take fall back to the kernel above.
struct RowsRope {
    const float* rope_cs = nullptr;
    int n_rot = 0;
    bool neox = false;
    const float* q_norm = nullptr;
    const float* k_norm = nullptr;
    float qk_eps = 0.0f;
};
size_t attention_decode_rows_scratch(int m_max, bool f16, int n_head, int n_head_kv, int hd, int n_ctx);
bool attention_decode_rows_tc(bool f16, int n_head, int n_head_kv, int hd);
bool attention_decode_rows(const float* q, int ldq, const void* kc, const void* vc, bool f16, int n_head, int n_head_kv, int hd, int n_ctx,
                           const int32_t* seq, const int32_t* pos, int m, float scale, int n_swa, float* scratch, size_t scratch_floats,
                           float* out32, void* out16, int ldo, bool tensor_cores = true, bool quant_rows = false,
                           const RowsRope* rope = nullptr, int gqa = 0);
// The query heads a block (1, 2 or 4) attention_decode_rows takes by kv head for m rows at positions up to pos_max
// (rope path; more heads a block as the step's keys grow), or 0: the shape is not its (head_dim other than 64 / 80 /
// 96 / 128 / 256, a float cache; RZ_CUDA_ROWS_GQA=0). A graph fixes the launch: key it by this.
int attention_decode_rows_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int m, int pos_max, int n_swa = 0);
// The position from which a decode step's attention takes the tensor-core kernel (RZ_CUDA_ROWS_TC_FROM, default 400:
// below it the CUDA-core kernel by query head is faster, H200 tinyllama steps of 4 sequences after 300-token prompts
// 1.17-1.19 vs 1.31-1.32 ms, of 8 after 64 1.50 vs 1.55-1.70; after 500 and more the tensor cores are). Shapes that
// attention_decode_rows_heads takes run by kv head at every position instead (GpuContext).
int rows_tc_from();

// ---- Cross-kernel L2 prefetch (src/backend/cuda/l2_prefetch.cu). Why: each fused kernel is latency bound
// (prologue, reductions, attention) for most of its time while HBM idles; a layer's weights (~26 MB for
// TinyLlama Q4_K_M) fit in the 50 MB L2. So every fused launch also requests into L2 a slice of the weights
// that LATER launches read (before its griddepcontrol.wait: weights are immutable), and HBM streams ahead
// while the kernels read L2.
struct ByteRange {
    const void* p = nullptr;
    size_t bytes = 0;
};
// The next fused launch (matvec_norm, matvec_glu_norm, matvec_act, attention_fused) also prefetches these
// ranges (at most 8) into L2, spread over its blocks; the launch after it prefetches nothing unless set again.
void set_l2_prefetch(const ByteRange* r, int n);
// RZ_CUDA_L2PF: 0 (default: measured slower, docs/perf/cuda.md "round 2") off, 1 prefetch.global.L2 per
// 128-byte line, 2 cp.async.bulk.prefetch.L2 per 16 KB (sm_90; sm_80 falls back to 1). RZ_CUDA_L2PF_MB: the window (default 24, at most 3/4 of the L2).
int l2_prefetch_mode();
size_t l2_prefetch_window();
// Plans the prefetches of a sequence of launches: launches[i] = the weight ranges launch i reads (may be
// empty). The ranges of all launches form one stream; launch i requests the part of the stream after what
// earlier launches requested and before (start of its own ranges) + window, at most 8 ranges (adjacent
// ranges merged; a longer list is cut and the rest falls to the next launch). Every byte is requested once,
// each no later than by the launch that reads it.
std::vector<std::vector<ByteRange>> plan_l2_prefetch(const std::vector<std::vector<ByteRange>>& launches, size_t window);

// CUDA graphs of the backend stream: launches between capture_begin() and capture_end() are recorded, not run.
Status capture_begin();
Result<void*> capture_end();  // an executable graph
Status graph_launch(void* graph);
void graph_destroy(void* graph);

// Device-to-device copy bandwidth in GB/s ((read + write) bytes / time) over a buffer of `bytes`.
Result<double> measure_copy_bandwidth(size_t bytes);

// ---- Top-k of logits rows (src/backend/cuda/topk.cu): greedy argmax and top-k on the device ----
struct TopKEntry {
    int32_t id;
    float logit;  // x[r, id]; NaN reported as -infinity
};
constexpr int kTopKMax = 256;
// out[r * k + j], j < k: the k largest entries of row r of x [rows, n] (1 <= k <= min(kTopKMax, n)), in the
// host sampler's order: descending, the lower id on equal values, NaN as -infinity, -0 == +0. Queued on the
// stream (scratch grows on first use); errors: k out of range, allocation, launch.
Status top_k_rows(const float* x, int rows, int n, int k, TopKEntry* out);
// Grows top_k_rows' scratch for those sizes now (context creation), so the first launches do not allocate.
Status top_k_reserve(int rows, int n, int k);

}  // namespace rz::cuda
