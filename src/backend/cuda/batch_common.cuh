#pragma once
// Device helpers shared by the batched-path kernels (batch_*.cu): the block decoders and the multi-row kernels.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/quant_decode.cuh"
#include "realizar/core/dtype.h"

namespace rz::cuda::batch::detail {

// The backend's one stream, the block-size helper and the plain/half readers of common.cuh: the batched path
// runs in stream order with the decode kernels.
using rz::cuda::detail::blocks_for;
using rz::cuda::detail::g32_block;
using rz::cuda::detail::G32Block;
using rz::cuda::detail::h2f;
using rz::cuda::detail::ld16;
using rz::cuda::detail::plain_at;
using rz::cuda::detail::q6_block;
using rz::cuda::detail::Q6Block;
using rz::cuda::detail::q8_block;
using rz::cuda::detail::Q8Block;
using rz::cuda::detail::stream;

// Multi-vector mat-vec (batch_mmv.cu): Y[t, 0:rows] = beta Y + W X[t]^T for t < n, W read once per kMmvTokens
// tokens; X f16 (f16x) or f32, row stride cols (a multiple of 32).
constexpr int kMmvTokens = 8;
void mmv(DType t, const void* W, size_t rb, int rows, int cols, const void* X, bool f16x, int n, float beta, float* Y, int ldy);

// Tensor-core prefill attention (batch_attention_tc.cu) for an f16 cache and f16 output, head_dim 64, 80, 96, 128;
// false (nothing launched) for other head sizes. Tiles of at most attention_tc_rows() / min(G, that) rows. With
// scratch (scratch_floats floats; n = the batch's rows) the keys of few tiles are split over several blocks.
int attention_tc_rows();
bool attention_tc(const float* q, int ldq, const void* kc, const void* vc, int n_head, int n_head_kv, int hd, int n_ctx, const int32_t* seq,
                  const int32_t* pos, const int32_t* tiles, int n_tiles, int n, float scale, int n_swa, void* out16, float* scratch,
                  size_t scratch_floats);

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

// Dequantises elements [8 g, 8 g + 8) of a row of ng such groups into v[8] (the layouts of rz::quant, blocks.h,
// except the device layouts of Q6_K, q6_block, and of Q8_0, Q4_0, IQ4_NL and Q5_0, g32_block). Eight consecutive
// elements per thread let a warp store 512 contiguous bytes of f16 with one 16-byte store per lane. Rows are a
// multiple of 32 elements; F32/F16/BF16/Q4_K/Q5_K rows and the device layouts start 16-byte aligned (the file
// layouts of quant_decode.cuh: 2-byte).
template <int T>
__device__ __forceinline__ void deq8(const uint8_t* row, int g, int ng, float* v) {
    if constexpr (T == static_cast<int>(DType::F32)) {
        const float4* p = reinterpret_cast<const float4*>(row) + 2 * g;
        const float4 a = p[0], b = p[1];
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else if constexpr (T == static_cast<int>(DType::F16) || T == static_cast<int>(DType::BF16)) {
        const uint4 u = reinterpret_cast<const uint4*>(row)[g];
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if constexpr (T == static_cast<int>(DType::F16)) {
                v[2 * j] = h2f(static_cast<uint16_t>(w[j] & 0xFFFFu));
                v[2 * j + 1] = h2f(static_cast<uint16_t>(w[j] >> 16));
            } else {
                v[2 * j] = __uint_as_float(w[j] << 16);
                v[2 * j + 1] = __uint_as_float(w[j] & 0xFFFF0000u);
            }
        }
    } else if constexpr (T == static_cast<int>(DType::Q8_0)) {  // device layout (q8_block)
        const Q8Block q = q8_block(row, ng >> 2, g >> 2);
        const uint2 u = *reinterpret_cast<const uint2*>(q.qs + 8 * (g & 3));
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = q.d * static_cast<float>(static_cast<int8_t>(((i < 4 ? u.x : u.y) >> (8 * (i & 3))) & 0xFFu));
    } else if constexpr (T == static_cast<int>(DType::Q4_0)) {  // device layout (g32_block): j low nibble of qs[j], j + 16 high; (q - 8) d
        const G32Block q = g32_block<18>(row, ng >> 2, g >> 2);
        const int k = g & 3, sh = (k >> 1) * 4;
        const uint2 u = *reinterpret_cast<const uint2*>(q.qs + 8 * (k & 1));
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = q.d * static_cast<float>(static_cast<int>(((i < 4 ? u.x : u.y) >> (8 * (i & 3) + sh)) & 0xFu) - 8);
    } else if constexpr (T == static_cast<int>(DType::Q4_K) || T == static_cast<int>(DType::Q5_K)) {
        // Q4_K {half d, dmin; scales[12]; qs[128]}, Q5_K {half d, dmin; scales[12]; qh[32]; qs[128]}: element i of
        // sub-block s is nibble (s & 1) of qs[32 (s / 2) + i] (+ 16 * bit s of qh[i] for Q5_K), times d * scale_s - dmin * min_s.
        constexpr bool k5 = T == static_cast<int>(DType::Q5_K);
        const uint8_t* b = row + static_cast<size_t>(g >> 5) * (k5 ? 176 : 144);
        const int e = (g & 31) * 8, s = e >> 5, i0 = e & 31, sh = (s & 1) * 4;
        float sc, m;
        k_scale_min(b + 4, s, sc, m);
        const float a = h2f(ld16(b)) * sc, c = h2f(ld16(b + 2)) * m;
        const uint2 q = *reinterpret_cast<const uint2*>(b + (k5 ? 48 : 16) + 32 * (s >> 1) + i0);
        uint2 h = make_uint2(0u, 0u);
        if constexpr (k5) h = *reinterpret_cast<const uint2*>(b + 16 + i0);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const uint32_t qw = i < 4 ? q.x : q.y, hw = i < 4 ? h.x : h.y;
            const int bits = 8 * (i & 3);
            int qi = static_cast<int>((qw >> (bits + sh)) & 0xF);
            if constexpr (k5) qi |= static_cast<int>(((hw >> (bits + s)) & 1u) << 4);
            v[i] = a * static_cast<float>(qi) - c;
        }
    } else if constexpr (rz::cuda::detail::is_extra_type(T)) {  // Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, IQ4_XS
        rz::cuda::detail::deq_extra<T, 8>(row, ng >> 2, 8 * g, v);
    } else {  // Q6_K (device layout, q6_block): sub-block s = 4 hh + r, element i: nibble (r / 2) of
              // ql[64 hh + 32 (r % 2) + i] | 2 bits (2 r) of qh[32 hh + i] << 4, minus 32, times d * scales[8 hh + 2 r + i / 16]
        const Q6Block q = q6_block(row, ng >> 5, g >> 5);
        const int e = (g & 31) * 8, s = e >> 5, i0 = e & 31, hh = s >> 2, r = s & 3;
        const uint2 l = *reinterpret_cast<const uint2*>(q.ql + 64 * hh + 32 * (r & 1) + i0);
        const uint2 hb = *reinterpret_cast<const uint2*>(q.qh + 32 * hh + i0);
        const float d = q.d * static_cast<float>(q.sc[8 * hh + 2 * r + (i0 >> 4)]);
        const int shl = (r >> 1) * 4, shh = 2 * r;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const uint32_t lw = i < 4 ? l.x : l.y, hw = i < 4 ? hb.x : hb.y;
            const int bits = 8 * (i & 3);
            const int qv = static_cast<int>((lw >> (bits + shl)) & 0xF) | static_cast<int>(((hw >> (bits + shh)) & 3) << 4);
            v[i] = d * static_cast<float>(qv - 32);
        }
    }
}

}  // namespace rz::cuda::batch::detail
