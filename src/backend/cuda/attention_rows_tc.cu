// Tensor-core decode attention of a batched decode step (attention_decode_rows, attention_fused.cu): one block per
// (row, kv head, split) serves the kv head's whole group of query heads, so each cached key and value row is read
// once per group instead of once per query head, and the products run on tensor cores instead of CUDA cores.
// Why: after 2000-token prompts a step of 16 tinyllama sequences took 3.7 ms against 2.25 ms after 64; ncu showed the
// CUDA-core kernel (a block per query head) at 74 us a layer, pulling 332 MB through L2 for 33 MB of cache (each row
// read by the 8 heads of its group) with long-scoreboard stalls. A CUDA-core kernel with a block per group (tried in
// session 15) read the rows once but did 8x the arithmetic per block and was not faster.
//
// Shapes: f16 cache, head_dim 64 or 128, 2..8 query heads per kv head (the 8 columns of an m32n8k16 product; fewer
// are zero-padded). Per split of at most kCap keys:
//   S^T [32 keys x 8 heads] = K [32 keys x hd] q^T [hd x 8]   per 32-key tile, each warp its own tiles
//   softmax over the split's keys per head (exact: all scores are in shared memory, as in the CUDA-core kernel)
//   O^T [hd x 8] += V^T [hd x 32 keys] P^T [32 keys x 8]      per tile, summed over the warps at the end
// q and P enter the products as two f16 parts each (x = hi + lo, f32 accumulation), so the results keep float
// precision like the CUDA-core kernel's (with q and P rounded to f16 once, as in the tensor-core prefill kernel, a
// batched decode step left the one-token path's logits by more than float rounding: the fused-rows test). The cache
// is f16 already. Splits publish (o, max, sum) like the CUDA-core kernel and the last one of a (row, kv head)
// combines them.
//
// Measured (H200, synthetic tinyllama Q4_K_M, ms a step of S sequences after P-token prompts, against the CUDA-core
// kernel in the same run): P 2000: S 16 2.96-3.01 vs 3.76-3.79, S 8 1.86-1.98 vs 2.16-2.24, S 4 1.43-1.46 vs
// 1.53-1.55; P 4000: 3.48-3.49 vs 4.94-4.99, 2.00 vs 2.85, 1.54-1.55 vs 1.87-1.90; P 64: 2.35-2.38 vs 2.36-2.38,
// 1.51-1.54 vs 1.43-1.44 (a block per (row, kv head) walks a short context in one latency chain), 1.07 vs 1.08-1.09.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>

#include "backend/cuda/attention_rows_tc.cuh"
#include "backend/cuda/common.cuh"

