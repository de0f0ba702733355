// Tensor-core prefill attention (flash-attention 2 layout) for an f16 cache whose output feeds f16 GEMMs, head_dim
// 64, 80, 96 or 128. A block takes one tile of consecutive batch rows of one sequence and one kv head: up to 64
// (token, query head) rows that share every K / V tile it loads, 16 rows a warp (an m16n8k16 row block). At head_dim
// 64 two groups of 4 warps hold the same rows and walk alternate key steps, merging their outputs at the end: twice
// the warps an SM for the same tiles (a 512-token prompt is 256 blocks, about 2 an SM).
//
// Why this layout: a block of 32 rows (4 tokens x 8 heads for tinyllama) with the scores and P V staged in shared
// memory walked the whole cache once per 4 tokens with 5 barriers a 32-key step; a 512-token prompt after 4000 cached
// tokens took 2.6x an empty cache's time. Here each warp keeps its scores, probabilities and output in registers
// (the accumulator layout of S is the A-operand layout of P), one barrier a 64-key step, the next K / V tile in
// flight (cp.async, double-buffered) while this one computes, and 64 rows a block read each key. H200, tinyllama
// Q4_K_M, `realizar bench --gpu`, the same call: pp512 after 4000 cached tokens 74.6-79.2k tok/s (was 35.6-35.8k),
// after 2000 88.0-89.3k (52.1-52.3k), empty cache 108-117k (92.9-95.4k); pp4000 91.6k (54.2k).
//
// Few tiles (a short prompt after a long history: 30 tokens are 4 tiles x 4 kv heads) would leave most SMs idle
// while each block walks thousands of keys: the keys are then split over gridDim.z blocks, each writing its
// unnormalised output, max and sum to scratch, and a combine kernel merges them (flash-decoding).
//
// Precision as the kernel it replaces: q (pre-scaled, log2 domain) and P rounded to f16, f32 accumulation and
// softmax.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "backend/cuda/batch_common.cuh"

