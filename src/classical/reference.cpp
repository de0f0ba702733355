// The double-precision oracle: a direct transcription of the model definition, no packing, no SIMD.
#include <algorithm>
#include <cmath>

#include "realizar/classical/model.h"

namespace rz::classical {
namespace {

double activate(double v, Activation a) {
    switch (a) {
        case Activation::kRelu: return v > 0.0 ? v : 0.0;
        case Activation::kTanh: return std::tanh(v);
        case Activation::kSigmoid: return 1.0 / (1.0 + std::exp(-v));
        case Activation::kGelu: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
        case Activation::kIdentity: return v;
    }
    return v;
}

}  // namespace

std::vector<double> reference_forward(const ModelSpec& spec, std::span<const double> x) {
    RZ_ASSERT(!spec.layers.empty() && static_cast<int64_t>(x.size()) == spec.layers.front().n_in);
    std::vector<double> cur(x.begin(), x.end());
    for (size_t il = 0; il < spec.layers.size(); ++il) {
        const DenseWeights& l = spec.layers[il];
        std::vector<double> next(static_cast<size_t>(l.n_out));
        for (int64_t o = 0; o < l.n_out; ++o) {
            double acc = l.bias[static_cast<size_t>(o)];
            for (int64_t i = 0; i < l.n_in; ++i) acc += static_cast<double>(l.weight[static_cast<size_t>(o * l.n_in + i)]) * cur[static_cast<size_t>(i)];
            next[static_cast<size_t>(o)] = il + 1 < spec.layers.size() ? activate(acc, spec.activation) : acc;
        }
        cur = std::move(next);
    }
    switch (spec.output) {
        case OutputTransform::kSoftmax: {
            const double mx = *std::max_element(cur.begin(), cur.end());
            double sum = 0.0;
            for (double& v : cur) sum += (v = std::exp(v - mx));
            for (double& v : cur) v /= sum;
            break;
        }
        case OutputTransform::kSigmoid:
            for (double& v : cur) v = 1.0 / (1.0 + std::exp(-v));
            break;
        case OutputTransform::kIdentity: break;
    }
    return cur;
}

}  // namespace rz::classical
