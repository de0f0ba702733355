#pragma once
// Device helpers shared by the CUDA kernel files of rz_cuda (block-layout readers, activation quantization
// math, cache element conversion) and the backend stream. Internal to src/backend/cuda.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "realizar/core/dtype.h"

namespace rz::cuda::detail {

// The backend's one non-blocking stream (defined in kernels.cu); every launch and copy goes to it.
cudaStream_t stream();

__device__ __forceinline__ float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint16_t ld16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
// Element c of a row of a plain type (F32, F16, BF16).
template <int T>
__device__ __forceinline__ float plain_at(const uint8_t* row, int c) {
    if constexpr (T == static_cast<int>(DType::F32)) return reinterpret_cast<const float*>(row)[c];
    else if constexpr (T == static_cast<int>(DType::F16)) return h2f(reinterpret_cast<const uint16_t*>(row)[c]);
    else return __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(row)[c]) << 16);
}
inline int blocks_for(int64_t n, int per) { return static_cast<int>((n + per - 1) / per); }
// Bytes of a row of n_cols elements in the file's block layout, and whether the device stores type t repacked
// (Q6_K, Q8_0, Q4_0, IQ4_NL, Q5_0, Q3_K: row_bytes, pack_rows in cuda.h; q6_block, g32_block, kQ3Bytes below).
inline size_t file_row_bytes(DType t, int64_t n_cols) {
    const DTypeInfo* in = dtype_info(t);
    return static_cast<size_t>(n_cols / in->block_size) * in->type_size;
}
inline bool repacked(DType t) {
    return t == DType::Q6_K || t == DType::Q8_0 || t == DType::Q4_0 || t == DType::IQ4_NL || t == DType::Q5_0 || t == DType::Q3_K;
}
// Q3_K blocks {hmask[32]; qs[64]; scales[12]; half d} (110 bytes, 2-byte aligned in the file) are stored on the
// device each followed by 2 zero bytes: 112-byte blocks, 16-byte aligned, so hmask and qs are read with 8-byte
// loads and the scales with d in one 16-byte load instead of 15 16-bit loads a row step.
constexpr int kQ3Bytes = 112;
__device__ __forceinline__ uint32_t byte_of(const uint4& v, int i) {
    const uint32_t w = i < 4 ? v.x : i < 8 ? v.y : i < 12 ? v.z : v.w;
    return (w >> (8 * (i & 3))) & 0xFFu;
}
// Block b of a Q6_K row in the device layout (row_bytes, pack_rows in cuda.h; the row starts 16-byte aligned):
// ql [nb][128] at 0, qh [nb][64] at 128 nb, int8 scales [nb][16] at 192 nb, half d [nb] at 208 nb.
struct Q6Block {
    const uint8_t* ql;  // 128 bytes, 16-byte aligned
    const uint8_t* qh;  // 64 bytes, 16-byte aligned
    const int8_t* sc;   // 16 scales, 16-byte aligned
    float d;
};
__device__ __forceinline__ Q6Block q6_block(const uint8_t* row, int nb, int b) {
    return Q6Block{row + 128 * b, row + 128 * nb + 64 * b, reinterpret_cast<const int8_t*>(row + 192 * nb + 16 * b),
                   h2f(ld16(row + 208 * nb + 2 * b))};
}
// The 6-bit codes q (0..63, value q - 32) of 4 consecutive elements of quarter rr (0..3) of a Q6_K half, one byte
// each: the low 4 bits from ql word w (the low nibbles for rr < 2, the high ones for rr >= 2; the caller passes the
// word at ql byte 32 (rr & 1) + l), the high 2 bits at bits 2 rr of qh word h. One definition for every Q6_K reader
// (the int8 mat-vecs, the rows and tensor-core kernels); those that need q - 32 subtract it after.
__device__ __forceinline__ unsigned q6_codes(unsigned w, unsigned h, int rr) {
    return ((w >> (4 * (rr >> 1))) & 0x0F0F0F0Fu) | (((h >> (2 * rr)) & 0x03030303u) << 4);
}
// Block b of a row of K-byte 32-element blocks {half d; [qh[4]]; qs[K - 2 - 4 (K == 22)]} in the device layout
// (Q8_0 K = 34: 32 int8 codes; Q4_0 and IQ4_NL K = 18: 16 bytes of nibbles; Q5_0 K = 22: qh, then 16 bytes of
// nibbles; the row starts 16-byte aligned): groups of 8 blocks (the last one m = nb - 8 (nb / 8) < 8 when
// nb % 8 != 0), each the m blocks' codes, then their qh words (Q5_0), then their m half scales: K m bytes, so every
// group (272, 144, 176 bytes) and every block's codes start 16-byte aligned and its qh 4-byte aligned, and a
// block's fields are found from the group, without nb in the address (a second array at 32 nb cost the Q8_0
// gate|up kernel 32 bytes of register spills). The file layout is only 2-byte aligned for K = 18, 22, 34: 16-bit
// loads, 5 of them for a lane's 8 nibble bytes and scale.
struct G32Block {
    const uint8_t* qs;  // the codes, 16-byte aligned
    const uint8_t* qh;  // Q5_0: the 5th bits (a little-endian word), 4-byte aligned
    float d;
};
template <int K>
__device__ __forceinline__ G32Block g32_block(const uint8_t* row, int nb, int b) {
    static_assert(K == 34 || K == 18 || K == 22, "g32_block: Q8_0, Q4_0 / IQ4_NL or Q5_0");
    constexpr int Q = K == 34 ? 32 : 16;
    const int g0 = b & ~7, j = b & 7, m = min(8, nb - g0);
    const uint8_t* g = row + K * g0;
    return G32Block{g + Q * j, g + Q * m + 4 * j, h2f(ld16(g + (K - 2) * m + 2 * j))};
}
struct Q8Block {
    const int8_t* qs;  // 32 codes, 16-byte aligned
    float d;
};
__device__ __forceinline__ Q8Block q8_block(const uint8_t* row, int nb, int b) {
    const G32Block g = g32_block<34>(row, nb, b);
    return Q8Block{reinterpret_cast<const int8_t*>(g.qs), g.d};
}

