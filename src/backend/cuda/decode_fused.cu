// Fused decode-layer kernels (see cuda.h): a llama-family layer in 5 launches instead of ~10. Why: at batch 1
// a TinyLlama layer reads ~26 MB of weights, under 10 us at HBM speed, while each small launch (norm,
// quantize, rope, kv store) costs 3-5 us of latency. So the norm and the activation quantization move into
// the prologue of the mat-vec that consumes them (every block re-normalises the 2-32 KB x from L2), the GLU
// product is quantized in the gate|up epilogue (a block owns 32 consecutive rows of both gate and up), and
// rope + kv store + attention are one kernel. On sm_90 every kernel is launched with programmatic dependent
// launch: before griddepcontrol.wait it only prefetches its weights (immutable) into L2, and it lets the next
// kernel launch only after its own wait, so at most two kernels overlap and neither reads the other's output
// early.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>

#include "backend/cuda/act.cuh"
#include "backend/cuda/common.cuh"
#include "backend/cuda/fused_dot_ext.cuh"
#include "backend/cuda/fused_prologue.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {

using namespace detail;
using namespace detail::fused;

namespace {

constexpr int kMvWarps = 8;           // warps per block of the plain fused mat-vec
// The fused activation buffer: int8 values, per-32 scales d and d * sum(q).
__device__ __align__(16) int8_t g_aq[kMaxActCols];
__device__ float g_ad[kMaxActCols / 32];
__device__ float g_as[kMaxActCols / 32];

// ---- plain fused mat-vec: up to 3 segments; a row group is kMvWarps * R consecutive rows of one segment
// (one warp per R rows); each block takes a contiguous run of row groups (grid sized to the resident blocks,
// so the prologue runs once per block, not once per row group).
struct MvParams {
    SegD seg[3];
    int nseg;
    int ngroups;    // total row groups
    int cols;
    const float* x;  // null: the fused activation buffer
    const float* norm_w;
    const float* norm_b;
    int norm_kind;  // kNormRms, kNormLayer, kNormNone (fused_prologue.cuh)
    float eps;
    int accumulate;
    int pdl_early;
    L2Pf pf;  // later launches' weights to request into L2
    int late;  // late RMS scale (norm_quant_smem)
    // PAIR kernels (one segment; matvec_pair): row r of seg[0] also adds seg2's row r times q8(x2 [cols2]).
    const float* x2;
    int cols2;
    SegD seg2;
};

// Shared memory of x [cols] quantized (smem_x), 16-byte aligned, so that more can follow it (the staged gate|up rows,
// a PAIR kernel's second input).
__host__ __device__ inline size_t x_smem_bytes(int cols) { return (norm_smem_bytes(cols) + 15) & ~size_t{15}; }

// Register budgets (blocks per SM): sets 0 (Q4_K, Q6_K) and 1 (+ Q5_K, Q4_0) 3, i.e. <= 80 registers (no spills on
// sm_90 but 4 bytes in the GEN one-row kernel; left to itself ptxas gave set 0's one-row kernel 128, which cost
// Q4_K_M decode ~1.5%, and set 1's 114-128: at 3 blocks instead of 2, tg128 phi-2 Q4_K_M (its Q5_K q|k|v) +1.9%,
// TinyLlama Q5_K_M +2%, Q4_0 +1%, phi-2 Q5_K_M +0.7%); the others 2, <= 128 (unbounded ~200). Q8_0's 16-byte loads
// in flight measured 3% faster at 128 registers than at 80 (H200).
// GEN: the prologue of any NormKind (the other blocks); the llama block's RMSNorm kernels keep their own code.
// PAIR (with GEN; type sets 0 and 8): a second input and matrix (matvec_pair), its own instances because the
// second input's pointers cost the one-row kernels registers (set 3's spilled 180 bytes with it in every GEN kernel).
// The two-row kernel with its loop unrolled (R 2, UX 2: mv_unroll_rows) takes 2 blocks an SM, 128 registers.
template <int R, int UX, int EXT, bool GEN = false, bool PAIR = false>
__global__ void __launch_bounds__(kMvWarps * 32, (EXT == 0 || EXT == 1) && (R == 1 || UX == 1) ? 3 : 2) mv_fused_kernel(const MvParams p) {
    static_assert(!PAIR || GEN, "mv_fused_kernel: PAIR takes the generic prologue");
    extern __shared__ __align__(16) unsigned char sm[];
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    int g0, g1;
    block_groups(p, g0, g1);
    l2pf_issue(p.pf);
    {  // weights are immutable: start pulling this block's first row group into L2 before the wait
        int g = g0;
        const SegD s = pick_seg(p, g);
        const int r0 = g * kMvWarps * R, r1 = min(r0 + kMvWarps * R, s.rows);
        prefetch_l2(s.w + static_cast<size_t>(r0) * s.rb, static_cast<size_t>(r1 - r0) * s.rb);
        if (PAIR) prefetch_l2(p.seg2.w + static_cast<size_t>(r0) * p.seg2.rb, static_cast<size_t>(r1 - r0) * p.seg2.rb);
    }
    const NormPre pre = norm_preload(p.x && (!GEN || p.norm_kind == kNormRms) ? p.norm_w : nullptr, p.cols);  // immutable: before the wait
    pdl_sync(p.pdl_early);
    XQ x{g_aq, g_ad, g_as};
    if (p.x) {
        x = smem_x(sm, p.cols);
        if constexpr (GEN)
            prologue_smem(p.norm_kind, p.x, p.norm_w, p.norm_b, p.cols, p.eps, pre, const_cast<int8_t*>(x.q), const_cast<float*>(x.d),
                          const_cast<float*>(x.s), p.late);
        else
            norm_quant_smem(p.x, p.norm_w, p.cols, p.eps, pre, const_cast<int8_t*>(x.q), const_cast<float*>(x.d), const_cast<float*>(x.s), p.late);
    }
    XQ x2{};
    if (PAIR) {
        x2 = smem_x(sm + x_smem_bytes(p.cols), p.cols2);
        plain_quant_smem(p.x2, p.cols2, const_cast<int8_t*>(x2.q), const_cast<float*>(x2.d), const_cast<float*>(x2.s));
    }
    // The late RMS scale (a double reduction, sqrt and division): once a warp, after its first row group's dot
    // products (off the path to the first weights), not once a row group (the output head's 5 groups a warp);
    // -1: not yet (a warp's first group can lie past its segment's rows).
    float late_sc = -1.0f;
    for (int gi = g0; gi < g1; ++gi) {
        int g = gi;
        const SegD s = pick_seg(p, g);
        if (gi + 1 < g1) {  // a block with several row groups (the output head): the next group's rows into L2
            int gn = gi + 1;
            const SegD sn = pick_seg(p, gn);
            const int n0 = gn * kMvWarps * R, n1 = min(n0 + kMvWarps * R, sn.rows);
            prefetch_l2(sn.w + static_cast<size_t>(n0) * sn.rb, static_cast<size_t>(max(n1 - n0, 0)) * sn.rb);
            if (PAIR) prefetch_l2(p.seg2.w + static_cast<size_t>(n0) * p.seg2.rb, static_cast<size_t>(max(n1 - n0, 0)) * p.seg2.rb);
        }
        const int r0 = (g * kMvWarps + w) * R;
        if (r0 >= s.rows) continue;  // warp-uniform
        float acc[R] = {};
        const int nv = min(R, s.rows - r0);
        const uint8_t* rows[R];
#pragma unroll
        for (int r = 0; r < R; ++r) rows[r] = s.w + static_cast<size_t>(r0 + min(r, nv - 1)) * s.rb;  // past nv: re-read, discarded
        const int r = scatter_row<R>(lane);
        const bool out = lane % (32 / R) == 0 && r < nv;
        // the residual this lane adds to, requested with the weights (its L2 round trip off the end of the chain)
        const float y0 = p.accumulate && out ? s.y[r0 + r] : 0.0f;
        dot_rows<R, UX, EXT>(s.type, rows, p.cols, x, lane, acc);
        if constexpr (PAIR) {  // the second input's rows r0.. into the same lane sums
#pragma unroll
            for (int r = 0; r < R; ++r) rows[r] = p.seg2.w + static_cast<size_t>(r0 + min(r, nv - 1)) * p.seg2.rb;
            dot_rows<R, UX, EXT>(p.seg2.type, rows, p.cols2, x2, lane, acc);
        }
        float mine = warp_sum_rows<R>(acc, lane);
        if (p.x && p.late && late_sc < 0.0f) late_sc = norm_scale(p.cols, p.eps);
        if (out) {
            const int row = r0 + r;
            if (p.x && p.late) mine *= late_sc;
            if (s.bias) mine += s.bias[row];
            if (PAIR && p.seg2.bias) mine += p.seg2.bias[row];
            if (s.act >= 0) mine = act1(mine, s.act);
            s.y[row] = p.accumulate ? y0 + mine : mine;
        }
    }
}

// ---- gate|up with the norm prologue and the GLU epilogue. Block b owns rows [32b, 32b + 32) of gate and of
// up: its first half of the warps computes the gate rows, the second half the up rows (R each), and warp 0
// quantizes act(g) * u of the 32 outputs as sub-block b of the fused activation buffer. PLAIN (an FFN without a
// gate: phi2, gpt2; wg == wu == the up matrix): block b owns rows [32b, 32b + 32) of up, each half of its 32 / R warps
// 16 of them, and warp 0 quantizes act(u + bias) as sub-block b, the same grid and epilogue as a gated FFN of that
// width. (On phi-2, 64 rows a block measured the same, 8 warps of 4 rows slower than 4 warps of 8: ncu, H200.)
struct GluParams {
    const uint8_t* wg;
    const uint8_t* wu;
    size_t rbg, rbu;
    int tg, tu;
    int cols;
    const float* x;
    const float* norm_w;
    const float* norm_b;
    int norm_kind;
    float eps;
    const float* up_b;  // PLAIN only
    int act;            // Act (arch.h)
    float* h;
    int pdl_early;
    L2Pf pf;
    int late;     // late RMS scale (norm_quant_smem)
    int ngroups;  // pairs kernel: units of P outputs (block_groups)
    int defer;    // pairs kernel: sub-block completion counted after the warp's last unit (RZ_CUDA_GLU_DEFER)
};

__device__ __forceinline__ unsigned smem_addr(const void* p) { return static_cast<unsigned>(__cvta_generic_to_shared(p)); }

// MODE: kGluLlama (RMSNorm prologue, SiLU; the llama block's own code), kGluGated (any prologue and activation),
// kGluPlain (PLAIN above). Two blocks per SM (register cap) so the n_ff / 32 blocks of a small model (176 for
// TinyLlama) run in one wave.
// STAGE (sm_90, kGluLlama only): before the PDL wait, one thread copies the block's 32 gate and 32 up rows into
// shared memory behind the x prologue with two TMA bulk copies, and the dot products read them there. Why:
// the kernel is a latency chain (prologue, then each row step's loads, R rows at a time), and the copy of the
// whole share overlaps the wait and the prologue instead. qwen3-0.6b decode +3.9% (Q4_K_M) / +1.7% (Q8_0),
// TinyLlama Q4_K_M +0.5%; phi-2's plain FFN was 1.5% slower staged, so the other modes read directly (H200). The
// host stages the Q4_K / Q6_K and Q8_0 sets only: the others were not measured staged.
constexpr int kGluLlama = 0, kGluGated = 1, kGluPlain = 2;
constexpr int kGluSplitPerSm = 3;  // blocks an SM of the SPLIT kernel (its register budget, and glu_split_on's rule)

// Thread-block cluster primitives (sm_90; the SPLIT kernel below is launched with clusters there only).
__device__ __forceinline__ unsigned cluster_rank() {
    unsigned r = 0;
#if __CUDA_ARCH__ >= 900
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
#endif
    return r;
}
__device__ __forceinline__ void cluster_arrive(bool release) {
#if __CUDA_ARCH__ >= 900
    if (release) asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
    else asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ void cluster_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
#endif
}
// Store v at the address of `local` in the shared memory of the cluster's block `rank`.
__device__ __forceinline__ void st_cluster(float* local, unsigned rank, float v) {
#if __CUDA_ARCH__ >= 900
    unsigned a = 0;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(a) : "r"(smem_addr(local)), "r"(rank));
    asm volatile("st.shared::cluster.f32 [%0], %1;" ::"r"(a), "f"(v) : "memory");
#endif
}

