#pragma once
// Device helpers shared by the batched-path kernels (batch_*.cu): the batch stream and the block decoders.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "realizar/core/dtype.h"

namespace rz::cuda::batch::detail {

// The batch path's own non-blocking stream (cuda.h's decode stream is private to kernels.cu); callers order
// the two streams with host synchronisation (see batch.h).
cudaStream_t stream();

inline int blocks_for(int64_t n, int per) { return static_cast<int>((n + per - 1) / per); }

__device__ __forceinline__ float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint16_t ld16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }

// 6-bit scale and min of sub-block s (0..7) of a Q4_K / Q5_K block from its 12 scale bytes q.
__device__ __forceinline__ void k_scale_min(const uint8_t* q, int s, float& sc, float& m) {
    if (s < 4) {
        sc = static_cast<float>(q[s] & 63);
        m = static_cast<float>(q[s + 4] & 63);
    } else {
        sc = static_cast<float>((q[s + 4] & 0xF) | ((q[s - 4] >> 6) << 4));
        m = static_cast<float>((q[s + 4] >> 4) | ((q[s] >> 6) << 4));
    }
}

// Element i of a row of a plain type.
template <int T>
__device__ __forceinline__ float plain_at(const uint8_t* row, int c) {
    if constexpr (T == static_cast<int>(DType::F32)) return reinterpret_cast<const float*>(row)[c];
    else if constexpr (T == static_cast<int>(DType::F16)) return h2f(reinterpret_cast<const uint16_t*>(row)[c]);
    else return __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(row)[c]) << 16);
}

// Dequantises the 32 elements of sub-block sb of a row into v[32] (the layouts of rz::quant; blocks.h).
template <int T>
__device__ __forceinline__ void deq32(const uint8_t* row, int sb, float* v) {
    if constexpr (T == static_cast<int>(DType::F32) || T == static_cast<int>(DType::F16) || T == static_cast<int>(DType::BF16)) {
#pragma unroll
        for (int i = 0; i < 32; ++i) v[i] = plain_at<T>(row, sb * 32 + i);
    } else if constexpr (T == static_cast<int>(DType::Q8_0)) {  // {half d; int8 qs[32]}
        const uint8_t* b = row + static_cast<size_t>(sb) * 34;
        const float d = h2f(ld16(b));
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            const uint16_t w = ld16(b + 2 + 2 * i);
            v[2 * i] = d * static_cast<float>(static_cast<int8_t>(w & 0xFF));
            v[2 * i + 1] = d * static_cast<float>(static_cast<int8_t>(w >> 8));
        }
    } else if constexpr (T == static_cast<int>(DType::Q4_0)) {  // {half d; qs[16]}: j low nibble, j + 16 high; (q - 8) d
        const uint8_t* b = row + static_cast<size_t>(sb) * 18;
        const float d = h2f(ld16(b));
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            const int q = b[2 + i];
            v[i] = d * static_cast<float>((q & 0xF) - 8);
            v[i + 16] = d * static_cast<float>((q >> 4) - 8);
        }
    } else if constexpr (T == static_cast<int>(DType::Q4_K)) {  // {half d, dmin; scales[12]; qs[128]}
        const uint8_t* b = row + static_cast<size_t>(sb >> 3) * 144;
        const int s = sb & 7;
        float sc, m;
        k_scale_min(b + 4, s, sc, m);
        const float a = h2f(ld16(b)) * sc, c = h2f(ld16(b + 2)) * m;
        const uint4* q = reinterpret_cast<const uint4*>(b + 16 + 32 * (s >> 1));
        const uint4 q0 = q[0], q1 = q[1];
        const uint32_t w[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
        const int sh = (s & 1) * 4;
#pragma unroll
        for (int i = 0; i < 32; ++i) v[i] = a * static_cast<float>((w[i >> 2] >> (8 * (i & 3) + sh)) & 0xF) - c;
    } else if constexpr (T == static_cast<int>(DType::Q5_K)) {  // {half d, dmin; scales[12]; qh[32]; qs[128]}
        const uint8_t* b = row + static_cast<size_t>(sb >> 3) * 176;
        const int s = sb & 7;
        float sc, m;
        k_scale_min(b + 4, s, sc, m);
        const float a = h2f(ld16(b)) * sc, c = h2f(ld16(b + 2)) * m;
        const uint8_t* qh = b + 16;
        const uint8_t* qs = b + 48 + 32 * (s >> 1);
        const int sh = (s & 1) * 4;
#pragma unroll
        for (int i = 0; i < 32; ++i) v[i] = a * static_cast<float>(((qs[i] >> sh) & 0xF) | (((qh[i] >> s) & 1) << 4)) - c;
    } else {  // Q6_K: {ql[128]; qh[64]; int8 scales[16]; half d}
        const uint8_t* b = row + static_cast<size_t>(sb >> 3) * 210;
        const int s = sb & 7, hh = s >> 2, r = s & 3;
        const uint8_t* ql = b + 64 * hh + 32 * (r & 1);
        const uint8_t* qh = b + 128 + 32 * hh;
        const int8_t* scl = reinterpret_cast<const int8_t*>(b + 192 + 8 * hh + 2 * r);
        const float d = h2f(ld16(b + 208));
        const float d0 = d * static_cast<float>(scl[0]), d1 = d * static_cast<float>(scl[1]);
        const int shl = (r >> 1) * 4, shh = 2 * r;
#pragma unroll
        for (int i = 0; i < 32; ++i) {
            const int q = ((ql[i] >> shl) & 0xF) | (((qh[i] >> shh) & 3) << 4);
            v[i] = (i < 16 ? d0 : d1) * static_cast<float>(q - 32);
        }
    }
}

}  // namespace rz::cuda::batch::detail
