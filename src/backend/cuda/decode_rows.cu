// Fused mat-vecs of a decode step of several sequences (the server's continuous batching at 2-32 clients; cuda.h,
// matvec_rows): the one-token kernels of decode_fused.cu with S activation rows, so a step of S tokens reads each
// weight byte from memory once, like one token. Up to 8 tokens the dp4a kernels apply each step's decoded weights
// to every token (fused_dot_rows.cuh); launches of only Q4_K / Q5_K / Q6_K / Q3_K / Q2_K matrices from 3 tokens (IQ4_*
// too from 5), and of every fused type but Q4_1 and Q5_1 from 9, take int8 tensor cores (fused_mma_rows.cuh,
// fused_mma_rows_ext.cuh; mma_type). The norm prologue quantizes the S rows of x into shared memory in one
// pass, with the RMS scale of each row applied after the dot products (the late scale of the one-token prologue),
// so the block waits at one barrier, not 3 per token. A tensor-core block takes at most 16 tokens: the 32 of a larger
// step are two token groups (blockIdx.y), each block a chain half as long (token_groups).
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>
#include <utility>

#include "backend/cuda/act.cuh"
#include "backend/cuda/common.cuh"
#include "backend/cuda/fused_dot_ext.cuh"
#include "backend/cuda/fused_dot_rows_ext.cuh"
#include "backend/cuda/fused_mma_rows.cuh"
#include "backend/cuda/fused_mma_rows_ext.cuh"
#include "backend/cuda/fused_prologue.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {

using namespace detail;
using namespace detail::fused;

