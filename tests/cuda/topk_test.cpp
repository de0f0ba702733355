// Greedy argmax and top-k on the device (cuda::top_k_rows, Context::top_k of the GPU context) against the
// host's top_k_row, which the CPU tests pin to the sampler's order: random rows with ties, NaN, +-inf and
// both zeros (every entry bit-equal); stories260K's real logits through the graph step and the batched path,
// in every order of logits() / top_k() calls (the lazy copy and the hint); the generation loop's tokens with
// and without the candidate path and with the device path off (RZ_CUDA_TOPK=0). Skips without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "cuda/cuda_test_util.h"
#include "realizar/runtime/context.h"
#include "realizar/runtime/generate.h"
#include "realizar/runtime/sampler.h"
#include "realizar/runtime/top_k.h"
#include "realizar/tokenizer/tokenizer.h"
#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/cuda.h"
#endif

namespace rz::runtime {
namespace {

#define REQUIRE_DEVICE() \
    if (!test::cuda_device_present()) GTEST_SKIP() << "no CUDA device"

constexpr float kInf = std::numeric_limits<float>::infinity();
std::string stories() { return test::cuda_shared_dir() + "/data/tinystories-260K/stories260K-f32.gguf"; }

void expect_same(const std::vector<TokenLogit>& got, const std::vector<TokenLogit>& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t j = 0; j < want.size(); ++j) {
        ASSERT_EQ(got[j].id, want[j].id) << what << " entry " << j;
        ASSERT_EQ(std::signbit(got[j].logit), std::signbit(want[j].logit)) << what << " entry " << j;
        ASSERT_TRUE(got[j].logit == want[j].logit) << what << " entry " << j << ": " << got[j].logit << " vs " << want[j].logit;
    }
}

#ifdef RZ_HAVE_CUDA
// Values on a coarse grid (many ties), with NaN, -inf, +inf, -0 and +0 sprinkled in; some rows all NaN, some
// with one value everywhere (the selection then runs into the id bits).
std::vector<float> nasty_rows(Rng& rng, int rows, int n, int salt) {
    std::vector<float> x(static_cast<size_t>(rows) * n);
    for (int r = 0; r < rows; ++r) {
        float* row = x.data() + static_cast<size_t>(r) * n;
        const int kind = (r + salt) % 6;
        for (int i = 0; i < n; ++i) {
            if (kind == 0) row[i] = std::numeric_limits<float>::quiet_NaN();
            else if (kind == 1) row[i] = 1.5f;
            else if (kind == 2) row[i] = static_cast<float>(rng.uniform() * 40.0 - 20.0);  // mostly distinct
            else row[i] = static_cast<float>(static_cast<int>(rng.next() % 17) - 8) * 0.25f;
        }
        for (int j = 0; j < n / 9 + 1 && kind >= 2; ++j) {
            float& v = row[rng.next() % static_cast<uint64_t>(n)];
            const int what = static_cast<int>(rng.next() % 5);
            v = what == 0 ? std::numeric_limits<float>::quiet_NaN() : what == 1 ? -kInf : what == 2 ? -0.0f : what == 3 ? 0.0f : (kind == 5 ? kInf : v);
        }
    }
    return x;
}
#endif

TEST(CudaTopK, KernelMatchesHostOnNastyRows) {
    REQUIRE_DEVICE();
#ifdef RZ_HAVE_CUDA
    Rng rng(2024);
    int salt = 0;
    for (int n : {1, 3, 5, 257, 1000, 4099, 32000, 151936})
        for (int rows : {1, 7})
            for (int k : {1, 2, 3, 17, 40, 100, 256}) {
                if (k > n) continue;
                if (n == 151936 && k != 1 && k != 40 && k != 256) continue;
                const auto x = nasty_rows(rng, rows, n, salt++);
                auto dx = cuda::alloc(x.size() * sizeof(float), "test rows");
                auto dout = cuda::alloc(static_cast<size_t>(rows) * k * sizeof(cuda::TopKEntry), "test top-k");
                ASSERT_TRUE(dx.ok() && dout.ok());
                ASSERT_TRUE(cuda::upload(*dx, x.data(), x.size() * sizeof(float)).ok());
                ASSERT_TRUE(cuda::top_k_rows(static_cast<const float*>(*dx), rows, n, k, static_cast<cuda::TopKEntry*>(*dout)).ok());
                std::vector<cuda::TopKEntry> got(static_cast<size_t>(rows) * k);
                ASSERT_TRUE(cuda::download(got.data(), *dout, got.size() * sizeof(cuda::TopKEntry)).ok());
                ASSERT_TRUE(cuda::sync("top-k test").ok());
                cuda::free(*dx);
                cuda::free(*dout);
                for (int r = 0; r < rows; ++r) {
                    std::vector<TokenLogit> want, g;
                    top_k_row(std::span<const float>(x).subspan(static_cast<size_t>(r) * n, static_cast<size_t>(n)), k, want);
                    for (int j = 0; j < k; ++j) {
                        const auto& e = got[static_cast<size_t>(r) * k + j];
                        g.push_back({e.id, e.logit});
                    }
                    expect_same(g, want, "n " + std::to_string(n) + " rows " + std::to_string(rows) + " row " + std::to_string(r) + " k " +
                                             std::to_string(k));
                    if (HasFatalFailure()) return;
                }
            }
#endif
}

std::shared_ptr<Model> load_stories() {
    auto m = Model::load(stories());
    EXPECT_TRUE(m.ok()) << m.status().message();
    return m.ok() ? *m : nullptr;
}

std::unique_ptr<Context> gpu_context(const std::shared_ptr<Model>& m, int n_ctx = 128) {
    return test::make_context(m, 999, n_ctx, ContextOptions{}.cache_type, 1, ContextOptions{}.n_threads);  // the default options
}

// Each read pattern the engine or the generation loop may use, on one-token graph steps and on batches.
void check_reads(Context& ctx, const std::string& what) {
    std::vector<TokenLogit> top, want;
    int32_t t = 1;
    int pos = 0;
    // Patterns per step: 0 top_k(1) then logits, 1 top_k(40) then logits, 2 logits then top_k, 3 top_k(256)
    // then logits, 4 two different k, 5 logits only, 6 top_k(40) only (the next step's hint then asks for the
    // top-k results alone, so its logits() is the lazy copy). Every pattern follows several others.
    const int patterns[] = {0, 6, 0, 1, 6, 1, 2, 3, 6, 3, 0, 4, 5, 5, 6, 4, 6, 2, 0, 6, 6, 5, 1};
    const int n_steps = static_cast<int>(std::size(patterns));
    for (int step = 0; step < n_steps; ++step) {
        Batch b;
        b.add(t, pos++, 0, true);
        ASSERT_TRUE(ctx.decode(b).ok());
        const int pat = patterns[step];
        const std::string w = what + " step " + std::to_string(step) + " pattern " + std::to_string(pat);
        auto host_top = [&](int k) {
            const auto row = ctx.logits(0);
            EXPECT_EQ(row.size(), 512u) << w;
            top_k_row(row, k, want);
        };
        if (pat == 0 || pat == 1) {
            const int k = pat == 0 ? 1 : 40;
            ASSERT_TRUE(ctx.top_k(0, k, top).ok()) << w;
            host_top(k);  // after: the lazy copy of the row
            expect_same(top, want, w);
        } else if (pat == 2) {
            host_top(40);
            ASSERT_TRUE(ctx.top_k(0, 40, top).ok()) << w;
            expect_same(top, want, w);
        } else if (pat == 3) {
            ASSERT_TRUE(ctx.top_k(0, 256, top).ok()) << w;
            host_top(256);
            expect_same(top, want, w);
        } else if (pat == 4) {
            ASSERT_TRUE(ctx.top_k(0, 3, top).ok()) << w;
            host_top(3);
            expect_same(top, want, w);
            ASSERT_TRUE(ctx.top_k(0, 100, top).ok()) << w;  // larger than what was selected: selects again
            host_top(100);
            expect_same(top, want, w);
        } else if (pat == 5) {
            host_top(1);
        } else {
            ASSERT_TRUE(ctx.top_k(0, 40, top).ok()) << w;
            want = top;
        }
        t = want[0].id;
    }
    // A batch: rows 1, 3 and 4 have logits; top_k of each row, then one row again with a larger k.
    Batch b;
    for (int i = 0; i < 5; ++i) b.add(1 + 50 * i, pos++, 0, i == 1 || i >= 3);
    ASSERT_TRUE(ctx.decode(b).ok());
    for (size_t i : {1u, 3u, 4u}) {
        ASSERT_TRUE(ctx.top_k(i, 8, top).ok());
        std::vector<float> row(ctx.logits(i).begin(), ctx.logits(i).end());
        ASSERT_EQ(row.size(), 512u);
        top_k_row(row, 8, want);
        expect_same(top, want, what + " batch row " + std::to_string(i));
    }
    ASSERT_TRUE(ctx.top_k(4, 200, top).ok());
    top_k_row(ctx.logits(4), 200, want);
    expect_same(top, want, what + " batch row 4, k 200");
    // Next batch read through top_k only (hint: top-k of every row at the step's sync), then errors.
    Batch c;
    for (int i = 0; i < 3; ++i) c.add(7 + i, pos++, 0, true);
    ASSERT_TRUE(ctx.decode(c).ok());
    std::vector<std::vector<TokenLogit>> tops(3);
    for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(ctx.top_k(i, 5, tops[i]).ok());
    for (size_t i = 0; i < 3; ++i) {
        top_k_row(ctx.logits(i), 5, want);
        expect_same(tops[i], want, what + " second batch row " + std::to_string(i));
    }
    EXPECT_EQ(ctx.top_k(0, 0, top).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ctx.top_k(0, kMaxTopK + 1, top).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ctx.top_k(3, 1, top).code(), StatusCode::kInvalidArgument);
}

TEST(CudaTopK, ContextTopKMatchesItsLogits) {
    REQUIRE_DEVICE();
    auto m = load_stories();
    ASSERT_TRUE(m);
    for (const char* env : {"", "RZ_CUDA_PINNED", "RZ_CUDA_GRAPHS", "RZ_CUDA_TOPK"}) {
        if (*env) setenv(env, "0", 1);
        auto ctx = gpu_context(m);
        if (*env) unsetenv(env);
        ASSERT_TRUE(ctx);
        check_reads(*ctx, std::string(*env ? env : "default") + "=0");
        if (HasFatalFailure()) return;
    }
}

// The same reads through the fused decode layer (int8 kernels, repacked Q6_K): llama.cpp's files of the golden
// quant model (tok512 vocabulary; output rows 0-7 are special: all zero, constant, ...).
TEST(CudaTopK, ContextTopKOnFusedLayer) {
    REQUIRE_DEVICE();
    for (const char* name : {"Q4_K_M", "Q6_K", "Q8_0"}) {
        auto m = Model::load(test::cuda_shared_dir() + "/golden/quant/q-" + name + ".gguf");
        ASSERT_TRUE(m.ok()) << m.status().message();
        auto ctx = gpu_context(*m);
        ASSERT_TRUE(ctx);
        check_reads(*ctx, std::string("fused layer ") + name);
        if (HasFatalFailure()) return;
    }
}

// Device argmax equals the host's argmax of the CPU context's logits on real model logits (the same model on
// both: equal greedy walks as long as no two logits are within the GPU/CPU rounding, which holds here).
TEST(CudaTopK, GreedyWalkMatchesCpu) {
    REQUIRE_DEVICE();
    auto m = load_stories();
    ASSERT_TRUE(m);
    auto g = gpu_context(m);
    ContextOptions o;
    o.n_ctx = 128;
    o.n_threads = 4;
    auto c = Context::create(m, o);
    ASSERT_TRUE(g && c.ok());
    std::vector<TokenLogit> top;
    int32_t t = 1;
    for (int i = 0; i < 64; ++i) {
        Batch b;
        b.add(t, i, 0, true);
        ASSERT_TRUE(g->decode(b).ok());
        ASSERT_TRUE((*c)->decode(b).ok());
        ASSERT_TRUE(g->top_k(0, 1, top).ok());
        ASSERT_EQ(top[0].id, argmax((*c)->logits(0))) << "step " << i;
        t = top[0].id;
    }
}

// The generation loop on the GPU: the same tokens with the candidate path (device top-k) as from the whole
// rows, and as with the device path off, for greedy and sampled options.
TEST(CudaTopK, GenerationLoopSameTokens) {
    REQUIRE_DEVICE();
    auto m = load_stories();
    ASSERT_TRUE(m);
    auto tok = tokenizer::Tokenizer::from_model_file(m->file());
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    auto prompt = (*tok)->encode("Once upon a time", true, false);
    ASSERT_TRUE(prompt.ok());
    auto dev = gpu_context(m);
    setenv("RZ_CUDA_TOPK", "0", 1);
    auto host = gpu_context(m);
    unsetenv("RZ_CUDA_TOPK");
    ASSERT_TRUE(dev && host);
    Generator gd(*dev, **tok), gh(*host, **tok);
    for (uint64_t seed : {1u, 7u, 99u})
        for (float temp : {0.0f, 0.8f})
            for (int top_k : {1, 40, 256}) {
                GenerateOptions o;
                o.sampling.seed = seed, o.sampling.temperature = temp, o.sampling.top_k = top_k;
                o.stop.max_tokens = 40;
                o.stop.ignore_eog = true;
                o.stop.stop_on_bos = false;
                gd.reset();
                auto a = gd.generate(*prompt, o, nullptr);
                gh.reset();
                auto c = gh.generate(*prompt, o, nullptr);
                o.use_top_k = false;
                gd.reset();
                auto b = gd.generate(*prompt, o, nullptr);
                ASSERT_TRUE(a.ok() && b.ok() && c.ok());
                const std::string w = "seed " + std::to_string(seed) + " temp " + std::to_string(temp) + " top_k " + std::to_string(top_k);
                EXPECT_EQ(a->tokens, b->tokens) << w;
                EXPECT_EQ(a->tokens, c->tokens) << w;
                EXPECT_EQ(a->tokens.size(), 40u) << w;
            }
}

// The generation loop on the models of RZ_CUDA_BENCH_MODELS (those with a tokenizer): tokens per second with
// the candidate path (use_top_k: device top-k) and with the whole rows, alternated A B A B on one context, for
// greedy and for llama.cpp's default sampling (top_k 40, top_p 0.95, min_p 0.05, temperature 0.8). Both paths
// must give the same tokens.
TEST(CudaTopK, GenerationBenchmark) {
    REQUIRE_DEVICE();
    const auto models = test::env_list("RZ_CUDA_BENCH_MODELS");
    if (models.empty()) GTEST_SKIP() << "set RZ_CUDA_BENCH_MODELS";
    for (const auto& path : models) {
        auto m = Model::load(path);
        ASSERT_TRUE(m.ok()) << m.status().message();
        auto tok = tokenizer::Tokenizer::from_model_file((*m)->file());
        if (!tok.ok() || (*tok)->n_vocab() != (*m)->info().n_vocab) {
            std::printf("[bench] %s: no tokenizer of the model's vocabulary size, generation benchmark skipped\n", path.c_str());
            continue;
        }
        auto ctx = gpu_context(*m, 512);
        ASSERT_TRUE(ctx);
        auto prompt = (*tok)->encode("Once upon a time, in a small town by the sea,", true, false);
        ASSERT_TRUE(prompt.ok());
        Generator gen(*ctx, **tok);
        for (const bool sampled : {false, true}) {
            std::vector<int32_t> ref;
            for (int round = 0; round < 4; ++round) {
                GenerateOptions o;
                if (!sampled) o.sampling.temperature = 0.0f;
                o.sampling.seed = 1234;
                o.stop.max_tokens = 129;
                o.stop.ignore_eog = true;
                o.stop.stop_on_bos = false;
                o.use_top_k = round % 2 == 1;
                gen.reset();
                auto r = gen.generate(*prompt, o, nullptr);
                ASSERT_TRUE(r.ok()) << r.status().message();
                if (round == 0) ref = r->tokens;
                EXPECT_EQ(r->tokens, ref) << path << " round " << round;
                std::printf("[bench] %s generation loop, %s, %s: %.1f tok/s (tg128 after a %zu-token prompt)\n", path.c_str(),
                            sampled ? "top_k 40 / top_p 0.95 / min_p 0.05 / temp 0.8" : "greedy",
                            o.use_top_k ? "device top-k (use_top_k)" : "whole logits rows", r->timings.generation_tokens_per_s(),
                            prompt->size());
            }
        }
    }
}

}  // namespace
}  // namespace rz::runtime
