// Fused rope + KV-cache store + decode attention for one token (see cuda.h, attention_fused), part of the
// fused decode layer (decode_fused.cu); launched with programmatic dependent launch like the mat-vecs.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <tuple>

#include "backend/cuda/attention_gqa.cuh"
#include "backend/cuda/attention_rows_tc.cuh"
#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {

using namespace detail;

namespace {

// ---- rope + kv store + decode attention. Every block ropes its own q head and the current k of its group in
// shared memory (so no block waits for another), rounds the current k, v through the cache type (what a
// read-back from the cache would give), and the group's first head writes them to the caches; the other heads
// read earlier positions from the cache and the current one from shared memory. Scores: one thread per key
// (its whole row in 16-byte loads, all in flight at once) instead of a warp per key, whose shuffle reductions
// serialised ~pos / 8 dependent loads per warp. Rotation from a host-computed cos/sin table (the CPU's values)
// instead of double sin/cos per pair.
struct AttnParams {
    const float* q;
    const float* k;
    const float* v;
    void* kc;
    void* vc;
    int n_head, n_head_kv, hd, n_ctx, n_rot, neox, quant;
    const float* rope_cs;  // [n_ctx][n_rot / 2] (cos, sin), or null
    const int32_t* pos;
    float scale;
    float* scores;
    float* out;
    ActBuffer act;  // receives the int8 copy of out when quant
    int pdl_early;
    int smem_scores;  // scores in shared memory, else in `scores` (one split per head over more than 8192 positions)
    L2Pf pf;          // later launches' weights to request into L2
    int s_max;        // split kernel: grid = n_head * s_max blocks
    int c_min;        // split kernel: fewest positions per split
    int n_swa;        // > 0: sliding window, keys (pos - n_swa, pos] only
    // Several rows (attention_decode_rows): row i = blockIdx.x / (n_head * s_max) is sequence seq_rows[i] at
    // position pos_rows[i], its q at q + i * ldq, its keys and values all in the cache (stored), its output at
    // row i of out (or out16) with stride ldo. The one-token launch: pos_rows null, one row.
    const int32_t* seq_rows;
    const int32_t* pos_rows;
    int ldq, ldo, stored;
    size_t seq_stride;  // cache elements per sequence
    __half* out16;
    // Per-head RMSNorm of q and of the current k before RoPE (qwen3; the QKN kernels only): weights [hd], or null.
    const float* q_norm;
    const float* k_norm;
    float qk_eps;
};

// Up to 8 16-byte slices of a cached key row (8 E elements, E = 16 / sizeof(C)), all loaded before any is used.
template <typename C>
__device__ __forceinline__ void key_chunk_load(uint4 (&u)[8], const C* krow, int n) {
    constexpr int E = 16 / static_cast<int>(sizeof(C));
#pragma unroll
    for (int j = 0; j < 8; ++j)
        if (j < n) u[j] = *reinterpret_cast<const uint4*>(krow + j * E);
}

// d + the dot of q (shared memory) with the n slices in u, in element order.
template <typename C>
__device__ __forceinline__ float key_chunk_dot(float d, const float* q, const uint4 (&u)[8], int n) {
    constexpr int E = 16 / static_cast<int>(sizeof(C));
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        if (j >= n) break;
        const float* qj = q + j * E;
        if constexpr (sizeof(C) == 2) {
            const uint32_t w4[4] = {u[j].x, u[j].y, u[j].z, u[j].w};
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w4[k]));
                d += qj[2 * k] * f.x + qj[2 * k + 1] * f.y;
            }
        } else {
            d += qj[0] * __uint_as_float(u[j].x) + qj[1] * __uint_as_float(u[j].y) + qj[2] * __uint_as_float(u[j].z) + qj[3] * __uint_as_float(u[j].w);
        }
    }
    return d;
}

// Dot of q (shared memory, float) with cached key row t, hd % E == 0: the row's slices are loaded 8 at a time
// before any is used (64 f16 or 32 f32 elements a round trip; with a load per loop step the compiler kept each
// slice's load behind the previous one's arithmetic, so a 64-element f16 key cost 8 dependent L2 round trips).
// `first` (n0 slices, n0 > 0): the row's first chunk, already loaded. The sums keep the element order of the
// plain loop.
template <typename C>
__device__ __forceinline__ float key_dot(const float* qs, const C* krow, int hd, const uint4 (&first)[8], int n0) {
    constexpr int E = 16 / static_cast<int>(sizeof(C));
    float d = 0.0f;
    int i0 = 0;
    if (n0 > 0) d = key_chunk_dot<C>(d, qs, first, n0), i0 = 8 * E;
    for (; i0 < hd; i0 += 8 * E) {
        const int n = min(8, (hd - i0) / E);
        uint4 u[8];
        key_chunk_load<C>(u, krow + i0, n);
        d = key_chunk_dot<C>(d, qs + i0, u, n);
    }
    return d;
}

