// Sampler cost per token (docs/perf/generation.md): the greedy fast path (argmax) against the scalar compare
// chain it replaced, and the default chain (top-k 40 -> top-p -> min-p -> temperature -> draw), for a
// Llama-2-sized (32000) and a Qwen-sized (151936) vocabulary. Logits: a fixed pseudo-random row.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "realizar/runtime/sampler.h"

namespace {

std::vector<float> row(int n) {
    std::vector<float> v(static_cast<size_t>(n));
    uint64_t s = 42;
    for (float& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x = static_cast<float>(static_cast<int64_t>(s >> 40) % 20000) / 1000.0f - 10.0f;
    }
    return v;
}

// The previous argmax: one scalar compare chain (the reference the fast path is tested against).
int32_t argmax_scalar(const std::vector<float>& v) {
    size_t best = 0;
    for (size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[best]) best = i;
    return static_cast<int32_t>(best);
}

void BM_ArgmaxScalar(benchmark::State& st) {
    const auto v = row(static_cast<int>(st.range(0)));
    for (auto _ : st) benchmark::DoNotOptimize(argmax_scalar(v));
}

void BM_Argmax(benchmark::State& st) {
    const auto v = row(static_cast<int>(st.range(0)));
    for (auto _ : st) benchmark::DoNotOptimize(rz::runtime::argmax(v));
}

void BM_SampleGreedy(benchmark::State& st) {
    const int n = static_cast<int>(st.range(0));
    const auto v = row(n);
    rz::runtime::SamplingParams p;
    p.temperature = 0.0f;
    auto s = rz::runtime::Sampler::create(p, n);
    if (!s.ok()) return st.SkipWithError(s.status().message().c_str());
    for (auto _ : st) benchmark::DoNotOptimize((*s)->sample(v));
}

void BM_SampleDefaults(benchmark::State& st) {
    const int n = static_cast<int>(st.range(0));
    const auto v = row(n);
    rz::runtime::SamplingParams p;
    p.seed = 7;
    auto s = rz::runtime::Sampler::create(p, n);
    if (!s.ok()) return st.SkipWithError(s.status().message().c_str());
    for (auto _ : st) benchmark::DoNotOptimize((*s)->sample(v));
}

}  // namespace

BENCHMARK(BM_ArgmaxScalar)->Arg(32000)->Arg(151936)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Argmax)->Arg(32000)->Arg(151936)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SampleGreedy)->Arg(32000)->Arg(151936)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SampleDefaults)->Arg(32000)->Arg(151936)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
