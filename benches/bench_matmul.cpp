// Decode mat-vec bandwidth and prefill mat-mat throughput of rz::cpu::matmul.
//
// BM_MemRead/threads        : plain read bandwidth (AVX2 loads, summed) over a 512 MiB buffer: the
//                             physical limit of a memory-bound mat-vec. Reported as bytes_per_second.
// BM_MemReadPf/threads      : the same with AVX-512 loads and software prefetch 8 KiB ahead (what the decode
//                             kernels do), to check that the plain loop is not itself latency-bound: compare
//                             the mat-vec with the larger of the two.
// BM_Matvec/type/threads    : y = W x for W 4096 x 14336, cycling over enough copies of W that nothing
//                             stays in L3 (page-aligned, like the start of a mapped model file);
//                             bytes_per_second = weight bytes streamed. Each call is followed by a plain
//                             read of as many bytes on the same threads: read_GBps is that read rate and
//                             vs_read = mat-vec rate / read rate, taken at the same moments (the goal's ratio).
// BM_MatvecL2/type          : the same kernels on ~512 KiB of weights (4096 columns) that stay in L2 (1 thread): their
//                             compute rate, which must exceed the DRAM rate for a mat-vec to be memory-bound.
// BM_Matmat/type/threads    : 512 tokens through TinyLlama-1.1B-shaped matrices (2048x2048, 5632x2048,
//                             2048x5632); counters report GFLOP/s (2 * rows * cols * tokens per matmul).
// Compare ratios inside one run (the machine is shared and noisy); see docs/perf/quant.md.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "realizar/backend/cpu/matmul.h"
#include "realizar/core/fp16.h"
#include "realizar/quant/quant.h"

namespace {

using rz::DType;

constexpr size_t kReadBytes = size_t{512} << 20;

__attribute__((target("avx2"))) uint64_t read_sum(const uint8_t* p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    alignas(32) uint64_t out[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), s);
    return out[0] + out[1] + out[2] + out[3];
}

__attribute__((target("avx512f"))) uint64_t read_sum_prefetch(const uint8_t* p, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        for (size_t o = 0; o < 256; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + i + o + 8192), _MM_HINT_T0);
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 64));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 128));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 192));
    }
    alignas(64) uint64_t out[8];
    _mm512_store_si512(out, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

uint8_t* read_buffer() {
    static uint8_t* buf = [] {
        auto* b = static_cast<uint8_t*>(std::aligned_alloc(64, kReadBytes));
        for (size_t i = 0; i < kReadBytes; ++i) b[i] = static_cast<uint8_t>(i * 31);
        return b;
    }();
    return buf;
}

void mem_read(benchmark::State& state, uint64_t (*fn)(const uint8_t*, size_t)) {
    const int nt = static_cast<int>(state.range(0));
    rz::ThreadPool pool(nt);
    const uint8_t* buf = read_buffer();
    std::vector<uint64_t> sums(static_cast<size_t>(nt));
    for (auto _ : state) {
        pool.run([&](int ith, int nth) {
            const size_t chunk = kReadBytes / static_cast<size_t>(nth);
            sums[static_cast<size_t>(ith)] = fn(buf + chunk * static_cast<size_t>(ith), chunk);
        });
        benchmark::DoNotOptimize(sums.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kReadBytes));
}

void BM_MemRead(benchmark::State& state) { mem_read(state, read_sum); }

void BM_MemReadPf(benchmark::State& state) {
    if (!__builtin_cpu_supports("avx512f")) {
        state.SkipWithError("no AVX-512");
        return;
    }
    mem_read(state, read_sum_prefetch);
}

// Page-aligned byte buffer (std::vector's allocation is only 16-byte aligned).
struct AlignedBytes {
    std::unique_ptr<uint8_t, decltype(&std::free)> p{nullptr, &std::free};
    size_t size = 0;
    explicit AlignedBytes(const std::vector<uint8_t>& src)
        : p(static_cast<uint8_t*>(std::aligned_alloc(4096, (src.size() + 4095) / 4096 * 4096)), &std::free), size(src.size()) {
        std::memcpy(p.get(), src.data(), src.size());
    }
    const uint8_t* data() const { return p.get(); }
};

// Weights made by quantizing Gaussian values with the reference quantizer (realistic bit patterns).
std::vector<uint8_t> make_weights(DType t, int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 0.02f);
    const size_t row_bytes = *rz::dtype_bytes(t, static_cast<uint64_t>(cols));
    std::vector<uint8_t> w(row_bytes * static_cast<size_t>(rows));
    std::vector<float> src(static_cast<size_t>(cols));
    // Quantizing 4096 rows with the K-quant search is slow; quantize 64 rows and tile them.
    const int64_t distinct = std::min<int64_t>(rows, 64);
    for (int64_t r = 0; r < distinct; ++r) {
        for (auto& v : src) v = g(rng);
        RZ_ASSERT(rz::quant::quantize_row(t, src.data(), w.data() + static_cast<size_t>(r) * row_bytes, cols).ok());
    }
    for (int64_t r = distinct; r < rows; ++r) {
        std::memcpy(w.data() + static_cast<size_t>(r) * row_bytes, w.data() + static_cast<size_t>(r % distinct) * row_bytes, row_bytes);
    }
    return w;
}