// a[e] += w * (element e of a 16-byte cache slice): 8 halves or 4 floats.
template <typename C>
__device__ __forceinline__ void accum16(float (&a)[16 / sizeof(C)], const uint4& u, float w) {
    if constexpr (sizeof(C) == 2) {
        const uint32_t w4[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w4[k]));
            a[2 * k] += w * f.x;
            a[2 * k + 1] += w * f.y;
        }
    } else {
        a[0] += w * __uint_as_float(u.x), a[1] += w * __uint_as_float(u.y), a[2] += w * __uint_as_float(u.z), a[3] += w * __uint_as_float(u.w);
    }
}

// ---- split-KV (flash-decoding): block (h, s) = blockIdx.x % n_head, blockIdx.x / n_head takes the
// positions [s * chunk, (s + 1) * chunk) of [0, pos] for query head h, chunk = ceil((pos + 1) / ns) with
// ns = min(s_max, ceil((pos + 1) / c_min)) computed from *pos on the device (the grid is fixed when a graph
// is captured; blocks past ns exit at once). Why: one block per head puts a 2000-position attention on
// n_head SMs, each walking ~2000 keys and values through a few dependent load rounds per thread. Each split
// writes its unnormalised output, max and sum to the scratch (the scores buffer: n_head * s_max * (hd + 2)
// floats); the head's last split to finish (atomic counter, reset by it) combines them (the softmax
// rescaling of flash-decoding), writes out and its int8 copy. One split (short contexts) writes out directly.
// s_max = 1 is one block per head (RZ_CUDA_ATTN_SPLIT=0, or shapes without room for splits); its scores may
// then live in `scores` ([n_head, n_ctx]) instead of shared memory.
__device__ unsigned g_attn_cnt[1024];  // splits of each head done (reset by the combining block)

constexpr int kAttnThreads = 256;  // threads of a split block

// Floats of the merging block's copy of a head's split partials ([s_max][hd + 2]) where that is at most 4 loads a
// thread; none for one split, or more (the merge then reads L2 directly: with 16 splits of head_dim 128, qwen3-0.6b
// decode after 1000-4000 tokens was ~1% slower with the copy, H200).
__host__ __device__ inline int merge_floats(int s_max, int hd) {
    return s_max > 1 && s_max * (hd + 2) <= 4 * kAttnThreads ? s_max * (hd + 2) : 0;
}

