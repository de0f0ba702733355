#pragma once
// The backend's one stream (defined in kernels.cu): every kernel file launches on it so a decode step stays
// one ordered sequence and can be captured as a CUDA graph.
#include <cuda_runtime.h>

namespace rz::cuda::detail {
cudaStream_t stream();
}
