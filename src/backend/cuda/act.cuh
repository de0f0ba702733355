#pragma once
// The activations of the non-llama blocks (Act in arch.h), with the formulas of ops.cpp's scalar act1; shared by
// the one-token kernels (arch_kernels.cu) and the batched ones (batch_arch.cu). Internal to src/backend/cuda.
#include <cuda_runtime.h>

#include <cmath>

#include "realizar/backend/cuda/arch.h"

namespace rz::cuda::detail {

__device__ __forceinline__ float act1(float x, int a) {
    switch (a) {
        case static_cast<int>(Act::kSilu): return x / (1.0f + expf(-x));
        case static_cast<int>(Act::kGeluTanh): return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        case static_cast<int>(Act::kGeluErf): return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
        case static_cast<int>(Act::kRelu): return x > 0.0f ? x : 0.0f;
        default: return x;
    }
}

}  // namespace rz::cuda::detail
