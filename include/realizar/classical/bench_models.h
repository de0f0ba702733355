#pragma once
// The three benchmark networks (one hidden layer, ReLU, softmax, f32), with deterministic weights so the
// benchmark, examples/make_bench_models.cpp and the tests all see the same models:
//   iris   4 -> 16 -> 3        (131 parameters)
//   mnist  784 -> 128 -> 10    (101,770 parameters)
//   1m     1000 -> 1000 -> 10  (1,011,010 parameters)
// Weights: uniform in +-1/sqrt(n_in) from a splitmix64 stream seeded by the model's name.
#include <cstdint>
#include <string_view>
#include <vector>

#include "realizar/classical/model.h"

namespace rz::classical {

enum class BenchModel { kIris, kMnist, k1M };
inline constexpr BenchModel kBenchModels[] = {BenchModel::kIris, BenchModel::kMnist, BenchModel::k1M};

std::string_view bench_model_name(BenchModel m);  // "iris", "mnist", "1m"
ModelSpec make_bench_spec(BenchModel m);
// n samples of deterministic inputs in [-1, 1) (iris: realistic flower measurements), [n, n_inputs].
std::vector<float> make_bench_inputs(BenchModel m, int64_t n, uint64_t seed = 1);

}  // namespace rz::classical
