// One-token decode attention by kv head (attention_gqa.cuh): RoPE, q/k norms and the KV store of the current
// position as attention_fused's split kernel does them, but a block per (G query heads of one kv head, split)
// instead of a block per (query head, split).
//
// Why: after long contexts the split kernel spends most of a launch on dependent L2 round trips. Each of the G
// query heads of a kv head reads the same cached rows (TinyLlama: 8 reads of every row), a thread walks its keys
// and then its values in several rounds, and each query head merges its own splits (ncu after 4000 tokens: 20.6
// us a launch, 23% occupancy, DRAM at 4% of its peak; docs/perf/cuda.md, session 19). Here a block loads each of
// its rows once for G heads (its first round before the PDL wait: cached rows below pos are immutable), keeps a
// softmax per thread (flash-style rescaling, so the scores are never gathered before the values), and the last
// split of a unit merges its G heads with one round of loads.
//
// G, the query heads a block, follows the context: larger G reads each row fewer times, but a split keeps a
// minimum of keys (attention_gqa below), so a short context fills the GPU only with more units. tg128 on an H200
// (synthetic Q4_K_M, tok/s, G = 1 / 2 / 4, one call, splits of 64 keys or more; docs/perf/cuda.md "Session 23"),
// after 0 / 300 / 1000 / 2000 / 4000 tokens:
//   TinyLlama (32 heads, 8 a kv head)  1899/1858/1799  1757/1735/1648  1617/1645/1589  1470/1580/1528  1278/1423/1487
//   Llama-3.2-1B (32 heads, 4 a kv)    1993/1974/1925  1846/1832/1804  1747/1755/1753  1635/1714/1655  1449/1588/1615
//   qwen3-0.6b (16 heads, 2 a kv)      1735/1639/ -    1489/1425/ -    1426/1365/ -    1307/1324/ -    1088/1186/ -
// gqa_heads() takes G = 1 / 2 / 4 by the (query head, key) pairs per SM of the context, with thresholds between
// these points. A graph fixes the launch, so the caller keys its graphs by gqa_heads() (gpu_context.cpp). One
// kernel choosing G on the device from *pos (all bodies in one launch) needed 178 registers and lost the gain after
// long contexts (session 22). G = 8 was slower than 4 everywhere.
//
// A decode step of several sequences (attention_decode_rows with its RoPE and store) runs the same kernel with a row
// index (ROWS): a block per (row, unit, split). Before, it ran a block per (row, query head, split), each reading its
// kv head's rows for one query head; ncu on an H200, 16 sequences, us a layer, by query head (or the tensor-core
// kernel + RoPE / store launch after 1000) vs by kv head: Llama-3.2-1B after 64 / 1000 tokens 16.7 / 25.5 vs 7.6 /
// 18.9; qwen3-0.6b after 1000 45.1 vs 27.2; TinyLlama's whole step of 16 after 64 / 1000 tokens 1.81-2.03 / 2.34-2.57
// vs 1.64-1.84 / 1.88-2.04 ms (docs/perf/cuda.md "Session 25").
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/attention_gqa.cuh"
#include "backend/cuda/common.cuh"