namespace rz::cuda::detail {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kWarps = 4;  // (8 warps a block measured no faster)
constexpr int kKeys = 32;   // keys per warp tile: the M of the m32n8k16 products
constexpr int kHeads = 8;   // query-head columns: the N
constexpr int kCap = 512;   // most keys per split (its scores and P live in shared memory)

__device__ unsigned g_rows_tc_cnt[1024];  // splits of each (row, kv head) done (reset by the combining block)

// Every member's offset a multiple of 32 bytes (WMMA pointers), f16 strides multiples of 8 elements and f32 strides
// of 4; the +8 / +4 pads stagger the rows over the banks.
template <int HD>
struct Smem {
    static constexpr int HL = HD + 8;    // f16 q / K / V row stride
    static constexpr int SL = kCap + 4;  // f32 score row stride (one row per head)
    static constexpr int PL = kCap + 8;  // f16 P row stride
    static constexpr int OL = HD + 4;    // f32 output row stride (per head), aliasing the warp's tile buffers
    __half q[kHeads * HL], ql[kHeads * HL];  // q * scale = q + ql (f16 high and low parts)
    __half kv[kWarps][2][kKeys * HL];         // each warp's double-buffered K (then V) tiles
    float s[kHeads * SL];
    __half p[kHeads * PL], pl[kHeads * PL];  // softmax weights = p + pl
    float mx[kHeads], sum[kHeads];
    int last;
};

struct Params : F16AttnRows {
    float* scratch;
    float* out32;
    __half* out16;
    size_t seq_stride;  // cache elements per sequence
    int ldq, ldo, n_head, n_head_kv, n_ctx, s_max, c_min, n_swa, pdl_early;
    float scale;
    int quant;       // also q8 of the output rows into act's rows [m, n_head HD] (attention_decode_rows' quant_rows)
    ActBuffer act;
};

template <int HD>
__global__ void __launch_bounds__(32 * kWarps) rows_tc_kernel(const Params p) {
    using S = Smem<HD>;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    S& sm = *reinterpret_cast<S*>(smem_raw);
    const int nb = p.n_head_kv * p.s_max;
    const int row = static_cast<int>(blockIdx.x) / nb, rest = static_cast<int>(blockIdx.x) % nb;
    const int g = rest % p.n_head_kv, s = rest / p.n_head_kv;
    const int pos = p.pos[row];  // uploaded by the host before the launch (never written by a kernel)
    const int lo = p.n_swa > 0 ? max(0, pos - p.n_swa + 1) : 0, n_kv = pos + 1 - lo;
    const int ns0 = min(p.s_max, (n_kv + p.c_min - 1) / p.c_min);
    const int chunk = (n_kv + ns0 - 1) / ns0, ns = (n_kv + chunk - 1) / chunk;  // ns: non-empty splits
    if (s >= ns) return;
    const int t0 = lo + s * chunk, n = min(pos + 1, t0 + chunk) - t0;  // this split's keys [t0, t0 + n), n <= kCap
    const int G = p.n_head / p.n_head_kv, nt = (n + kKeys - 1) / kKeys;
    const size_t kv0 = static_cast<size_t>(p.seq[row]) * p.seq_stride + (static_cast<size_t>(g) * p.n_ctx + t0) * HD;
    const __half* K = p.kc + kv0;
    const __half* V = p.vc + kv0;
    // Rows below pos are immutable here and row pos was stored by the previous launch (L2 is the point of coherence):
    // warm L2 with the split's rows while that launch finishes.
    prefetch_l2(reinterpret_cast<const uint8_t*>(K), static_cast<size_t>(n) * HD * sizeof(__half));
    prefetch_l2(reinterpret_cast<const uint8_t*>(V), static_cast<size_t>(n) * HD * sizeof(__half));
    pdl_sync(p.pdl_early);
    const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
    // Tile j (keys t0 + 32 j ...) of src into a warp buffer: 16-byte asynchronous copies, zeros past the split (so
    // padded keys meet zero P with finite values).
    auto load_tile = [&](const __half* src, int j, __half* dst) {
#pragma unroll
        for (int i = 0; i < HD / 8; ++i) {
            const int e = lane + 32 * i, t = e / (HD / 8), c = (e % (HD / 8)) * 8;
            const bool ok = j * kKeys + t < n;
            cp_async16(dst + t * S::HL + c, ok ? src + static_cast<size_t>(j * kKeys + t) * HD + c : src, ok);
        }
        cp_async_commit();
    };
    // Tile j of src, in the warp's buffer b once arrived; the warp's next tile (j + kWarps) is requested into the
    // other buffer first.
    auto tile_ready = [&](const __half* src, int j, int b) -> const __half* {
        if (j + kWarps < nt) {
            load_tile(src, j + kWarps, sm.kv[warp][b ^ 1]);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncwarp();
        return sm.kv[warp][b];
    };
    if (warp < nt) load_tile(K, warp, sm.kv[warp][0]);
    const float* qr = p.q + static_cast<size_t>(row) * p.ldq + static_cast<size_t>(g) * G * HD;
    for (int e = tid; e < kHeads * HD; e += 32 * kWarps) {
        const int h = e / HD, d = e % HD;
        const float x = h < G ? qr[h * HD + d] * p.scale : 0.0f;
        const __half hi = __float2half_rn(x);
        sm.q[h * S::HL + d] = hi;
        sm.ql[h * S::HL + d] = __float2half_rn(x - __half2float(hi));
    }
    __syncthreads();
    wmma::fragment<wmma::matrix_b, 32, 8, 16, __half, wmma::col_major> qf[HD / 16], qfl[HD / 16];  // q^T [hd x 8]
#pragma unroll
    for (int k = 0; k < HD / 16; ++k) {
        wmma::load_matrix_sync(qf[k], sm.q + 16 * k, S::HL);
        wmma::load_matrix_sync(qfl[k], sm.ql + 16 * k, S::HL);
    }
    // Scores: S^T of tile j stored column-major into s[head][key].
    int b = 0;
    for (int j = warp; j < nt; j += kWarps, b ^= 1) {
        const __half* kt = tile_ready(K, j, b);
        // The high and low parts into two accumulators (two independent chains of products), added at the end.
        wmma::fragment<wmma::accumulator, 32, 8, 16, float> acc, accl;
        wmma::fill_fragment(acc, 0.0f);
        wmma::fill_fragment(accl, 0.0f);
#pragma unroll
        for (int k = 0; k < HD / 16; ++k) {
            wmma::fragment<wmma::matrix_a, 32, 8, 16, __half, wmma::row_major> a;
            wmma::load_matrix_sync(a, kt + 16 * k, S::HL);
            wmma::mma_sync(acc, a, qf[k], acc);
            wmma::mma_sync(accl, a, qfl[k], accl);
        }
#pragma unroll
        for (int i = 0; i < acc.num_elements; ++i) acc.x[i] += accl.x[i];
        wmma::store_matrix_sync(sm.s + j * kKeys, acc, S::SL, wmma::mem_col_major);
        __syncwarp();  // the tile buffer is refilled two iterations on
    }
    if (warp < nt) load_tile(V, warp, sm.kv[warp][0]);  // the first value tile, while the softmax runs
    __syncthreads();
    // Softmax per head over the split (heads past G are zero columns: computed, never written out); each weight is
    // split into f16 high and low parts like q.
    for (int h = warp; h < kHeads; h += kWarps) {
        const float* sr = sm.s + h * S::SL;
        float m = -INFINITY;
        for (int t = lane; t < n; t += 32) m = fmaxf(m, sr[t]);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xFFFFFFFFu, m, o));
        float l = 0.0f;
        for (int t = lane; t < nt * kKeys; t += 32) {
            const float e = t < n ? __expf(sr[t] - m) : 0.0f;
            const __half hi = __float2half_rn(e);
            sm.p[h * S::PL + t] = hi;
            sm.pl[h * S::PL + t] = __float2half_rn(e - __half2float(hi));
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) sm.mx[h] = m, sm.sum[h] = l;
    }
    __syncthreads();
    wmma::fragment<wmma::accumulator, 32, 8, 16, float> o[HD / 32], ol[HD / 32];  // O^T [hd x 8], 32-dimension slices
#pragma unroll
    for (int f = 0; f < HD / 32; ++f) wmma::fill_fragment(o[f], 0.0f), wmma::fill_fragment(ol[f], 0.0f);
    b = 0;
    for (int j = warp; j < nt; j += kWarps, b ^= 1) {
        const __half* vt = tile_ready(V, j, b);
#pragma unroll
        for (int kk = 0; kk < kKeys; kk += 16) {
            wmma::fragment<wmma::matrix_b, 32, 8, 16, __half, wmma::col_major> pf, pfl;  // P^T [16 keys x 8]
            wmma::load_matrix_sync(pf, sm.p + j * kKeys + kk, S::PL);
            wmma::load_matrix_sync(pfl, sm.pl + j * kKeys + kk, S::PL);
#pragma unroll
            for (int f = 0; f < HD / 32; ++f) {
                wmma::fragment<wmma::matrix_a, 32, 8, 16, __half, wmma::col_major> va;  // V^T [32 dims x 16 keys]
                wmma::load_matrix_sync(va, vt + kk * S::HL + 32 * f, S::HL);
                wmma::mma_sync(o[f], va, pf, o[f]);
                wmma::mma_sync(ol[f], va, pfl, ol[f]);
            }
        }
        __syncwarp();
    }
    // Each warp's O^T into its own (drained) tile buffer as ob[head][dim], then summed over the warps.
    float* ob = reinterpret_cast<float*>(sm.kv[warp][0]);
#pragma unroll
    for (int f = 0; f < HD / 32; ++f) {
#pragma unroll
        for (int i = 0; i < o[f].num_elements; ++i) o[f].x[i] += ol[f].x[i];
    }
#pragma unroll
    for (int f = 0; f < HD / 32; ++f) wmma::store_matrix_sync(ob + 32 * f, o[f], S::OL, wmma::mem_col_major);
    __syncthreads();
    auto warp_out = [&](int w) { return reinterpret_cast<const float*>(sm.kv[w][0]); };
    const int hr0 = row * p.n_head + g * G;  // this group's first (row, head)
    // Output element e = h HD + d of the group. The loops below hand e = tid + 128 k to whole warps (G HD is a
    // multiple of 32), so a warp's lanes hold one 32-element group of the row for the int8 copy.
    auto out = [&](int e, float v) {
        const int h = e / HD, d = e % HD;
        const size_t at = static_cast<size_t>(row) * p.ldo + static_cast<size_t>(g * G + h) * HD + d;
        if (p.out16) p.out16[at] = __float2half_rn(v);
        else p.out32[at] = v;
        if (p.quant) p.act.put(v, static_cast<size_t>(row) * p.n_head * HD, (g * G * HD + e) >> 5, lane);
    };
    if (ns == 1) {
        for (int e = tid; e < G * HD; e += 32 * kWarps) {
            const int h = e / HD, d = e % HD;
            float v = 0.0f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w) v += warp_out(w)[h * S::OL + d];
            out(e, v / sm.sum[h]);
        }
        return;
    }
    // Publish this split's (o, max, sum) per head; the (row, kv head)'s last split combines.
    for (int e = tid; e < G * (HD + 2); e += 32 * kWarps) {
        const int h = e / (HD + 2), d = e % (HD + 2);
        float v = d == HD ? sm.mx[h] : d == HD + 1 ? sm.sum[h] : 0.0f;
        if (d < HD)
#pragma unroll
            for (int w = 0; w < kWarps; ++w) v += warp_out(w)[h * S::OL + d];
        p.scratch[(static_cast<size_t>(hr0 + h) * p.s_max + s) * (HD + 2) + d] = v;
    }
    __threadfence();
    __syncthreads();
    const int rg = row * p.n_head_kv + g;
    if (tid == 0) sm.last = atomicAdd(&g_rows_tc_cnt[rg], 1u) == static_cast<unsigned>(ns - 1);
    __syncthreads();
    if (!sm.last) return;
    __threadfence();
    for (int e = tid; e < G * HD; e += 32 * kWarps) {
        const int h = e / HD, d = e % HD;
        float l = 0.0f;
        const float v = merge_splits(p.scratch + static_cast<size_t>(hr0 + h) * p.s_max * (HD + 2), ns, HD, d, l);
        out(e, v / l);
    }
    if (tid == 0) g_rows_tc_cnt[rg] = 0u;
}