// SPLIT (sm_90, kGluLlama only): each 32 outputs are a cluster of two blocks of 32 / R warps, rank 0 the 32 gate
// rows, rank 1 the 32 up rows, which it stores into rank 0's shared memory. Why: TinyLlama's 176 blocks of 64 rows
// over 132 SMs leave 44 SMs with two blocks' rows (284 KB in Q8_0) and 88 with one; 352 half-blocks spread that to
// at most three halves (213 KB) an SM.
template <int R, int EXT, int MODE = kGluLlama, bool STAGE = false, bool SPLIT = false>
__global__ void __launch_bounds__((MODE == kGluPlain ? 32 : 64) / R * 32 / (SPLIT ? 2 : 1), SPLIT ? kGluSplitPerSm : 2) glu_fused_kernel(const GluParams p) {
    extern __shared__ __align__(16) unsigned char sm[];
    constexpr bool PLAIN = MODE == kGluPlain;
    constexpr int kHalf = PLAIN ? 16 : 32;  // rows per half of the warps
    static_assert(!STAGE || MODE == kGluLlama, "glu_fused_kernel: only the llama mode stages its rows");
    static_assert(!SPLIT || MODE == kGluLlama, "glu_fused_kernel: only the llama mode splits");
#if __CUDA_ARCH__ >= 900
    constexpr bool kStage = STAGE, kSplit = SPLIT;
#else
    constexpr bool kStage = false, kSplit = false;  // the host stages and splits on sm_90 only
#endif
    __shared__ float gu[2 * kHalf];
    __shared__ __align__(8) uint64_t wbar;
    const int nw = static_cast<int>(blockDim.x >> 5), w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    if constexpr (kSplit) cluster_arrive(false);  // the first phase: this block has started (waited on before the remote store)
    const bool up = kSplit ? cluster_rank() == 1 : w >= nw / 2;
    const int ob = kSplit ? static_cast<int>(blockIdx.x >> 1) : static_cast<int>(blockIdx.x);  // this block's 32 outputs
    const int rl = (up && !kSplit ? w - nw / 2 : w) * R;  // first of this warp's rows within its half
    const int row0 = ob * 32 + (PLAIN && up ? kHalf : 0);  // this half's first row
    const size_t rb = up ? p.rbu : p.rbg;
    const uint8_t* wm = up ? p.wu : p.wg;
    unsigned char* ws = sm + x_smem_bytes(p.cols);  // STAGE: the 32 gate rows, then the 32 up rows (SPLIT: this half's)
    l2pf_issue(p.pf);
    if constexpr (kStage) {
        if (threadIdx.x == 0) {
            const size_t r0 = ob * 32, b0 = kSplit && up ? 0 : 32 * p.rbg, b1 = kSplit && !up ? 0 : 32 * p.rbu;  // gate rows r0.., up rows r0..
            asm volatile("mbarrier.init.shared.b64 [%0], 1;" ::"r"(smem_addr(&wbar)));
            asm volatile("fence.mbarrier_init.release.cluster;");
            asm volatile("mbarrier.arrive.expect_tx.shared.b64 _, [%0], %1;" ::"r"(smem_addr(&wbar)), "r"(static_cast<unsigned>(b0 + b1)) : "memory");
            // TMA bulk copies (sm_90): the gate rows to ws, the up rows after them
            if (b0 > 0)
                asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(ws)),
                             "l"(p.wg + r0 * p.rbg), "r"(static_cast<unsigned>(b0)), "r"(smem_addr(&wbar))
                             : "memory");
            if (b1 > 0)
                asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(ws + b0)),
                             "l"(p.wu + r0 * p.rbu), "r"(static_cast<unsigned>(b1)), "r"(smem_addr(&wbar))
                             : "memory");
        }
    } else {  // each half of the threads prefetches its half's rows (SPLIT: all of them, the block's 32 rows)
        const int t = static_cast<int>(up && !kSplit ? threadIdx.x - blockDim.x / 2 : threadIdx.x);
        const size_t nt = kSplit ? blockDim.x : blockDim.x / 2;
        for (size_t o = static_cast<size_t>(t) * 128; o < kHalf * rb; o += nt * 128)
            asm volatile("prefetch.global.L2 [%0];" ::"l"(wm + static_cast<size_t>(row0) * rb + o));
    }
    const NormPre pre = norm_preload(MODE == kGluLlama || p.norm_kind == kNormRms ? p.norm_w : nullptr, p.cols);  // immutable: before the wait
    pdl_sync(p.pdl_early);
    const XQ x = smem_x(sm, p.cols);
    if constexpr (MODE == kGluLlama)  // (its barriers also publish the staging mbarrier's initialisation)
        norm_quant_smem(p.x, p.norm_w, p.cols, p.eps, pre, const_cast<int8_t*>(x.q), const_cast<float*>(x.d), const_cast<float*>(x.s), p.late);
    else
        prologue_smem(p.norm_kind, p.x, p.norm_w, p.norm_b, p.cols, p.eps, pre, const_cast<int8_t*>(x.q), const_cast<float*>(x.d),
                      const_cast<float*>(x.s), p.late);
    const uint8_t* hb = wm + static_cast<size_t>(row0) * rb;  // this half's first row
    if constexpr (kStage) {
        asm volatile(
            "{\n .reg .pred p;\n W: mbarrier.try_wait.parity.shared.b64 p, [%0], 0;\n @!p bra W;\n}\n" ::"r"(smem_addr(&wbar))
            : "memory");
        hb = ws + (up && !kSplit ? 32 * p.rbg : 0);
    }
    float acc[R] = {};
    const uint8_t* rows[R];