namespace rz::cuda::detail {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kSplitsMax = 128;  // splits per kv head (the merge's weights live in shared memory)

__device__ unsigned g_gqa_cnt[1024];  // splits of each (kv head, head set) done (reset by the merging block)

struct GqaParams {
    GqaArgs a;
    ActBuffer act;
    L2Pf pf;
    int pdl_early;
    int hs;     // head sets a kv head: its n_head / n_head_kv query heads in sets of G, a block each
    int s_max;  // grid = n_head_kv * hs * s_max; the splits used are computed from *pos (the grid is fixed in a graph)
    int c_min;  // fewest positions per split
};

// 8 halves of a 16-byte slice as floats.
__device__ __forceinline__ void unpack8(const uint4& u, float (&f)[8]) {
    const uint32_t w4[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const float2 x = __half22float2(*reinterpret_cast<const __half2*>(&w4[k]));
        f[2 * k] = x.x, f[2 * k + 1] = x.y;
    }
}

// G query heads a block, head_dim HD, L lanes per cached row (HD / 8 in f16 16-byte slices of 8 elements, a lane
// each, rounded up to a power of two: 8 for 64, 16 for 80, 96 and 128, 32 for 256), NP rows a thread per round. A
// block covers RP = 256 / L rows a pass; thread (r, j) = (tid / L, tid % L) takes rows t0 + r + k RP and elements
// [8 j, 8 j + 8) of each; at head_dim 80 (phi-2) lanes j >= 10 hold no slice, at 96 (phi-3) lanes j >= 12 (zeros:
// they add nothing to the dot products and sums).
// G <= 2 fits 128 registers, so two blocks share an SM (attention_gqa takes two splits an SM there).
// ROWS: several rows (a decode step of several sequences; GqaArgs' row fields), block b on row b / (units s_max);
// a template parameter so that the one-token kernels keep their code and registers.
template <int G, int HD, int NP, bool QKN, bool ROWS = false>
__global__ void __launch_bounds__(kThreads, G <= 2 ? 2 : 1) attn_gqa_kernel(const GqaParams P) {
    constexpr int NS = HD / 8, L = NS <= 8 ? 8 : NS <= 16 ? 16 : 32, RP = kThreads / L, GH = G * HD;
    constexpr int NF = GH / 4, NSL = kThreads / NF;  // the merge: float4s of the outputs; split lanes
    static_assert(HD % 16 == 0 && NS <= L && L <= 32 && NF <= kThreads, "16-byte slices, a lane each; a thread per output float4");
    const GqaArgs& p = P.a;
    // Unit u = (kv head g, set of G of its query heads): query heads h0 .. h0 + G - 1; s: the split.
    const int hs = P.hs, nu = p.n_head_kv * hs, s_max = P.s_max;
    const int row = ROWS ? static_cast<int>(blockIdx.x) / (nu * s_max) : 0, bi = static_cast<int>(blockIdx.x) - row * nu * s_max;
    const int u = bi % nu, s = bi / nu;
    const int g = u / hs, h0 = u * G;
    const int pos = ROWS ? p.pos_rows[row] : *p.pos;  // uploaded by the host before the launch (never written by a kernel)
    const int lo = p.n_swa > 0 ? max(0, pos - p.n_swa + 1) : 0;  // keys [lo, pos]: a sliding window's last n_swa
    const int n_kv = pos + 1 - lo;
    const int ns0 = min(s_max, (n_kv + P.c_min - 1) / P.c_min);
    const int chunk = (n_kv + ns0 - 1) / ns0, ns = (n_kv + chunk - 1) / chunk;  // ns: non-empty splits
    l2pf_issue(P.pf);
    if (s >= ns) return;
    const int t0 = lo + s * chunk, t1 = min(pos + 1, t0 + chunk), tc = min(t1, pos);  // cached rows [t0, tc)
    const bool cur = t1 == pos + 1;  // this split holds pos (not yet in the cache): it stores k, v there
    const size_t kv0 = (ROWS ? static_cast<size_t>(p.seq_rows[row]) * p.seq_stride : 0) + static_cast<size_t>(g) * p.n_ctx * HD;
    __half* K = p.kc + kv0;
    __half* V = p.vc + kv0;
    const size_t xr = ROWS ? static_cast<size_t>(row) * p.ldq : 0;  // this row's q | k | v
    const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5, j = tid % L, r = tid / L;
    const bool jn = NS == L || j < NS;  // this lane holds a slice of each row

    __shared__ __align__(16) float qs[GH];  // [G][HD] the block's q heads, normed and rotated
    __shared__ __align__(16) float ks[HD];  // the current k, v (rounded through f16, as the cache holds them)
    __shared__ __align__(16) float vs[HD];
    __shared__ __align__(16) float part[(kWarps > NSL ? kWarps : NSL) * GH];  // per-warp partial outputs; the merge's per-lane sums
    __shared__ float red[kWarps * G];       // [warps][G] per-warp max or sum
    __shared__ float bmax[G];               // the block's max per head
    __shared__ float wts[G * kSplitsMax];   // the merge: each split's weight per head
    __shared__ int last;

    // The first round of this thread's rows, requested before the wait.
    uint4 kr[NP], vr[NP], vn[NP];  // vn: the next round's values, requested with its keys
    int rb = t0;  // this round's first row: the same for the whole block (the rounds hold full-warp shuffles)
    const auto load_k = [&](int tb) {
#pragma unroll
        for (int k = 0; k < NP; ++k)
            if (jn && tb + k * RP < tc) kr[k] = *reinterpret_cast<const uint4*>(K + static_cast<size_t>(tb + k * RP) * HD + 8 * j);
    };
    const auto load_v = [&](int tb, uint4 (&dst)[NP]) {
#pragma unroll
        for (int k = 0; k < NP; ++k)
            if (jn && tb + k * RP < tc) dst[k] = *reinterpret_cast<const uint4*>(V + static_cast<size_t>(tb + k * RP) * HD + 8 * j);
    };
    load_k(rb + r);
    load_v(rb + r, vr);
    // The current rows before the keys: q (G heads) and the current k and v, normalised (QKN), rotated, k and v rounded
    // through f16 and stored into the cache. At head_dim 64 without q/k norms a warp prepares each row with warp-level
    // syncs and one block barrier after all of it; otherwise the block-wide steps below, a barrier after each. H200
    // tg128 from an empty context, synthetic Q4_K_M, warp rows vs block-wide steps, two calls: Llama-3.2-1B 2056-2071 vs
    // 2014-2044 tok/s, TinyLlama 1917-1953 vs 1901-1937, its Q8_0 1738-1758 vs 1736-1744, qwen2.5-0.5b 1769-1789 vs
    // 1757-1785; steps of 16 sequences +1.4-1.5%; but llama-2-7b (head_dim 128) 479-484 vs 483-487 and qwen3-0.6b (q/k
    // norms, head_dim 128) 1699-1707 vs 1776-1789 (not explained: the same chain of loads, fewer barriers).
    if constexpr (!QKN && HD == 64) {
        // Warp hh < G: query head h0 + hh; warp G: the current k; warp G + 1: the current v (kWarps >= G + 2). A lane's
        // rotation pairs are i = lane, lane + 32 (n_rot / 2 <= 64: the host takes n_rot <= hd <= 128), their (cos, sin)
        // requested before the wait.
        const int half = p.n_rot / 2;
        float2 cs[2];
#pragma unroll
        for (int c = 0; c < 2; ++c)
            if (p.rope_cs && lane + 32 * c < half) cs[c] = reinterpret_cast<const float2*>(p.rope_cs)[static_cast<size_t>(pos) * half + lane + 32 * c];
        pdl_sync(P.pdl_early);

        static_assert(kWarps >= G + 2, "attn_gqa_kernel: a warp per query head, k and v");
        const bool store_kv = cur && u % hs == 0;
        if (warp <= G && (warp < G || cur)) {
            float* x = warp < G ? qs + warp * HD : ks;
            const float* src = warp < G ? p.q + xr + static_cast<size_t>(h0 + warp) * HD : p.k + xr + static_cast<size_t>(g) * HD;
            for (int d = lane; d < HD; d += 32) x[d] = src[d];
            __syncwarp();
            if (p.rope_cs) {  // same float operations as ops::rope
#pragma unroll
                for (int c = 0; c < 2; ++c)
                    if (lane + 32 * c < half) rope_pair(x, lane + 32 * c, half, p.neox, cs[c].x, cs[c].y);
                __syncwarp();
            }
            if (warp == G) {  // the current k as the cache holds it
                for (int d = lane; d < HD; d += 32) {
                    const __half kh = __float2half_rn(ks[d]);
                    if (store_kv) K[static_cast<size_t>(pos) * HD + d] = kh;
                    ks[d] = __half2float(kh);
                }
            }
        } else if (warp == G + 1 && cur) {  // the current v
            for (int d = lane; d < HD; d += 32) {
                const __half vh = __float2half_rn(p.v[xr + static_cast<size_t>(g) * HD + d]);
                if (store_kv) V[static_cast<size_t>(pos) * HD + d] = vh;
                vs[d] = __half2float(vh);
            }
        }
        __syncthreads();
    } else {
        // Rotation pairs: (G + 1) heads (the last the current k) x n_rot / 2 <= 5 x 128, at most 3 a thread
        // (the host takes n_rot <= hd <= 256).
        const int half = p.n_rot / 2, npair = p.rope_cs ? (G + 1) * half : 0;
        float2 cs[3];
#pragma unroll
        for (int c = 0; c < 3; ++c)
            if (tid + c * kThreads < npair) cs[c] = reinterpret_cast<const float2*>(p.rope_cs)[static_cast<size_t>(pos) * half + (tid + c * kThreads) % half];
        // QKN: warp hh <= G normalises head hh (one head a warp); its lane's norm weights now
        static_assert(kWarps >= G + 1, "attn_gqa_kernel: a warp per query head and k");
        const float* nw = warp < G ? p.q_norm : warp == G && cur ? p.k_norm : nullptr;
        float nwr[(HD + 31) / 32];
        if constexpr (QKN) {
#pragma unroll
            for (int k = 0; k < (HD + 31) / 32; ++k)
                if (nw && (HD % 32 == 0 || lane + 32 * k < HD)) nwr[k] = nw[lane + 32 * k];
        }
        pdl_sync(P.pdl_early);

        for (int i = tid; i < GH; i += kThreads) qs[i] = p.q[xr + static_cast<size_t>(h0) * HD + i];
        if (cur)
            for (int i = tid; i < HD; i += kThreads) ks[i] = p.k[xr + static_cast<size_t>(g) * HD + i], vs[i] = p.v[xr + static_cast<size_t>(g) * HD + i];
        __syncthreads();
        if constexpr (QKN) {  // warp w <= G normalises head w; head G is the current k
            if (nw) head_norm_warp_pre<HD>(warp < G ? qs + warp * HD : ks, nwr, p.qk_eps, lane);
            __syncthreads();
        }
        if (npair > 0) {  // same float operations as ops::rope
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                const int pr = tid + c * kThreads;
                if (pr >= npair) continue;
                const int hh = pr / half, i = pr % half;
                if (hh == G && !cur) continue;
                rope_pair(hh < G ? qs + hh * HD : ks, i, half, p.neox, cs[c].x, cs[c].y);
            }
            __syncthreads();
        }
        if (cur) {
            for (int i = tid; i < HD; i += kThreads) {
                const __half kh = __float2half_rn(ks[i]), vh = __float2half_rn(vs[i]);
                if (u % hs == 0) K[static_cast<size_t>(pos) * HD + i] = kh, V[static_cast<size_t>(pos) * HD + i] = vh;
                ks[i] = __half2float(kh), vs[i] = __half2float(vh);
            }
            __syncthreads();
        }
    }

