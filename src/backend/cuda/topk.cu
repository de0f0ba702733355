// Greedy argmax and top-k of logits rows on the device (cuda.h top_k_rows). Why: a decode step whose sampler
// only needs its k best candidates brings back k (id, logit) pairs instead of the n_vocab-float row.
//
// Order: each entry gets a 64-bit key, (order-preserving bits of the value) << 32 | ~id, so a larger key is a
// larger value or, on equal values, the lower id. The keys are unique, which makes the selection exact and
// deterministic (no ties left to break). NaN becomes -inf and -0 becomes +0 before the bits are taken: the
// host sampler's order (runtime/top_k.h).
// One launch, grid (chunks of 4096 entries, rows): every block reads its chunk once (float4 loads into
// registers) and reduces it to its k best keys; the last block of a row to finish (a counter per row) merges
// the chunks' lists. So a 150k-entry row is read by 38 SMs at once instead of one.
//   k == 1: max-reductions of the keys.
//   k >= 2: radix select of the k-th largest key, 8 bits per pass over the keys in registers (then, in the
//   merge, over the chunks' lists), stopping as soon as the selected digit's bin holds exactly the keys still
//   needed (distinct values: within the 4 passes over the value bits; equal values at the boundary go on into
//   the id bits); the k keys at or above the selection are gathered and bitonic-sorted in shared memory.
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {

namespace {

using u64 = unsigned long long;
constexpr int kThreads = 1024;
constexpr int kPer = 4;                 // entries per thread of a chunk (one float4), kept in registers
constexpr int kChunk = kPer * kThreads;  // entries per block

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

// The block's largest v, in thread 0 (warp_max: shared scratch of kThreads / 32).
__device__ __forceinline__ u64 block_max(u64 v, u64* warp_max) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = umax64(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = warp_max[threadIdx.x];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v = umax64(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    }
    return v;
}

// Keys a block selects from: kPer per thread in registers (a chunk of the row), or m keys in global memory
// (the chunks' lists, written by other blocks of the launch: read past L1). each() calls f(key, valid) the
// same number of times in every lane (the select's warp votes need whole warps).
struct RegKeys {
    u64 key[kPer];
    bool valid[kPer];
    template <class F>
    __device__ __forceinline__ void each(F&& f) const {
#pragma unroll
        for (int j = 0; j < kPer; ++j) f(key[j], valid[j]);
    }
};
struct GlobalKeys {
    const u64* p;
    int m;
    template <class F>
    __device__ __forceinline__ void each(F&& f) const {
        for (int base = 0; base < m; base += kThreads) {
            const int i = base + static_cast<int>(threadIdx.x);
            f(i < m ? __ldcg(p + i) : u64{0}, i < m);
        }
    }
};

struct Select {
    u64 prefix, mask;  // the keys whose bits under mask equal prefix are still undecided
    int rem;           // how many of those belong to the top k (every key above the prefix does)
    int done;
    int count;         // gather slots
    int hist[256];
};

// Radix select of the k-th largest of src's valid keys (at least k of them): leaves (prefix, mask) such that
// exactly k keys have (key & mask) >= prefix. 8 bits per pass from the top; stops once the selected digit's bin
// holds exactly the keys still needed.
template <class Src>
__device__ void radix_select(const Src& src, int k, Select& s) {
    const int tid = static_cast<int>(threadIdx.x), lane = tid & 31;
    __syncthreads();  // earlier readers of s are done
    if (tid == 0) s.prefix = 0, s.mask = 0, s.rem = k, s.done = 0, s.count = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
        if (tid < 256) s.hist[tid] = 0;
        __syncthreads();
        if (s.done) break;  // uniform: written by warp 0 before the previous barrier
        const u64 prefix = s.prefix, mask = s.mask;
        src.each([&](u64 key, bool valid) {
            const int d = valid && (key & mask) == prefix ? static_cast<int>((key >> shift) & 0xFFu) : 256;
            // One shared atomic per distinct digit of the warp: a row's values crowd into a few bins.
            const unsigned peers = __match_any_sync(0xFFFFFFFFu, d);
            if (d < 256 && lane == __ffs(peers) - 1) atomicAdd(&s.hist[d], __popc(peers));
        });
        __syncthreads();
        if (tid < 32) {  // the digit whose bin holds the rem-th key from the top: lane l scans bins 255-8l .. 248-8l
            const int rem = s.rem;
            int c[8], sum = 0;
#pragma unroll
            for (int j = 0; j < 8; ++j) sum += (c[j] = s.hist[255 - 8 * lane - j]);
            int incl = sum;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const int t = __shfl_up_sync(0xFFFFFFFFu, incl, o);
                if (lane >= o) incl += t;
            }
            __syncwarp();  // every lane has read s.rem before one of them rewrites it
            int above = incl - sum;
            if (above < rem && incl >= rem) {
                for (int j = 0; j < 8; ++j) {
                    if (above + c[j] >= rem) {
                        s.prefix = prefix | (static_cast<u64>(255 - 8 * lane - j) << shift);
                        s.mask = mask | (u64{0xFF} << shift);
                        s.rem = rem - above;
                        s.done = c[j] == rem - above;  // the whole bin is in
                        break;
                    }
                    above += c[j];
                }
            }
        }
        __syncthreads();
    }
}

