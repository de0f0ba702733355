// Causal attention of a batch over the KV cache (flash-attention style: key tiles in shared memory, online
// softmax, no score matrix in memory). A block takes one tile of consecutive batch rows of one sequence and one
// kv head, i.e. up to 32 (token, query head) rows that share every K/V tile it loads (GQA: the query heads of a
// kv head; prefill: neighbouring tokens). Each warp owns RW rows; in the score step lane = key, in the P.V step
// lane = head dimension (DL elements per lane).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/batch_common.cuh"
#include "realizar/backend/cuda/batch.h"

namespace rz::cuda::batch {
namespace {

constexpr int kWarps = 4;   // warps per block
constexpr int kKeys = 32;   // keys per tile: one per lane

// Rows per warp: 8 share each K/V element a lane loads from shared memory; 4 for head_dim > 64 (registers).
constexpr int rows_per_warp(int dl) { return dl <= 2 ? 8 : 4; }

__device__ __forceinline__ float ldc(float v) { return v; }
__device__ __forceinline__ float ldc(__half v) { return __half2float(v); }

// Shared memory: q [R][HV] (pre-scaled) | K [kKeys][HV + 4] (+4: lanes read their own key row with 16-byte
// loads without bank conflicts) | V [kKeys][HV] | P [R][kKeys] (each warp's probabilities, read back as
// broadcasts); HV = 32 * DL >= hd, zero-padded; R = kWarps * RW rows per block.
template <int DL, int RW>
constexpr size_t smem_bytes() {
    constexpr int HV = 32 * DL, R = kWarps * RW;
    return sizeof(float) * static_cast<size_t>(R * HV + kKeys * (HV + 4) + kKeys * HV + R * kKeys);
}

template <typename C, int DL, int RW>
__global__ void __launch_bounds__(32 * kWarps) attn_prefill_kernel(const float* __restrict__ q, int ldq, const C* __restrict__ kc,
                                                                  const C* __restrict__ vc, int n_head, int n_head_kv, int hd, int n_ctx,
                                                                  const int32_t* __restrict__ seq, const int32_t* __restrict__ pos,
                                                                  const int32_t* __restrict__ tiles, int nsub, float scale, int n_swa,
                                                                  float* __restrict__ out32, __half* __restrict__ out16) {
    constexpr int HV = 32 * DL, KLD = HV + 4, R = kWarps * RW;
    extern __shared__ float4 smem4[];
    float* qs = reinterpret_cast<float*>(smem4);
    float* ks = qs + R * HV;
    float* vs = ks + kKeys * KLD;
    float* ps = vs + kKeys * HV;
    const int G = n_head / n_head_kv, GH = min(G, R), TB = R / GH;
    // Tiles built for the tensor-core kernel hold up to nsub of this kernel's: blockIdx.z = (head block, sub-tile).
    const int sub = static_cast<int>(blockIdx.z) % nsub, first = tiles[2 * blockIdx.x] + sub * TB;
    const int count = min(tiles[2 * blockIdx.x + 1] - sub * TB, TB);
    if (count <= 0) return;
    // kv head; first query head (within the group) of this block
    const int g = blockIdx.y, h0 = static_cast<int>(blockIdx.z) / nsub * GH;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const size_t slab = static_cast<size_t>(n_ctx) * hd;
    const C* K = kc + (static_cast<size_t>(seq[first]) * n_head_kv + g) * slab;
    const C* V = vc + (static_cast<size_t>(seq[first]) * n_head_kv + g) * slab;
    const int kmax = pos[first + count - 1];  // the tile's positions are consecutive: its last row sees the most keys
    // Sliding window (n_swa > 0): row at position p sees keys (p - n_swa, p]; key tiles below the first row's
    // window are skipped (the mask below covers the rest).
    const int klo = n_swa > 0 ? max(0, pos[first] - n_swa + 1) / kKeys * kKeys : 0;

    // Row r of the block = (token first + r / GH, query head g * G + h0 + r % GH).
    for (int e = tid; e < R * HV; e += blockDim.x) {
        const int r = e / HV, d = e % HV, tl = r / GH, hi = h0 + r % GH;
        const bool ok = r < TB * GH && tl < count && hi < G && d < hd;
        qs[e] = ok ? q[static_cast<size_t>(first + tl) * ldq + (g * G + hi) * hd + d] * scale : 0.0f;
    }
    int rpos[RW];  // position of each of this warp's rows; -1: no row (everything masked, nothing written)
#pragma unroll
    for (int j = 0; j < RW; ++j) {
        const int r = warp * RW + j, tl = r / GH, hi = h0 + r % GH;
        rpos[j] = r < TB * GH && tl < count && hi < G ? pos[first + tl] : -1;
    }
    float m[RW], l[RW], o[RW][DL];
#pragma unroll
    for (int j = 0; j < RW; ++j) {
        m[j] = -INFINITY, l[j] = 0.0f;
#pragma unroll
        for (int i = 0; i < DL; ++i) o[j][i] = 0.0f;
    }
    float* pw = ps + warp * RW * kKeys;  // this warp's P rows

    for (int k0 = klo; k0 <= kmax; k0 += kKeys) {
        __syncthreads();  // the previous tile is consumed (and, the first time, q is stored)
        for (int e = tid; e < kKeys * HV; e += blockDim.x) {
            const int t = e / HV, d = e % HV, key = k0 + t;
            const bool ok = key <= kmax && d < hd;
            ks[t * KLD + d] = ok ? ldc(K[static_cast<size_t>(key) * hd + d]) : 0.0f;
            vs[e] = ok ? ldc(V[static_cast<size_t>(key) * hd + d]) : 0.0f;  // zero, not garbage: p = 0 times NaN is NaN
        }
        __syncthreads();
        // Scores: lane = key; the lane's K row is loaded once per 4 dims and used for all RW rows.
        float sc[RW];
#pragma unroll
        for (int j = 0; j < RW; ++j) sc[j] = 0.0f;
        const float4* kr = reinterpret_cast<const float4*>(ks + lane * KLD);
#pragma unroll
        for (int d4 = 0; d4 < HV / 4; ++d4) {
            const float4 kv = kr[d4];
#pragma unroll
            for (int j = 0; j < RW; ++j) {
                const float4 qv = reinterpret_cast<const float4*>(qs + (warp * RW + j) * HV)[d4];
                sc[j] += qv.x * kv.x + qv.y * kv.y + qv.z * kv.z + qv.w * kv.w;
            }
        }
        // Online softmax per row; P goes to shared memory for the P.V step.
        const int key = k0 + lane;
#pragma unroll
        for (int j = 0; j < RW; ++j) {
            if (key > rpos[j] || (n_swa > 0 && key <= rpos[j] - n_swa)) sc[j] = -INFINITY;  // causal (+ window) mask; rows that do not exist
            float mx = sc[j];
#pragma unroll
            for (int s = 16; s > 0; s >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, s));
            const float mn = fmaxf(m[j], mx);
            const float p = mn == -INFINITY ? 0.0f : expf(sc[j] - mn);
            const float corr = m[j] == -INFINITY ? 0.0f : expf(m[j] - mn);
            float sum = p;
#pragma unroll
            for (int s = 16; s > 0; s >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, s);
            l[j] = l[j] * corr + sum;
            m[j] = mn;
#pragma unroll
            for (int i = 0; i < DL; ++i) o[j][i] *= corr;
            pw[j * kKeys + lane] = p;
        }
        __syncwarp();
        // P.V: lane = head dimension; 4 keys per step, P read as broadcasts.
#pragma unroll 2
        for (int t = 0; t < kKeys; t += 4) {
            float vv[4][DL];
#pragma unroll
            for (int u = 0; u < 4; ++u)
#pragma unroll
                for (int i = 0; i < DL; ++i) vv[u][i] = vs[(t + u) * HV + lane + 32 * i];
#pragma unroll
            for (int j = 0; j < RW; ++j) {
                const float4 pv = *reinterpret_cast<const float4*>(pw + j * kKeys + t);
#pragma unroll
                for (int i = 0; i < DL; ++i) o[j][i] += pv.x * vv[0][i] + pv.y * vv[1][i] + pv.z * vv[2][i] + pv.w * vv[3][i];
            }
        }
        __syncwarp();  // P is rewritten by the next tile
    }
    const size_t ldo = static_cast<size_t>(n_head) * hd;
#pragma unroll
    for (int j = 0; j < RW; ++j) {
        if (rpos[j] < 0) continue;
        const int r = warp * RW + j, tl = r / GH, h = g * G + h0 + r % GH;
        const float inv = 1.0f / l[j];
#pragma unroll
        for (int i = 0; i < DL; ++i) {
            const int d = lane + 32 * i;
            if (d >= hd) continue;
            const size_t at = static_cast<size_t>(first + tl) * ldo + static_cast<size_t>(h) * hd + d;
            const float v = o[j][i] * inv;
            if (out32) out32[at] = v;
            if (out16) out16[at] = __float2half_rn(v);
        }
    }
}

template <typename C, int DL>
void launch(const float* q, int ldq, const void* kc, const void* vc, int n_head, int n_head_kv, int hd, int n_ctx, const int32_t* seq,
            const int32_t* pos, const int32_t* tiles, int n_tiles, int tile_max, float scale, int n_swa, float* out32, void* out16) {
    constexpr int RW = rows_per_warp(DL), R = kWarps * RW;
    constexpr size_t smem = smem_bytes<DL, RW>();
    static const bool attr = [] {  // above 48 KB (head_dim > 128) the block must opt in
        if (smem > 48 * 1024)
            (void)cudaFuncSetAttribute(attn_prefill_kernel<C, DL, RW>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        return true;
    }();
    (void)attr;
    const int G = n_head / n_head_kv, GH = std::min(G, R), TB = R / GH, nsub = (tile_max + TB - 1) / TB;
    const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(n_head_kv), static_cast<unsigned>((G + GH - 1) / GH * nsub));
    attn_prefill_kernel<C, DL, RW><<<grid, 32 * kWarps, smem, detail::stream()>>>(q, ldq, static_cast<const C*>(kc), static_cast<const C*>(vc),
                                                                                   n_head, n_head_kv, hd, n_ctx, seq, pos, tiles, nsub, scale, n_swa,
                                                                                   out32, static_cast<__half*>(out16));
}

int dl_of(int hd) {
    const int dl = (hd + 31) / 32;
    return dl <= 4 ? dl : dl <= 6 ? 6 : 8;
}

template <typename C>
void launch_dl(int hd, const float* q, int ldq, const void* kc, const void* vc, int n_head, int n_head_kv, int n_ctx, const int32_t* seq,
               const int32_t* pos, const int32_t* tiles, int n_tiles, int tile_max, float scale, int n_swa, float* out32, void* out16) {
#define RZ_ATT(D) launch<C, D>(q, ldq, kc, vc, n_head, n_head_kv, hd, n_ctx, seq, pos, tiles, n_tiles, tile_max, scale, n_swa, out32, out16)
    switch (dl_of(hd)) {
        case 1: RZ_ATT(1); break;
        case 2: RZ_ATT(2); break;
        case 3: RZ_ATT(3); break;
        case 4: RZ_ATT(4); break;
        case 6: RZ_ATT(6); break;
        default: RZ_ATT(8); break;
    }
#undef RZ_ATT
}

// The head sizes of the tensor-core kernel (batch_attention_tc.cu).
bool tc_head_dim(int hd) { return hd == 64 || hd == 80 || hd == 96 || hd == 128; }

int simt_tile_rows(int n_head, int n_head_kv, int hd) {
    const int G = n_head / n_head_kv, R = kWarps * rows_per_warp(dl_of(hd));
    return std::max(1, R / std::min(G, R));
}

}  // namespace