    float qr[G][8];
#pragma unroll
    for (int i = 0; i < G; ++i) {
        const float4 z = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        const float4 a = jn ? *reinterpret_cast<const float4*>(qs + i * HD + 8 * j) : z, b = jn ? *reinterpret_cast<const float4*>(qs + i * HD + 8 * j + 4) : z;
        qr[i][0] = a.x, qr[i][1] = a.y, qr[i][2] = a.z, qr[i][3] = a.w, qr[i][4] = b.x, qr[i][5] = b.y, qr[i][6] = b.z, qr[i][7] = b.w;
    }
    // Per thread: running max m, sum l and unnormalised output acc of each head over its rows so far.
    float acc[G][8], m[G], l[G];
#pragma unroll
    for (int i = 0; i < G; ++i) {
        m[i] = -INFINITY, l[i] = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[i][e] = 0.0f;
    }
    for (;;) {
        const int t = rb + r;
        float sc[NP][G];
#pragma unroll
        for (int k = 0; k < NP; ++k) {
            const int tt = t + k * RP;
            float kf[8];
            if (tt < tc && jn) {
                unpack8(kr[k], kf);
            } else {
#pragma unroll
                for (int e = 0; e < 8; ++e) kf[e] = tt < t1 && jn ? ks[8 * j + e] : 0.0f;  // tt < t1 here: tt == pos
            }
#pragma unroll
            for (int i = 0; i < G; ++i) {
                float d = 0.0f;
#pragma unroll
                for (int e = 0; e < 8; ++e) d += qr[i][e] * kf[e];
#pragma unroll
                for (int o = 1; o < L; o <<= 1) d += __shfl_xor_sync(0xFFFFFFFFu, d, o);
                sc[k][i] = tt < t1 ? d * p.scale : -INFINITY;
            }
        }
        const int rn = rb + NP * RP;
        // The next round's keys and values are in flight during this round's values. Requesting its values only
        // after this round's were summed cost 1-3% (up to 5% for qwen3-0.6b after 4000 tokens; session 24).
        if (rn < t1) load_k(rn + r), load_v(rn + r, vn);
        float mn[G];
#pragma unroll
        for (int i = 0; i < G; ++i) {
            mn[i] = m[i];
#pragma unroll
            for (int k = 0; k < NP; ++k) mn[i] = fmaxf(mn[i], sc[k][i]);
            const float f = mn[i] == -INFINITY ? 1.0f : __expf(m[i] - mn[i]);
            l[i] *= f;
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[i][e] *= f;
            m[i] = mn[i];
        }
#pragma unroll
        for (int k = 0; k < NP; ++k) {
            const int tt = t + k * RP;
            if (tt >= t1) continue;
            float vf[8];
            if (tt < tc && jn) {
                unpack8(vr[k], vf);
            } else {
#pragma unroll
                for (int e = 0; e < 8; ++e) vf[e] = jn ? vs[8 * j + e] : 0.0f;
            }
#pragma unroll
            for (int i = 0; i < G; ++i) {
                const float w = __expf(sc[k][i] - mn[i]);
                l[i] += w;
#pragma unroll
                for (int e = 0; e < 8; ++e) acc[i][e] += w * vf[e];
            }
        }
        if (rn >= t1) break;
#pragma unroll
        for (int k = 0; k < NP; ++k) vr[k] = vn[k];
        rb = rn;
    }