namespace rz::cuda::batch::detail {
namespace {

using rz::cuda::detail::cp_async16;
using rz::cuda::detail::cp_async_commit;
using rz::cuda::detail::cp_async_wait;
using rz::cuda::detail::env_int;
using rz::cuda::detail::sm_count;

constexpr int kGW = 4;         // warps a group
constexpr int kRB = 16 * kGW;  // rows a block
// Warp groups a block, each walking every other key step of the same rows: 2 at head_dim 64, where two such blocks
// fit an SM (128 registers); larger heads keep one (H200, pp512 after 2000 cached tokens, two groups vs one:
// llama-3.2-1b 105.0-105.2k vs 102.0-102.4k tok/s, tinyllama after 4000 83.1-83.8k vs 78.3-79.5k, but phi-2's
// head_dim 80, one block an SM by registers, 42.2k vs 43.1k).
template <int HD>
constexpr int groups() { return HD == 64 ? 2 : 1; }
constexpr int kKT = 64;        // keys a step
constexpr int kMinSteps = 4;   // a split walks at least this many 64-key steps
constexpr int kMaxSplits = 16;
constexpr float kLog2e = 1.4426950408889634f;

template <int HD>
struct Smem {
    static constexpr int HL = HD + 8;  // f16 row stride: 16-byte rows of an 8x8 ldmatrix land in distinct banks
    __half q[kRB * HL];
    __half k[groups<HD>()][2][kKT * HL];  // [group][buffer]
    __half v[groups<HD>()][2][kKT * HL];
};

__device__ __forceinline__ unsigned smem_addr(const void* p) { return static_cast<unsigned>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void ldsm_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x2(unsigned& r0, unsigned& r1, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];" : "=r"(r0), "=r"(r1) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(smem_addr(p)));
}
// D [16 x 8] += A [16 x 16] B [16 x 8], f16 inputs, f32 accumulators (PTX fragment layouts: lane = 4 g + t holds
// A rows g / g + 8, columns 2t, 2t + 1 (+ 8); B rows 2t, 2t + 1 (+ 8), column g; D rows g / g + 8, columns 2t, 2t + 1).
__device__ __forceinline__ void mma16816(float* d, const unsigned* a, unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ unsigned pack_h2(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const unsigned*>(&h);
}

struct Params : rz::cuda::detail::F16AttnRows {
    const int32_t* tiles;
    __half* out16;
    float* part;  // splits > 1: [split][n][n_head][HD] unnormalised outputs, then [split][n][n_head][2] (max, sum)
    int ldq, n, n_head, n_head_kv, n_ctx, n_swa, zh;  // zh: blocks of query heads a kv head (groups wider than kRB)
    float scale;  // softmax scale times log2(e): the scores are in the log2 domain (exp2)
};

template <int HD>
__global__ void __launch_bounds__(32 * kGW * groups<HD>(), groups<HD>() == 2 ? 2 : 1) attn_fa_kernel(const Params p) {
    static_assert(HD % 16 == 0 && HD / 8 % 2 == 0, "whole 16-dim q fragments, output fragments in pairs");
    using S = Smem<HD>;
    constexpr int NG = groups<HD>(), NT = 32 * kGW * NG;  // groups, threads
    constexpr int HL = S::HL, NQ = HD / 16, NO = HD / 8;  // q fragments (16 dims each); output fragments (8 dims)
    constexpr int NC = kKT * HD / 8 / (32 * kGW);         // 16-byte chunks a thread loads of each K / V tile
    extern __shared__ __align__(128) unsigned char smem_raw[];
    S& sm = *reinterpret_cast<S*>(smem_raw);
    const int G = p.n_head / p.n_head_kv, GH = min(G, kRB), TB = kRB / GH;
    const int first = p.tiles[2 * blockIdx.x], count = p.tiles[2 * blockIdx.x + 1];
    const int kvh = blockIdx.y / p.zh, h0 = (blockIdx.y % p.zh) * GH;
    const int tid = threadIdx.x, lane = tid & 31, gq = lane >> 2, tq = lane & 3;
    const int grp = tid / (32 * kGW), gt = tid % (32 * kGW), warp = gt >> 5;  // warp: within the group
    const size_t slab = static_cast<size_t>(p.n_ctx) * HD;
    const __half* K = p.kc + (static_cast<size_t>(p.seq[first]) * p.n_head_kv + kvh) * slab;
    const __half* V = p.vc + (static_cast<size_t>(p.seq[first]) * p.n_head_kv + kvh) * slab;
    const int kmax = p.pos[first + count - 1], pmin = p.pos[first];  // positions are consecutive within a tile
    const int klo = p.n_swa > 0 ? max(0, pmin - p.n_swa + 1) / kKT * kKT : 0;
    // This block's split of the key steps.
    const int steps = (kmax - klo) / kKT + 1, ns = gridDim.z;
    const int per = max((steps + ns - 1) / ns, kMinSteps), s0 = blockIdx.z * per, s1 = min(steps, s0 + per);

    // Row r of the block = (token first + r / GH, query head kvh * G + h0 + r % GH); -1: no such row.
    auto row_pos = [&](int r) {
        const int tl = r / GH, hi = h0 + r % GH;
        return r < TB * GH && tl < count && hi < G ? p.pos[first + tl] : -1;
    };
    auto row_out = [&](int r) {  // index of the row's (token, head) in [n][n_head]
        return static_cast<size_t>(first + r / GH) * p.n_head + kvh * G + h0 + r % GH;
    };
    const int r0 = warp * 16 + gq, rp0 = row_pos(r0), rp1 = row_pos(r0 + 8);

    auto load_tile = [&](int step, int buf) {  // by this group's threads, into its buffer
        const int k0 = klo + step * kKT;
#pragma unroll
        for (int i = 0; i < NC; ++i) {
            const int e = gt + i * 32 * kGW, t = e / (HD / 8), c = (e % (HD / 8)) * 8;
            const bool ok = k0 + t <= kmax;  // zeros past the last key: p = 0 times stale NaN would be NaN
            const size_t at = ok ? static_cast<size_t>(k0 + t) * HD + c : 0;
            cp_async16(sm.k[grp][buf] + t * HL + c, K + at, ok);
            cp_async16(sm.v[grp][buf] + t * HL + c, V + at, ok);
        }
        cp_async_commit();
    };
    if (s0 + grp < s1) load_tile(s0 + grp, 0);

    for (int e = tid; e < kRB * HD; e += NT) {
        const int r = e / HD, d = e % HD, tl = r / GH, hi = h0 + r % GH;
        const bool ok = r < TB * GH && tl < count && hi < G;
        sm.q[r * HL + d] = __float2half_rn(ok ? p.q[static_cast<size_t>(first + tl) * p.ldq + (kvh * G + hi) * HD + d] * p.scale : 0.0f);
    }
    __syncthreads();
    unsigned qf[NQ][4];  // this warp's 16 q rows as A fragments
    {
        const int mi = lane >> 3, rr = lane & 7;  // ldmatrix: lanes 8 mi .. 8 mi + 7 address matrix mi's rows
#pragma unroll
        for (int kq = 0; kq < NQ; ++kq)
            ldsm_x4(qf[kq][0], qf[kq][1], qf[kq][2], qf[kq][3], sm.q + (warp * 16 + rr + 8 * (mi & 1)) * HL + kq * 16 + 8 * (mi >> 1));
    }

    float o[NO][4];
#pragma unroll
    for (int j = 0; j < NO; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    // Rows gq, gq + 8: running max; this lane's partial sums.
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
    // Warp-uniform: the mma, ldmatrix and shuffles below need every lane (a one-token tile at G = 4 has 4 rows of 16).
    const bool live = __any_sync(0xFFFFFFFFu, rp0 >= 0 || rp1 >= 0);

    // Group g takes steps s0 + g, s0 + g + NG, ...; the groups pass the block's barrier once an iteration.
    for (int it = 0; s0 + it * NG < s1; ++it) {
        const int st = s0 + it * NG + grp, buf = it & 1, k0 = klo + st * kKT;
        cp_async_wait<0>();
        __syncthreads();  // the tiles have arrived for every thread; the other buffers' readers are done
        if (st + NG < s1) load_tile(st + NG, buf ^ 1);
        if (!live || st >= s1) continue;
        const __half* ks = sm.k[grp][buf];
        const __half* vs = sm.v[grp][buf];
        // S [16 x 64] = Q K^T: 8 fragments of 8 keys; K rows read with ldmatrix are B's columns.
        float s[kKT / 8][4];
#pragma unroll
        for (int j = 0; j < kKT / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
        for (int j = 0; j < kKT / 8; ++j) {
#pragma unroll
            for (int kq = 0; kq + 1 < NQ; kq += 2) {  // one x4 load: dims 16 kq .. 16 kq + 31 of keys 8 j .. 8 j + 7
                unsigned b0, b1, b2, b3;
                ldsm_x4(b0, b1, b2, b3, ks + (8 * j + (lane & 7)) * HL + kq * 16 + 8 * (lane >> 3));
                mma16816(s[j], qf[kq], b0, b1);
                mma16816(s[j], qf[kq + 1], b2, b3);
            }
            if constexpr (NQ % 2 == 1) {  // head_dim 80: the last 16 dims
                unsigned b0, b1;
                ldsm_x2(b0, b1, ks + (8 * j + (lane & 7)) * HL + (NQ - 1) * 16 + 8 * ((lane >> 3) & 1));
                mma16816(s[j], qf[NQ - 1], b0, b1);
            }
        }
        // Causal (and window) mask where the step reaches past the first row's position.
        if (k0 + kKT - 1 > pmin || p.n_swa > 0) {
#pragma unroll
            for (int j = 0; j < kKT / 8; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int key = k0 + 8 * j + 2 * tq + (e & 1), rp = e < 2 ? rp0 : rp1;
                    if (key > rp || (p.n_swa > 0 && key <= rp - p.n_swa)) s[j][e] = -INFINITY;
                }
        }
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int j = 0; j < kKT / 8; ++j) mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1])), mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
#pragma unroll
        for (int x = 1; x <= 2; x <<= 1) {
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xFFFFFFFFu, mx0, x));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xFFFFFFFFu, mx1, x));
        }
        // A row with no visible key yet keeps max -inf: its probabilities are 0 and nothing is rescaled.
        const float b0 = mx0 == -INFINITY ? 0.0f : mx0, b1 = mx1 == -INFINITY ? 0.0f : mx1;
        const float c0 = exp2f(m0 - b0), c1 = exp2f(m1 - b1);  // exp2(-inf) = 0: nothing to rescale yet
        m0 = mx0, m1 = mx1;
        l0 *= c0, l1 *= c1;