void BM_Matvec(benchmark::State& state) {
    const auto t = static_cast<DType>(state.range(0));
    const int nt = static_cast<int>(state.range(1));
    constexpr int64_t kRows = 4096, kCols = 14336;
    const size_t bytes = *rz::dtype_bytes(t, static_cast<uint64_t>(kRows * kCols));
    // Enough copies that the working set is >= 256 MiB (L3 is 32 MiB).
    const size_t copies = std::max<size_t>(2, (size_t{256} << 20) / bytes + 1);
    const std::vector<uint8_t> w0 = make_weights(t, kRows, kCols, 1);
    std::vector<AlignedBytes> ws;
    for (size_t i = 0; i < copies; ++i) ws.emplace_back(w0);
    std::vector<float> x(kCols), y(kRows);
    std::mt19937 rng(3);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : x) v = g(rng);
    rz::ThreadPool pool(nt);
    // Paired read measurement: after every mat-vec, the same threads read as many bytes (split the same way)
    // from the 512 MiB read buffer with the plain loop of BM_MemRead. On a shared machine the bandwidth
    // available changes from second to second; vs_read compares the two at the same moments.
    const uint8_t* rbuf = read_buffer();
    const size_t read_bytes = bytes / (size_t{128} * static_cast<size_t>(nt)) * 128 * static_cast<size_t>(nt);
    std::vector<uint64_t> sums(static_cast<size_t>(nt));
    size_t k = 0, roff = 0;
    double t_mv = 0, t_rd = 0;
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        const rz::Status s = rz::cpu::matmul(t, ws[k].data(), kRows, kCols, x.data(), 1, y.data(), pool);
        const auto t1 = std::chrono::steady_clock::now();
        if (!s.ok()) state.SkipWithError(s.to_string().c_str());
        benchmark::DoNotOptimize(y.data());
        k = (k + 1) % ws.size();
        pool.run([&](int ith, int nth) {
            const size_t chunk = read_bytes / static_cast<size_t>(nth);
            sums[static_cast<size_t>(ith)] = read_sum(rbuf + roff + chunk * static_cast<size_t>(ith), chunk);
        });
        benchmark::DoNotOptimize(sums.data());
        const auto t2 = std::chrono::steady_clock::now();
        roff = (roff + read_bytes) % (kReadBytes - read_bytes) / 4096 * 4096;
        const double mv = std::chrono::duration<double>(t1 - t0).count();
        t_mv += mv;
        t_rd += std::chrono::duration<double>(t2 - t1).count();
        state.SetIterationTime(mv);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
    const double n_it = static_cast<double>(state.iterations());
    state.counters["read_GBps"] = t_rd > 0 ? static_cast<double>(read_bytes) * n_it / t_rd * 1e-9 : 0.0;
    state.counters["vs_read"] = t_mv > 0 && t_rd > 0 ? (static_cast<double>(bytes) / t_mv) / (static_cast<double>(read_bytes) / t_rd) : 0.0;
    state.SetLabel(std::string(rz::dtype_name(t)));
}

