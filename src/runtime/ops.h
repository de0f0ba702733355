#pragma once
// Small f32 building blocks of the forward pass (one row at a time; callers parallelise over rows).
// These are the reference path: plain loops, sums in double where a float64 reference is the target.
#include <cstdint>

#include "realizar/model/arch.h"

namespace rz::runtime::ops {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]      (w may be null: no scale)
void rms_norm(const float* x, const float* w, int n, float eps, float* out);
// out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i]
void layer_norm(const float* x, const float* w, const float* b, int n, float eps, float* out);

// Rotates the first n_rot dims of each of n_heads heads (stride head_dim) in place. cs holds n_rot/2
// (cos, sin) pairs for this token's position. NORM pairs (2i, 2i+1); NEOX pairs (i, i + n_rot/2).
void rope(float* x, int n_heads, int head_dim, int n_rot, const float* cs, model::RopeType type);
// cs[2i] = cos(pos * inv_freq[i]), cs[2i+1] = sin(...), computed in double.
void rope_cos_sin(int32_t pos, const double* inv_freq, int n_half, float* cs);

void add(float* x, const float* y, int64_t n);         // x += y
void add_bias(float* x, const float* b, int64_t n);    // alias of add, for readability
void activate(float* x, int64_t n, model::Activation act);
// out[i] = act(gate[i]) * up[i]
void gated(const float* gate, const float* up, int64_t n, model::Activation act, float* out);

}  // namespace rz::runtime::ops