#pragma unroll
    for (int r = 0; r < R; ++r) rows[r] = hb + static_cast<size_t>(rl + r) * rb;
    dot_rows<R, 1, EXT>(up ? p.tu : p.tg, rows, p.cols, x, lane, acc);
    const float mine = warp_sum_rows<R>(acc, lane);
    float* const gm = &gu[(up ? kHalf : 0) + rl + scatter_row<R>(lane)];
    const float gv = p.late ? mine * norm_scale(p.cols, p.eps) : mine;
    if constexpr (kSplit) {
        cluster_wait();  // both blocks have started: rank 0's shared memory exists
        if (lane % (32 / R) == 0) {
            if (up) st_cluster(gm, 0, gv);
            else *gm = gv;
        }
        cluster_arrive(true);  // the up values are in rank 0's gu once every thread of the cluster arrived
        cluster_wait();
        if (up) return;
    } else {
        if (lane % (32 / R) == 0) *gm = gv;
        __syncthreads();
    }
    if (w == 0) {  // gu: the 32 outputs (PLAIN), or 32 gate then 32 up values
        const int row = ob * 32 + lane;
        const float v = MODE == kGluLlama ? silu_mul(gu[lane], gu[32 + lane])
                        : PLAIN           ? act1(gu[lane] + (p.up_b ? p.up_b[row] : 0.0f), p.act)
                                          : act1(gu[lane], p.act) * gu[32 + lane];
        if (p.h) p.h[row] = v;
        quantize32_to(v, ob, lane, g_aq, g_ad, g_as);
    }
}

