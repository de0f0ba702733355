#pragma once
// Kernels that architectures beyond the llama block need (LayerNorm, biased/GELU FFNs, q/k norms, learned
// positions), on the backend's stream like everything in cuda.h. Plain C++ header; RZ_HAVE_CUDA builds only.
#include <cstdint>

namespace rz::cuda {

// model::Activation's values (the runtime static_asserts they agree; nvcc does not take the model headers).
enum class Act : uint8_t { kSilu, kGeluTanh, kGeluErf, kRelu };

// out = (x - mean) / sqrt(var + eps) * w + b over n elements (w, b may be null); sums in double like the CPU
// reference (ops::layer_norm). One block.
void layer_norm(const float* x, const float* w, const float* b, int n, float eps, float* out);
// x [n_heads, hd]: each head RMS-normalised in place with weight w [hd] (qwen3's q/k norm).
void head_rms_norm(float* x, const float* w, int n_heads, int hd, float eps);
void add(float* x, const float* y, int n);                                        // x += y
void activate(float* x, int n, Act act);                           // x = act(x)
void gated_act(const float* gate, const float* up, int n, Act act, float* out);  // out = act(gate) * up

}  // namespace rz::cuda