    // The block's max per head, then every thread's sums rescaled to it and added over rows (lanes of other rows
    // in the warp by shuffles, warps in shared memory). l is the same on the L lanes of a row.
    float M[G];
#pragma unroll
    for (int i = 0; i < G; ++i) {
        float x = m[i];
#pragma unroll
        for (int o = L; o < 32; o <<= 1) x = fmaxf(x, __shfl_xor_sync(0xFFFFFFFFu, x, o));
        if (lane == 0) red[warp * G + i] = x;
    }
    __syncthreads();
    if (tid < G) {  // over the warps
        float x = red[tid];
        for (int w = 1; w < kWarps; ++w) x = fmaxf(x, red[w * G + tid]);
        bmax[tid] = x;
    }
    __syncthreads();  // bmax is read below (and by the merge), red rewritten
#pragma unroll
    for (int i = 0; i < G; ++i) {
        M[i] = bmax[i];
        const float f = m[i] == -INFINITY ? 0.0f : __expf(m[i] - M[i]);
        l[i] *= f;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[i][e] *= f;
#pragma unroll
        for (int o = L; o < 32; o <<= 1) {
            l[i] += __shfl_xor_sync(0xFFFFFFFFu, l[i], o);
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[i][e] += __shfl_xor_sync(0xFFFFFFFFu, acc[i][e], o);
        }
        if (lane < NS) {  // the warp's first row: lane == j
            float4* d = reinterpret_cast<float4*>(part + (warp * G + i) * HD + 8 * lane);
            d[0] = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
            d[1] = make_float4(acc[i][4], acc[i][5], acc[i][6], acc[i][7]);
        }
        if (lane == 0) red[warp * G + i] = l[i];
    }
    __syncthreads();