#pragma unroll
        for (int j = 0; j < NO; ++j) o[j][0] *= c0, o[j][1] *= c0, o[j][2] *= c1, o[j][3] *= c1;
        unsigned pa[kKT / 16][4];  // P as A fragments: S's accumulator layout is A's layout, 16 keys a fragment
#pragma unroll
        for (int j = 0; j < kKT / 8; ++j) {
            const float p0 = exp2f(s[j][0] - b0), p1 = exp2f(s[j][1] - b0), p2 = exp2f(s[j][2] - b1), p3 = exp2f(s[j][3] - b1);
            l0 += p0 + p1, l1 += p2 + p3;
            pa[j >> 1][(j & 1) * 2] = pack_h2(p0, p1);
            pa[j >> 1][(j & 1) * 2 + 1] = pack_h2(p2, p3);
        }
        // O [16 x HD] += P [16 x 64] V [64 x HD]: V rows read transposed (ldmatrix .trans) are B's columns.
#pragma unroll
        for (int kk = 0; kk < kKT / 16; ++kk) {
#pragma unroll
            for (int j = 0; j < NO; j += 2) {  // keys 16 kk .. 16 kk + 15 of dims 8 j .. 8 j + 15
                unsigned v0, v1, v2, v3;
                ldsm_x4_t(v0, v1, v2, v3, vs + (16 * kk + (lane & 7) + 8 * ((lane >> 3) & 1)) * HL + 8 * j + 8 * (lane >> 4));
                mma16816(o[j], pa[kk], v0, v1);
                mma16816(o[j + 1], pa[kk], v2, v3);
            }
        }
    }
