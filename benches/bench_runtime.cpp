// Runtime throughput on a synthetic model with TinyLlama-1.1B's shape (random weights; speed does not depend
// on the values): prompt processing of 512 tokens (pp512) and generation of 128 tokens one at a time
// (tg128), in Q4_K_M and Q8_0, 2 threads -- llama-bench's pp512 / tg128. llama.cpp 0a50d99 on this machine
// kind: Q4_K_M 177.9 / 64.2 tok/s, Q8_0 136.6 / 39.0 tok/s.
//
// Models are written once to $RZ_BENCH_DIR (default /tmp/rz-bench). RZ_BENCH_THREADS overrides 2 threads.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "realizar/model/synthetic.h"
#include "realizar/runtime/context.h"

namespace {

using namespace rz;

std::string bench_dir() {
    const char* d = std::getenv("RZ_BENCH_DIR");
    return d ? d : "/tmp/rz-bench";
}

int bench_threads() {
    const char* t = std::getenv("RZ_BENCH_THREADS");
    return t ? std::atoi(t) : 2;
}

std::shared_ptr<runtime::Model> synthetic(const std::string& ftype) {
    static std::map<std::string, std::shared_ptr<runtime::Model>> cache;
    if (auto it = cache.find(ftype); it != cache.end()) return it->second;
    std::filesystem::create_directories(bench_dir());
    const std::string path = bench_dir() + "/tinyllama-synthetic-" + ftype + ".gguf";
    if (!std::filesystem::exists(path)) {
        model::SyntheticSpec spec;
        spec.ftype = ftype;
        Status st = model::write_synthetic_gguf(path, spec);
        if (!st.ok()) {
            std::fprintf(stderr, "synthetic model: %s\n", st.to_string().c_str());
            return nullptr;
        }
    }
    auto m = runtime::Model::load(path);
    if (!m.ok()) {
        std::fprintf(stderr, "%s\n", m.status().to_string().c_str());
        return nullptr;
    }
    return cache[ftype] = *m;
}

std::unique_ptr<runtime::Context> context(const std::shared_ptr<runtime::Model>& m, int n_ctx) {
    runtime::ContextOptions o;
    o.n_ctx = n_ctx;
    o.n_batch = 512;
    o.n_threads = bench_threads();
    auto c = runtime::Context::create(m, o);
    return c.ok() ? std::move(*c) : nullptr;
}

void BM_pp512(benchmark::State& state, const std::string& ftype) {
    auto m = synthetic(ftype);
    if (!m) return state.SkipWithError("no model");
    auto ctx = context(m, 1024);
    runtime::Batch b;
    for (int t = 0; t < 512; ++t) b.add((t * 7919) % m->info().n_vocab, t, 0, t == 511);
    for (auto _ : state) {
        ctx->seq_clear(0);
        Status st = ctx->decode(b);
        if (!st.ok()) return state.SkipWithError(st.to_string().c_str());
    }
    state.counters["tok/s"] = benchmark::Counter(512.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    // Peak RSS of the process against what it must hold: the weights (mapped file) + the KV cache in use.
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double kv_mb = 512.0 * m->info().n_layer * 2 * (m->info().n_embd / m->info().n_head) * m->info().n_head_kv * 2 / 1048576.0;
    state.counters["peak_rss_MB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
    state.counters["file+kv_MB"] = static_cast<double>(m->info().weight_bytes) / 1048576.0 + kv_mb;
}

void BM_tg128(benchmark::State& state, const std::string& ftype) {
    auto m = synthetic(ftype);
    if (!m) return state.SkipWithError("no model");
    auto ctx = context(m, 1024);
    runtime::Batch b;
    for (auto _ : state) {
        ctx->seq_clear(0);
        for (int t = 0; t < 128; ++t) {
            b.clear();
            b.add((t * 7919 + 1) % m->info().n_vocab, t, 0, true);
            Status st = ctx->decode(b);
            if (!st.ok()) return state.SkipWithError(st.to_string().c_str());
        }
    }
    state.counters["tok/s"] = benchmark::Counter(128.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Decode with several sequences in one batch (the server's continuous batching): tokens/s over all.
void BM_tg_batched(benchmark::State& state, const std::string& ftype) {
    const int n_seq = static_cast<int>(state.range(0));
    auto m = synthetic(ftype);
    if (!m) return state.SkipWithError("no model");
    runtime::ContextOptions o;
    o.n_ctx = 256;
    o.n_seq_max = n_seq;
    o.n_threads = bench_threads();
    auto c = runtime::Context::create(m, o);
    if (!c.ok()) return state.SkipWithError(c.status().to_string().c_str());
    auto& ctx = *c;
    runtime::Batch b;
    for (auto _ : state) {
        for (int s = 0; s < n_seq; ++s) ctx->seq_clear(s);
        for (int t = 0; t < 32; ++t) {
            b.clear();
            for (int s = 0; s < n_seq; ++s) b.add((t * 31 + s * 7) % m->info().n_vocab, t, s, true);
            Status st = ctx->decode(b);
            if (!st.ok()) return state.SkipWithError(st.to_string().c_str());
        }
    }
    state.counters["tok/s"] = benchmark::Counter(32.0 * n_seq * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_pp512, Q4_K_M, std::string("Q4_K_M"))->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_tg128, Q4_K_M, std::string("Q4_K_M"))->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_pp512, Q8_0, std::string("Q8_0"))->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_tg128, Q8_0, std::string("Q8_0"))->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_tg_batched, Q4_K_M, std::string("Q4_K_M"))->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