namespace {

constexpr int kWarps = 8;       // warps per block, as the one-token kernels
constexpr int kGluTokens = 4;  // tokens per pass of the gate|up kernel (8 measured the same)

// Bytes of one token's activation in shared memory: norm_smem_bytes plus 32, so that consecutive tokens start 8
// banks apart (for n a multiple of 512, norm_smem_bytes(n) is a multiple of 128 bytes: the tensor-core kernels'
// 8 lanes reading 8 tokens at one offset hit one bank 8 times; with 8 banks, each half-warp phase of their 8-byte
// loads is conflict-free).
__host__ __device__ inline size_t token_smem_bytes(int n) { return norm_smem_bytes(n) + 32; }

// The step's activation rows quantized once per launch by rows_quant_kernel, in the layout of shared memory (token
// t's codes and scales at t token_smem_bytes(n)), and each row's RMS scale. Before, every block of a rows launch
// quantized all S rows of x itself (S n floats a block through L2): at 16 tokens that prologue was a quarter of a
// tinyllama step (2.32-2.42 vs 1.70-1.79 ms with it skipped, H200), 80 of the output head's 118 us.
constexpr size_t kRowsXBytes = 384 * 1024;  // fused_rows_fit's bound on S token_smem_bytes(n) over all token groups
constexpr size_t kRowsSmemBytes = 96 * 1024;  // and on a block's: two blocks an SM still fit (sm_80: 164 KB, sm_90: 228 KB)
constexpr int kBlockTokensMax = 16;          // tokens of one tensor-core block (more: token groups)
__device__ __align__(16) unsigned char g_rows_x[kRowsXBytes];
__device__ float g_rows_rs[kFusedRowsMax];

// The RMS scale of each token row (1 without a norm): rows_prologue's, or staged by rows_stage.
__shared__ float s_rscale[kFusedRowsMax];

// x rows [m, n] (row t at x + t ldx; rows from m to S - 1 repeat row m - 1) times w (null: 1), quantized per 32
// into sm (shared memory; g_rows_x for rows_quant_kernel): token t's codes and scales at sm + t token_smem_bytes(n). With w, each row's sum of
// squares (double, like ops::rms_norm) gives s_rscale[t] = 1 / sqrt(mean + eps); the codes don't depend on it.
// Taken where each block quantizing x costs less than a launch that does it once (launch_x).
template <int S>
__device__ void rows_prologue(const float* __restrict__ x, int ldx, int m, const float* __restrict__ w, int n, float eps, unsigned char* sm) {
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, wid = tid >> 5;
    const size_t stride = token_smem_bytes(n);
    constexpr int C = S < 8 ? S : 8;  // rows whose loads go out together (registers)
    double acc[S] = {};
    for (int base = 0; base < n; base += nt * 8) {  // the same trip count everywhere: quant8_store shuffles
        const int i = base + tid * 8;
        const bool in = i < n;
        float4 wa = make_float4(1.f, 1.f, 1.f, 1.f), wb = wa;
        if (in && w) wa = *reinterpret_cast<const float4*>(w + i), wb = *reinterpret_cast<const float4*>(w + i + 4);
#pragma unroll
        for (int t0 = 0; t0 < S; t0 += C) {
            float4 xa[C], xb[C];
#pragma unroll
            for (int c = 0; c < C; ++c) {  // C rows' loads first: one round trip
                xa[c] = xb[c] = make_float4(0.f, 0.f, 0.f, 0.f);
                const float* xr = x + static_cast<size_t>(min(t0 + c, m - 1)) * ldx;
                if (in) xa[c] = *reinterpret_cast<const float4*>(xr + i), xb[c] = *reinterpret_cast<const float4*>(xr + i + 4);
            }
#pragma unroll
            for (int c = 0; c < C; ++c) {
                const int t = t0 + c;
                acc[t] += ssq8(xa[c], xb[c]);
                const float v[8] = {xa[c].x * wa.x, xa[c].y * wa.y, xa[c].z * wa.z, xa[c].w * wa.w,
                                    xb[c].x * wb.x, xb[c].y * wb.y, xb[c].z * wb.z, xb[c].w * wb.w};
                int8_t* sq = reinterpret_cast<int8_t*>(sm + t * stride);
                float* sd = reinterpret_cast<float*>(sm + t * stride + n);
                quant8_store(v, in, i, sq, sd, sd + n / 32);
            }
        }
    }
    __shared__ double red[S][32];
#pragma unroll
    for (int t = 0; t < S; ++t) {
        const double v = warp_sum(acc[t]);
        if (lane == 0) red[t][wid] = v;
    }
    __syncthreads();
    if (tid < S) {
        double tot = 0.0;
        for (int k = 0; k < (nt >> 5); ++k) tot += red[tid][k];
        s_rscale[tid] = w ? static_cast<float>(1.0 / sqrt(tot / n + eps)) : 1.0f;
    }
    __syncthreads();
}

struct RowsQuantParams {
    const float* x;  // [m, n] at ldx
    int ldx;
    int m;
    const float* w;  // norm weight [n] or null
    int n;
    float eps;
};

// Block t (< S) quantizes row min(t, m - 1) of x (rows m .. S - 1 repeat row m - 1, as the rows kernels' padding
// tokens need) into g_rows_x and its RMS scale into g_rows_rs[t]: rows_prologue of that one row, so the bits are the
// ones each block's prologue gives.
__global__ void __launch_bounds__(kWarps * 32) rows_quant_kernel(const RowsQuantParams p) {
    const int t = static_cast<int>(blockIdx.x);
    pdl_sync(0);
    rows_prologue<1>(p.x + static_cast<size_t>(min(t, p.m - 1)) * p.ldx, p.ldx, 1, p.w, p.n, p.eps, g_rows_x + t * token_smem_bytes(p.n));
    if (threadIdx.x == 0) g_rows_rs[t] = s_rscale[0];
}

// A rows kernel's activations after its wait: the S quantized rows from t0 of g_rows_x into shared memory at sm
// (16-byte loads, one round trip), their RMS scales into s_rscale.
template <int S>
__device__ void rows_stage(int n, unsigned char* sm, int t0 = 0) {
    const int tid = threadIdx.x;
    const int words = static_cast<int>(S * token_smem_bytes(n) / 16);
    const uint4* src = reinterpret_cast<const uint4*>(g_rows_x + t0 * token_smem_bytes(n));
    uint4* dst = reinterpret_cast<uint4*>(sm);
    for (int i = tid; i < words; i += kWarps * 32) dst[i] = src[i];
    if (tid < S) s_rscale[tid] = g_rows_rs[t0 + tid];
    __syncthreads();
}

// The tokens' int8 activations (token t at t times the strides): shared memory after rows_stage (token t's region
// at t token_smem_bytes(n), a multiple of 16 bytes), else the fused buffer's rows [S, n] from row t0. Rows m .. S - 1
// hold row m - 1 again (rows_quant_kernel) or the gate|up kernel's padding rows, whose results are dropped.
__device__ __forceinline__ XQT rows_x(const unsigned char* sm, bool smem, const ActBuffer& a, int n, int t0 = 0) {
    if (!smem) return XQT{a.q + static_cast<size_t>(t0) * n, a.d + static_cast<size_t>(t0) * (n / 32), a.s + static_cast<size_t>(t0) * (n / 32), n, n / 32};
    const int stride = static_cast<int>(token_smem_bytes(n));
    const float* d = reinterpret_cast<const float*>(sm + n);
    return XQT{reinterpret_cast<const int8_t*>(sm), d, d + n / 32, stride, stride / 4};
}

struct RowsParams {
    SegD seg[3];
    int nseg;
    int ngroups;    // total row groups (kWarps rows each)
    int cols;
    const float* x;  // [m, cols] at ldx; null: the fused activation buffer's rows
    int ldx;
    const float* norm_w;  // null with x: quantize x as it is (the attention output)
    float eps;
    int xq;  // with x: 1 = stage the rows rows_quant_kernel wrote (rows_stage), 0 = quantize x in each block (rows_prologue)
    int m;    // tokens (<= S)
    int accumulate;
    ActBuffer act;
    // PAIR kernels (matvec_rows_pair; one segment of the same rows): row r of seg[0] also adds seg2's row r times the
    // fused activation buffer's rows [m, cols2] (a parallel block's down beside its o).
    SegD seg2;
    int cols2;
};

// y_t = (accumulate ? y_t : 0) + bias + W x_t for the m tokens, one row per warp. (Two rows per warp, sharing each
// token's activation loads, measured 3-7% slower at 8 tokens.)
// PAIR (matvec_rows_pair): the one segment's rows also sum seg2's rows against the fused activation buffer, in the
// same lane sums, and both biases go into the one store.
template <int S, int EXT, bool PAIR = false>
__global__ void __launch_bounds__(kWarps * 32, 2) mv_rows_kernel(const RowsParams p) {
    extern __shared__ __align__(16) unsigned char sm[];
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    int g0, g1;
    block_groups(p, g0, g1);
    {  // weights are immutable: this block's first row group into L2 before the wait
        int g = g0;
        const SegD s = pick_seg(p, g);
        const int r0 = g * kWarps, r1 = min(r0 + kWarps, s.rows);
        prefetch_l2(s.w + static_cast<size_t>(r0) * s.rb, static_cast<size_t>(r1 - r0) * s.rb);
        if constexpr (PAIR) prefetch_l2(p.seg2.w + static_cast<size_t>(r0) * p.seg2.rb, static_cast<size_t>(r1 - r0) * p.seg2.rb);
    }
    pdl_sync(0);
    if (p.xq) rows_stage<S>(p.cols, sm);
    else if (p.x) rows_prologue<S>(p.x, p.ldx, p.m, p.norm_w, p.cols, p.eps, sm);
    for (int gi = g0; gi < g1; ++gi) {
        int g = gi;
        const SegD s = pick_seg(p, g);
        const int r0 = g * kWarps + w;
        if (r0 >= s.rows) continue;  // warp-uniform
        const uint8_t* rows[1] = {s.w + static_cast<size_t>(r0) * s.rb};
        float acc[1][S] = {};
        dot_rows_t<1, S, EXT>(s.type, rows, p.cols, rows_x(sm, p.x != nullptr, p.act, p.cols), lane, acc);
        if constexpr (PAIR) {
            const uint8_t* rows2[1] = {p.seg2.w + static_cast<size_t>(r0) * p.seg2.rb};
            dot_rows_t<1, S, EXT>(p.seg2.type, rows2, p.cols2, rows_x(sm, false, p.act, p.cols2), lane, acc);
        }
        float mine = warp_sum_rows<S>(acc[0], lane);
        const int t = scatter_row<S>(lane);
        if (lane % (32 / S) == 0 && t < p.m) {
            if (p.x) mine *= s_rscale[t];  // 1 for a PAIR launch (no norm: matvec_rows_pair)
            if (s.bias) mine += s.bias[r0];
            if (PAIR && p.seg2.bias) mine += p.seg2.bias[r0];
            float* y = s.y + static_cast<size_t>(t) * s.ldy + r0;
            *y = p.accumulate ? *y + mine : mine;
        }
    }
}

// ---- tensor-core versions for 4-16 tokens (fused_mma_rows.cuh; types Q4_K, Q5_K, Q6_K, and Q8_0 above 8): a block computes one tile of
// 16 consecutive rows of a segment, its 8 warps each a share of the row's blocks, reduced in shared memory, for
// tokens [t0, t0 + S), t0 = S blockIdx.y (token groups of a larger step: the 16-token kernels twice for 32).
__device__ __forceinline__ void mma_share(int nb, int w, int& k0, int& k1) {
    const int per = (nb + kWarps - 1) / kWarps;
    k0 = min(nb, w * per), k1 = min(nb, k0 + per);
}

// The lane's C fragments of the NT token tiles (acc[n], c0..c3 layout) into its warp's slot red [16 rows][8 NT tokens]
// of the block's reduction over the row shares.
template <int NT>
__device__ __forceinline__ void tile_to_smem(float (&red)[16][8 * NT], const float (&acc)[NT][4], const MmaLane& L) {
#pragma unroll
    for (int n = 0; n < NT; ++n) {
        const int t = 8 * n + 2 * L.q;
        red[L.g][t] = acc[n][0], red[L.g][t + 1] = acc[n][1], red[L.g + 8][t] = acc[n][2], red[L.g + 8][t + 1] = acc[n][3];
    }
}

template <int S, int EXT, bool PAIR = false>
__global__ void __launch_bounds__(kWarps * 32, 2) mv_mma_kernel(const RowsParams p) {
    constexpr int NT = kTokenTiles<S>;
    extern __shared__ __align__(16) unsigned char sm[];
    __shared__ float red[kWarps][16][8 * NT];
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    int g = blockIdx.x;
    const SegD s = pick_seg(p, g);  // g: the tile within the segment
    const int r0 = g * 16, t0 = S * static_cast<int>(blockIdx.y);
    prefetch_l2(s.w + static_cast<size_t>(r0) * s.rb, static_cast<size_t>(min(16, s.rows - r0)) * s.rb);  // immutable: before the wait
    if constexpr (PAIR) prefetch_l2(p.seg2.w + static_cast<size_t>(r0) * p.seg2.rb, static_cast<size_t>(min(16, s.rows - r0)) * p.seg2.rb);
    pdl_sync(0);
    if (p.xq) rows_stage<S>(p.cols, sm, t0);
    else if (p.x) rows_prologue<S>(p.x, p.ldx, p.m, p.norm_w, p.cols, p.eps, sm);  // (one token group: launch_x)
    const MmaLane L{lane & 3, lane >> 2};
    const uint8_t* lo = s.w + static_cast<size_t>(min(r0 + L.g, s.rows - 1)) * s.rb;
    const uint8_t* hi = s.w + static_cast<size_t>(min(r0 + L.g + 8, s.rows - 1)) * s.rb;
    const int nb = mma_blocks(s.type, p.cols);
    int k0, k1;
    mma_share(nb, w, k0, k1);
    // the thread's output elements (e = tid + i 256 of the tile's 16 rows x 8 NT tokens) and the residuals they add
    // to, requested before the dot products (their L2 round trip off the end of the chain); at 16 tokens a block
    // (NT 2) after them: the register kept over the dot products spilled there
    constexpr int NE = (16 * 8 * NT + kWarps * 32 - 1) / (kWarps * 32);
    constexpr bool kEarly = NT == 1;
    float y0[NE];
    auto residual = [&](int i) {
        const int e = static_cast<int>(threadIdx.x) + i * kWarps * 32, r = e / (8 * NT), t = e % (8 * NT);
        const bool in = e < 16 * 8 * NT && t0 + t < p.m && r0 + r < s.rows;
        return p.accumulate && in ? s.y[static_cast<size_t>(t0 + t) * s.ldy + r0 + r] : 0.0f;
    };
    if constexpr (kEarly)
#pragma unroll
        for (int i = 0; i < NE; ++i) y0[i] = residual(i);
    float acc[NT][4] = {};
    mma_tile<S, EXT>(s.type, lo, hi, nb, k0, k1, rows_x(sm, p.x != nullptr, p.act, p.cols, t0), L, acc);
    if constexpr (PAIR) {  // seg2's tile of the same rows over the fused activation buffer, into the same fragments
        const uint8_t* lo2 = p.seg2.w + static_cast<size_t>(min(r0 + L.g, s.rows - 1)) * p.seg2.rb;
        const uint8_t* hi2 = p.seg2.w + static_cast<size_t>(min(r0 + L.g + 8, s.rows - 1)) * p.seg2.rb;
        const int nb2 = mma_blocks(p.seg2.type, p.cols2);
        int j0, j1;
        mma_share(nb2, w, j0, j1);
        mma_tile<S, EXT>(p.seg2.type, lo2, hi2, nb2, j0, j1, rows_x(sm, false, p.act, p.cols2, t0), L, acc);
    }
    tile_to_smem<NT>(red[w], acc, L);
    if constexpr (!kEarly)
#pragma unroll
        for (int i = 0; i < NE; ++i) y0[i] = residual(i);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < NE; ++i) {
        const int e = static_cast<int>(threadIdx.x) + i * kWarps * 32, r = e / (8 * NT), t = e % (8 * NT), row = r0 + r;
        if (e < 16 * 8 * NT && t0 + t < p.m && row < s.rows) {
            float v = 0.0f;
#pragma unroll
            for (int k = 0; k < kWarps; ++k) v += red[k][r][t];
            if (p.x) v *= s_rscale[t];
            if (s.bias) v += s.bias[row];
            if (PAIR && p.seg2.bias) v += p.seg2.bias[row];
            s.y[static_cast<size_t>(t0 + t) * s.ldy + row] = y0[i] + v;
        }
    }
}

