// Deterministic benchmark networks (see bench_models.h).
#include "realizar/classical/bench_models.h"

#include <cmath>

namespace rz::classical {
namespace {

// splitmix64: tiny, portable, and identical on every platform (std distributions are not).
struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1), 24 bits
};

uint64_t seed_of(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
    for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
    return h;
}

std::vector<int64_t> widths(BenchModel m) {
    switch (m) {
        case BenchModel::kIris: return {4, 16, 3};
        case BenchModel::kMnist: return {784, 128, 10};
        case BenchModel::k1M: return {1000, 1000, 10};
    }
    return {};
}

}  // namespace

std::string_view bench_model_name(BenchModel m) {
    switch (m) {
        case BenchModel::kIris: return "iris";
        case BenchModel::kMnist: return "mnist";
        case BenchModel::k1M: return "1m";
    }
    return "?";
}

ModelSpec make_bench_spec(BenchModel m) {
    ModelSpec spec;
    spec.type = ModelType::kMlp;
    spec.name = std::string("bench-") + std::string(bench_model_name(m));
    spec.activation = Activation::kRelu;
    spec.output = OutputTransform::kSoftmax;
    if (m == BenchModel::kIris) spec.labels = {"setosa", "versicolor", "virginica"};
    SplitMix64 rng{seed_of(spec.name)};
    const std::vector<int64_t> w = widths(m);
    for (size_t il = 0; il + 1 < w.size(); ++il) {
        DenseWeights l;
        l.n_in = w[il];
        l.n_out = w[il + 1];
        const float a = 1.0f / std::sqrt(static_cast<float>(l.n_in));
        l.weight.resize(static_cast<size_t>(l.n_out * l.n_in));
        l.bias.resize(static_cast<size_t>(l.n_out));
        for (float& v : l.weight) v = (2.0f * rng.uniform() - 1.0f) * a;
        for (float& v : l.bias) v = (2.0f * rng.uniform() - 1.0f) * a;
        spec.layers.push_back(std::move(l));
    }
    return spec;
}

std::vector<float> make_bench_inputs(BenchModel m, int64_t n, uint64_t seed) {
    const int64_t n_in = widths(m).front();
    SplitMix64 rng{seed_of(bench_model_name(m)) ^ seed};
    std::vector<float> x(static_cast<size_t>(n * n_in));
    for (size_t i = 0; i < x.size(); ++i) {
        const float u = rng.uniform();
        // Iris: sepal/petal lengths in cm (roughly 0.1 .. 8); others: [-1, 1).
        x[i] = m == BenchModel::kIris ? 0.1f + 7.8f * u : 2.0f * u - 1.0f;
    }
    return x;
}

}  // namespace rz::classical