#pragma unroll
    for (int x = 1; x <= 2; x <<= 1) {
        l0 += __shfl_xor_sync(0xFFFFFFFFu, l0, x);
        l1 += __shfl_xor_sync(0xFFFFFFFFu, l1, x);
    }
    // Group 1 hands its (output, max, sum) of the rows to group 0 through the freed K buffers, which merges them.
    static_assert(NG <= 2, "the merge below pairs two groups");
    if constexpr (NG == 2) {
        float* xo = reinterpret_cast<float*>(sm.k);  // [kRB][HD] outputs, then [kRB][2] (max, sum)
        float* xml = xo + kRB * HD;
        static_assert(sizeof(float) * kRB * (HD + 2) <= sizeof(Smem<HD>::k), "merge area");
        __syncthreads();  // every group's last tile is consumed
        if (grp == 1) {
#pragma unroll
            for (int j = 0; j < NO; ++j) {
                *reinterpret_cast<float2*>(xo + r0 * HD + 8 * j + 2 * tq) = make_float2(o[j][0], o[j][1]);
                *reinterpret_cast<float2*>(xo + (r0 + 8) * HD + 8 * j + 2 * tq) = make_float2(o[j][2], o[j][3]);
            }
            if (tq == 0) xml[2 * r0] = m0, xml[2 * r0 + 1] = l0, xml[2 * (r0 + 8)] = m1, xml[2 * (r0 + 8) + 1] = l1;
        }
        __syncthreads();
        if (grp == 1) return;
        const float n0 = xml[2 * r0], n1 = xml[2 * (r0 + 8)];
        const float M0 = fmaxf(m0, n0), M1 = fmaxf(m1, n1);
        // A side without keys has max -inf: weight 0 (and both without: nothing to merge, sums 0).
        const float a0 = M0 == -INFINITY ? 0.0f : exp2f(m0 - M0), b0 = M0 == -INFINITY ? 0.0f : exp2f(n0 - M0);
        const float a1 = M1 == -INFINITY ? 0.0f : exp2f(m1 - M1), b1 = M1 == -INFINITY ? 0.0f : exp2f(n1 - M1);
        l0 = l0 * a0 + xml[2 * r0 + 1] * b0, l1 = l1 * a1 + xml[2 * (r0 + 8) + 1] * b1;
        m0 = M0, m1 = M1;
#pragma unroll
        for (int j = 0; j < NO; ++j) {
            const float2 u = *reinterpret_cast<const float2*>(xo + r0 * HD + 8 * j + 2 * tq);
            const float2 w = *reinterpret_cast<const float2*>(xo + (r0 + 8) * HD + 8 * j + 2 * tq);
            o[j][0] = o[j][0] * a0 + u.x * b0, o[j][1] = o[j][1] * a0 + u.y * b0;
            o[j][2] = o[j][2] * a1 + w.x * b1, o[j][3] = o[j][3] * a1 + w.y * b1;
        }
    }
    if (gridDim.z == 1) {
        const float i0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, i1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
#pragma unroll
        for (int j = 0; j < NO; ++j) {
            const int d = 8 * j + 2 * tq;
            if (rp0 >= 0) *reinterpret_cast<__half2*>(p.out16 + row_out(r0) * HD + d) = __floats2half2_rn(o[j][0] * i0, o[j][1] * i0);
            if (rp1 >= 0) *reinterpret_cast<__half2*>(p.out16 + row_out(r0 + 8) * HD + d) = __floats2half2_rn(o[j][2] * i1, o[j][3] * i1);
        }
        return;
    }
    // A split's partial: unnormalised output, max and sum of each row (max -inf, sum 0: no key of this split).
    const size_t rows = static_cast<size_t>(p.n) * p.n_head, sp = blockIdx.z * rows;
    float* po = p.part + sp * HD;
    float* pml = p.part + static_cast<size_t>(gridDim.z) * rows * HD + 2 * sp;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        if ((h ? rp1 : rp0) < 0) continue;
        const size_t ro = row_out(r0 + 8 * h);