struct GluRowsParams {
    const uint8_t* wg;
    const uint8_t* wu;
    size_t rb;
    int type;
    int cols;
    int n_ff;
    const float* x;  // [m, cols] at ldx
    int ldx;
    const float* norm_w;
    float eps;
    int xq;  // as RowsParams
    int m;
    ActBuffer act;
    int fn;  // Act (arch.h) of the GLU: act(g) * u
};

// The GLU product: silu(g) * u as before for the llama block, act(g) * u for the others (gemma's GELU).
__device__ __forceinline__ float glu_of(float g, float u, int fn) { return fn == static_cast<int>(Act::kSilu) ? silu_mul(g, u) : act1(g, fn) * u; }

// gate|up of the m tokens and the GLU: block b owns outputs [32 b, 32 b + 32), warp w the 4 outputs 4w .. 4w + 3 of
// them, two at a time (4 rows in flight: gate j, up j, gate j + 1, up j + 1) for kGluTokens tokens at a time, so
// the R x T partial sums and the decoded weights stay in registers; warp t < S then quantizes token t's 32
// outputs silu(g) * u as sub-block b of fused-buffer row t.
template <int S, int EXT>
__global__ void __launch_bounds__(kWarps * 32, 2) glu_rows_kernel(const GluRowsParams p) {
    extern __shared__ __align__(16) unsigned char sm[];
    __shared__ float gu[S][64];  // token t: gate outputs at [t][0, 32), up outputs at [t][32, 64)
    constexpr int R = 4, T = S < kGluTokens ? S : kGluTokens;
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    const int j0 = blockIdx.x * 32 + 4 * w;  // this warp's first output
    if (lane < 8) {  // immutable: the warp's 8 rows into L2 before the wait
        const uint8_t* base = (lane & 1 ? p.wu : p.wg) + static_cast<size_t>(j0 + (lane >> 1)) * p.rb;
        for (size_t o = 0; o < p.rb; o += 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(base + o));
    }
    pdl_sync(0);
    if (p.xq) rows_stage<S>(p.cols, sm);
    else rows_prologue<S>(p.x, p.ldx, p.m, p.norm_w, p.cols, p.eps, sm);
#pragma unroll 1
    for (int pass = 0; pass < 2; ++pass) {
        const int j = j0 + 2 * pass;
        const uint8_t* rows[R] = {p.wg + static_cast<size_t>(j) * p.rb, p.wu + static_cast<size_t>(j) * p.rb,
                                  p.wg + static_cast<size_t>(j + 1) * p.rb, p.wu + static_cast<size_t>(j + 1) * p.rb};
#pragma unroll 1
        for (int t0 = 0; t0 < S; t0 += T) {
            XQT xs = rows_x(sm, true, p.act, p.cols);
            xs.q += t0 * xs.qs, xs.d += t0 * xs.ds, xs.s += t0 * xs.ds;
            float acc[R][T] = {};
            dot_rows_t<R, T, EXT>(p.type, rows, p.cols, xs, lane, acc);
#pragma unroll
            for (int t = 0; t < T; ++t) {
                float a[R];
#pragma unroll
                for (int r = 0; r < R; ++r) a[r] = acc[r][t];
                const float mine = warp_sum_rows<R>(a, lane);
                const int r = scatter_row<R>(lane);  // row r: output j + r / 2, gate (even) or up (odd)
                if (lane % (32 / R) == 0) gu[t0 + t][(r & 1 ? 32 : 0) + 4 * w + 2 * pass + (r >> 1)] = mine * s_rscale[t0 + t];
            }
        }
    }
    __syncthreads();
    if (w < S) {  // the padding rows too: down reads S rows
        const float v = glu_of(gu[w][lane], gu[w][32 + lane], p.fn);
        p.act.put(v, static_cast<size_t>(w) * p.n_ff, blockIdx.x, lane);
    }
}