// 6-bit scale and min of sub-block s from the 16-byte Q4_K/Q5_K header h {half d, dmin; scales[12]}.
__device__ __forceinline__ void k_scale_min(const uint4& h, int s, float& sc, float& m) {
    const uint32_t a = byte_of(h, 4 + s), b8 = byte_of(h, 8 + s);
    if (s < 4) {
        sc = static_cast<float>(a & 63);
        m = static_cast<float>(b8 & 63);
    } else {
        sc = static_cast<float>((b8 & 0xF) | ((byte_of(h, s) >> 6) << 4));
        m = static_cast<float>((b8 >> 4) | ((a >> 6) << 4));
    }
}

// Scales and mins (6-bit) of sub-blocks 2j and 2j + 1 of a Q4_K/Q5_K header h (bytes 4..15 = q[12]) in a
// dozen integer operations on 16-bit pairs instead of k_scale_min's byte selection twice: for j < 2,
// sc = q[2j..] & 63, m = q[2j + 4..] & 63; for j >= 2 the low 4 bits come from q[2j + 4..] and the top 2
// from q[2j - 4..] (scales) or q[2j..] (mins). Same values as k_scale_min (checked exhaustively on random
// headers when written).
__device__ __forceinline__ void k_scale_min_pair(const uint4& h, int j, int& sc0, int& sc1, int& m0, int& m1) {
    const int t = 16 * (j & 1);
    const uint32_t y = h.y >> t, z = h.z >> t, w = h.w >> t;
    const uint32_t a = j < 2 ? (y & 0x3F3Fu) : ((w & 0x0F0Fu) | ((y & 0xC0C0u) >> 2));
    const uint32_t b = j < 2 ? (z & 0x3F3Fu) : (((w >> 4) & 0x0F0Fu) | ((z & 0xC0C0u) >> 2));
    sc0 = static_cast<int>(a & 0xFFu), sc1 = static_cast<int>((a >> 8) & 0xFFu);
    m0 = static_cast<int>(b & 0xFFu), m1 = static_cast<int>((b >> 8) & 0xFFu);
}

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// Activation quantization of one 32-element sub-block, one warp (lane = element): d = amax / 127,
// q = round(v / d) (ties to even), s = d * sum(q) (for the Q4_K minimums). All 32 lanes call it together.
__device__ __forceinline__ void quantize32_to(float v, int sb, int lane, int8_t* xq, float* xd, float* xs) {
    float amax = fabsf(v);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    const int q = __float2int_rn(v * id);
    int sum = q;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
    xq[sb * 32 + lane] = static_cast<int8_t>(q);
    if (lane == 0) {
        xd[sb] = d;
        xs[sb] = d * static_cast<float>(sum);
    }
}