void BM_MatvecL2(benchmark::State& state) {
    const auto t = static_cast<DType>(state.range(0));
    // ~512 KiB of weights (L2 is 1 MiB per core here), enough rows that the per-call activation
    // quantization stays a few percent of the time.
    constexpr int64_t kCols = 4096;
    const int64_t kRows = static_cast<int64_t>((size_t{512} << 10) / *rz::dtype_bytes(t, kCols));
    const size_t bytes = *rz::dtype_bytes(t, static_cast<uint64_t>(kRows * kCols));
    const AlignedBytes w(make_weights(t, kRows, kCols, 1));
    std::vector<float> x(kCols), y(kRows);
    std::mt19937 rng(3);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : x) v = g(rng);
    rz::ThreadPool pool(1);
    for (auto _ : state) {
        const rz::Status s = rz::cpu::matmul(t, w.data(), kRows, kCols, x.data(), 1, y.data(), pool);
        if (!s.ok()) state.SkipWithError(s.to_string().c_str());
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
    state.SetLabel(std::string(rz::dtype_name(t)));
}

// Small batches (batched decode of several sequences): W 4096 x 14336, n_tokens in {1..16}; bytes/s of
// weights per call, so a memory-bound kernel stays flat as tokens grow.
void BM_SmallBatch(benchmark::State& state) {
    const auto t = static_cast<DType>(state.range(0));
    const int64_t tokens = state.range(1);
    constexpr int64_t kRows = 4096, kCols = 14336;
    const size_t bytes = *rz::dtype_bytes(t, static_cast<uint64_t>(kRows * kCols));
    const auto w = make_weights(t, kRows, kCols, 1);
    std::vector<float> x(static_cast<size_t>(kCols * tokens)), y(static_cast<size_t>(kRows * tokens));
    std::mt19937 rng(3);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : x) v = g(rng);
    rz::ThreadPool pool(1);
    for (auto _ : state) {
        const rz::Status s = rz::cpu::matmul(t, w.data(), kRows, kCols, x.data(), tokens, y.data(), pool);
        if (!s.ok()) state.SkipWithError(s.to_string().c_str());
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
    state.SetLabel(std::string(rz::dtype_name(t)));
}

void BM_Matmat(benchmark::State& state) {
    const auto t = static_cast<DType>(state.range(0));
    const int nt = static_cast<int>(state.range(1));
    const int64_t tokens = state.range(2);
    struct Shape {
        int64_t rows, cols;
    };
    const Shape shapes[] = {{2048, 2048}, {5632, 2048}, {2048, 5632}};
    std::vector<std::vector<uint8_t>> ws;
    for (const auto& s : shapes) ws.push_back(make_weights(t, s.rows, s.cols, 7));
    std::vector<float> x(static_cast<size_t>(tokens * 5632)), y(static_cast<size_t>(tokens * 5632));
    std::mt19937 rng(3);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : x) v = g(rng);
    rz::ThreadPool pool(nt);
    double flops = 0;
    for (auto _ : state) {
        for (size_t i = 0; i < 3; ++i) {
            const rz::Status s = rz::cpu::matmul(t, ws[i].data(), shapes[i].rows, shapes[i].cols, x.data(), tokens, y.data(), pool);
            if (!s.ok()) state.SkipWithError(s.to_string().c_str());
            flops += 2.0 * static_cast<double>(shapes[i].rows * shapes[i].cols * tokens);
        }
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
    state.SetLabel(std::string(rz::dtype_name(t)));
}