// gate|up of the m tokens and the GLU on tensor cores: block b owns outputs [32 b, 32 b + 32) as 4 tiles of 16 rows
// (gate rows j .. j + 7, then up rows j .. j + 7), warp w tile w % 4 over half w / 4 of the row's blocks, for tokens
// [t0, t0 + S) (token groups as mv_mma_kernel); warp t < S then quantizes token t0 + t's 32 outputs as
// glu_rows_kernel does.
template <int S, int EXT>
__global__ void __launch_bounds__(kWarps * 32, 2) glu_mma_kernel(const GluRowsParams p) {
    constexpr int NT = kTokenTiles<S>;
    extern __shared__ __align__(16) unsigned char sm[];
    __shared__ float red[kWarps][16][8 * NT];
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31;
    const MmaLane L{lane & 3, lane >> 2};
    const int j = blockIdx.x * 32 + 8 * (w & 3) + L.g;  // this lane's output
    if (lane < 8) {  // immutable: the tile's rows into L2 before the wait (warps 0-3: gate, 4-7: up)
        const uint8_t* base = (w < 4 ? p.wg : p.wu) + static_cast<size_t>(blockIdx.x * 32 + 8 * (w & 3) + lane) * p.rb;
        for (size_t o = 0; o < p.rb; o += 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(base + o));
    }
    const int t0 = S * static_cast<int>(blockIdx.y);
    pdl_sync(0);
    if (p.xq) rows_stage<S>(p.cols, sm, t0);
    else rows_prologue<S>(p.x, p.ldx, p.m, p.norm_w, p.cols, p.eps, sm);  // (one token group: launch_x)
    const int nb = mma_blocks(p.type, p.cols);
    const int half = (nb + 1) / 2, k0 = w < 4 ? 0 : half, k1 = w < 4 ? half : nb;
    float acc[NT][4] = {};
    mma_tile<S, EXT>(p.type, p.wg + static_cast<size_t>(j) * p.rb, p.wu + static_cast<size_t>(j) * p.rb, nb, k0, k1, rows_x(sm, true, p.act, p.cols), L, acc);
    tile_to_smem<NT>(red[w], acc, L);
    __syncthreads();
    for (int t = w; t < S; t += kWarps) {  // lane = output 8 tile + r of the block, token t (the padding rows too: down reads S rows)
        const int tile = lane >> 3, r = lane & 7;
        const float gate = (red[tile][r][t] + red[tile + 4][r][t]) * s_rscale[t];
        const float up = (red[tile][r + 8][t] + red[tile + 4][r + 8][t]) * s_rscale[t];
        p.act.put(glu_of(gate, up, p.fn), static_cast<size_t>(t0 + t) * p.n_ff, blockIdx.x, lane);
    }
}

