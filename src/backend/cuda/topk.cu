// Greedy argmax and top-k of logits rows on the device (cuda.h top_k_rows). Why: a decode step whose sampler
// only needs its k best candidates brings back k (id, logit) pairs instead of the n_vocab-float row.
//
// Order: each entry gets a 64-bit key, (order-preserving bits of the value) << 32 | ~id, so a larger key is a
// larger value or, on equal values, the lower id. The keys are unique, which makes the selection exact and
// deterministic (no ties left to break). NaN becomes -inf and -0 becomes +0 before the bits are taken: the
// host sampler's order (runtime/top_k.h).
//   k == 1: one pass over the row, a max-reduction of the keys.
//   k >= 2: radix select of the k-th largest key, 8 bits per pass over the row. It stops as soon as the bin of
//   the selected digit holds exactly the entries still needed (distinct logits: within the 4 passes over the
//   value bits, usually 2-3; equal logits at the boundary go on into the id bits), then the k keys at or above
//   the selected prefix are gathered into shared memory and bitonic-sorted.
// One block of 1024 threads per row; the row is read with float4 loads when it is 16-byte aligned.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {

namespace {

using u64 = unsigned long long;
constexpr int kThreads = 1024;
constexpr int kPerIter = 4 * kThreads;  // elements per block iteration (4 per thread)

__device__ __forceinline__ uint32_t clean_bits(float v) {
    uint32_t u = __float_as_uint(v);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) u = 0xFF800000u;  // NaN -> -inf
    else if ((u & 0x7FFFFFFFu) == 0u) u = 0u;              // -0 -> +0
    return u;
}

__device__ __forceinline__ u64 key_of(float v, int i) {
    uint32_t u = clean_bits(v);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // negative: reverse their order; positive: above them
    return (static_cast<u64>(u) << 32) | static_cast<u64>(~static_cast<uint32_t>(i));
}

__device__ __forceinline__ int id_of(u64 key) { return static_cast<int>(~static_cast<uint32_t>(key)); }

// The value reported for an entry: as stored, NaN as -inf (what Candidates::reset makes of it).
__device__ __forceinline__ float reported(float v) {
    return (__float_as_uint(v) & 0x7FFFFFFFu) > 0x7F800000u ? __uint_as_float(0xFF800000u) : v;
}

// Elements [i0, i0 + 4) of the row (those >= n are never used by the callers).
__device__ __forceinline__ void load4(const float* row, int n, bool vec, int i0, float (&v)[4]) {
    if (vec) {
        if (i0 < n) {  // n % 4 == 0: all four exist
            const float4 f = *reinterpret_cast<const float4*>(row + i0);
            v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
        }
    } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = i0 + j < n ? row[i0 + j] : 0.0f;
    }
}

__device__ __forceinline__ u64 umax64(u64 a, u64 b) { return a > b ? a : b; }

__global__ void __launch_bounds__(kThreads) argmax_rows_kernel(const float* x, int n, bool vec, TopKEntry* out) {
    const float* row = x + static_cast<size_t>(blockIdx.x) * n;
    u64 best = 0;  // below every key (the smallest, -inf at the largest id, is > 2^32)
    for (int base = 0; base < n; base += kPerIter) {
        const int i0 = base + 4 * static_cast<int>(threadIdx.x);
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        load4(row, n, vec, i0, v);
#pragma unroll
        for (int j = 0; j < 4; ++j)
            if (i0 + j < n) best = umax64(best, key_of(v[j], i0 + j));
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) best = umax64(best, __shfl_xor_sync(0xFFFFFFFFu, best, o));
    __shared__ u64 warp_best[kThreads / 32];
    if ((threadIdx.x & 31) == 0) warp_best[threadIdx.x >> 5] = best;
    __syncthreads();
    if (threadIdx.x < 32) {
        best = warp_best[threadIdx.x];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) best = umax64(best, __shfl_xor_sync(0xFFFFFFFFu, best, o));
        if (threadIdx.x == 0) {
            const int id = id_of(best);
            out[blockIdx.x] = TopKEntry{id, reported(row[id])};
        }
    }
}