// Every weight matmul of a TinyLlama-1.1B prefill of 512 tokens (22 layers: q 2048x2048, k/v 256x2048,
// o 2048x2048, gate/up 5632x2048, down 2048x5632), in the type mix llama.cpp's Q4_K_M gives it (attn_v and
// ffn_down in Q6_K on layers 0,1,4,7,10,13,16,19,20,21, Q4_K elsewhere) or all Q8_0. Reports tokens/s of
// matmul work only (attention, norms, rope excluded), to set against llama.cpp's pp512 of the whole model.
void BM_TinyLlamaPrefillMatmuls(benchmark::State& state) {
    const bool q4km = state.range(0) == 0;
    const int nt = static_cast<int>(state.range(1));
    constexpr int64_t kTokens = 512, kEmbd = 2048, kKv = 256, kFf = 5632;
    struct Mat {
        int64_t rows, cols;
        bool high;  // Q6_K in the high-precision layers of Q4_K_M
    };
    const Mat mats[] = {{kEmbd, kEmbd, false}, {kKv, kEmbd, false}, {kKv, kEmbd, true}, {kEmbd, kEmbd, false},
                        {kFf, kEmbd, false},   {kFf, kEmbd, false}, {kEmbd, kFf, true}};
    auto type_of = [&](const Mat& m, int layer) {
        if (!q4km) return DType::Q8_0;
        const bool more = layer < 2 || layer >= 19 || (layer - 2) % 3 == 2;
        return m.high && more ? DType::Q6_K : DType::Q4_K;
    };
    std::vector<std::vector<uint8_t>> w_lo, w_hi;
    for (const auto& m : mats) {
        w_lo.push_back(make_weights(q4km ? DType::Q4_K : DType::Q8_0, m.rows, m.cols, 11));
        w_hi.push_back(m.high && q4km ? make_weights(DType::Q6_K, m.rows, m.cols, 12) : std::vector<uint8_t>());
    }
    std::vector<float> x(static_cast<size_t>(kTokens * kFf)), y(static_cast<size_t>(kTokens * kFf));
    std::mt19937 rng(3);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : x) v = g(rng);
    rz::ThreadPool pool(nt);
    double flops = 0;
    for (auto _ : state) {
        for (int layer = 0; layer < 22; ++layer) {
            for (size_t i = 0; i < std::size(mats); ++i) {
                const DType t = type_of(mats[i], layer);
                const auto& w = t == DType::Q6_K ? w_hi[i] : w_lo[i];
                const rz::Status s = rz::cpu::matmul(t, w.data(), mats[i].rows, mats[i].cols, x.data(), kTokens, y.data(), pool);
                if (!s.ok()) state.SkipWithError(s.to_string().c_str());
                flops += 2.0 * static_cast<double>(mats[i].rows * mats[i].cols * kTokens);
            }
        }
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["tok_per_s"] = benchmark::Counter(static_cast<double>(kTokens), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
    state.SetLabel(q4km ? "Q4_K_M mix" : "Q8_0");
}

constexpr DType kMatvecTypes[] = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::F16, DType::BF16};

void matvec_args(benchmark::internal::Benchmark* b) {
    for (DType t : kMatvecTypes) {
        for (int nt : {1, 2}) b->Args({static_cast<int64_t>(t), nt});
    }
}

void matvec_l2_args(benchmark::internal::Benchmark* b) {
    for (DType t : kMatvecTypes) b->Arg(static_cast<int64_t>(t));
}

void matmat_args(benchmark::internal::Benchmark* b) {
    for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16}) {
        for (int nt : {1, 2}) b->Args({static_cast<int64_t>(t), nt, 512});
    }
}

BENCHMARK(BM_MemRead)->Arg(1)->Arg(2)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_MemReadPf)->Arg(1)->Arg(2)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Matvec)->Apply(matvec_args)->UseManualTime()->MinTime(0.5);
BENCHMARK(BM_MatvecL2)->Apply(matvec_l2_args)->UseRealTime()->MinTime(0.2);
BENCHMARK(BM_SmallBatch)->ArgsProduct({{static_cast<int64_t>(DType::Q4_K), static_cast<int64_t>(DType::Q8_0)}, {1, 2, 3, 4, 6, 8, 16}})
    ->UseRealTime()->MinTime(0.3);
BENCHMARK(BM_TinyLlamaPrefillMatmuls)->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})->UseRealTime()
    ->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_Matmat)->Apply(matmat_args)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
