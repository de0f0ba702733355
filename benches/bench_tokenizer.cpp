// Tokenizer throughput on WikiText-2 test (1.29 MB), one thread: MB/s of input text.
//   Encode/*        : tokenizer loaded once, encode the whole file per iteration.
//   LoadEncode/*    : load the vocabulary AND encode, per iteration (what llama.cpp's llama-tokenize timing
//                     includes: 1.16 s with the llama-2 SPM GGUF, 0.48 s with GPT-2's BPE GGUF on the
//                     reference machine).
//   Load/*          : vocabulary load alone.
#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "realizar/tokenizer/tokenizer.h"

namespace {

const std::string kShared = RZ_SHARED_DIR;

const std::string& corpus() {
    static const std::string text = [] {
        std::ifstream in(kShared + "/data/corpus/wikitext-2-raw/wiki.test.raw", std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }();
    return text;
}

struct Source {
    const char* name;
    std::string path;
};

const Source kSources[] = {
    {"llama2_spm_model", kShared + "/data/tokenizers/llama2-spm/tokenizer.model"},
    {"llama2_spm_gguf", kShared + "/data/llama.cpp-vocab/ggml-vocab-llama-spm.gguf"},
    {"llama3_bpe_json", kShared + "/data/tokenizers/llama3-hf/tokenizer.json"},
    {"gpt2_bpe_gguf", kShared + "/data/llama.cpp-vocab/ggml-vocab-gpt-2.gguf"},
    {"qwen3_bpe_json", kShared + "/data/tokenizers/qwen3-hf/tokenizer.json"},
};

std::unique_ptr<rz::tokenizer::Tokenizer> load_or_skip(benchmark::State& state, const std::string& path) {
    auto t = rz::tokenizer::Tokenizer::from_path(path);
    if (!t.ok()) {
        state.SkipWithError(t.status().to_string().c_str());
        return nullptr;
    }
    return std::move(t).value();
}

void BM_Encode(benchmark::State& state, const Source& src) {
    const std::string& text = corpus();
    if (text.empty()) return state.SkipWithError("corpus missing");
    auto tok = load_or_skip(state, src.path);
    if (!tok) return;
    size_t n_tokens = 0;
    for (auto _ : state) {
        auto ids = tok->encode(text, false, false);
        if (!ids.ok()) return state.SkipWithError(ids.status().to_string().c_str());
        n_tokens = ids->size();
        benchmark::DoNotOptimize(ids->data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["tokens"] = static_cast<double>(n_tokens);
}

void BM_LoadEncode(benchmark::State& state, const Source& src) {
    const std::string& text = corpus();
    if (text.empty()) return state.SkipWithError("corpus missing");
    for (auto _ : state) {
        auto tok = load_or_skip(state, src.path);
        if (!tok) return;
        auto ids = tok->encode(text, false, false);
        benchmark::DoNotOptimize(ids.ok());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_Load(benchmark::State& state, const Source& src) {
    for (auto _ : state) {
        auto tok = load_or_skip(state, src.path);
        if (!tok) return;
        benchmark::DoNotOptimize(tok.get());
    }
}

void BM_Decode(benchmark::State& state, const Source& src) {
    const std::string& text = corpus();
    auto tok = load_or_skip(state, src.path);
    if (!tok) return;
    auto ids = tok->encode(text, false, false);
    if (!ids.ok()) return state.SkipWithError("encode failed");
    for (auto _ : state) {
        std::string back = tok->decode(*ids, false);
        benchmark::DoNotOptimize(back.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

[[maybe_unused]] const bool kRegistered = [] {
    for (const Source& s : kSources) {
        benchmark::RegisterBenchmark((std::string("Encode/") + s.name).c_str(), BM_Encode, s)->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark((std::string("LoadEncode/") + s.name).c_str(), BM_LoadEncode, s)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark((std::string("Load/") + s.name).c_str(), BM_Load, s)->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark((std::string("Decode/") + s.name).c_str(), BM_Decode, s)->Unit(benchmark::kMillisecond);
    }
    return true;
}();

}  // namespace

BENCHMARK_MAIN();