// QKN: the per-head q/k RMSNorm (a template parameter so that the other models' kernels keep their code). PAD (the
// one-token launch): value rows of a non-power-of-two count of 16-byte slices, on the 16-byte value path with idle
// lanes (below) instead of a thread per dimension: synthetic phi-2 (head_dim 80) Q4_K_M decode tg128 after 0 / 500 /
// 2000 tokens 708-709 / 660-668 / 592-593 vs 684-686 / 650 / 561-566 tok/s (H200). The other head sizes keep their
// code (with the padding computed at run time for every size, TinyLlama decode was 1% slower).
template <typename C, int EARLY, bool QKN, bool PAD = false>
__global__ void __launch_bounds__(256) attn_split_kernel(const AttnParams p) {
    const int row = static_cast<int>(blockIdx.x) / (p.n_head * p.s_max), bi = static_cast<int>(blockIdx.x) % (p.n_head * p.s_max);
    const int pos = p.pos_rows ? p.pos_rows[row] : *p.pos;  // uploaded by the host before the launch (never written by a kernel)
    // Keys [lo, pos]: all positions, or the sliding window's last n_swa.
    const int lo = p.n_swa > 0 ? max(0, pos - p.n_swa + 1) : 0;
    const int n_kv = pos + 1 - lo, hd = p.hd, h = bi % p.n_head, s = bi / p.n_head;
    const int hr = row * p.n_head + h;  // this (row, head): its split partials and counter
    const int grp = p.n_head / p.n_head_kv, g = h / grp;
    const int ns0 = min(p.s_max, (n_kv + p.c_min - 1) / p.c_min);
    const int chunk = (n_kv + ns0 - 1) / ns0, ns = (n_kv + chunk - 1) / chunk;  // ns: non-empty splits
    l2pf_issue(p.pf);
    if (s >= ns) return;
    const int t0 = lo + s * chunk, t1 = min(pos + 1, t0 + chunk), tc = p.stored ? t1 : min(t1, pos);  // cached keys: [t0, tc)
    const bool cur = !p.stored && t1 == pos + 1;  // this split holds position pos, not yet in the cache
    const size_t kv0 = (p.pos_rows ? static_cast<size_t>(p.seq_rows[row]) * p.seq_stride : 0) + static_cast<size_t>(g) * p.n_ctx * hd;
    C* K = static_cast<C*>(p.kc) + kv0;
    C* V = static_cast<C*>(p.vc) + kv0;
    if (h % grp == 0 && tc > t0) {  // earlier positions of the cache are immutable here: warm L2 with them
        prefetch_l2(reinterpret_cast<const uint8_t*>(K + static_cast<size_t>(t0) * hd), static_cast<size_t>(tc - t0) * hd * sizeof(C));
        prefetch_l2(reinterpret_cast<const uint8_t*>(V + static_cast<size_t>(t0) * hd), static_cast<size_t>(tc - t0) * hd * sizeof(C));
    }
    // q[hd] | k[hd] | v[hd] | part[max(blockDim.x, 8 hd)] | red[32] | splits[s_max][hd + 2] (s_max > 1) | scores[chunk]
    extern __shared__ float smf[];
    float* qs = smf;
    float* ks = qs + hd;
    float* vs = ks + hd;
    float* part = vs + hd;
    float* red = part + max(static_cast<int>(blockDim.x), 8 * hd);
    float* splits = red + 32;  // the merging block's copy of the head's split partials
    float* sc = p.smem_scores ? splits + merge_floats(p.s_max, hd) : p.scores + static_cast<size_t>(h) * p.n_ctx;  // sc[t - t0]
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    const int half = p.n_rot / 2;
    // This thread's first cached key row and its first value slices, loaded before the wait (one-token launch
    // only: rows below pos were written by earlier steps' attention launches, complete before the previous
    // kernel's own wait returned; the batched path stores its rows in the same step). Their L2 round trips then
    // overlap the previous kernel instead of following the q load and the scores.
    constexpr int E = 16 / static_cast<int>(sizeof(C));
    // The 16-byte value path below: G = hd / E slices a value row, read by Gp lanes (G rounded up to a power of two,
    // so that rows tile the warp: phi-2's head_dim 80 in f16 has 10 slices a row on 16 lanes, 6 idle).
    const int G = hd / E, Gp = PAD ? (G <= 1 ? 1 : 1 << (32 - __clz(G - 1))) : G;
    const bool vlane = !PAD || tid % Gp < G;  // this lane reads a slice
    const bool vfast = hd % E == 0 && Gp <= 32 && (PAD || (G & (G - 1)) == 0) && (reinterpret_cast<uintptr_t>(V) & 15) == 0;
    const int per = vfast ? static_cast<int>(blockDim.x) / Gp : 1, gi = vfast ? tid / Gp : 0, c0 = vfast && vlane ? (tid % Gp) * E : 0;
    const int tcv = PAD && !vlane ? t0 : tc;  // an idle lane's value loops are empty
    uint4 kpre[8], vpre[4];
    const int kn = EARLY >= 1 && !p.stored && hd % E == 0 && t0 + tid < tc ? min(8, G) : 0;
    if (kn > 0) key_chunk_load<C>(kpre, K + static_cast<size_t>(t0 + tid) * hd, kn);
    const bool vearly = EARLY >= 2 && !p.stored && vfast;
    if (vearly) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int t = t0 + gi + k * per;
            if (t < tcv) vpre[k] = *reinterpret_cast<const uint4*>(V + static_cast<size_t>(t) * hd + c0);
        }
    }
    float2 cs = make_float2(1.0f, 0.0f);
    if (p.rope_cs && tid < half) cs = reinterpret_cast<const float2*>(p.rope_cs)[static_cast<size_t>(pos) * half + tid];
    pdl_sync(p.pdl_early);
    for (int i = tid; i < hd; i += blockDim.x) {
        qs[i] = p.q[static_cast<size_t>(row) * p.ldq + h * hd + i];
        if (cur) ks[i] = p.k[static_cast<size_t>(row) * p.ldq + g * hd + i], vs[i] = p.v[static_cast<size_t>(row) * p.ldq + g * hd + i];
    }
    __syncthreads();
    if constexpr (QKN) {  // warp 0 normalises q, warp 1 the current k (the cache stores it normalised and roped)
        if (warp == 0 && p.q_norm) head_norm_warp(qs, p.q_norm, hd, p.qk_eps, lane);
        if (warp == 1 && cur && p.k_norm) head_norm_warp(ks, p.k_norm, hd, p.qk_eps, lane);
        __syncthreads();
    }
    if (p.rope_cs) {  // same float operations as ops::rope and the rope kernel
        if (tid < half) {
            const int2 ix = rope_idx(tid, half, p.neox);  // the same pair of q and of the current k
            float2 y = rope_rot(qs[ix.x], qs[ix.y], cs.x, cs.y);
            qs[ix.x] = y.x, qs[ix.y] = y.y;
            if (cur) {
                y = rope_rot(ks[ix.x], ks[ix.y], cs.x, cs.y);
                ks[ix.x] = y.x, ks[ix.y] = y.y;
            }
        }
        __syncthreads();
    }
    if (cur) {
        for (int i = tid; i < hd; i += blockDim.x) {
            const C kr = to_cache<C>(ks[i]), vr = to_cache<C>(vs[i]);
            if (h % grp == 0) {
                K[static_cast<size_t>(pos) * hd + i] = kr;
                V[static_cast<size_t>(pos) * hd + i] = vr;
            }
            ks[i] = from_cache(kr);
            vs[i] = from_cache(vr);
        }
        __syncthreads();
    }
    float mx = -INFINITY;
    int t = t0 + tid;
    if (kn > 0) {  // this thread's first key, its first chunk loaded before the wait
        const float d = key_dot<C>(qs, K + static_cast<size_t>(t) * hd, hd, kpre, kn) * p.scale;
        sc[t - t0] = d;
        mx = d;
        t += blockDim.x;
    }
    for (; t < t1; t += blockDim.x) {
        float d = 0.0f;
        if (t < tc && hd % E == 0) {
            d = key_dot<C>(qs, K + static_cast<size_t>(t) * hd, hd, kpre, 0);
        } else if (t < tc) {
            for (int i = 0; i < hd; ++i) d += qs[i] * from_cache(K[static_cast<size_t>(t) * hd + i]);
        } else {
            for (int i = 0; i < hd; ++i) d += qs[i] * ks[i];
        }
        d *= p.scale;
        sc[t - t0] = d;
        mx = fmaxf(mx, d);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, o));
    if (lane == 0) red[warp] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int i = 0; i < nw; ++i) mx = fmaxf(mx, red[i]);
    __syncthreads();
    float sum = 0.0f;
    for (int t = t0 + tid; t < t1; t += blockDim.x) {  // each thread rereads only its own scores
        const float e = __expf(sc[t - t0] - mx);
        sc[t - t0] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    if (lane == 0) red[warp] = sum;
    __syncthreads();  // also publishes sc[] written by other threads
    sum = 0.0f;
    for (int i = 0; i < nw; ++i) sum += red[i];
    // Values. The 16-byte slices of a cached row: G = hd / E threads per position (E elements per 16 bytes; Gp lanes
    // with the idle ones), so the block covers blockDim / Gp positions at once and each thread issues the loads of
    // its next 4 positions together (one load round up to 128 positions for hd 64 in f16, against ~pos / 32 rounds
    // of 2-byte loads with a thread per dimension); partial outputs are reduced over the warp with shuffles and over
    // the warps in shared memory.
    float o = 0.0f;
    if (vfast) {
        float a[E] = {};
        // Up to 4 positions' loads in flight, the last partial round included (it was one load at a time); the
        // first round was loaded before the wait (one-token launch).
        int t = t0 + gi;
        if (vearly) {
#pragma unroll
            for (int k = 0; k < 4; ++k)
                if (t + k * per < tcv) accum16<C>(a, vpre[k], sc[t + k * per - t0]);
            t += 4 * per;
        }
        for (; t < tcv; t += 4 * per) {
            uint4 u[4];
#pragma unroll
            for (int k = 0; k < 4; ++k)
                if (t + k * per < tcv) u[k] = *reinterpret_cast<const uint4*>(V + static_cast<size_t>(t + k * per) * hd + c0);
#pragma unroll
            for (int k = 0; k < 4; ++k)
                if (t + k * per < tcv) accum16<C>(a, u[k], sc[t + k * per - t0]);
        }
        if (cur && (pos - t0) % per == gi && vlane) {
            const float w = sc[pos - t0];
#pragma unroll
            for (int e = 0; e < E; ++e) a[e] += w * vs[c0 + e];
        }
#pragma unroll
        for (int e = 0; e < E; ++e)
            for (int off = Gp; off < 32; off <<= 1) a[e] += __shfl_xor_sync(0xFFFFFFFFu, a[e], off);
        if (lane < G)
#pragma unroll
            for (int e = 0; e < E; ++e) part[warp * hd + c0 + e] = a[e];
        __syncthreads();
        if (tid < hd)
            for (int k = 0; k < nw; ++k) o += part[k * hd + tid];
    } else {  // other head sizes: a thread per dimension, 8 positions per step
        const int ngrp = blockDim.x / hd;
        const int gi = tid / hd, d = tid % hd;
        float acc = 0.0f;
        if (gi < ngrp) {
            float a8[8] = {};
            int t = t0 + gi;
            for (; t + 7 * ngrp < tc; t += 8 * ngrp) {
#pragma unroll
                for (int u = 0; u < 8; ++u) a8[u] += sc[t - t0 + u * ngrp] * from_cache(V[static_cast<size_t>(t + u * ngrp) * hd + d]);
            }
            for (; t < tc; t += ngrp) a8[0] += sc[t - t0] * from_cache(V[static_cast<size_t>(t) * hd + d]);
            if (cur && (pos - t0) % ngrp == gi) a8[1] += sc[pos - t0] * vs[d];
#pragma unroll
            for (int u = 0; u < 8; ++u) acc += a8[u];
        }
        part[tid] = acc;
        __syncthreads();
        if (tid < hd)
            for (int k = 0; k < ngrp; ++k) o += part[k * hd + tid];
    }
    if (ns > 1) {  // publish this split's (o, max, sum); the head's last split combines
        // One thread's release-acquire counter update after the block barrier orders the block's stores before it
        // (the barrier makes them observed by that thread); the merging block then loads every partial in one
        // round. Before, every thread ran a __threadfence (fence.sc) on each side of the counter and the merge read
        // the partials in 2-4 dependent L2 rounds. Skipping the merge altogether (a bound, wrong results) made
        // TinyLlama decode after 1000-4000 tokens 7-10% faster; this recovers 1-4% (H200, docs/perf/cuda.md).
        float* P0 = p.scores + static_cast<size_t>(hr) * p.s_max * (hd + 2);
        float* P = P0 + static_cast<size_t>(s) * (hd + 2);
        if (tid < hd) P[tid] = o;
        if (tid == 0) P[hd] = mx, P[hd + 1] = sum;
        __syncthreads();
        if (tid == 0) red[0] = atomic_add_acq_rel(&g_attn_cnt[hr], 1u) == static_cast<unsigned>(ns - 1) ? 1.0f : 0.0f;
        __syncthreads();
        if (red[0] == 0.0f) return;
        if (merge_floats(p.s_max, hd) > 0) {  // the partials into shared memory in one round of loads, then merged
            const int n = ns * (hd + 2);  // <= 4 kAttnThreads = 4 blockDim.x (merge_floats)
            float v[4];
#pragma unroll
            for (int u = 0; u < 4; ++u)
                if (tid + u * static_cast<int>(blockDim.x) < n) v[u] = __ldcg(P0 + tid + u * blockDim.x);
#pragma unroll
            for (int u = 0; u < 4; ++u)
                if (tid + u * static_cast<int>(blockDim.x) < n) splits[tid + u * blockDim.x] = v[u];
            __syncthreads();
            o = merge_splits<true>(splits, ns, hd, tid < hd ? tid : -1, sum);
        } else {
            o = merge_splits(P0, ns, hd, tid < hd ? tid : -1, sum);
        }
        if (tid == 0) g_attn_cnt[hr] = 0u;
    }
    if (tid < hd) {
        o /= sum;
        const size_t at = static_cast<size_t>(row) * p.ldo + h * hd + tid;
        if (p.out16) p.out16[at] = __float2half_rn(o);
        else p.out[at] = o;
        // hd % 32 == 0 when quant: whole warps are in this branch. Int8 copy for the o projection (row `row` of the
        // fused buffer's rows [m, n_head hd]; the one-token launch's only row is 0).
        if (p.quant) p.act.put(o, static_cast<size_t>(row) * p.n_head * hd, (h * hd + tid) >> 5, lane);
    }
}