// ---- gate|up, pairs variant: warp w of a block owns units of P consecutive outputs j (rows gate j and up j, 2P
// rows in flight at once); a block takes a contiguous share of the n_ff / P units (block_groups), each warp every
// kMvWarps-th of them, after one norm prologue. The warp completing a 32-output sub-block quantizes it (counters
// per sub-block). RZ_CUDA_GLU_PAIRS=1|2: n_ff / (8P) blocks, one unit a warp (more and lighter blocks than the
// 32-output kernel above); 3|4 (P = 2|4): the resident blocks, each the same share of the rows, instead of waves of
// 32-output blocks (qwen3-8b: 384 of them over 264 resident blocks; the default there, matvec_ffn_norm).
__device__ unsigned g_cnt[kMaxActCols / 32];  // outputs of each 32-output GLU sub-block done (reset by the last)

template <int P, int EXT, bool W = false>
__global__ void __launch_bounds__(kMvWarps * 32, 2) glu_pairs_kernel(const GluParams p) {
    extern __shared__ __align__(16) unsigned char sm[];
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    int u0, u1;
    block_groups(p, u0, u1);
    l2pf_issue(p.pf);
    const auto rows_of = [&](int u, const uint8_t* (&rows)[2 * P]) {
#pragma unroll
        for (int q = 0; q < P; ++q) {
            rows[2 * q] = p.wg + static_cast<size_t>(u * P + q) * p.rbg;
            rows[2 * q + 1] = p.wu + static_cast<size_t>(u * P + q) * p.rbu;
        }
    };
    if (u0 + w < u1) {  // weights are immutable: this warp's first unit into L2 before the wait
        const uint8_t* rows[2 * P];
        rows_of(u0 + w, rows);
#pragma unroll
        for (int r = 0; r < 2 * P; ++r)
            for (size_t o = static_cast<size_t>(lane) * 128; o < p.rbg; o += 32 * 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(rows[r] + o));
    }
    const NormPre pre = norm_preload(p.norm_w, p.cols);
    pdl_sync(p.pdl_early);
    const XQ x = smem_x(sm, p.cols);
    norm_quant_smem(p.x, p.norm_w, p.cols, p.eps, pre, const_cast<int8_t*>(x.q), const_cast<float*>(x.d), const_cast<float*>(x.s), p.late);
    const float sc = p.late ? norm_scale(p.cols, p.eps) : 1.0f;
    // The warp whose count completed the 32-output sub-block of output j (all of its outputs stored and fenced)
    // quantizes it from p.h and resets its counter.
    const auto quantize_sub = [&](int j) {
        __threadfence();
        const float v = __ldcg(p.h + (j & ~31) + lane);
        quantize32_to(v, j >> 5, lane, g_aq, g_ad, g_as);
        if (lane == 0) g_cnt[j >> 5] = 0u;
    };
    for (int u = u0 + w; u < u1; u += kMvWarps) {
        const int j0 = u * P;
        const uint8_t* rows[2 * P];
        rows_of(u, rows);
        float acc[2 * P] = {};
        dot_rows<2 * P, 1, EXT, W>(p.tg, rows, p.cols, x, lane, acc);
        float h[P];
#pragma unroll
        for (int q = 0; q < P; ++q) h[q] = silu_mul(sc * warp_sum(acc[2 * q]), sc * warp_sum(acc[2 * q + 1]));
        if (p.defer) {
            if (lane == 0) {
#pragma unroll
                for (int q = 0; q < P; ++q) p.h[j0 + q] = h[q];
            }
            continue;
        }
        int last = 0;
        if (lane == 0) {
#pragma unroll
            for (int q = 0; q < P; ++q) p.h[j0 + q] = h[q];
            __threadfence();
            last = atomicAdd(&g_cnt[j0 >> 5], static_cast<unsigned>(P)) == 32u - P;
        }
        if (__shfl_sync(0xFFFFFFFFu, last, 0)) quantize_sub(j0);  // this warp completed sub-block j0 / 32
    }
    if (!p.defer) return;
    // Deferred completion (RZ_CUDA_GLU_DEFER, default 1; 0 counts each unit as it is done, above): the warp's units
    // are counted once its last unit is done, lane i counting unit i, so a warp waits on one fence and one atomic
    // round trip, all its units' atomics in flight together, instead of a fence and an atomic round trip between
    // every two units. The warp whose count completes a sub-block quantizes it. tg128 vs 0 (H200, two alternating
    // pairs): qwen3-4b Q4_K_M +3.1%, qwen3-8b Q8_0 +2%, llama-2-7b Q4_K_M +1.6%, qwen3-8b Q4_K_M +0.5%, llama-2-7b
    // Q8_0 0; the same greedy tokens (the same values quantized).
    const int first = u0 + w, n = first < u1 ? (u1 - first + kMvWarps - 1) / kMvWarps : 0;
    if (lane == 0) __threadfence();
    __syncwarp();  // lane 0's h stores ordered before every lane's atomic
    for (int base = 0; base < n; base += 32) {
        const int i = base + lane;
        int last = 0, j0 = 0;
        if (i < n) {
            j0 = (first + i * kMvWarps) * P;
            __threadfence();
            last = atomicAdd(&g_cnt[j0 >> 5], static_cast<unsigned>(P)) == 32u - P;
        }
        for (unsigned m = __ballot_sync(0xFFFFFFFFu, last); m != 0u; m &= m - 1u)
            quantize_sub(__shfl_sync(0xFFFFFFFFu, j0, __ffs(static_cast<int>(m)) - 1));
    }
}

