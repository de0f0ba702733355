// Kernels for the non-llama parts of other architectures (arch.h). Simple and exact rather than fused: these
// models are small or rare on the GPU path; the llama block has the tuned kernels.
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/arch.h"

namespace rz::cuda {
namespace {

// Block-wide sum of a double (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ double block_sum(double v) {
    __shared__ double red[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    __syncthreads();  // red may still be read by a previous call
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    double t = 0.0;
    for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) t += red[i];
    return t;
}

__global__ void layer_norm_kernel(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b, int n, float eps,
                                  float* __restrict__ out) {
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    const double mean = block_sum(s) / n;
    double v = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) v += (x[i] - mean) * (x[i] - mean);
    const double scale = 1.0 / sqrt(block_sum(v) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        double o = (x[i] - mean) * scale;
        if (w) o *= w[i];
        if (b) o += b[i];
        out[i] = static_cast<float>(o);
    }
}

// One block per head.
__global__ void head_rms_norm_kernel(float* x, const float* __restrict__ w, int hd, float eps) {
    float* h = x + static_cast<size_t>(blockIdx.x) * hd;
    double s = 0.0;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) s += static_cast<double>(h[i]) * h[i];
    const double scale = 1.0 / sqrt(block_sum(s) / hd + eps);
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        const double o = h[i] * scale;
        h[i] = static_cast<float>(w ? o * w[i] : o);
    }
}

__device__ __forceinline__ float act1(float x, int a) {
    switch (a) {
        case static_cast<int>(Act::kSilu): return x / (1.0f + expf(-x));
        case static_cast<int>(Act::kGeluTanh): return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        case static_cast<int>(Act::kGeluErf): return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
        case static_cast<int>(Act::kRelu): return x > 0.0f ? x : 0.0f;
        default: return x;
    }
}

__global__ void add_kernel(float* x, const float* __restrict__ y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

__global__ void gated_kernel(const float* gate, const float* __restrict__ up, int n, int act, float* out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = act1(gate[i], act) * (up ? up[i] : 1.0f);
}

}  // namespace

void layer_norm(const float* x, const float* w, const float* b, int n, float eps, float* out) {
    layer_norm_kernel<<<1, 1024, 0, detail::stream()>>>(x, w, b, n, eps, out);
}

void head_rms_norm(float* x, const float* w, int n_heads, int hd, float eps) {
    head_rms_norm_kernel<<<n_heads, 128, 0, detail::stream()>>>(x, w, hd, eps);
}

void add(float* x, const float* y, int n) { add_kernel<<<detail::blocks_for(n, 256), 256, 0, detail::stream()>>>(x, y, n); }

void activate(float* x, int n, Act act) {
    gated_kernel<<<detail::blocks_for(n, 256), 256, 0, detail::stream()>>>(x, nullptr, n, static_cast<int>(act), x);
}

void gated_act(const float* gate, const float* up, int n, Act act, float* out) {
    gated_kernel<<<detail::blocks_for(n, 256), 256, 0, detail::stream()>>>(gate, up, n, static_cast<int>(act), out);
}

}  // namespace rz::cuda