// The activation of a plain FFN's decode steps (phi2, gpt2: the up projection comes from matvec_rows in float): row
// t < S of the fused activation buffer ([S, F]) = q8(act(a_t + bias)), one warp per 32 outputs; rows m .. S - 1
// repeat row m - 1, as the rows prologue pads its tokens.
struct ActQ8Params {
    const float* a;
    int ld;  // row stride of a
    int m;
    int F;
    const float* bias;  // may be null
    int fn;             // Act
    int per_row;        // blocks per token row
    ActBuffer act;
};

__global__ void __launch_bounds__(kWarps * 32) act_q8_rows_kernel(const ActQ8Params p) {
    const int t = static_cast<int>(blockIdx.x) / p.per_row, lane = threadIdx.x & 31;
    const int sb = (static_cast<int>(blockIdx.x) % p.per_row) * kWarps + static_cast<int>(threadIdx.x >> 5);
    pdl_sync(0);
    if (sb * 32 >= p.F) return;  // warp-uniform
    const size_t src = static_cast<size_t>(min(t, p.m - 1)) * p.ld;
    const int j = sb * 32 + lane;
    const float v = act1(p.a[src + j] + (p.bias ? p.bias[j] : 0.0f), p.fn);
    p.act.put(v, static_cast<size_t>(t) * p.F, sb, lane);
}

// resident_blocks (fused_prologue.cuh) of a rows kernel, after allow_smem.
template <typename K>
int resident(K k, size_t smem) {
    allow_smem(k);
    return resident_blocks(k, kWarps * 32, smem);
}

// S, the kernels' token count: m rounded up to 2, 4 or 8 (the padding rows are computed and dropped).
template <typename F>
void with_s(int m, F&& f) {
    if (m <= 2) f(std::integral_constant<int, 2>{});
    else if (m <= 4) f(std::integral_constant<int, 4>{});
    else if (m <= 8) f(std::integral_constant<int, 8>{});
    else f(std::integral_constant<int, 16>{});
}
// The token rows of a step (the activation buffers' rows): m rounded up to 2, 4, 8, 16 or 32.
int s_of(int m) { return m <= 2 ? 2 : m <= 4 ? 4 : m <= 8 ? 8 : m <= 16 ? 16 : 32; }

// Launches rows kernel k (S tokens, p.x and the norm set) with p.xq chosen: x quantized once by rows_quant_kernel
// before it, or by each block (rows_prologue). Once pays where the blocks would repeat much of it: 8+ tokens, or more
// blocks than fit at once. Tinyllama steps (H200, ms, once vs in each block): 16 tokens 1.87-1.91 vs 2.31-2.38, 8
// tokens 1.27-1.29 vs 1.50-1.53, phi-2 4 tokens (its 10240-row up projection: 640 blocks) 2.52-2.53 vs 2.95-2.98; but
// 2 tokens 0.90-0.92 vs 0.84-0.87 and Q8_0's 4 tokens (dp4a kernels, one wave) 1.07-1.09 vs 1.04-1.05: there the
// prologue is cheaper than another launch. RZ_CUDA_ROWS_PREQ=0 / 1 forces each block / once. Token groups (gy > 1:
// blocks of S tokens each, blockIdx.y the group) always take x quantized once.
template <int S, typename K, typename P>
void launch_x(K k, int grid, size_t smem, P p, int gy = 1) {
    const int force = gy > 1 ? 1 : env_int("RZ_CUDA_ROWS_PREQ", -1);
    p.xq = p.x && (force >= 0 ? force != 0 : S >= 8 || grid > resident(k, smem)) ? 1 : 0;
    if (p.xq) {
        RZ_ASSERT(S * gy * token_smem_bytes(p.cols) <= kRowsXBytes && S * token_smem_bytes(p.cols) <= kRowsSmemBytes,
                  "launch_x: rows too wide (fused_rows_fit)");
        launch(rows_quant_kernel, S * gy, kWarps * 32, 0, RowsQuantParams{p.x, p.ldx, p.m, p.norm_w, p.cols, p.eps});
    }
    allow_smem(k);
    launch_grid(1, k, dim3(static_cast<unsigned>(grid), static_cast<unsigned>(gy)), kWarps * 32, smem, p);
}