__device__ float g_ah[kMaxActCols];  // GLU output in float (h) of the pairs kernel when the caller passes none

// ---- host side --------------------------------------------------------------------------------------------

bool& pdl_flag() {
    static bool on = [] {
        const char* e = std::getenv("RZ_CUDA_PDL");
        if (e && std::string(e) == "0") return false;
        return device_attr(cudaDevAttrComputeCapabilityMajor, 0) >= 9;  // griddepcontrol is sm_90+
    }();
    return on;
}

// RZ_CUDA_NORM_LATE (default 1): the late RMS scale of the norm prologue (norm_quant_smem).
int norm_late() { return env_int("RZ_CUDA_NORM_LATE", 1) != 0 ? 1 : 0; }


template <int R, int UX, int EXT, bool GEN, bool PAIR = false>
void launch_mv_k(MvParams& p, size_t smem) {
    for (int i = 0; i < p.nseg; ++i) {
        p.seg[i].ngroups = (p.seg[i].rows + kMvWarps * R - 1) / (kMvWarps * R);
        p.ngroups += p.seg[i].ngroups;
    }
    const int grid = spread_groups(p, resident_blocks(mv_fused_kernel<R, UX, EXT, GEN, PAIR>, kMvWarps * 32, smem));
    p.pdl_early = pdl_early();
    launch(mv_fused_kernel<R, UX, EXT, GEN, PAIR>, grid, kMvWarps * 32, smem, p);
}

template <int R, int UX = 1, bool GEN = false>
void launch_mv(MvParams& p, size_t smem, int ext) {
    with_ext(ext, [&](auto e) { launch_mv_k<R, UX, decltype(e)::value, GEN>(p, smem); });
}

// A kernel variant for the long rows of 7-8B models: the environment knob `name` 1 never, 2 always, unset on rows of
// 4096+ columns.
bool long_rows_rule(const char* name, int cols) {
    const int v = env_int(name, 0);
    return v == 2 || (v != 1 && cols >= 4096);
}

// Rows per warp of the plain fused mat-vec: RZ_CUDA_MV_R (1, 2, 4), else 2 for the output head (>= 16384 rows) and
// where the one-row groups (`groups`) outnumber the resident blocks of the one-row kernel (`resident1`): Q8_0's
// q|k|v, 320 groups at 2 blocks per SM, then has each warp's two rows in flight at once instead of each block
// reading two row groups one after the other (+3% tinyllama Q8_0 decode, H200). Else 1.
int mv_rows_per_warp(int rows, int groups, int resident1) {
    const int r = env_int("RZ_CUDA_MV_R", 0);
    if (r == 1 || r == 2 || r == 4) return r;
    return rows >= 16384 || groups > resident1 ? 2 : 1;
}

// The two-row kernel of type sets 0 (Q4_K / Q6_K) and 1 (+ Q5_K, Q4_0) with its loop unrolled twice (two block steps'
// loads of both rows in flight, at 2 blocks an SM instead of 3): RZ_CUDA_MV_U2 1 never, 2 always, unset on rows of
// 4096+ columns. Why: a 7-8B model's two-row launches walk 16-48 super-blocks a row, 4 a step, each step a dependent
// round trip; tg128 llama-2-7b Q4_K_M 541-546 vs 510-511 tok/s, qwen3-8b Q4_K_M 474-476 vs 454-455, llama-2-7b
// Q5_K_M 470-473 vs 443, qwen3-8b Q5_K_M 412-413 vs 394-397 (H200; the same greedy tokens). TinyLlama's head (2048
// columns) measured the same either way (1982-1995 vs 1992-1996), and Q8_0 (set 8) gained nothing (qwen3-8b 344-347
// either way), so they keep the plain kernel.
bool mv_unroll_rows(int ext, int cols) { return (ext == 0 || ext == 1) && long_rows_rule("RZ_CUDA_MV_U2", cols); }