template <typename C>
__device__ __forceinline__ C to_cache(float v);
template <>
__device__ __forceinline__ float to_cache<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half to_cache<__half>(float v) { return __float2half_rn(v); }
__device__ __forceinline__ float from_cache(float v) { return v; }
__device__ __forceinline__ float from_cache(__half v) { return __half2float(v); }

// x [hd] (shared memory) times w / rms(x), by one warp; sums in double like the unfused kernels (head_rms_norm).
__device__ __forceinline__ void head_norm_warp(float* x, const float* w, int hd, float eps, int lane) {
    double ss = 0.0;
    for (int d = lane; d < hd; d += 32) ss += static_cast<double>(x[d]) * x[d];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, o);
    const double scale = 1.0 / sqrt(ss / hd + eps);
    for (int d = lane; d < hd; d += 32) x[d] = static_cast<float>(x[d] * scale * w[d]);
}
// The same with the lane's weights w[lane + 32 k] already in registers (wr, loaded before a dependency wait: the norm
// weights are immutable), so no load follows the reduction. HD need not be a multiple of 32 (phi-2's 80).
template <int HD>
__device__ __forceinline__ void head_norm_warp_pre(float* x, const float (&wr)[(HD + 31) / 32], float eps, int lane) {
    constexpr int K = (HD + 31) / 32;
    double ss = 0.0;
#pragma unroll
    for (int k = 0; k < K; ++k)
        if (HD % 32 == 0 || lane + 32 * k < HD) ss += static_cast<double>(x[lane + 32 * k]) * x[lane + 32 * k];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, o);
    const double scale = 1.0 / sqrt(ss / HD + eps);
#pragma unroll
    for (int k = 0; k < K; ++k)
        if (HD % 32 == 0 || lane + 32 * k < HD) x[lane + 32 * k] = static_cast<float>(x[lane + 32 * k] * scale * wr[k]);
}

// Rotary pair i of a head: its elements (i, i + half) (NEOX) or (2i, 2i + 1) (NORM), and (x0, x1) rotated by cos c
// and sin s with the float operations of ops::rope. Every RoPE kernel goes through these two.
__device__ __forceinline__ int2 rope_idx(int i, int half, int neox) { return neox ? make_int2(i, i + half) : make_int2(2 * i, 2 * i + 1); }
__device__ __forceinline__ float2 rope_rot(float x0, float x1, float c, float s) { return make_float2(x0 * c - x1 * s, x0 * s + x1 * c); }
// Rotary pair i of a head x [hd] in place.
__device__ __forceinline__ void rope_pair(float* x, int i, int half, int neox, float c, float s) {
    const int2 ix = rope_idx(i, half, neox);
    const float2 y = rope_rot(x[ix.x], x[ix.y], c, s);
    x[ix.x] = y.x, x[ix.y] = y.y;
}

// Programmatic dependent launch (sm_90): wait for the previous kernel's completion (and its memory), and let
// the next kernel start launching. No-ops on sm_80 (and when the kernel was launched without the attribute).
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// Wait for the previous kernel, and let the next one launch: after the wait (default), or already before it
// with `early` (RZ_CUDA_PDL_EARLY=1; still safe: the next kernel's own wait covers this one, which completes
// only after the previous one, and before its wait every kernel reads only immutable data).
__device__ __forceinline__ void pdl_sync(int early) {
    if (early) pdl_launch_dependents();
    pdl_wait();
    if (!early) pdl_launch_dependents();
}
// What the tensor-core attention kernels over an f16 cache read (attention_rows_tc.cu, batch_attention_tc.cu): the
// q rows (f32), the K and V caches, and each query row's sequence and position.
struct F16AttnRows {
    const float* q;
    const __half* kc;
    const __half* vc;
    const int32_t* seq;
    const int32_t* pos;
};