// The instantiated type-set mask of a rows launch (dot_rows's masks: 0: Q4_K, Q6_K; 1: also Q5_K, Q4_0; 3: also the
// low-bit set; 5: also the legacy set; 8: Q8_0 with Q4_K, Q6_K), or -1: no rows kernel takes both the low-bit and
// the legacy set, or Q8_0 with any type of bits 1, 2, 4.
int rows_ext(int sets) { return (sets & 8) != 0 ? (sets == 8 ? 8 : -1) : (sets & 6) == 6 ? -1 : fused_ext(sets); }
// Tensor-core kernels for 3-16 tokens (the 4-, 8- and 16-token kernels; RZ_CUDA_ROWS_MMA=0: the dp4a kernels up to
// 8 tokens, above 8 only the tensor-core kernels exist). Measured on tinyllama steps (H200, ms, tensor cores vs
// dp4a): they pay for the types with much decoding per byte from 3 tokens (Q4_K, Q5_K, Q6_K; Q3_K_M / Q2_K steps of
// 8: 1.52-1.58 vs 1.84-2.10, of 4: 1.10-1.19 vs 1.20-1.27), for IQ4_XS / IQ4_NL from 5 (8: 1.48-1.54 / 1.63-1.66 vs
// 1.78-1.80; 4: 1.17-1.19 / 1.30 vs 1.12-1.13), and not up to 8 for Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, which have little
// decoding to save (Q4_0 4: 1.25 vs 1.03, 8: equal; the others slower). Above 8 tokens they take every fused type but
// Q4_1 and Q5_1, which the f16 GEMM path ran faster (16 tokens, one call: 2.53-2.58 vs 2.73-2.75 ms, 2.74-2.79 vs 3.04-3.06).
bool mma_rows() { return env_int("RZ_CUDA_ROWS_MMA", 1) != 0; }
bool mma_base(DType t) { return t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }
bool mma_type(DType t, int m) {
    if (mma_base(t) || t == DType::Q3_K || t == DType::Q2_K) return true;
    if ((t == DType::IQ4_XS || t == DType::IQ4_NL) && m > 4) return true;  // the 8-token kernel, not the 4-token one
    return m > kFusedRowsDp4a && t != DType::Q4_1 && t != DType::Q5_1;  // fused_rows_supported also requires fused_supported
}
// Whether a rows launch of m tokens over a matrix of type t takes the tensor cores (a launch of several matrices:
// only if every one does).
bool mma_takes(DType t, int m) { return m > 2 && (mma_rows() || m > kFusedRowsDp4a) && mma_type(t, m); }
// Whether the tensor-core kernels of S tokens are instantiated for type set E: every set at 16 tokens; at 4 and 8
// only the sets of the types mma_type sends there (0: Q4_K, Q5_K, Q6_K; 3: with Q3_K, Q2_K, IQ4_*).
constexpr bool mma_kernel(int S, int E) { return S > kFusedRowsDp4a || E == 0 || E == 3; }
// The token groups of a tensor-core launch of s_tot token rows (type set e) over grid tiles: {tokens a block, groups
// (gridDim.y)}. A block's tile is a chain of dependent dot products (docs/perf/cuda.md "Session 26"): more, shorter
// chains pay while the blocks fit the GPU. Blocks of 16 tokens: one group up to 16, two for 17-32; steps of 9-16
// whose tiles fit one wave of two blocks an SM (a layer's launches; not a large output head) take two groups of 8
// where the type set has the 8-token kernel. Steps, H200, ms (groups of 8 there / 16): TinyLlama Q4_K_M 16
// sequences 1.20-1.21 / 1.29-1.30, qwen3-0.6b 1.27 / 1.49, Llama-3.2-1B 1.22 / 1.26; groups of 8 everywhere lost
// at 32 (TinyLlama 2.04-2.07 / 1.76-1.81) and for Llama-3.2-1B's head; groups of 4 lost everywhere (16: 1.68-1.71).
// RZ_CUDA_ROWS_TB=4|8|16 fixes the tokens a block.
std::pair<int, int> token_groups(int s_tot, int e, int grid) {
    const int fixed = env_int("RZ_CUDA_ROWS_TB", 0);
    const int want = fixed > 0 ? fixed : s_tot == 16 && grid <= 2 * sm_count() ? 8 : kBlockTokensMax;
    int tb = std::min({s_tot, kBlockTokensMax, std::max(4, want)});
    if (!mma_kernel(tb, e)) tb = std::min(s_tot, kBlockTokensMax);
    return {tb, s_tot / tb};
}
// A tensor-core launch's type-set bit of type t (its kernels always hold Q4_K, Q5_K and Q6_K: fused_mma_rows_ext.cuh).
int mma_mask(DType t) { return mma_base(t) ? 0 : ext_mask(t); }

template <typename F>
void with_rows_ext(int ext, F&& f) {
    if (ext == 8) f(std::integral_constant<int, 8>{});
    else if (ext == 5) f(std::integral_constant<int, 5>{});
    else if (ext == 3) f(std::integral_constant<int, 3>{});
    else if (ext == 1) f(std::integral_constant<int, 1>{});
    else f(std::integral_constant<int, 0>{});
}

}  // namespace

bool fused_rows_supported(DType t, int cols, int m) {
    if (cols % 256 != 0 || m > kFusedRowsMax) return false;  // (the one-token kernels also take 32-element block types at multiples of 32)
    if (m > kFusedRowsDp4a) return fused_supported(t, cols) && mma_type(t, m);
    return fused_supported(t, cols) && rows_ext(ext_mask(t)) >= 0;
}