void matvec_fused(const MatvecSeg* segs, int nseg, int cols, const float* x, const NormSpec& norm, bool accumulate, const L2Pf& pf) {
    // Segments of both extra type sets 2 and 4, or Q8_0 with another set (fused_dot_ext.cuh; no llama.cpp mix has
    // them in one q|k|v) go out as two launches, each with its own norm prologue, instead of one kernel reading
    // every type (ptxas gave that one all 255 registers).
    int sets = 0;
    for (int i = 0; i < nseg; ++i) sets |= ext_mask(segs[i].t);
    const int apart = (sets & 6) == 6 ? 4 : (sets & 8) != 0 && sets != 8 ? 8 : 0;  // the set launched on its own
    if (apart != 0) {
        MatvecSeg a[3], b[3];
        int na = 0, nb = 0;
        for (int i = 0; i < nseg; ++i) (ext_mask(segs[i].t) == apart ? b[nb++] : a[na++]) = segs[i];
        matvec_fused(a, na, cols, x, norm, accumulate, pf);
        matvec_fused(b, nb, cols, x, norm, accumulate, L2Pf{});
        return;
    }
    MvParams p{};
    p.pf = pf;
    int rows = 0, groups1 = 0;  // groups1: row groups of the one-row kernel
    for (int i = 0; i < nseg; ++i) {
        RZ_ASSERT(segs[i].act < 0 || !accumulate, "matvec_fused: an epilogue activation with accumulate");
        p.seg[i] = seg_of(segs[i], cols);
        rows += segs[i].rows;
        groups1 += (segs[i].rows + kMvWarps - 1) / kMvWarps;
    }
    p.nseg = nseg;
    p.cols = cols;
    p.x = x;
    p.norm_w = norm.w;
    p.norm_b = norm.b;
    p.norm_kind = static_cast<int>(norm.kind);
    p.eps = norm.eps;
    p.accumulate = accumulate ? 1 : 0;
    p.late = norm.kind == NormKind::kRms ? norm_late() : 0;
    const size_t smem = x ? norm_smem_bytes(cols) : 0;
    const int ext = fused_ext(sets);
    const int resident1 = with_ext(ext, [&](auto e) { return resident_blocks(mv_fused_kernel<1, 2, decltype(e)::value>, kMvWarps * 32, smem); });
    if (x && norm.kind != NormKind::kRms) {  // the other blocks' prologues: the default rows per warp and unroll only
        if (mv_rows_per_warp(rows, groups1, resident1) == 1) launch_mv<1, 2, true>(p, smem, ext);
        else launch_mv<2, 1, true>(p, smem, ext);
        return;
    }
    switch (mv_rows_per_warp(rows, groups1, resident1)) {
        case 4: launch_mv<4>(p, smem, ext); break;
        case 2:
            if (!mv_unroll_rows(ext, cols)) launch_mv<2>(p, smem, ext);
            else if (ext == 1) launch_mv_k<2, 2, 1, false>(p, smem);
            else launch_mv_k<2, 2, 0, false>(p, smem);
            break;
        default: {
            // Unroll factor of the one-row-per-warp kernel: 2 (default) measured +14% (Q8_0) / +5% (Q4_K_M) decode
            // over 1, and 4 below 2 (register pressure; docs/perf/cuda.md "round 2").
            const int ux = env_int("RZ_CUDA_MV_U", 2);
            if (ux == 4) launch_mv<1, 4>(p, smem, ext);
            else if (ux == 2) launch_mv<1, 2>(p, smem, ext);
            else launch_mv<1>(p, smem, ext);
            break;
        }
    }
}

// The gate|up kernels of a type-set mask (fused_ext; gate and up share one type, so never 7).
template <int R, int MODE = kGluLlama, bool SPLIT = false>
auto glu_fused_for(int ext) {
    return with_ext(ext, [](auto e) { return &glu_fused_kernel<R, decltype(e)::value, MODE, false, SPLIT>; });
}

// The staged gate|up kernel (STAGE): RZ_CUDA_GLU_STAGE (default 1) on an sm_90+ device (TMA bulk copies), where two
// blocks of `bytes` fit an SM's shared memory (so that the grid stays one wave, as the direct kernel's): TinyLlama
// Q4_K_M's 76 KB a block do, its Q8_0's 142 KB do not.
bool glu_stage(size_t bytes) {
    static const int smem_sm =
        device_attr(cudaDevAttrComputeCapabilityMajor, 0) >= 9 ? device_attr(cudaDevAttrMaxSharedMemoryPerMultiprocessor, 0) : 0;
    return env_int("RZ_CUDA_GLU_STAGE", 1) != 0 && 2 * (bytes + 2048) <= static_cast<size_t>(smem_sm);
}

// The SPLIT gate|up kernel (cluster pairs of 32-row blocks) on an sm_90+ device: RZ_CUDA_GLU_SPLIT 1 always, 0
// never, unset where it puts fewer rows on the busiest SM: the B = n_ff / 32 blocks of the 32-output kernel give it
// ceil(B / SMs) blocks (2 ceil(B / SMs) halves), the 2B halves ceil(2B / SMs), all resident at 3 an SM. TinyLlama's
// 176 blocks on 132 SMs: 4 halves against 3 (Q8_0 +9%); qwen3-1.7b's 192: likewise (Q8_0 +5%, Q4_K_M +2%);
// llama-3.2-1b's 256: 4 against 4 with two waves of halves (split: Q8_0 -4.5%, Q4_K_M -7%); qwen3-0.6b's 96: 2 against
// 2 (split: Q8_0 -2%) (H200).
// R = RZ_CUDA_GLU_R: 8 (4 warps a block) for Q8_0, else 4 (8 warps); staged (STAGE) for Q8_0 and the set of Q4_0 /
// Q5_K where all 2 * n_ff / 32 blocks are resident at once. TinyLlama decode against the 32-output kernel (H200, two
// machines, two alternating repetitions each): Q8_0 +3 to +8.6% (direct: -2 to -5%), Q5_0 +9%, Q4_0 +1.4%
// (direct -1%), Q5_K_M, Q3_K_M, Q4_1, Q2_K +2 to +3%, Q6_K +1.5%, Q4_K_M +2% (direct; staged +0 to +2%).
bool glu_split_on(int n_ff) {
    static const bool sm90 = device_attr(cudaDevAttrComputeCapabilityMajor, 0) >= 9;
    const int e = env_int("RZ_CUDA_GLU_SPLIT", -1);
    if (!sm90 || e == 0) return false;
    if (e > 0) return true;
    const int b = n_ff / 32, sms = sm_count();
    return (2 * b + sms - 1) / sms < 2 * ((b + sms - 1) / sms) && 2 * b <= kGluSplitPerSm * sms;
}

template <int R>
void launch_glu_split(GluParams& p, int n_ff, size_t smem, size_t staged, int ext) {
    constexpr int threads = 32 / R * 32;
    const int grid = 2 * (n_ff / 32);
    if ((ext == 1 || ext == 8) && env_int("RZ_CUDA_GLU_STAGE", 1) != 0) {
        const auto k = ext == 8 ? glu_fused_kernel<R, 8, kGluLlama, true, true> : glu_fused_kernel<R, 1, kGluLlama, true, true>;
        allow_smem(k);
        if (resident_blocks(k, threads, staged) >= grid) {
            launch_clustered(2, k, grid, threads, staged, p);
            return;
        }
    }
    launch_clustered(2, glu_fused_for<R, kGluLlama, true>(ext), grid, threads, smem, p);
}

// wide: Q4_K with 4 lanes a super-block (dot_rows' W; P = 2 only).
template <int P>
auto glu_pairs_for(int ext, bool wide) {
    if constexpr (P == 2)
        if (wide) return with_ext(ext, [](auto e) { return &glu_pairs_kernel<P, decltype(e)::value, true>; });
    return with_ext(ext, [](auto e) { return &glu_pairs_kernel<P, decltype(e)::value>; });
}