// Fewest positions per split: RZ_CUDA_ATTN_MIN (default 128: measured best of 32-256, docs/perf/cuda.md).
int attn_min_chunk() { return std::max(1, env_int("RZ_CUDA_ATTN_MIN", 128)); }

// Early loads of the one-token launch: RZ_CUDA_ATTN_EARLY (default 2: the first key chunk and value round before
// the wait; 1: the key chunk only; 0: neither). The batched rows (attention_decode_rows) store their keys in the
// same step, so they take the kernel without them (80 instead of 127 registers, 3 blocks per SM instead of 2).
int one_token_early() { return std::clamp(env_int("RZ_CUDA_ATTN_EARLY", 2), 0, 2); }

template <typename C, bool QKN>
auto split_kernel_qkn(int early) {
    return early == 2 ? attn_split_kernel<C, 2, QKN> : early == 1 ? attn_split_kernel<C, 1, QKN> : attn_split_kernel<C, 0, QKN>;
}

// Whether a head of hd elements of `esz` bytes takes the PAD kernels: 16-byte slices, not a power-of-two count of them.
bool pad_heads(int hd, int esz) {
    const int g = hd * esz / 16;
    return hd * esz % 16 == 0 && g <= 32 && (g & (g - 1)) != 0;
}

template <typename C>
auto split_kernel_pad(int early) {
    return early == 2 ? attn_split_kernel<C, 2, false, true> : attn_split_kernel<C, 1, false, true>;
}