bool fused_rows_mix(const DType* types, int n) {
    int sets = 0;
    for (int i = 0; i < n; ++i) sets |= ext_mask(types[i]);
    return rows_ext(sets) >= 0;
}

bool fused_rows_fit(int m, int norm_cols, int act_cols) {
    if (m < 2 || m > kFusedRowsMax) return false;
    const size_t S = static_cast<size_t>(s_of(m)), tb = std::min<size_t>(S, kBlockTokensMax), row = token_smem_bytes(norm_cols);
    return tb * row <= kRowsSmemBytes && S * row <= kRowsXBytes && S * static_cast<size_t>(act_cols) <= static_cast<size_t>(kMaxActCols);
}

void matvec_rows(const MatvecSeg* segs, int nseg, int cols, const float* x, int ldx, const float* norm_w, float eps, int m, int ldy,
                 bool accumulate) {
    RZ_ASSERT(m >= 1 && m <= kFusedRowsMax && nseg >= 1 && nseg <= 3, "matvec_rows: tokens / segments");
    RowsParams p{};
    int sets = 0;
    for (int i = 0; i < nseg; ++i) {
        sets |= ext_mask(segs[i].t);
        RZ_ASSERT(segs[i].act < 0, "matvec_rows: no epilogue activation on the rows kernels");
        p.seg[i] = seg_of(segs[i], cols);
        if (p.seg[i].ldy == 0) p.seg[i].ldy = ldy;  // the segments' y row stride: their own, or the call's
    }
    const int ext = rows_ext(sets);
    RZ_ASSERT(ext >= 0, "matvec_rows: types without rows kernels (fused_rows_supported)");
    p.nseg = nseg;
    p.cols = cols;
    p.x = x;
    p.ldx = ldx;
    p.norm_w = norm_w;
    p.eps = eps;
    p.m = m;
    p.accumulate = accumulate ? 1 : 0;
    p.act = act_buffer();
    bool mma = true;
    int msets = 0;
    for (int i = 0; i < nseg; ++i) mma = mma && mma_takes(segs[i].t, m), msets |= mma_mask(segs[i].t);
    RZ_ASSERT(mma || m <= kFusedRowsDp4a, "matvec_rows: more than 8 tokens need the tensor-core kernels (fused_rows_supported)");
    const int group = mma ? 16 : kWarps;  // rows of a group: a 16-row tensor-core tile, or a row per warp
    for (int i = 0; i < nseg; ++i) {
        p.seg[i].ngroups = (p.seg[i].rows + group - 1) / group;
        p.ngroups += p.seg[i].ngroups;
    }
    if (mma) {  // one block per tile and token group
        const std::pair<int, int> tg = token_groups(s_of(m), rows_ext(msets), p.ngroups);
        const int gy = tg.second;
        with_s(tg.first, [&](auto s) {
            constexpr int S = decltype(s)::value;
            if constexpr (S >= 4)
                with_rows_ext(rows_ext(msets), [&](auto e) {
                    constexpr int E = decltype(e)::value;
                    if constexpr (mma_kernel(S, E)) launch_x<S>(&mv_mma_kernel<S, E>, p.ngroups, x ? S * token_smem_bytes(cols) : 0, p, gy);
                    else RZ_ASSERT(false, "matvec_rows: no tensor-core kernel for these types at 3-8 tokens (mma_type)");
                });
        });
        return;
    }
    with_s(m, [&](auto s) {
        constexpr int S = decltype(s)::value;
        if constexpr (S <= kFusedRowsDp4a) {
            const size_t smem = x ? static_cast<size_t>(S) * token_smem_bytes(cols) : 0;
            with_rows_ext(ext, [&](auto e) {
                const auto k = &mv_rows_kernel<S, decltype(e)::value>;
                launch_x<S>(k, spread_groups(p, resident(k, smem)), smem, p);
            });
        }
    });
}

namespace {

// matvec_rows_pair's kernel for types ta (x quantized from floats) and tb (the fused activation buffer) over `rows`
// rows at m tokens: the tensor cores or not, the tokens a block and token groups, the type set. The PAIR instances
// are the sets of phi-2's mixes only (0: Q4_K / Q5_K / Q6_K, 8: with Q8_0), as the one-token matvec_pair: dp4a at 2
// tokens for set 0 (the tensor cores from 3) and 2-8 for set 8; tensor cores at 4 and 8 tokens a block for set 0
// (steps of 9-16 run as groups of 8 where the tiles fit a wave). Not blocks of 16 tokens: those PAIR kernels spilled
// (76 / 12 bytes of stores, sets 0 / 8) and were slower than two launches (H200, phi-2 tok/s, pair vs two: Q4_K_M 32
// sequences 6688-6703 vs 6751, Q8_0 16 / 32 sequences 5127-5156 / 5847-5860 vs 5215 / 6052-6064). ok false: no
// instance (two launches instead).
struct PairPlan {
    bool ok = false, mma = false;
    int s = 0, gy = 1, ext = 0;
};
constexpr bool pair_dp4a(int S, int E) { return (E == 0 && S == 2) || (E == 8 && S <= kFusedRowsDp4a); }
constexpr bool pair_mma(int S, int E) { return E == 0 && (S == 4 || S == 8); }
PairPlan pair_plan(DType ta, int cols_a, DType tb, int cols_b, int rows, int m) {
    PairPlan pl;
    // a's rows quantized into shared memory (and g_rows_x), b's in the fused activation buffer
    if (!fused_rows_fit(m, cols_a, cols_b) || !fused_rows_supported(ta, cols_a, m) || !fused_rows_supported(tb, cols_b, m)) return pl;
    pl.mma = mma_takes(ta, m) && mma_takes(tb, m);
    if (pl.mma) {
        pl.ext = rows_ext(mma_mask(ta) | mma_mask(tb));
        const std::pair<int, int> tg = token_groups(s_of(m), pl.ext, (rows + 15) / 16);
        pl.s = tg.first, pl.gy = tg.second;
        pl.ok = (pl.ext == 0 || pl.ext == 8) && pair_mma(pl.s, pl.ext);
    } else {
        pl.ext = rows_ext(ext_mask(ta) | ext_mask(tb));
        pl.s = s_of(m);
        pl.ok = m <= kFusedRowsDp4a && (pl.ext == 0 || pl.ext == 8) && pair_dp4a(pl.s, pl.ext);
    }
    return pl;
}

}  // namespace