// The pairs kernel with P outputs per unit (RZ_CUDA_GLU_PAIRS above): one unit a warp (persist false), or every
// resident block with an even share of the units (at most RZ_CUDA_GLU_BLOCKS blocks where set: the kernel test's
// several units a warp).
template <int P>
void launch_glu_pairs(GluParams& p, int n_ff, size_t smem, int ext, bool persist) {
    // Q4_K with 4 lanes a super-block on rows of 4096+ columns (RZ_CUDA_GLU_WIDE 1 never, 2 always; fused_dot.cuh).
    const auto k = glu_pairs_for<P>(ext, long_rows_rule("RZ_CUDA_GLU_WIDE", p.cols));
    p.ngroups = n_ff / P;
    int grid = p.ngroups / kMvWarps;
    if (persist) {
        const int cap = env_int("RZ_CUDA_GLU_BLOCKS", 0), resident = resident_blocks(k, kMvWarps * 32, smem);
        grid = spread_groups(p, cap > 0 ? std::min(cap, resident) : resident);
    }
    launch(k, grid, kMvWarps * 32, smem, p);
}

float* glu_scratch() {
    static float* p = [] {
        void* a = nullptr;
        if (cudaGetSymbolAddress(&a, g_ah) != cudaSuccess) (void)cudaGetLastError();
        return static_cast<float*>(a);
    }();
    return p;
}

}  // namespace

namespace detail {
int env_int(const char* name, int def) {
    const char* e = std::getenv(name);
    return e && *e ? std::atoi(e) : def;
}

int device_attr(cudaDeviceAttr a, int def) {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, a, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return def;
    }
    return v;
}

int sm_count() {
    static const int n = device_attr(cudaDevAttrMultiProcessorCount, 1);
    return n;
}

ActBuffer act_buffer() {
    static const ActBuffer b = [] {
        void *q = nullptr, *d = nullptr, *sc = nullptr;
        if (cudaGetSymbolAddress(&q, g_aq) != cudaSuccess || cudaGetSymbolAddress(&d, g_ad) != cudaSuccess ||
            cudaGetSymbolAddress(&sc, g_as) != cudaSuccess)
            (void)cudaGetLastError();
        return ActBuffer{static_cast<int8_t*>(q), static_cast<float*>(d), static_cast<float*>(sc)};
    }();
    return b;
}
bool pdl_on() { return pdl_flag(); }
int pdl_early() { return env_int("RZ_CUDA_PDL_EARLY", 0) == 1 ? 1 : 0; }
}  // namespace detail

void set_pdl(bool on) { pdl_flag() = on; }
bool pdl_enabled() { return pdl_flag(); }

bool fused_supported(DType t, int cols) {
    // Q6_K, Q8_0, Q4_0, IQ4_NL, Q5_0 and Q3_K (blocks padded to 112 bytes) rows are repacked and 16-byte aligned on
    // the device (row_bytes). Q5_K rows (176-byte blocks) keep the 16-byte alignment of Q4_K; Q2_K (84) and Q4_1 (20)
    // rows are 4-byte, IQ4_XS (136) and Q5_1 (24) rows 8-byte aligned, which their kernels' 32- and 64-bit loads need.
    // The 32-element block types take any multiple of 32 columns (Qwen2.5-0.5B's 896: its Q8_0 file and the Q5_0 /
    // Q8_0 fallback tensors of llama.cpp's K-quant mixes; every lane mapping walks whole blocks, the prologues 8
    // elements a thread), the 256-element ones multiples of 256.
    const DTypeInfo* info = dtype_info(t);  // the block size from the traits table (32 or 256 for the types below)
    return info && cols > 0 && cols % static_cast<int>(info->block_size) == 0 && cols <= kMaxActCols &&
           (t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q5_K || t == DType::Q4_0 || t == DType::Q3_K || t == DType::Q2_K ||
            t == DType::IQ4_XS || t == DType::IQ4_NL || t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1 ||
            t == DType::Q6_K);
}

void matvec_norm(const MatvecSeg* segs, int nseg, int cols, const float* x, const float* norm_w, float eps, bool accumulate) {
    matvec_fused(segs, nseg, cols, x, NormSpec{NormKind::kRms, norm_w, nullptr, eps}, accumulate, take_l2pf());
}

void matvec_prologue(const MatvecSeg* segs, int nseg, int cols, const float* x, const NormSpec& norm, bool accumulate) {
    matvec_fused(segs, nseg, cols, x, norm, accumulate, take_l2pf());
}

void matvec_act(const MatvecSeg& seg, int cols, bool accumulate) { matvec_fused(&seg, 1, cols, nullptr, NormSpec{}, accumulate, take_l2pf()); }

bool matvec_pair_supported(DType ta, int cols_a, DType tb, int cols_b) {
    // The PAIR kernels' type sets: Q4_K / Q6_K, and those with Q8_0 (one kernel's sets, as matvec_fused launches
    // them). Not set 1 (Q5_K, Q4_0): its one-row PAIR kernel spills 32 bytes at its 80 registers, and phi-2's Q5_K_M /
    // Q4_0 decode measured 0.2-0.6% slower paired (H200). Both inputs' int8 copies fit a block's shared memory.
    static const size_t smem_max = static_cast<size_t>(device_attr(cudaDevAttrMaxSharedMemoryPerBlock, 48 * 1024));
    const int ext = fused_ext(ext_mask(ta) | ext_mask(tb));
    return fused_supported(ta, cols_a) && fused_supported(tb, cols_b) && (ext == 0 || ext == 8) &&
           x_smem_bytes(cols_a) + norm_smem_bytes(cols_b) <= smem_max;
}