#pragma unroll
        for (int j = 0; j < NO; ++j) *reinterpret_cast<float2*>(po + ro * HD + 8 * j + 2 * tq) = make_float2(o[j][2 * h], o[j][2 * h + 1]);
        if (tq == 0) *reinterpret_cast<float2*>(pml + 2 * ro) = make_float2(h ? m1 : m0, h ? l1 : l0);
    }
}

// out[row] = sum_s o_s 2^(m_s - M) / sum_s l_s 2^(m_s - M), M = max_s m_s; a block per (token, head) row.
template <int HD>
__global__ void __launch_bounds__(HD) attn_fa_combine(const float* __restrict__ part, int ns, int rows, __half* __restrict__ out16) {
    const int r = blockIdx.x, d = threadIdx.x;
    const float* ml = part + static_cast<size_t>(ns) * rows * HD;
    float M = -INFINITY;
    for (int s = 0; s < ns; ++s) M = fmaxf(M, ml[2 * (static_cast<size_t>(s) * rows + r)]);
    float acc = 0.0f, sum = 0.0f;
    for (int s = 0; s < ns; ++s) {
        const float m = ml[2 * (static_cast<size_t>(s) * rows + r)];
        if (m == -INFINITY) continue;  // this split saw no key of the row (its output was not written)
        const float w = exp2f(m - M);
        sum += w * ml[2 * (static_cast<size_t>(s) * rows + r) + 1];
        acc += w * part[(static_cast<size_t>(s) * rows + r) * HD + d];
    }
    out16[static_cast<size_t>(r) * HD + d] = __float2half_rn(sum > 0.0f ? acc / sum : 0.0f);
}