// Resident blocks per SM (and, first, the kernel's opt-in to more than 48 KB of shared memory).
template <int HD>
int occupancy() {
    static const int n = [] {
        const int smem = static_cast<int>(sizeof(Smem<HD>));
        (void)cudaFuncSetAttribute(rows_tc_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        int b = 0;
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, rows_tc_kernel<HD>, 32 * kWarps, smem) != cudaSuccess)
            (void)cudaGetLastError(), b = 1;
        return std::max(1, b);
    }();
    return n;
}

int occupancy(int hd) { return hd == 64 ? occupancy<64>() : occupancy<128>(); }

// Splits per (row, kv head): RZ_CUDA_ROWS_TC_BPS > 0: about that many blocks per SM over all rows and kv heads;
// 0 (default): one wave of resident blocks (3 an SM at head_dim 64), rounded down. And enough that no split holds
// more than kCap of n_ctx positions. (Against 2 blocks an SM, rounded up: 2.79-2.84 vs 2.69-2.71 ms at 16 sequences
// after 2000 tokens, 2.96-2.99 vs 3.00-3.04 after 4000; against 4: 4000 tokens 2.96-2.99 vs ~3.0, 2000 tokens
// 2.79-2.84 vs 2.77-2.92.)
int splits(int m, int n_head_kv, int hd, int n_ctx) {
    const int bps = env_int("RZ_CUDA_ROWS_TC_BPS", 0);
    const int pairs = m * n_head_kv;
    const int s = bps > 0 ? (bps * sm_count() + pairs - 1) / pairs : occupancy(hd) * sm_count() / pairs;
    return std::max({1, s, (n_ctx + kCap - 1) / kCap});
}