// Flash-decoding merge of ns split partials of one (row, head) written at P0 as [split][hd + 2] = (unnormalised
// output[hd], max, sum): returns the sum over splits of output[d] exp(max_k - M) and sets l to that of
// sum_k exp(max_k - M), M the largest max (d < 0: l only). The partials are in global memory, written by other
// blocks and read through L2 (the tensor-core decode-rows kernel, attention_rows_tc.cu; the split kernel's many-split
// heads), or, kShared, copied into this block's shared memory (the split kernel, attention_fused.cu).
template <bool kShared = false>
__device__ __forceinline__ float merge_splits(const float* P0, int ns, int hd, int d, float& l) {
    const auto ld = [](const float* a) {
        if constexpr (kShared) return *a;
        else return __ldcg(a);
    };
    float M = -INFINITY;
    for (int k = 0; k < ns; ++k) M = fmaxf(M, ld(P0 + static_cast<size_t>(k) * (hd + 2) + hd));
    float v = 0.0f;
    l = 0.0f;
    for (int k = 0; k < ns; ++k) {
        const float* Pk = P0 + static_cast<size_t>(k) * (hd + 2);
        const float w = __expf(ld(Pk + hd) - M);
        l += w * ld(Pk + hd + 1);
        if (d >= 0) v += w * ld(Pk + d);
    }
    return v;
}

// atomicAdd with acquire-release semantics at device scope: what this thread (and, after a block barrier, its
// block) stored before is visible to a block that reads the counter's result through another such add, and
// that block sees what earlier adders stored. Cheaper than a __threadfence (fence.sc) by every thread.
__device__ __forceinline__ unsigned atomic_add_acq_rel(unsigned* a, unsigned v) {
    unsigned old;
    asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], %2;" : "=r"(old) : "l"(a), "r"(v) : "memory");
    return old;
}

// 16-byte asynchronous copy global -> shared (sm_80+); ok = false writes 16 zero bytes instead (src is not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool ok) {
    const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src), "r"(ok ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
// Wait until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
// Prefetch [p, p + bytes) into L2, spread over the block's threads (128-byte lines).
__device__ __forceinline__ void prefetch_l2(const uint8_t* p, size_t bytes) {
    for (size_t o = static_cast<size_t>(threadIdx.x) * 128; o < bytes; o += static_cast<size_t>(blockDim.x) * 128)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(p + o));
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}

// Unsigned bytes of a times signed bytes of b, summed into c (dp4a.u32.s32; __dp4a has only same-signed forms).
__device__ __forceinline__ int dp4a_us(unsigned a, int b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// Q4_K nibble dot products of 16 packed 4-bit weights q with int8 activations: the low
// nibbles against x0 and the high nibbles against x1 (16 each), as {sum low, sum high}. The high nibbles are
// dotted in place (q & 0xF0 = 16 h as an unsigned byte) and the sum shifted back once (exact: a multiple of 16):
// one instruction a word instead of a shift and a mask.
__device__ __forceinline__ int2 nibble_dots(const uint4& q, const int4& x0, const int4& x1) {
    constexpr int m4 = 0x0F0F0F0F;
    constexpr unsigned h4 = 0xF0F0F0F0u;
    int s0 = __dp4a(static_cast<int>(q.x) & m4, x0.x, 0);
    s0 = __dp4a(static_cast<int>(q.y) & m4, x0.y, s0);
    s0 = __dp4a(static_cast<int>(q.z) & m4, x0.z, s0);
    s0 = __dp4a(static_cast<int>(q.w) & m4, x0.w, s0);
    int s1 = dp4a_us(q.x & h4, x1.x, 0);
    s1 = dp4a_us(q.y & h4, x1.y, s1);
    s1 = dp4a_us(q.z & h4, x1.z, s1);
    s1 = dp4a_us(q.w & h4, x1.w, s1);
    return make_int2(s0, s1 >> 4);
}

// Sum of a double over the block (blockDim.x a multiple of 32, at most 1024): warp sums, then every thread adds
// the warp totals in warp order; every thread gets the total. Safe to call repeatedly (norm statistics).
__device__ __forceinline__ double block_sum(double v) {
    __shared__ double red[32];
    v = warp_sum(v);
    __syncthreads();  // red may still be read by a previous call
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    double t = 0.0;
    for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) t += red[i];
    return t;
}

// ---- Cross-kernel L2 prefetch (set_l2_prefetch in cuda.h). A launch of the fused layer carries up to kPfMax
// byte ranges of weights that LATER launches read; its blocks request them into L2 before their
// griddepcontrol.wait (weights are immutable), so HBM streams the next matrices while this kernel is latency
// bound (prologue, attention) and the next kernels read L2. Chunks are dealt round-robin over the blocks
// (chunk c: block c % grid), so every SM issues a few.
constexpr int kPfMax = 8;
constexpr unsigned kPfChunk = 16384;  // bytes per chunk (one bulk prefetch on sm_90)
struct L2Pf {
    const uint8_t* p[kPfMax];
    unsigned long long n[kPfMax];
    int cnt;
    int mode;  // 1: prefetch.global.L2 per 128-byte line, 2: cp.async.bulk.prefetch.L2 per chunk (sm_90; else as 1)
};
L2Pf take_l2pf();  // host: the ranges set by set_l2_prefetch for the next launch (then cleared)

