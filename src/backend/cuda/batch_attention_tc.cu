// Tensor-core variant of the prefill attention (batch_attention.cu has the layout and the tiling): for an f16
// cache whose output feeds f16 GEMMs, S = Q K^T and P V run as 16x16x16 f16 WMMA products with f32
// accumulation; the online softmax and the rescaling of the output stay in f32 on the CUDA cores. Same blocks as
// the SIMT kernel: 32 (token, query head) rows of one tile and one kv head, 4 warps, 32 keys per step.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <cmath>

#include "backend/cuda/batch_common.cuh"

namespace rz::cuda::batch::detail {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kR = 32;     // rows per block
constexpr int kKeys = 32;  // keys per step
constexpr int kWarps = 4;
constexpr int kRw = kR / kWarps;

template <int HD>
struct Smem {
    static constexpr int HL = HD + 8;     // f16 row stride (a multiple of 8, staggers banks)
    static constexpr int SL = kKeys + 4;  // f32 score row stride
    static constexpr int PL = kKeys + 8;  // f16 P row stride
    static constexpr int OL = HD + 4;     // f32 P.V row stride
    __half q[kR * HL];
    __half k[kKeys * HL];
    __half v[kKeys * HL];
    float s[kR * SL];
    __half p[kR * PL];
    float pv[kR * OL];
};

template <int HD>
__global__ void __launch_bounds__(32 * kWarps) attn_tc_kernel(const float* __restrict__ q, int ldq, const __half* __restrict__ kc,
                                                             const __half* __restrict__ vc, int n_head, int n_head_kv, int n_ctx,
                                                             const int32_t* __restrict__ seq, const int32_t* __restrict__ pos,
                                                             const int32_t* __restrict__ tiles, float scale, int n_swa, __half* __restrict__ out16) {
    using S = Smem<HD>;
    constexpr int DL = HD / 32;
    extern __shared__ __align__(128) unsigned char smem_raw[];  // WMMA pointers must be 32-byte aligned
    S& sm = *reinterpret_cast<S*>(smem_raw);
    const int G = n_head / n_head_kv, GH = min(G, kR), TB = kR / GH;
    const int first = tiles[2 * blockIdx.x], count = tiles[2 * blockIdx.x + 1];
    const int g = blockIdx.y, h0 = blockIdx.z * GH;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const size_t slab = static_cast<size_t>(n_ctx) * HD;
    const __half* K = kc + (static_cast<size_t>(seq[first]) * n_head_kv + g) * slab;
    const __half* V = vc + (static_cast<size_t>(seq[first]) * n_head_kv + g) * slab;
    const int kmax = pos[first + count - 1];
    const int klo = n_swa > 0 ? max(0, pos[first] - n_swa + 1) / kKeys * kKeys : 0;  // sliding window: tiles below it skipped

    for (int e = tid; e < kR * HD; e += blockDim.x) {
        const int r = e / HD, d = e % HD, tl = r / GH, hi = h0 + r % GH;
        const bool ok = r < TB * GH && tl < count && hi < G;
        sm.q[r * S::HL + d] = __float2half_rn(ok ? q[static_cast<size_t>(first + tl) * ldq + (g * G + hi) * HD + d] * scale : 0.0f);
    }
    int rpos[kRw];
#pragma unroll
    for (int j = 0; j < kRw; ++j) {
        const int r = warp * kRw + j, tl = r / GH, hi = h0 + r % GH;
        rpos[j] = r < TB * GH && tl < count && hi < G ? pos[first + tl] : -1;
    }
    float m[kRw], l[kRw], o[kRw][DL];
#pragma unroll
    for (int j = 0; j < kRw; ++j) {
        m[j] = -INFINITY, l[j] = 0.0f;
#pragma unroll
        for (int i = 0; i < DL; ++i) o[j][i] = 0.0f;
    }
    const int rt = warp >> 1, ct = warp & 1;  // this warp's 16x16 block of S

    // K and V rows k0 .. k0 + 31 are contiguous in the cache: 16-byte slices (NS a thread), zeros past kmax. The
    // next step's slices are loaded into registers while this step computes, so a step no longer waits a whole
    // L2 / HBM round trip before its products (a 512-token prompt after 2000 cached tokens walks ~70 steps a block;
    // H200, tinyllama pp512 after 2000 / 4000 cached tokens: Q4_K_M 51.6-52.2k / 35.6-35.7k tok/s vs 49.5k /
    // 33.3-33.4k, Q8_0 53.3-53.7k / 36.4k vs 50.1-50.9k / 34.0-34.1k; HD 64 now 128 registers (8 bytes spilled), HD
    // 128 168).
    constexpr int NS = kKeys * HD / 8 / (32 * kWarps);
    static_assert(NS * 32 * kWarps == kKeys * HD / 8, "whole slices per thread");
    uint4 kr[NS], vr[NS];
    auto load_kv = [&](int k0) {
#pragma unroll
        for (int i = 0; i < NS; ++i) {
            const int e = tid + i * 32 * kWarps, t = e / (HD / 8), c = (e % (HD / 8)) * 8, key = k0 + t;
            kr[i] = vr[i] = make_uint4(0u, 0u, 0u, 0u);
            if (key <= kmax) {
                kr[i] = *reinterpret_cast<const uint4*>(K + static_cast<size_t>(key) * HD + c);
                vr[i] = *reinterpret_cast<const uint4*>(V + static_cast<size_t>(key) * HD + c);
            }
        }
    };
    load_kv(klo);
    for (int k0 = klo; k0 <= kmax; k0 += kKeys) {
        __syncthreads();  // previous step consumed (first time: q stored)
#pragma unroll
        for (int i = 0; i < NS; ++i) {
            const int e = tid + i * 32 * kWarps, t = e / (HD / 8), c = (e % (HD / 8)) * 8;
            *reinterpret_cast<uint4*>(sm.k + t * S::HL + c) = kr[i];
            *reinterpret_cast<uint4*>(sm.v + t * S::HL + c) = vr[i];
        }
        __syncthreads();
        if (k0 + kKeys <= kmax) load_kv(k0 + kKeys);
        {  // S[16 rt.., 16 ct..] = Q K^T (K^T read as a column-major view of the K rows)
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < HD; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
                wmma::load_matrix_sync(a, sm.q + 16 * rt * S::HL + kk, S::HL);
                wmma::load_matrix_sync(b, sm.k + 16 * ct * S::HL + kk, S::HL);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(sm.s + 16 * rt * S::SL + 16 * ct, acc, S::SL, wmma::mem_row_major);
        }
        __syncthreads();
        // Online softmax of this warp's rows (lane = key); P to shared memory in f16.
        const int key = k0 + lane;
        float corr[kRw];
#pragma unroll
        for (int j = 0; j < kRw; ++j) {
            const int r = warp * kRw + j;
            float sc = key > rpos[j] || (n_swa > 0 && key <= rpos[j] - n_swa) ? -INFINITY : sm.s[r * S::SL + lane];
            float mx = sc;
#pragma unroll
            for (int s = 16; s > 0; s >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, s));
            const float mn = fmaxf(m[j], mx);
            const float p = mn == -INFINITY ? 0.0f : expf(sc - mn);
            corr[j] = m[j] == -INFINITY ? 0.0f : expf(m[j] - mn);
            float sum = p;
#pragma unroll
            for (int s = 16; s > 0; s >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, s);
            l[j] = l[j] * corr[j] + sum;
            m[j] = mn;
            sm.p[r * S::PL + lane] = __float2half_rn(p);
        }
        __syncthreads();
        // PV [32 x HD] = P [32 x 32] V [32 x HD]: 2 x HD/16 blocks of 16x16 over the 4 warps.
        for (int blk = warp; blk < 2 * (HD / 16); blk += kWarps) {
            const int br = blk / (HD / 16), bc = blk % (HD / 16);
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < kKeys; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
                wmma::load_matrix_sync(a, sm.p + 16 * br * S::PL + kk, S::PL);
                wmma::load_matrix_sync(b, sm.v + kk * S::HL + 16 * bc, S::HL);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(sm.pv + 16 * br * S::OL + 16 * bc, acc, S::OL, wmma::mem_row_major);
        }
        __syncthreads();
#pragma unroll
        for (int j = 0; j < kRw; ++j) {
            const int r = warp * kRw + j;
#pragma unroll
            for (int i = 0; i < DL; ++i) o[j][i] = o[j][i] * corr[j] + sm.pv[r * S::OL + lane + 32 * i];
        }
    }
    const size_t ldo = static_cast<size_t>(n_head) * HD;
#pragma unroll
    for (int j = 0; j < kRw; ++j) {
        if (rpos[j] < 0) continue;
        const int r = warp * kRw + j, tl = r / GH, h = g * G + h0 + r % GH;
        const float inv = 1.0f / l[j];
#pragma unroll
        for (int i = 0; i < DL; ++i)
            out16[static_cast<size_t>(first + tl) * ldo + static_cast<size_t>(h) * HD + lane + 32 * i] = __float2half_rn(o[j][i] * inv);
    }
}