    const auto store = [&](int idx, float o) {  // output idx of the block's heads, and its int8 copy for o
        p.out[(ROWS ? static_cast<size_t>(row) * p.ldo : 0) + static_cast<size_t>(h0) * HD + idx] = o;
        if (p.quant_out) P.act.put(o, static_cast<size_t>(row) * p.n_head * HD, (h0 * HD + idx) >> 5, lane);
    };
    // [m][n_head][s_max][HD] outputs, then [m][n_head][s_max] (max, sum); this row's parts (one token: m = 1)
    const size_t hsm = static_cast<size_t>(p.n_head) * s_max;
    float* const Po = p.scratch + row * hsm * HD;
    float* const Pml = p.scratch + static_cast<size_t>(ROWS ? p.m : 1) * hsm * HD + row * hsm * 2;
    unsigned* const cnt = g_gqa_cnt + row * nu + u;  // this (row, unit)'s splits done
    if (ns > 1) {  // publish this split's (output, max, sum) per head; the kv head's last split merges
        for (int idx = tid; idx < GH; idx += kThreads) {
            float o = 0.0f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w) o += part[w * GH + idx];
            const int i = idx / HD;
            Po[(static_cast<size_t>(h0 + i) * s_max + s) * HD + idx % HD] = o;
        }
        if (tid < G) {
            float sum = 0.0f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w) sum += red[w * G + tid];
            Pml[2 * (static_cast<size_t>(h0 + tid) * s_max + s)] = bmax[tid];
            Pml[2 * (static_cast<size_t>(h0 + tid) * s_max + s) + 1] = sum;
        }
        __syncthreads();
        if (tid == 0) last = atomic_add_acq_rel(cnt, 1u) == static_cast<unsigned>(ns - 1) ? 1 : 0;
        __syncthreads();
        if (!last) return;
        // Each head's weights exp(max_s - max) / sum over splits (warp i: head i), then the outputs: float4 f of the
        // group's G HD outputs over the splits sl, sl + NSL, ... (one round of loads), added over sl in shared memory.
        for (int i = warp; i < G; i += kWarps) {
            const float* ml = Pml + 2 * static_cast<size_t>(h0 + i) * s_max;
            float mv[kSplitsMax / 32], lv[kSplitsMax / 32], mx = -INFINITY;
#pragma unroll
            for (int u = 0; u < kSplitsMax / 32; ++u) {
                const int sp = lane + 32 * u;
                mv[u] = sp < ns ? __ldcg(ml + 2 * sp) : -INFINITY;
                lv[u] = sp < ns ? __ldcg(ml + 2 * sp + 1) : 0.0f;
                mx = fmaxf(mx, mv[u]);
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, o));
            float tot = 0.0f;