template <typename C>
auto split_kernel(int early, bool qkn, int hd) {
    // The one-token launch only: the batched rows (early 0) keep the thread-per-dimension value path at 80 registers
    // (the PAD kernel's 100 allow 2 blocks an SM instead of 3: phi-2 steps of 4 sequences after 300 tokens 2% slower,
    // H200); so do q/k norms with such head sizes.
    if (!qkn && early >= 1 && pad_heads(hd, static_cast<int>(sizeof(C)))) return split_kernel_pad<C>(early);
    return qkn ? split_kernel_qkn<C, true>(early) : split_kernel_qkn<C, false>(early);
}

// Shared memory of a split block: q, k, v, the partials, the reduction, the merge's copy of the split partials and
// `scores` floats of scores.
size_t split_smem(int hd, size_t scores, int s_max) {
    return sizeof(float) * (static_cast<size_t>(3 * hd + std::max(kAttnThreads, 8 * hd) + 32 + merge_floats(s_max, hd)) + scores);
}

// Resident split blocks per SM (registers; shared memory with 512 scores), at most 4: the splits per head are sized
// to one wave of them.
int attn_blocks_per_sm(bool f16, int hd, int early, bool qkn) {
    static std::map<std::tuple<bool, int, int, bool>, int> cache;
    const auto key = std::make_tuple(f16, hd, early, qkn);
    if (const auto it = cache.find(key); it != cache.end()) return it->second;
    const size_t smem = split_smem(hd, 512, 8);
    int n = 0;
    const cudaError_t e = f16 ? cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, split_kernel<__half>(early, qkn, hd), kAttnThreads, smem)
                              : cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, split_kernel<float>(early, qkn, hd), kAttnThreads, smem);
    if (e != cudaSuccess) (void)cudaGetLastError(), n = 4;
    return cache[key] = std::clamp(n, 1, 4);
}