template <int HD>
void launch(const float* q, int ldq, const void* kc, const void* vc, int n_head, int n_head_kv, int n_ctx, const int32_t* seq, const int32_t* pos,
            const int32_t* tiles, int n_tiles, float scale, int n_swa, void* out16) {
    constexpr size_t smem = sizeof(Smem<HD>);
    static const bool attr = [] {
        if (smem > 48 * 1024) (void)cudaFuncSetAttribute(attn_tc_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        return true;
    }();
    (void)attr;
    const int G = n_head / n_head_kv, GH = std::min(G, kR);
    const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(n_head_kv), static_cast<unsigned>((G + GH - 1) / GH));
    attn_tc_kernel<HD><<<grid, 32 * kWarps, smem, stream()>>>(q, ldq, static_cast<const __half*>(kc), static_cast<const __half*>(vc), n_head, n_head_kv,
                                                              n_ctx, seq, pos, tiles, scale, n_swa, static_cast<__half*>(out16));
}

}  // namespace

bool attention_tc(const float* q, int ldq, const void* kc, const void* vc, int n_head, int n_head_kv, int hd, int n_ctx, const int32_t* seq,
                  const int32_t* pos, const int32_t* tiles, int n_tiles, float scale, int n_swa, void* out16) {
    if (hd == 64) launch<64>(q, ldq, kc, vc, n_head, n_head_kv, n_ctx, seq, pos, tiles, n_tiles, scale, n_swa, out16);
    else if (hd == 128) launch<128>(q, ldq, kc, vc, n_head, n_head_kv, n_ctx, seq, pos, tiles, n_tiles, scale, n_swa, out16);
    else return false;
    return true;
}

}  // namespace rz::cuda::batch::detail