#pragma unroll
            for (int u = 0; u < kSplitsMax / 32; ++u) mv[u] = __expf(mv[u] - mx), tot += mv[u] * lv[u];
            tot = warp_sum(tot);
#pragma unroll
            for (int u = 0; u < kSplitsMax / 32; ++u)
                if (lane + 32 * u < ns) wts[i * kSplitsMax + lane + 32 * u] = mv[u] / tot;
        }
        __syncthreads();
        if (tid < NF * NSL) {  // (NF need not divide the block: head_dim 80)
            const int f = tid % NF, sl = tid / NF, i = f * 4 / HD;
            const float4* src = reinterpret_cast<const float4*>(Po + static_cast<size_t>(h0 + i) * s_max * HD) + f % (HD / 4);
            float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 8
            for (int sp = sl; sp < ns; sp += NSL) {
                const float4 x = __ldcg(src + static_cast<size_t>(sp) * (HD / 4));
                const float w = wts[i * kSplitsMax + sp];
                a.x += w * x.x, a.y += w * x.y, a.z += w * x.z, a.w += w * x.w;
            }
            reinterpret_cast<float4*>(part)[sl * NF + f] = a;
        }
        __syncthreads();
        for (int idx = tid; idx < GH; idx += kThreads) {
            float o = 0.0f;
            for (int sl = 0; sl < NSL; ++sl) o += part[sl * GH + idx];
            store(idx, o);
        }
        if (tid == 0) *cnt = 0u;
        return;
    }
    for (int idx = tid; idx < GH; idx += kThreads) {  // one split: the block's output is the head's
        float o = 0.0f, sum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) o += part[w * GH + idx], sum += red[w * G + idx / HD];
        store(idx, o / sum);
    }
}

using Kernel = void (*)(GqaParams);

template <int G, bool QKN, bool ROWS>
Kernel pick_l(int hd) {
    switch (hd) {
        case 64: return attn_gqa_kernel<G, 64, 4, QKN, ROWS>;
        case 80: return attn_gqa_kernel<G, 80, 4, QKN, ROWS>;
        case 96: return attn_gqa_kernel<G, 96, 4, QKN, ROWS>;
        case 256: return attn_gqa_kernel<G, 256, 4, QKN, ROWS>;
        default: return attn_gqa_kernel<G, 128, 4, QKN, ROWS>;
    }
}

template <bool QKN, bool ROWS = false>
Kernel pick(int G, int hd) {
    return G == 1 ? pick_l<1, QKN, ROWS>(hd) : G == 2 ? pick_l<2, QKN, ROWS>(hd) : pick_l<4, QKN, ROWS>(hd);
}

// The shapes the kernels take: an f16 cache, head_dim 64, 80 (phi-2), 96 (phi-3), 128 or 256 (gemma), whole groups.
bool gqa_shape(bool f16, int n_head, int n_head_kv, int hd, int n_rot) {
    return f16 && n_head_kv > 0 && n_head % n_head_kv == 0 && (hd == 64 || hd == 80 || hd == 96 || hd == 128 || hd == 256) && n_rot <= hd;
}

// The splits of each (row, unit) for `units` units and m rows: about bps blocks an SM over all of them, at most
// kSplitsMax and split_cap (the splits a head the scratch holds).
int gqa_splits(int bps, int units, int m, int split_cap) {
    return std::min({std::max(1, bps * sm_count() / (units * m)), kSplitsMax, std::max(1, split_cap)});
}