__global__ void __launch_bounds__(kThreads) top_k_rows_kernel(const float* x, int n, bool vec, int k, TopKEntry* out) {
    const float* row = x + static_cast<size_t>(blockIdx.x) * n;
    const int tid = static_cast<int>(threadIdx.x), lane = tid & 31;
    __shared__ int hist[256];
    __shared__ u64 cand[kTopKMax];
    __shared__ u64 s_prefix, s_mask;
    __shared__ int s_rem, s_done, s_count;
    if (tid == 0) s_prefix = 0, s_mask = 0, s_rem = k, s_done = 0, s_count = 0;

    // Radix select: after each pass, (prefix, mask) selects the keys whose top bits equal the digits chosen so
    // far, and s_rem of those still belong to the top k (every key above the prefix already does).
    for (int shift = 56; shift >= 0; shift -= 8) {
        if (tid < 256) hist[tid] = 0;
        __syncthreads();
        if (s_done) break;  // uniform: written by warp 0 before the previous barrier
        const u64 prefix = s_prefix, mask = s_mask;
        for (int base = 0; base < n; base += kPerIter) {
            const int i0 = base + 4 * tid;
            float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            load4(row, n, vec, i0, v);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                int d = 256;  // none
                if (i0 + j < n) {
                    const u64 key = key_of(v[j], i0 + j);
                    if ((key & mask) == prefix) d = static_cast<int>((key >> shift) & 0xFFu);
                }
                // One shared atomic per distinct digit of the warp: a row's values crowd into a few bins.
                const unsigned peers = __match_any_sync(0xFFFFFFFFu, d);
                if (d < 256 && lane == __ffs(peers) - 1) atomicAdd(&hist[d], __popc(peers));
            }
        }
        __syncthreads();
        if (tid < 32) {  // the digit whose bin holds the s_rem-th key from the top: lane l scans bins 255-8l .. 248-8l
            int c[8], sum = 0;
#pragma unroll
            for (int j = 0; j < 8; ++j) sum += (c[j] = hist[255 - 8 * lane - j]);
            int incl = sum;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const int t = __shfl_up_sync(0xFFFFFFFFu, incl, o);
                if (lane >= o) incl += t;
            }
            const int rem = s_rem;
            int above = incl - sum;
            if (above < rem && incl >= rem) {
                for (int j = 0; j < 8; ++j) {
                    if (above + c[j] >= rem) {
                        const int d = 255 - 8 * lane - j;
                        s_prefix = prefix | (static_cast<u64>(d) << shift);
                        s_mask = mask | (u64{0xFF} << shift);
                        s_rem = rem - above;
                        s_done = c[j] == rem - above;  // the whole bin is in: stop here
                        break;
                    }
                    above += c[j];
                }
            }
        }
        __syncthreads();
    }

    // Gather the k keys at or above the selected prefix (unordered), then sort them in shared memory.
    const u64 prefix = s_prefix, mask = s_mask;
    for (int base = 0; base < n; base += kPerIter) {
        const int i0 = base + 4 * tid;
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        load4(row, n, vec, i0, v);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if (i0 + j >= n) continue;
            const u64 key = key_of(v[j], i0 + j);
            if ((key & mask) >= prefix) {
                const int slot = atomicAdd(&s_count, 1);
                if (slot < kTopKMax) cand[slot] = key;
            }
        }
    }
    __syncthreads();
    int p2 = 1;
    while (p2 < k) p2 <<= 1;
    if (tid >= k && tid < p2) cand[tid] = 0;  // padding sorts last
    __syncthreads();
    for (int size = 2; size <= p2; size <<= 1) {  // bitonic sort, descending
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            const int partner = tid ^ stride;
            if (tid < p2 && partner > tid) {
                const u64 a = cand[tid], b = cand[partner];
                if ((tid & size) == 0 ? a < b : a > b) cand[tid] = b, cand[partner] = a;
            }
            __syncthreads();
        }
    }
    if (tid < k) {
        const int id = id_of(cand[tid]);
        out[static_cast<size_t>(blockIdx.x) * k + tid] = TopKEntry{id, reported(row[id])};
    }
}

}  // namespace

void top_k_rows(const float* x, int rows, int n, int k, TopKEntry* out) {
    if (rows <= 0) return;
    const bool vec = n % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
    if (k == 1)
        argmax_rows_kernel<<<rows, kThreads, 0, detail::stream()>>>(x, n, vec, out);
    else
        top_k_rows_kernel<<<rows, kThreads, 0, detail::stream()>>>(x, n, vec, k, out);
}

}  // namespace rz::cuda