// Fewest positions per split (RZ_CUDA_ROWS_TC_MIN, default 128: a tile per warp), at most kCap. (32 or 64: 8-18%
// slower after 64-token prompts at 4-16 sequences, 3-7% slower at 4 after 2000: the split combine costs more
// than the shorter walk saves.)
int min_chunk() { return std::clamp(env_int("RZ_CUDA_ROWS_TC_MIN", 128), 1, kCap); }

// Partials of m rows in s_max splits each.
size_t partials(int m, int n_head, int hd, int s_max) { return static_cast<size_t>(m) * n_head * s_max * (hd + 2); }

template <int HD>
void launch_hd(const Params& p, int grid) {
    (void)occupancy<HD>();
    launch(rows_tc_kernel<HD>, grid, 32 * kWarps, sizeof(Smem<HD>), p);
}

}  // namespace

bool rows_tc_takes(bool f16, int n_head, int n_head_kv, int hd) {
    if (env_int("RZ_CUDA_ROWS_TC", 1) == 0 || !f16 || (hd != 64 && hd != 128)) return false;
    if (n_head_kv <= 0 || n_head % n_head_kv != 0) return false;
    const int G = n_head / n_head_kv;
    return G >= 2 && G <= kHeads;
}

size_t rows_tc_scratch(int m, int n_head, int n_head_kv, int hd, int n_ctx) {
    return partials(m, n_head, hd, splits(m, n_head_kv, hd, n_ctx));
}