// Splits per (row, head) of attention_decode_rows: about 4 blocks per SM over all rows and heads.
// (Rounded up, unlike the one-token launch: tinyllama steps of 4-16 sequences after 1000 / 2000-token prompts
// were 2-20% slower with targets of 8 or 16 blocks an SM, and 7-13% slower at 8 sequences with splits rounded
// down to the kernel's 3 resident blocks an SM: a (row, head) then walks 2000 positions in one block.)
int rows_s_max(int m, int n_head) { return std::max(1, (4 * sm_count() + m * n_head - 1) / (m * n_head)); }

// The split kernel on `grid` blocks with split_smem(hd, scores, s_max) of shared memory.
void launch_split(const AttnParams& p, bool f16, int early, int grid, size_t scores) {
    const size_t smem = split_smem(p.hd, scores, p.s_max);
    const bool qkn = p.q_norm || p.k_norm;
    if (f16)
        launch(split_kernel<__half>(early, qkn, p.hd), grid, kAttnThreads, smem, p);
    else
        launch(split_kernel<float>(early, qkn, p.hd), grid, kAttnThreads, smem, p);
}

}  // namespace

int attention_fused_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int pos, int n_swa) {
    return gqa_heads(f16, n_head, n_head_kv, hd, n_rot, pos, n_swa);
}