// Appends src's keys at or above the selection to dst (unordered; exactly k of them).
template <class Src>
__device__ __forceinline__ void gather(const Src& src, Select& s, u64* dst) {
    const u64 prefix = s.prefix, mask = s.mask;
    src.each([&](u64 key, bool valid) {
        if (valid && (key & mask) >= prefix) {
            const int slot = atomicAdd(&s.count, 1);
            if (slot < kTopKMax) dst[slot] = key;
        }
    });
}

// grid (B, rows): block b of row r takes the chunk [b kChunk, (b + 1) kChunk) and writes its k best keys (fewer
// entries: all, padded with 0, below every key) to part[r][b][0:k]; the row's last block to finish merges the
// B lists into out[r][0:k] and resets counters[r] for the next launch.
__global__ void __launch_bounds__(kThreads) top_k_kernel(const float* x, int n, bool vec, int k, u64* part, unsigned* counters,
                                                         TopKEntry* out) {
    const int r = static_cast<int>(blockIdx.y), b = static_cast<int>(blockIdx.x), B = static_cast<int>(gridDim.x);
    const int tid = static_cast<int>(threadIdx.x);
    const float* row = x + static_cast<size_t>(r) * n;
    u64* row_part = part + static_cast<size_t>(r) * B * k;
    u64* my_part = row_part + static_cast<size_t>(b) * k;
    __shared__ Select s;
    __shared__ u64 cand[kTopKMax];
    __shared__ u64 warp_max[kThreads / 32];
    __shared__ bool last;

    const int c0 = b * kChunk, i0 = c0 + kPer * tid, len = min(n, c0 + kChunk) - c0;
    RegKeys keys;
    {
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        load4(row, n, vec, i0, v);
#pragma unroll
        for (int j = 0; j < kPer; ++j) {
            keys.valid[j] = i0 + j < n;
            keys.key[j] = keys.valid[j] ? key_of(v[j], i0 + j) : u64{0};
        }
    }
    if (k == 1) {
        u64 best = 0;
#pragma unroll
        for (int j = 0; j < kPer; ++j) best = umax64(best, keys.key[j]);
        best = block_max(best, warp_max);
        if (tid == 0) my_part[0] = best;
    } else if (len <= k) {
#pragma unroll
        for (int j = 0; j < kPer; ++j)
            if (keys.valid[j]) my_part[i0 + j - c0] = keys.key[j];
        for (int t = len + tid; t < k; t += kThreads) my_part[t] = 0;
    } else {
        radix_select(keys, k, s);
        gather(keys, s, my_part);
    }

    // The last block of the row to get here merges (the writes above are visible to it after the fence).
    __threadfence();
    __syncthreads();
    if (tid == 0) last = atomicAdd(&counters[r], 1u) == static_cast<unsigned>(B - 1);
    __syncthreads();
    if (!last) return;
    if (k == 1) {
        u64 best = 0;
        for (int i = tid; i < B; i += kThreads) best = umax64(best, __ldcg(row_part + i));
        best = block_max(best, warp_max);
        if (tid == 0) {
            const int id = id_of(best);
            out[r] = TopKEntry{id, reported(row[id])};
            counters[r] = 0;
        }
        return;
    }
    const GlobalKeys lists{row_part, B * k};
    radix_select(lists, k, s);
    gather(lists, s, cand);
    __syncthreads();
    int p2 = 1;
    while (p2 < k) p2 <<= 1;
    if (tid >= k && tid < p2) cand[tid] = 0;  // padding sorts last
    __syncthreads();
    for (int size = 2; size <= p2; size <<= 1) {  // bitonic sort, descending
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            const int partner = tid ^ stride;
            if (tid < p2 && partner > tid) {
                const u64 a = cand[tid], c = cand[partner];
                if ((tid & size) == 0 ? a < c : a > c) cand[tid] = c, cand[partner] = a;
            }
            __syncthreads();
        }
    }
    if (tid < k) {
        const int id = id_of(cand[tid]);
        out[static_cast<size_t>(r) * k + tid] = TopKEntry{id, reported(row[id])};
    }
    if (tid == 0) counters[r] = 0;
}