bool rows_tc(const float* q, int ldq, const void* kc, const void* vc, int n_head, int n_head_kv, int hd, int n_ctx,
             const int32_t* seq, const int32_t* pos, int m, float scale, int n_swa, float* scratch,
             size_t scratch_floats, float* out32, void* out16, int ldo, bool quant_rows) {
    if (m <= 0 || m * n_head_kv > 1024) return false;
    const int s_max = splits(m, n_head_kv, hd, n_ctx);
    if (partials(m, n_head, hd, s_max) > scratch_floats) return false;
    Params p{};
    p.q = q, p.kc = static_cast<const __half*>(kc), p.vc = static_cast<const __half*>(vc), p.seq = seq, p.pos = pos;
    p.scratch = scratch, p.out32 = out32, p.out16 = static_cast<__half*>(out16);
    p.seq_stride = static_cast<size_t>(n_head_kv) * n_ctx * hd;
    p.ldq = ldq, p.ldo = ldo, p.n_head = n_head, p.n_head_kv = n_head_kv, p.n_ctx = n_ctx;
    p.s_max = s_max, p.c_min = min_chunk(), p.n_swa = n_swa, p.pdl_early = pdl_early();
    p.scale = scale;
    p.quant = quant_rows ? 1 : 0, p.act = act_buffer();
    const int grid = m * n_head_kv * p.s_max;
    if (hd == 64) launch_hd<64>(p, grid);
    else launch_hd<128>(p, grid);
    return true;
}

}  // namespace rz::cuda::detail
