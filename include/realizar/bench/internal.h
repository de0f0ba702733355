#pragma once
// In-process benchmarks (`realizar bench MODEL`), llama-bench style:
//   ppN   prompt processing: N random prompt tokens decoded in batches of --batch into an empty cache;
//         sample = N / wall time (tok/s).
//   ttftN time to first token of an N-token prompt: the same prefill plus greedy selection of the first
//         token from its logits (ms), measured in the same runs as ppN.
//   tgN   text generation: N tokens decoded one at a time from an empty cache, each fed back (greedy);
//         sample = N / wall time (tok/s).
//   With n_depth D > 0 (llama-bench's -d) every run starts with D random tokens in the cache (decoded once, then
//   each run's own tokens cut off again; not timed), and the tests, named "ppN @ dD", "ttftN @ dD", "tgN @ dD",
//   run at positions D.. (prompt processing and generation with a long context already in the cache).
//   With n_seq S > 1 the tg test generates S sequences together, as a server's continuous batching does (one
//   decode call a step with a token of each; llama-batched-bench's -npl): "tgN xS", sample = S N / wall time,
//   each sequence with its own D depth tokens (a copy of the first's: seq_copy, untimed).
// Each is repeated under RepeatOptions (warm-up discarded, CV stopping). Peak RSS is the process's.
//   Classical APR models: predict1 (single-sample latency, ms per prediction, and predictions/s) and
//   predictB (batch of B samples through predict_batch; predictions/s).
#include <cstdint>
#include <functional>
#include <string>

#include "realizar/bench/report.h"
#include "realizar/bench/stats.h"

namespace rz::bench {

struct LlmBenchOptions {
    std::string model;      // model path (GGUF, APR, llama2.c, HF folder)
    std::string synthetic;  // "SHAPE:TYPE", e.g. "tinyllama-1.1b:q4_k_m": written to a temp file, deleted after
    int n_prompt = 512;     // 0 skips pp/ttft
    int n_gen = 128;        // 0 skips tg
    int n_depth = 0;        // tokens already in the cache when each test starts (0: an empty cache)
    int n_seq = 1;          // sequences generated together in the tg test (1..256)
    int threads = 0;        // 0 = physical cores
    int batch = 512;        // prompt tokens per decode() call
    int n_gpu_layers = 0;   // CUDA backend: the first N layers on the device (-1: all)
    RepeatOptions repeat;
    uint64_t seed = 42;     // random prompt tokens
    std::function<void(const std::string&)> log;  // progress lines ("pp512 run 2: 51.3 tok/s"); may be empty
};

Result<Report> run_llm_bench(const LlmBenchOptions& opts);

struct ClassicalBenchOptions {
    std::string model;  // classical APR file
    int batch = 64;     // samples per predict_batch call of the batch test
    RepeatOptions repeat;
    double min_run_seconds = 0.02;  // each run repeats predictions until at least this long
    std::function<void(const std::string&)> log;
};

Result<Report> run_classical_bench(const ClassicalBenchOptions& opts);

// True when `path` is a classical (non-LLM) APR model.
bool is_classical_model(const std::string& path);

}  // namespace rz::bench