bool matvec_rows_pair_supported(DType ta, int cols_a, DType tb, int cols_b, int rows, int m) {
    return pair_plan(ta, cols_a, tb, cols_b, rows, m).ok;
}

void matvec_rows_pair(const MatvecSeg& a, int cols_a, const float* xa, int ldx, const MatvecSeg& b, int cols_b, int m) {
    const PairPlan pl = pair_plan(a.t, cols_a, b.t, cols_b, a.rows, m);
    RZ_ASSERT(pl.ok && a.rows == b.rows && a.y == b.y && (b.ld == 0 || b.ld == a.ld) && xa && a.act < 0 && b.act < 0,
              "matvec_rows_pair: unsupported (matvec_rows_pair_supported) or not one output");
    RowsParams p{};
    p.seg[0] = seg_of(a, cols_a);
    p.seg2 = seg_of(b, cols_b);
    p.nseg = 1;
    p.cols = cols_a;
    p.cols2 = cols_b;
    p.x = xa;
    p.ldx = ldx;
    p.norm_w = nullptr;  // s_rscale = 1: the scale would apply to both matrices' sums
    p.m = m;
    p.accumulate = 1;
    p.act = act_buffer();
    const int group = pl.mma ? 16 : kWarps;
    p.seg[0].ngroups = p.ngroups = (a.rows + group - 1) / group;
    if (p.seg[0].ldy == 0) p.seg[0].ldy = a.rows;
    with_rows_ext(pl.ext, [&](auto e) {  // (pl.ext is 0 or 8: the other sets have no PAIR instance)
        constexpr int E = decltype(e)::value;
        if (pl.mma) {
            with_s(pl.s, [&](auto s) {
                constexpr int S = decltype(s)::value;
                if constexpr (pair_mma(S, E)) launch_x<S>(&mv_mma_kernel<S, E, true>, p.ngroups, S * token_smem_bytes(cols_a), p, pl.gy);
            });
            return;
        }
        with_s(pl.s, [&](auto s) {
            constexpr int S = decltype(s)::value;
            if constexpr (pair_dp4a(S, E)) {
                const size_t smem = static_cast<size_t>(S) * token_smem_bytes(cols_a);
                const auto k = &mv_rows_kernel<S, E, true>;
                launch_x<S>(k, spread_groups(p, resident(k, smem)), smem, p);
            }
        });
    });
}

void act_rows_q8(const float* a, int ld, int m, int F, const float* bias, Act act) {
    RZ_ASSERT(m >= 1 && m <= kFusedRowsMax && F % 32 == 0 && s_of(m) * F <= kMaxActCols, "act_rows_q8: tokens / F");
    const int per_row = (F / 32 + kWarps - 1) / kWarps;
    const ActQ8Params p{a, ld, m, F, bias, static_cast<int>(act), per_row, act_buffer()};
    launch(act_q8_rows_kernel, s_of(m) * per_row, kWarps * 32, 0, p);
}

void matvec_glu_rows(DType t, const void* Wg, const void* Wu, int n_ff, int cols, const float* x, int ldx, const float* norm_w, float eps, int m,
                     Act act) {
    RZ_ASSERT(m >= 1 && m <= kFusedRowsMax && n_ff % 32 == 0, "matvec_glu_rows: tokens / n_ff");
    const int ext = rows_ext(ext_mask(t));
    RZ_ASSERT(ext >= 0, "matvec_glu_rows: type without rows kernels (fused_rows_supported)");
    const GluRowsParams p{static_cast<const uint8_t*>(Wg), static_cast<const uint8_t*>(Wu), row_bytes(t, cols), static_cast<int>(t), cols, n_ff,
                          x, ldx, norm_w, eps, 0, m, act_buffer(), static_cast<int>(act)};
    const bool mma = mma_takes(t, m);
    RZ_ASSERT(mma || m <= kFusedRowsDp4a, "matvec_glu_rows: more than 8 tokens need the tensor-core kernels (fused_rows_supported)");
    const std::pair<int, int> tg = mma ? token_groups(s_of(m), rows_ext(mma_mask(t)), n_ff / 32) : std::pair<int, int>{s_of(m), 1};
    const int gy = tg.second;
    with_s(tg.first, [&](auto s) {
        constexpr int S = decltype(s)::value;
        const size_t smem = static_cast<size_t>(S) * token_smem_bytes(cols);
        if constexpr (S >= 4) {
            if (mma)
                return with_rows_ext(rows_ext(mma_mask(t)), [&](auto e) {
                    constexpr int E = decltype(e)::value;
                    if constexpr (mma_kernel(S, E)) launch_x<S>(&glu_mma_kernel<S, E>, n_ff / 32, smem, p, gy);
                    else RZ_ASSERT(false, "matvec_glu_rows: no tensor-core kernel for this type at 3-8 tokens (mma_type)");
                });
        }
        if constexpr (S <= kFusedRowsDp4a)
            with_rows_ext(ext, [&](auto e) { launch_x<S>(&glu_rows_kernel<S, decltype(e)::value>, n_ff / 32, smem, p); });
    });
}

}  // namespace rz::cuda