__device__ __forceinline__ void l2pf_issue(const L2Pf& pf) {
    if (pf.cnt <= 0) return;
    const unsigned G = gridDim.x, nt = blockDim.x;
    unsigned long long c0 = 0;  // first chunk index of range r
    for (int r = 0; r < pf.cnt && r < kPfMax; ++r) {
        const unsigned long long nch = (pf.n[r] + kPfChunk - 1) / kPfChunk;
        // chunks c in [c0, c0 + nch) with c % G == blockIdx.x, then over the block's threads
        unsigned long long c = c0 + ((blockIdx.x + G - static_cast<unsigned>(c0 % G)) % G) + static_cast<unsigned long long>(threadIdx.x) * G;
        for (; c < c0 + nch; c += static_cast<unsigned long long>(nt) * G) {
            const unsigned long long o = (c - c0) * kPfChunk;
            const unsigned long long len = pf.n[r] - o < kPfChunk ? pf.n[r] - o : kPfChunk;
            const uint8_t* a = pf.p[r] + o;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
            if (pf.mode == 2) {
                // 16-byte aligned start and size, inside the range
                const uintptr_t s = (reinterpret_cast<uintptr_t>(a) + 15) & ~uintptr_t{15};
                const uintptr_t e = (reinterpret_cast<uintptr_t>(a) + len) & ~uintptr_t{15};
                if (e > s)
                    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(s), "r"(static_cast<unsigned>(e - s)) : "memory");
                continue;
            }
#endif
            for (unsigned long long l = 0; l < len; l += 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(a + l));
        }
        c0 += nch;
    }
}

// The fused path's int8 activation buffer (decode_fused.cu): values, per-32 scales d and d * sum(q).
struct ActBuffer {
    int8_t* q;
    float* d;
    float* s;
    // quantize32_to into group sb of the row that starts at element o (o % 32 == 0): one warp, lane = element.
    __device__ __forceinline__ void put(float v, size_t o, int sb, int lane) const { quantize32_to(v, sb, lane, q + o, d + o / 32, s + o / 32); }
};
ActBuffer act_buffer();
bool pdl_on();     // RZ_CUDA_PDL / set_pdl, and an sm_90+ device
int pdl_early();  // RZ_CUDA_PDL_EARLY=1: kernels let the next one launch before their own wait
int env_int(const char* name, int def);  // an integer tuning variable, read at each call (tests switch them)
int sm_count();                          // multiprocessors of the current device (1 when it cannot be read)
int device_attr(cudaDeviceAttr a, int def);  // an attribute of the current device (def when it cannot be read)

// Launch on the backend stream; with PDL the kernel may start while the previous one finishes (all kernels
// launched here wait on griddepcontrol before touching anything the previous kernel writes). cluster > 1 (sm_90):
// thread-block clusters of that many consecutive blocks (grid a multiple of it); launch_grid: a 2- or 3-D grid.
template <typename... KArgs, typename... Args>
inline void launch_grid(int cluster, void (*k)(KArgs...), dim3 grid, int block, size_t smem, Args&&... args) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = grid;
    cfg.blockDim = dim3(static_cast<unsigned>(block));
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream();
    cudaLaunchAttribute at[2];
    unsigned n = 0;
    if (pdl_on()) {
        at[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[n++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (cluster > 1) {
        at[n].id = cudaLaunchAttributeClusterDimension;
        at[n++].val.clusterDim = {static_cast<unsigned>(cluster), 1u, 1u};
    }
    cfg.attrs = at;
    cfg.numAttrs = n;
    (void)cudaLaunchKernelEx(&cfg, k, std::forward<Args>(args)...);
}
template <typename... KArgs, typename... Args>
inline void launch_clustered(int cluster, void (*k)(KArgs...), int grid, int block, size_t smem, Args&&... args) {
    launch_grid(cluster, k, dim3(static_cast<unsigned>(grid)), block, smem, std::forward<Args>(args)...);
}
template <typename... KArgs, typename... Args>
inline void launch(void (*k)(KArgs...), int grid, int block, size_t smem, Args&&... args) {
    launch_clustered(1, k, grid, block, smem, std::forward<Args>(args)...);
}

}  // namespace rz::cuda::detail