// The tensor-core kernel's tiles at its head sizes (the CUDA-core kernel splits them into its own), else the
// CUDA-core kernel's.
int tile_rows(int n_head, int n_head_kv, int hd) {
    const int G = n_head / n_head_kv, R = detail::attention_tc_rows(), simt = simt_tile_rows(n_head, n_head_kv, hd);
    return tc_head_dim(hd) ? std::max(simt, std::max(1, R / std::min(G, R))) : simt;
}

bool attention_tensor_cores(bool f16_cache, bool out32, int hd) {
    static const bool on = [] {  // RZ_CUDA_ATT=simt: always the CUDA-core kernel (for comparisons)
        const char* e = std::getenv("RZ_CUDA_ATT");
        return !(e && std::strcmp(e, "simt") == 0);
    }();
    return on && f16_cache && !out32 && tc_head_dim(hd);
}

void attention_prefill(const float* q, int ldq, const void* kc, const void* vc, bool f16, int n_head, int n_head_kv, int hd, int n_ctx,
                       const int32_t* seq, const int32_t* pos, const int32_t* tiles, int n_tiles, float scale, float* out32, void* out16,
                       int n_swa, int n, float* scratch, size_t scratch_floats) {
    if (n_tiles <= 0) return;
    if (out16 && attention_tensor_cores(f16, out32 != nullptr, hd) &&
        detail::attention_tc(q, ldq, kc, vc, n_head, n_head_kv, hd, n_ctx, seq, pos, tiles, n_tiles, n, scale, n_swa, out16, n > 0 ? scratch : nullptr,
                             scratch_floats))
        return;
    const int tm = tile_rows(n_head, n_head_kv, hd);
    if (f16) launch_dl<__half>(hd, q, ldq, kc, vc, n_head, n_head_kv, n_ctx, seq, pos, tiles, n_tiles, tm, scale, n_swa, out32, out16);
    else launch_dl<float>(hd, q, ldq, kc, vc, n_head, n_head_kv, n_ctx, seq, pos, tiles, n_tiles, tm, scale, n_swa, out32, out16);
}

}  // namespace rz::cuda::batch