void matvec_pair(const MatvecSeg& a, int cols_a, const float* xa, const MatvecSeg& b, int cols_b, const float* xb, bool accumulate) {
    RZ_ASSERT(matvec_pair_supported(a.t, cols_a, b.t, cols_b) && a.rows == b.rows && a.y == b.y && a.act < 0 && b.act < 0 && xa && xb,
              "matvec_pair: shapes");
    MvParams p{};
    p.pf = take_l2pf();
    p.seg[0] = seg_of(a, cols_a);
    p.nseg = 1;
    p.cols = cols_a;
    p.x = xa;
    p.norm_kind = static_cast<int>(NormKind::kNone);
    p.accumulate = accumulate ? 1 : 0;
    p.x2 = xb;
    p.cols2 = cols_b;
    p.seg2 = seg_of(b, cols_b);
    const size_t smem = x_smem_bytes(cols_a) + norm_smem_bytes(cols_b);
    const int ext = fused_ext(ext_mask(a.t) | ext_mask(b.t));
    const auto go = [&](auto e) {
        constexpr int E = decltype(e)::value;
        // Rows per warp as matvec_fused's generic prologue picks them for the first matrix.
        const int resident1 = resident_blocks(mv_fused_kernel<1, 2, E, true, true>, kMvWarps * 32, smem);
        if (mv_rows_per_warp(a.rows, (a.rows + kMvWarps - 1) / kMvWarps, resident1) == 1) launch_mv_k<1, 2, E, true, true>(p, smem);
        else launch_mv_k<2, 1, E, true, true>(p, smem);
    };
    if (ext == 8) go(std::integral_constant<int, 8>{});
    else go(std::integral_constant<int, 0>{});
}

void matvec_glu_norm(DType tg, const void* Wg, DType tu, const void* Wu, int n_ff, int cols, const float* x, const float* norm_w,
                     float eps, float* h) {
    matvec_ffn_norm(tg, Wg, tu, Wu, nullptr, n_ff, cols, x, NormSpec{NormKind::kRms, norm_w, nullptr, eps}, Act::kSilu, h);
}

void matvec_ffn_norm(DType tg, const void* Wg, DType tu, const void* Wu, const float* up_b, int n_ff, int cols, const float* x,
                     const NormSpec& norm, Act act, float* h) {
    const bool plain = Wg == nullptr;
    RZ_ASSERT(plain || tg == tu, "matvec_ffn_norm: gate and up types differ");
    RZ_ASSERT(n_ff % 32 == 0 && n_ff <= kMaxActCols, "matvec_ffn_norm: n_ff");
    RZ_ASSERT(plain || up_b == nullptr, "matvec_ffn_norm: an up bias only without a gate");
    const L2Pf pf = take_l2pf();
    const auto* wu = static_cast<const uint8_t*>(Wu);
    const auto* wg = plain ? wu : static_cast<const uint8_t*>(Wg);
    if (plain) tg = tu;
    const int kind = static_cast<int>(norm.kind);
    GluParams p{wg, wu, row_bytes(tg, cols), row_bytes(tu, cols), static_cast<int>(tg), static_cast<int>(tu), cols, x, norm.w, norm.b, kind,
                norm.eps, up_b, static_cast<int>(act), h, pdl_early(), pf, norm.kind == NormKind::kRms ? norm_late() : 0};
    const size_t smem = norm_smem_bytes(cols);
    const int ext = fused_ext(ext_mask(tg));
    const bool llama = !plain && norm.kind == NormKind::kRms && act == Act::kSilu;  // SwiGLU after an RMSNorm
    // RZ_CUDA_GLU_PAIRS unset: the resident-block pairs kernel (P = 2) where the 32-output kernel needs more than
    // one wave (qwen3-8b: 384 blocks over 264 resident, +7% decode, H200); below one wave it is slower (TinyLlama's
    // 176 blocks: -7%, qwen3-0.6b -3%).
    int pairs = env_int("RZ_CUDA_GLU_PAIRS", -1);
    if (pairs < 0) pairs = n_ff / 32 > resident_blocks(glu_fused_for<8>(ext), 8 * 32, smem) ? 3 : 0;
    if (pairs >= 1 && pairs <= 4 && llama) {  // the pairs kernels: SwiGLU only
        if (!p.h) p.h = glu_scratch();
        p.defer = env_int("RZ_CUDA_GLU_DEFER", 1) != 0 ? 1 : 0;
        if (pairs == 4) launch_glu_pairs<4>(p, n_ff, smem, ext, true);
        else if (pairs == 3) launch_glu_pairs<2>(p, n_ff, smem, ext, true);
        else if (pairs == 2 && n_ff % (kMvWarps * 2) == 0) launch_glu_pairs<2>(p, n_ff, smem, ext, false);
        else launch_glu_pairs<1>(p, n_ff, smem, ext, false);
        return;
    }
    const int grid = n_ff / 32;
    const size_t staged = x_smem_bytes(cols) + 32 * (p.rbg + p.rbu);  // the STAGE kernel's shared memory
    if (llama && glu_split_on(n_ff)) {
        const size_t half = x_smem_bytes(cols) + 32 * p.rbg;
        if (env_int("RZ_CUDA_GLU_R", ext == 8 ? 8 : 4) == 4) launch_glu_split<4>(p, n_ff, smem, half, ext);
        else launch_glu_split<8>(p, n_ff, smem, half, ext);
        return;
    }
    if (llama && env_int("RZ_CUDA_GLU_R", 8) == 4) {  // rows per warp: 64 / R warps per block
        launch(glu_fused_for<4>(ext), grid, 16 * 32, smem, p);
    } else if (llama && (ext == 0 || ext == 8) && glu_stage(staged)) {  // the measured type sets: Q4_K / Q6_K, Q8_0
        const auto k = ext == 8 ? glu_fused_kernel<8, 8, kGluLlama, true> : glu_fused_kernel<8, 0, kGluLlama, true>;
        allow_smem(k);
        launch(k, grid, 8 * 32, staged, p);
    } else if (plain) {  // 8 rows per warp, 4 warps: phi-2 decode 5% (Q4_K_M) / 3% (Q8_0) faster than 4 rows per warp and 8 warps (H200)
        launch(glu_fused_for<8, kGluPlain>(ext), grid, 4 * 32, smem, p);
    } else if (!llama) {
        launch(glu_fused_for<8, kGluGated>(ext), grid, 8 * 32, smem, p);
    } else {
        launch(glu_fused_for<8>(ext), grid, 8 * 32, smem, p);
    }
}


}  // namespace rz::cuda