// G fixed by an environment value hmax > 0 (RZ_CUDA_GQA_HEADS, RZ_CUDA_ROWS_GQA_HEADS): 4 where it divides the group,
// else 2 where that does; 1 for any group, odd ones too; 0 (the other kernels) otherwise.
int fixed_heads(int hmax, int grp) { return hmax >= 4 && grp % 4 == 0 ? 4 : hmax >= 2 && grp % 2 == 0 ? 2 : hmax == 1 ? 1 : 0; }

// (query head, key) pairs per SM of m rows at positions up to pos (keys [0, pos], the last n_swa under a window).
int64_t pairs_per_sm(int n_head, int m, int pos, int n_swa) {
    const int64_t keys = n_swa > 0 ? std::min(pos + 1, n_swa) : static_cast<int64_t>(pos) + 1;
    return keys * n_head * m / std::max(1, sm_count());
}

}  // namespace

int gqa_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int pos, int n_swa) {
    if (env_int("RZ_CUDA_ATTN_GQA", 1) == 0 || !gqa_shape(f16, n_head, n_head_kv, hd, n_rot)) return 0;
    const int grp = n_head / n_head_kv;
    int G = 0;
    // RZ_CUDA_GQA_HEADS=1|2|4 fixes G (4 where it divides the group, else 2; 1: any group, odd ones too).
    // Otherwise, for even groups, G follows the context: (pos + 1) keys (at most n_swa of them under a sliding window)
    // x n_head query heads per SM from RZ_CUDA_GQA_AT2 (default 180) on take G = 2, from RZ_CUDA_GQA_AT4 (default
    // 720) G = 4 where it divides the group, below 1. The header's table puts the steps between 121 and 242
    // (TinyLlama after 300 / 1000 tokens: 73 / 242; qwen3-0.6b after 1000 / 2000: 121 / 242) and between 485 and 970
    // (TinyLlama after 2000 / 4000). pos < 0 (no position known): 2. Odd groups take G = 1: of 3 or more
    // (qwen2.5-0.5b's 14 / 2 heads, H200 tg128 after 0 / 1000 / 4000 tokens: 1753-1765 / 1618-1620 / 1478-1496 vs
    // 1674-1676 / 1492-1498 / 1329-1330 tok/s with the split kernel, session 25) and of 1, no GQA (llama-2-7b's 32 / 32
    // heads: 488 / 450-454 / 389-390 vs 481-482 / 440 / 345-346 tok/s).
    if (const int hmax = env_int("RZ_CUDA_GQA_HEADS", 0); hmax > 0) {
        G = fixed_heads(hmax, grp);
    } else if (grp % 2 == 0) {
        const int64_t pairs = pairs_per_sm(n_head, 1, pos, n_swa);
        const bool at4 = pairs >= std::max(1, env_int("RZ_CUDA_GQA_AT4", 720));
        G = pos < 0 ? 2 : grp % 4 == 0 && at4 ? 4 : pairs >= std::max(1, env_int("RZ_CUDA_GQA_AT2", 180)) ? 2 : 1;
    } else {
        G = 1;
    }
    return G > 0 && n_head / G <= 1024 ? G : 0;
}

void attention_gqa(const GqaArgs& a, int G) {
    RZ_ASSERT(G == 1 || G == 2 || G == 4, "attention_gqa: 1, 2 or 4 query heads a block");
    const int grp = a.n_head / a.n_head_kv;
    const int units = a.n_head / G;
    // Splits: about RZ_CUDA_GQA_BPS blocks an SM over all units, within the scratch (n_head * n_ctx floats hold
    // n_head * s_max * (hd + 2)) and the merge's table, at least RZ_CUDA_GQA_MIN (default 128) positions each.
    // BPS defaults to the blocks that fit an SM at once: 2 for G <= 2 (at most 128 registers), 1 for G = 4 (168),
    // where a second block an SM would run as a second wave. tg128 on an H200 (synthetic Q4_K_M, session 24), two
    // blocks an SM vs one: qwen3-8b after 2000 tokens 404, 406 vs 392, 393 (a second call: 405, 402 vs 392, 394);
    // TinyLlama and Llama-3.2-1B after 1000 +1-2% in one call, +0-1% in the second; qwen3-0.6b within 1%; with
    // G = 4 (after 4000) -8 to -10%. A merge costs more than a second split gains below ~128 keys: tg128 from an
    // empty context of 512 positions (H200, session 23), 128 / 64 / 256: TinyLlama 1906-1912 / 1848-1855 / 1887-1896,
    // Llama-3.2-1B 1997-2003 / 1935-1942 / 1969-1986, qwen3-0.6b 1709-1727 / 1700-1704 / 1717-1729; after 300 to
    // 4000 tokens 128 and 64 are within 1% (256 loses up to 6% after 300 and 1000).
    const int bps = std::max(1, env_int("RZ_CUDA_GQA_BPS", G <= 2 ? 2 : 1));
    const int s_max = gqa_splits(bps, units, 1, a.n_ctx / (a.hd + 2));
    GqaParams P{a, act_buffer(), take_l2pf(), pdl_early(), grp / G, s_max, std::max(1, env_int("RZ_CUDA_GQA_MIN", 128))};
    launch(a.q_norm || a.k_norm ? pick<true>(G, a.hd) : pick<false>(G, a.hd), units * s_max, kThreads, 0, P);
}