template <int HD>
void launch(const Params& base, int n_tiles, size_t part_floats) {
    constexpr size_t smem = sizeof(Smem<HD>);
    static const int per_sm = [] {
        (void)cudaFuncSetAttribute(attn_fa_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        int b = 0;
        (void)cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, attn_fa_kernel<HD>, 32 * kGW * groups<HD>(), smem);
        return std::max(b, 1);
    }();
    Params p = base;
    const int G = p.n_head / p.n_head_kv;
    p.zh = (G + std::min(G, kRB) - 1) / std::min(G, kRB);
    const int blocks = n_tiles * p.n_head_kv * p.zh, wave = sm_count() * per_sm;
    // Splits only where fewer blocks than half the SMs would walk the keys (H200, tinyllama Q4_K_M, splits to fill a
    // wave vs none: pp32 after 4000 cached tokens 12.9k vs 8.5k tok/s, pp128 after 2000 36.7-37.1k vs 34.1k; but
    // pp512 after 4000 70.7-72.2k vs 79.0-79.2k and on an empty cache 108.6-109.1k vs 115.8-117.0k: 256 blocks
    // for 3 x 132 slots, the partials and the combine cost more than the fuller wave gains), and only as many as the
    // scratch holds.
    // RZ_CUDA_FA_SPLITS: at most this many (1: never split), for comparisons; read once.
    static const int max_splits = std::clamp(env_int("RZ_CUDA_FA_SPLITS", kMaxSplits), 1, kMaxSplits);
    int ns = 2 * blocks > sm_count() ? 1 : std::min(max_splits, (wave + blocks - 1) / blocks);
    const size_t per_split = static_cast<size_t>(p.n) * p.n_head * (HD + 2);
    if (!p.part) ns = 1;
    else ns = static_cast<int>(std::min<size_t>(static_cast<size_t>(ns), part_floats / per_split));
    ns = std::max(ns, 1);
    const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(p.n_head_kv * p.zh), static_cast<unsigned>(ns));
    attn_fa_kernel<HD><<<grid, 32 * kGW * groups<HD>(), smem, stream()>>>(p);
    if (ns > 1) attn_fa_combine<HD><<<static_cast<unsigned>(p.n * p.n_head), HD, 0, stream()>>>(p.part, ns, p.n * p.n_head, p.out16);
}

}  // namespace

int attention_tc_rows() { return kRB; }

bool attention_tc(const float* q, int ldq, const void* kc, const void* vc, int n_head, int n_head_kv, int hd, int n_ctx, const int32_t* seq,
                  const int32_t* pos, const int32_t* tiles, int n_tiles, int n, float scale, int n_swa, void* out16, float* scratch,
                  size_t scratch_floats) {
    Params p{};
    p.q = q, p.kc = static_cast<const __half*>(kc), p.vc = static_cast<const __half*>(vc), p.seq = seq, p.pos = pos;
    p.tiles = tiles, p.out16 = static_cast<__half*>(out16), p.part = scratch;
    p.ldq = ldq, p.n = n, p.n_head = n_head, p.n_head_kv = n_head_kv, p.n_ctx = n_ctx, p.n_swa = n_swa, p.zh = 1;
    p.scale = scale * kLog2e;
    switch (hd) {
        case 64: launch<64>(p, n_tiles, scratch_floats); break;
        case 80: launch<80>(p, n_tiles, scratch_floats); break;  // phi-2
        case 96: launch<96>(p, n_tiles, scratch_floats); break;
        case 128: launch<128>(p, n_tiles, scratch_floats); break;
        default: return false;
    }
    return true;
}

}  // namespace rz::cuda::batch::detail
