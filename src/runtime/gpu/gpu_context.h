#pragma once
// The CUDA Context (every architecture of the CPU runtime but sliding-window attention; docs/cuda.md), and
// partial offload (n_gpu_layers < n_layer: the first layers on the GPU, the rest on the CPU).
// create_gpu_context() is always declared; without RZ_HAVE_CUDA it returns an "unsupported" error.
#include <memory>

#include "realizar/runtime/context.h"

namespace rz::runtime {

Result<std::unique_ptr<Context>> create_gpu_context(std::shared_ptr<const Model> model, const ContextOptions& opts);

}  // namespace rz::runtime
