// Kernels for the non-llama parts of other architectures (arch.h). Simple and exact rather than fused: these
// models are small or rare on the GPU path; the llama block has the tuned kernels.
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/act.cuh"
#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/arch.h"

namespace rz::cuda {
namespace {

using detail::block_sum;

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

using detail::act1;

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