Status cuda_status(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return Status::Ok();
    return Status(StatusCode::kInternal, std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}

// Scratch of the launches (the chunks' lists and the per-row counters), grown on demand. One for the process:
// every launch runs on the backend's one stream, so launches never overlap; the mutex covers host threads.
std::mutex g_mu;
u64* g_part = nullptr;
size_t g_part_cap = 0;
unsigned* g_counters = nullptr;
int g_counters_cap = 0;

// Grows the scratch for `rows` rows of n entries and k results (caller holds g_mu).
Status grow_scratch(int rows, int n, int k) {
    const int B = (n + kChunk - 1) / kChunk;
    const size_t need = static_cast<size_t>(rows) * B * k;
    if (need > g_part_cap) {
        (void)cudaFree(g_part);  // synchronises with launches that may still read it
        g_part = nullptr, g_part_cap = 0;
        RZ_RETURN_IF_ERROR(cuda_status(cudaMalloc(&g_part, need * sizeof(u64)), "top-k scratch allocation"));
        g_part_cap = need;
    }
    if (rows > g_counters_cap) {
        (void)cudaFree(g_counters);
        g_counters = nullptr, g_counters_cap = 0;
        RZ_RETURN_IF_ERROR(cuda_status(cudaMalloc(&g_counters, static_cast<size_t>(rows) * sizeof(unsigned)), "top-k scratch allocation"));
        RZ_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(g_counters, 0, static_cast<size_t>(rows) * sizeof(unsigned), detail::stream()),
                                       "top-k scratch"));
        g_counters_cap = rows;
    }
    return Status::Ok();
}

Status check_args(int rows, int n, int k) {
    if (rows < 0 || n < 1 || k < 1 || k > kTopKMax || k > n)
        return invalid_argument("top_k_rows: k " + std::to_string(k) + " is not in [1, min(256, " + std::to_string(n) + ")]");
    return Status::Ok();
}

}  // namespace

Status top_k_reserve(int rows, int n, int k) {
    RZ_RETURN_IF_ERROR(check_args(rows, n, k));
    std::lock_guard lk(g_mu);
    return grow_scratch(rows, n, k);
}

Status top_k_rows(const float* x, int rows, int n, int k, TopKEntry* out) {
    RZ_RETURN_IF_ERROR(check_args(rows, n, k));
    if (rows == 0) return Status::Ok();
    const int B = (n + kChunk - 1) / kChunk;
    std::lock_guard lk(g_mu);
    RZ_RETURN_IF_ERROR(grow_scratch(rows, n, k));
    const bool vec = n % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
    top_k_kernel<<<dim3(static_cast<unsigned>(B), static_cast<unsigned>(rows)), kThreads, 0, detail::stream()>>>(x, n, vec, k, g_part,
                                                                                                              g_counters, out);
    return cuda_status(cudaGetLastError(), "top-k launch");
}

}  // namespace rz::cuda
