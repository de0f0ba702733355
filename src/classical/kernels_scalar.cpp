// Portable kernels: the fallback on CPUs without AVX2, and the baseline the SIMD kernels are tested against.
#include <algorithm>
#include <cmath>

#include "classical/kernels.h"

namespace rz::classical::detail {
namespace {

float activate(float v, int act) {
    switch (act) {
        case kActRelu: return v > 0.0f ? v : 0.0f;
        case kActTanh: return std::tanh(v);
        case kActSigmoid: return 1.0f / (1.0f + std::exp(-v));
        case kActGelu: return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
        default: return v;
    }
}

void softmax_scalar(float* y, int n) {
    float mx = y[0];
    for (int i = 1; i < n; ++i) mx = std::max(mx, y[i]);
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) {
        y[i] = std::exp(y[i] - mx);
        sum += y[i];
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; ++i) y[i] *= inv;
}

void dense_scalar(const LayerView& l, const float* x, float* y) {
    for (int t0 = 0; t0 < l.n_out_pad; t0 += kTile) {
        const int width = std::min(kTile, l.n_out_pad - t0);
        const float* w = l.w + static_cast<int64_t>(t0) * l.n_in;
        float acc[kTile];
        for (int c = 0; c < width; ++c) acc[c] = l.b[t0 + c];
        for (int i = 0; i < l.n_in; ++i) {
            const float xi = x[i];
            const float* row = w + static_cast<int64_t>(i) * width;
            for (int c = 0; c < width; ++c) acc[c] += xi * row[c];
        }
        for (int c = 0; c < width; ++c) y[t0 + c] = activate(acc[c], l.act);
    }
    if (l.act == kActSoftmax) softmax_scalar(y, l.n_out);
}

void dense_batch_scalar(const LayerView& l, const float* x, int x_stride, float* y, int y_stride, int n) {
    for (int s = 0; s < n; ++s) {
        dense_scalar(l, x + static_cast<int64_t>(s) * x_stride, y + static_cast<int64_t>(s) * y_stride);
    }
}

}  // namespace

const KernelTable& scalar_kernels() {
    static const KernelTable table{"scalar", dense_scalar, dense_batch_scalar, softmax_scalar};
    return table;
}

}  // namespace rz::classical::detail