int attention_decode_rows_heads(bool f16, int n_head, int n_head_kv, int hd, int n_rot, int m, int pos_max, int n_swa) {
    return gqa_rows_heads(f16, n_head, n_head_kv, hd, n_rot, m, pos_max, n_swa);
}

void attention_fused(const float* q, const float* k, const float* v, void* kc, void* vc, bool f16, int n_head, int n_head_kv, int hd,
                     int n_ctx, int n_rot, const float* rope_cs, bool neox, const int32_t* pos, float scale, float* scores, bool quant_out,
                     float* out, int n_swa, const float* q_norm, const float* k_norm, float qk_eps, int pos_hint) {
    RZ_ASSERT(hd <= kAttnThreads && n_rot / 2 <= kAttnThreads, "attention_fused: head_dim above 256");
    // Grouped query heads over an f16 cache: a block per (G query heads of a kv head, split) (attention_gqa.cu).
    if (const int G = gqa_heads(f16, n_head, n_head_kv, hd, n_rot, pos_hint, n_swa); G > 0) {
        attention_gqa(GqaArgs{q, k, v, static_cast<__half*>(kc), static_cast<__half*>(vc), n_head, n_head_kv, hd, n_ctx, n_rot, neox ? 1 : 0,
                              rope_cs, pos, scale, scores, quant_out && hd % 32 == 0, out, n_swa, q_norm, k_norm, qk_eps},
                      G);
        return;
    }
    AttnParams p{q, k, v, kc, vc, n_head, n_head_kv, hd, n_ctx, n_rot, neox ? 1 : 0, quant_out && hd % 32 == 0 ? 1 : 0, rope_cs, pos, scale,
                 scores, out, act_buffer(), pdl_early(), 0, take_l2pf(), 0, 0, n_swa};
    p.q_norm = q_norm, p.k_norm = k_norm, p.qk_eps = qk_eps;
    // Scores in shared memory up to 8192 positions (32 KB; the rest of the block's 48 KB holds q, k, v, partials).
    // Split-KV (RZ_CUDA_ATTN_SPLIT=0: off): up to ~4 blocks per SM over all heads, at most 8192 positions per
    // split (shared-memory scores), the partials must fit the scores buffer (s_max * (hd + 2) <= n_ctx);
    // at least attn_min_chunk() positions per split.
    const int c_min = attn_min_chunk();
    const int early = one_token_early(), per_sm = attn_blocks_per_sm(f16, hd, early, q_norm || k_norm);
    // One wave of split blocks (per_sm * SMs / n_head, rounded down): rounding up put tinyllama's 32 heads at 9
    // splits, 288 blocks for 264 resident slots, and the last 24 ran after the rest (H200, tg128 after a 1000 /
    // 2000 / 4000-token prompt: 1559-1561 / 1449-1460 / 1295-1302 tok/s vs 1412-1422 / 1290-1302 / 1114-1116).
    const int wave = per_sm * sm_count() / n_head;
    const int s_max = std::min(std::max(wave, (n_ctx + 8191) / 8192), n_ctx / (hd + 2));
    const int chunk_max = s_max > 0 ? std::max(c_min, (n_ctx + s_max - 1) / s_max) : 0;
    size_t scores_smem = 0;
    if (env_int("RZ_CUDA_ATTN_SPLIT", 1) != 0 && s_max >= 2 && chunk_max <= 8192 && n_head <= 1024) {
        p.s_max = s_max;
        p.c_min = c_min;
        p.smem_scores = 1;
        scores_smem = static_cast<size_t>(chunk_max);
    } else {  // one block per head over all positions
        p.s_max = 1;
        p.c_min = 1;
        p.smem_scores = n_ctx <= 8192 ? 1 : 0;
        scores_smem = p.smem_scores ? static_cast<size_t>(n_ctx) : 0;
    }
    launch_split(p, f16, early, n_head * p.s_max, scores_smem);
}

size_t attention_decode_rows_scratch(int m_max, bool f16, int n_head, int n_head_kv, int hd, int n_ctx) {
    size_t most = 0;
    for (int m = 1; m <= m_max; ++m) {
        most = std::max(most, static_cast<size_t>(m) * n_head * rows_s_max(m, n_head) * (hd + 2));
        if (rows_tc_takes(f16, n_head, n_head_kv, hd))
            most = std::max(most, rows_tc_scratch(m, n_head, n_head_kv, hd, n_ctx));
    }
    return most;
}

int rows_tc_from() { return std::max(0, env_int("RZ_CUDA_ROWS_TC_FROM", 400)); }

bool attention_decode_rows_tc(bool f16, int n_head, int n_head_kv, int hd) {
    return rows_tc_takes(f16, n_head, n_head_kv, hd);
}

