#pragma once
// The CUDA Context (llama family: RMSNorm, RoPE, separate q/k/v with optional biases, SwiGLU FFN).
// create_gpu_context() is always declared; without RZ_HAVE_CUDA it returns an "unsupported" error.
#include <memory>

#include "realizar/runtime/context.h"

namespace rz::runtime {

Result<std::unique_ptr<Context>> create_gpu_context(std::shared_ptr<const Model> model, const ContextOptions& opts);

}  // namespace rz::runtime
