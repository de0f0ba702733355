// Classical APR models: single-sample latency and batched throughput, one thread, for the three benchmark
// networks (iris 4-16-3, mnist 784-128-10, 1m 1000-1000-10) on every ISA this CPU runs.
//   build/<dir>/benches/bench_classical --benchmark_filter=Single
// Goals (issue 10, one thread): iris <= 50 ns, mnist <= 30 us, 1m <= 200 us per sample.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "realizar/classical/bench_models.h"
#include "realizar/classical/model.h"

namespace rz::classical {
namespace {

// Inputs cycle through 64 distinct samples so branch predictors do not learn one input.
constexpr int64_t kDistinctInputs = 64;

void bm_single(benchmark::State& state, BenchModel which, Isa isa) {
    auto model = ClassicalModel::create(make_bench_spec(which), isa);
    if (!model.ok()) {
        state.SkipWithError(model.status().to_string().c_str());
        return;
    }
    Workspace ws = model->make_workspace();
    const std::vector<float> x = make_bench_inputs(which, kDistinctInputs);
    const auto n_in = static_cast<size_t>(model->n_inputs());
    std::vector<float> out(static_cast<size_t>(model->n_outputs()));
    size_t i = 0;
    for (auto _ : state) {
        const std::span<const float> sample(x.data() + i * n_in, n_in);
        Status s = model->predict(sample, out, ws);
        benchmark::DoNotOptimize(out.data());
        benchmark::DoNotOptimize(s);
        i = (i + 1) % kDistinctInputs;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["params"] = static_cast<double>(model->n_parameters());
}

void bm_batch(benchmark::State& state, BenchModel which, Isa isa) {
    const int64_t n = state.range(0);
    auto model = ClassicalModel::create(make_bench_spec(which), isa);
    if (!model.ok()) {
        state.SkipWithError(model.status().to_string().c_str());
        return;
    }
    Workspace ws = model->make_workspace();
    const std::vector<float> x = make_bench_inputs(which, n);
    std::vector<float> out(static_cast<size_t>(n * model->n_outputs()));
    for (auto _ : state) {
        Status s = model->predict_batch(x, n, out, ws);
        benchmark::DoNotOptimize(out.data());
        benchmark::DoNotOptimize(s);
    }
    state.SetItemsProcessed(state.iterations() * n);
}

// The f64 reference on the same inputs: the "straightforward" baseline the kernels are measured against.
void bm_reference(benchmark::State& state, BenchModel which) {
    const ModelSpec spec = make_bench_spec(which);
    const std::vector<float> xf = make_bench_inputs(which, 1);
    const std::vector<double> x(xf.begin(), xf.end());
    for (auto _ : state) {
        std::vector<double> y = reference_forward(spec, x);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetItemsProcessed(state.iterations());
}

int register_all() {
    for (BenchModel m : kBenchModels) {
        const std::string name(bench_model_name(m));
        for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
            if (!isa_supported(isa)) continue;
            const std::string tag = name + "/" + std::string(isa_name(isa));
            benchmark::RegisterBenchmark(("Single/" + tag).c_str(), bm_single, m, isa);
            benchmark::RegisterBenchmark(("Batch/" + tag).c_str(), bm_batch, m, isa)->Arg(64)->Arg(256);
        }
        benchmark::RegisterBenchmark(("Reference/" + name + "/f64").c_str(), bm_reference, m);
    }
    return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace rz::classical

BENCHMARK_MAIN();