int gqa_rows_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int m, int pos_max, int n_swa) {
    if (env_int("RZ_CUDA_ROWS_GQA", 1) == 0 || m < 1 || !gqa_shape(f16, n_head, n_head_kv, hd, n_rot)) return 0;
    const int grp = n_head / n_head_kv;
    // RZ_CUDA_ROWS_GQA_HEADS=1|2|4 fixes G as RZ_CUDA_GQA_HEADS does for one token. Otherwise G = 2 where the group
    // is even and the step's (query head, key) pairs over its m rows (at the longest row's keys) reach
    // RZ_CUDA_ROWS_GQA_AT2 (default 180) per SM, else 1; odd groups take 1 as for one token: of 3 or more (qwen2.5-0.5b
    // steps of 4 / 16 sequences after 64 and 1000 tokens within 1% of the other kernels) and of 1 (llama-2-7b's steps
    // of 16 after 1000 tokens 6.67 vs 8.23 ms with the other kernels, of 4 3.35 vs 3.87). G = 4
    // won nowhere in a step: the rows already fill the GPU, and a block of 4 heads takes a whole SM (168 registers).
    // H200, synthetic Q4_K_M, ms a step, G = 1 / 2 / 4 (docs/perf/cuda.md "Session 25"): TinyLlama 16 sequences
    // after 64 / 300 / 1000 / 4000 tokens 1.70-1.69 / 1.83-1.93 / - / - vs 1.68-1.73 / 1.70-1.70 / 1.97-2.00 / 2.58-2.61
    // vs 1.65-1.67 / 1.73-1.76 / 2.05-2.08 / 2.63-2.65; 8 after 64: 1.14-1.16 / 1.17-1.21 / 1.17-1.23; 4 after 64:
    // 0.91-0.92 / 0.96 / 0.97-0.99.
    int G = 0;
    if (const int hmax = env_int("RZ_CUDA_ROWS_GQA_HEADS", 0); hmax > 0) G = fixed_heads(hmax, grp);
    else if (grp % 2 == 0) G = pairs_per_sm(n_head, m, pos_max, n_swa) >= std::max(1, env_int("RZ_CUDA_ROWS_GQA_AT2", 180)) ? 2 : 1;
    else G = 1;
    return G > 0 && m * (n_head / G) <= 1024 ? G : 0;
}

bool attention_gqa_rows(const GqaArgs& a, int G, size_t scratch_floats) {
    if (!(G == 1 || G == 2 || G == 4) || a.m < 1 || a.pos_rows == nullptr || !gqa_shape(true, a.n_head, a.n_head_kv, a.hd, a.n_rot) ||
        a.n_head % (a.n_head_kv * G) != 0)
        return false;
    const int units = a.n_head / G;
    const size_t per_split = static_cast<size_t>(a.m) * a.n_head * (a.hd + 2);  // scratch floats of one split a (row, head)
    if (a.m * units > 1024 || scratch_floats < per_split) return false;
    const int bps = std::max(1, env_int("RZ_CUDA_GQA_BPS", G <= 2 ? 2 : 1));
    const int s_max = gqa_splits(bps, units, a.m, static_cast<int>(std::min<size_t>(scratch_floats / per_split, kSplitsMax)));
    GqaParams P{a, act_buffer(), L2Pf{}, pdl_early(), a.n_head / a.n_head_kv / G, s_max, std::max(1, env_int("RZ_CUDA_GQA_MIN", 128))};
    launch(a.q_norm || a.k_norm ? pick<true, true>(G, a.hd) : pick<false, true>(G, a.hd), a.m * units * s_max, kThreads, 0, P);
    return true;
}

}  // namespace rz::cuda::detail