bool attention_decode_rows(const float* q, int ldq, const void* kc, const void* vc, bool f16, int n_head, int n_head_kv, int hd, int n_ctx,
                           const int32_t* seq, const int32_t* pos, int m, float scale, int n_swa, float* scratch, size_t scratch_floats,
                           float* out32, void* out16, int ldo, bool tensor_cores, bool quant_rows, const RowsRope* rope, int gqa) {
    if (m <= 0) return false;
    RZ_ASSERT(!quant_rows || hd % 32 == 0, "attention_decode_rows: quant_rows needs whole 32-element groups a head");
    // By kv head (attention_gqa.cu): the rope path's rows into an f32 output, gqa query heads a block.
    if (rope && gqa > 0 && f16 && out32 && !out16) {
        GqaArgs a{};
        a.q = q, a.k = q + static_cast<size_t>(n_head) * hd, a.v = a.k + static_cast<size_t>(n_head_kv) * hd;
        a.kc = static_cast<__half*>(const_cast<void*>(kc)), a.vc = static_cast<__half*>(const_cast<void*>(vc));
        a.n_head = n_head, a.n_head_kv = n_head_kv, a.hd = hd, a.n_ctx = n_ctx;
        a.n_rot = rope->rope_cs ? rope->n_rot : 0, a.neox = rope->neox ? 1 : 0, a.rope_cs = rope->rope_cs;
        a.scale = scale, a.scratch = scratch, a.quant_out = quant_rows, a.out = out32, a.n_swa = n_swa;
        a.q_norm = rope->q_norm, a.k_norm = rope->k_norm, a.qk_eps = rope->qk_eps;
        a.seq_rows = seq, a.pos_rows = pos, a.m = m, a.ldq = ldq, a.ldo = ldo, a.seq_stride = static_cast<size_t>(n_head_kv) * n_ctx * hd;
        if (attention_gqa_rows(a, gqa, scratch_floats)) return true;
    }
    // Grouped query heads over an f16 cache: the tensor-core kernel (attention_rows_tc.cu).
    if (!rope && tensor_cores && rows_tc_takes(f16, n_head, n_head_kv, hd) &&
        rows_tc(q, ldq, kc, vc, n_head, n_head_kv, hd, n_ctx, seq, pos, m, scale, n_swa, scratch, scratch_floats, out32,
                out16, ldo, quant_rows))
        return true;
    if (hd > kAttnThreads || m * n_head > 1024) return false;
    const int s_max = rows_s_max(m, n_head);
    const int c_min = attn_min_chunk();
    const int chunk_max = std::max(c_min, (n_ctx + s_max - 1) / s_max);
    if (chunk_max > 8192 || static_cast<size_t>(m) * n_head * s_max * (hd + 2) > scratch_floats) return false;
    AttnParams p{};
    p.q = q, p.kc = const_cast<void*>(kc), p.vc = const_cast<void*>(vc);
    p.n_head = n_head, p.n_head_kv = n_head_kv, p.hd = hd, p.n_ctx = n_ctx;
    p.scale = scale, p.scores = scratch, p.out = out32, p.out16 = static_cast<__half*>(out16);
    p.pdl_early = pdl_early(), p.smem_scores = 1, p.s_max = s_max, p.c_min = c_min, p.n_swa = n_swa;
    p.seq_rows = seq, p.pos_rows = pos, p.ldq = ldq, p.ldo = ldo, p.stored = 1;
    p.quant = quant_rows ? 1 : 0, p.act = act_buffer();
    if (rope) {  // each row's k and v follow its q (the q|k|v projection's layout); the split holding pos stores them
        p.stored = 0;
        p.k = q + static_cast<size_t>(n_head) * hd, p.v = p.k + static_cast<size_t>(n_head_kv) * hd;
        p.rope_cs = rope->rope_cs, p.n_rot = rope->rope_cs ? rope->n_rot : 0, p.neox = rope->neox ? 1 : 0;
        p.q_norm = rope->q_norm, p.k_norm = rope->k_norm, p.qk_eps = rope->qk_eps;
        RZ_ASSERT(p.n_rot / 2 <= kAttnThreads, "attention_decode_rows: rotary dimensions above 512");
    }
    p.seq_stride = static_cast<size_t>(n_head_kv) * n_ctx * hd;
    launch_split(p, f16, 0, m * n_head * s_max, static_cast<size_t>(chunk_max));
    return true;
}

}  // namespace rz::cuda
