// Every golden model (HF transformers, float64 reference) from SafeTensors: logits at every position of
// every sequence, with an F32 and with the default F16 KV cache, and greedy continuation one token at a time.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/golden_util.h"

namespace rz::test {
namespace {

using runtime::Context;
using runtime::ContextOptions;
using runtime::Model;

struct GoldenCase {
    std::string model;
    bool bf16;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.model << (c.bf16 ? "/bf16" : ""); }

std::string case_name(const testing::TestParamInfo<GoldenCase>& info) { return info.param.model + (info.param.bf16 ? "_bf16" : "_f32"); }

class Golden : public testing::TestWithParam<GoldenCase> {
protected:
    void SetUp() override {
        const GoldenCase& c = GetParam();
        golden_ = read_json(golden_dir(c.model) + "/golden.json");
        ASSERT_TRUE(golden_.is_object()) << "cannot read golden.json of " << c.model;
        auto m = Model::load(golden_dir(c.model) + (c.bf16 ? "/bf16" : ""));
        ASSERT_TRUE(m.ok()) << m.status().to_string();
        model_ = *m;
    }

    std::unique_ptr<Context> context(DType cache, int n_batch = 512) {
        ContextOptions o;
        o.cache_type = cache;
        o.n_threads = 2;
        o.n_batch = n_batch;
        auto c = Context::create(model_, o);
        EXPECT_TRUE(c.ok()) << c.status().to_string();
        return c.ok() ? std::move(*c) : nullptr;
    }

    // max over sequences of max|ours - ref| / std(ref)
    double worst_error(DType cache, int n_batch = 512) {
        const GoldenCase& c = GetParam();
        const auto& entries = golden_[c.bf16 ? "logits_bf16" : "logits"];
        double worst = 0.0;
        for (size_t k = 0; k < entries.size(); ++k) {
            auto ctx = context(cache, n_batch);
            if (!ctx) return INFINITY;
            std::vector<int32_t> seq = golden_["sequences"][k].get<std::vector<int32_t>>();
            std::vector<float> ref = read_f32(golden_dir(c.model) + "/" + entries[k]["file"].get<std::string>());
            EXPECT_EQ(ref.size(), seq.size() * static_cast<size_t>(model_->info().n_vocab));
            auto ours = prefill_logits(*ctx, seq);
            EXPECT_TRUE(ours.ok()) << ours.status().to_string();
            if (!ours.ok()) return INFINITY;
            const double sd = entries[k].contains("std") ? entries[k]["std"].get<double>() : stddev(ref);
            worst = std::max(worst, max_rel(*ours, ref, sd));
        }
        return worst;
    }

    nlohmann::json golden_;
    std::shared_ptr<Model> model_;
};

TEST_P(Golden, LogitsF32CacheWithin1e4OfStd) {
    const double err = worst_error(DType::F32);
    RecordProperty("max_err_over_std", std::to_string(err));
    EXPECT_LE(err, 1e-4) << GetParam().model;
}

// Small micro-batches take the same path as one big batch (chunked prefill inside decode()).
TEST_P(Golden, LogitsF32CacheChunkedPrefill) { EXPECT_LE(worst_error(DType::F32, 5), 1e-4); }

// The default F16 cache rounds K and V to 11 significant bits (relative 2^-11 ~ 4.9e-4); measured on these
// models: 0.6e-3 to 1.7e-3 of the logits' spread (docs/perf/runtime.md). Bound: 5e-3.
TEST_P(Golden, LogitsF16CacheWithinDocumentedBound) {
    const double err = worst_error(DType::F16);
    RecordProperty("max_err_over_std", std::to_string(err));
    EXPECT_LE(err, 5e-3) << GetParam().model;
}

TEST_P(Golden, GreedyWithKvCacheOneTokenAtATime) {
    if (GetParam().bf16) GTEST_SKIP() << "greedy references are computed from the f32 weights";
    auto ctx = context(DType::F32);
    ASSERT_TRUE(ctx);
    const auto& g = golden_["greedy"];
    std::vector<int32_t> prompt = g["prompt"].get<std::vector<int32_t>>();
    std::vector<int32_t> want = g["tokens"].get<std::vector<int32_t>>();
    std::vector<double> margins = g["margins"].get<std::vector<double>>();
    runtime::Batch b;
    for (size_t t = 0; t < prompt.size(); ++t) b.add(prompt[t], static_cast<int32_t>(t), 0, t + 1 == prompt.size());
    ASSERT_TRUE(ctx->decode(b).ok());
    int32_t next = argmax(ctx->logits(prompt.size() - 1));
    size_t compared = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (margins[i] <= 1e-3) break;  // below the reference's own resolution: stop comparing
        ASSERT_EQ(next, want[i]) << "step " << i << " margin " << margins[i];
        ++compared;
        b.clear();
        b.add(next, static_cast<int32_t>(prompt.size() + i), 0, true);
        ASSERT_TRUE(ctx->decode(b).ok());
        next = argmax(ctx->logits(0));
    }
    EXPECT_GE(compared, 10u);
}

INSTANTIATE_TEST_SUITE_P(Models, Golden,
                         testing::Values(GoldenCase{"llama_gqa", false}, GoldenCase{"qwen2", false}, GoldenCase{"phi2", false},
                                         GoldenCase{"gpt2", false}, GoldenCase{"llama_gqa", true}, GoldenCase{"qwen2", true},
                                         GoldenCase{"phi2", true}, GoldenCase{"gpt2", true}),
                         case_name);

}  // namespace
}  // namespace rz::test

namespace rz::test {
namespace {

// A lone .safetensors file path finds its config.json beside it.
TEST(GoldenSingleFile, SafetensorsPathUsesConfigBesideIt) {
    auto m = Model::load(golden_dir("qwen2") + "/model.safetensors");
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    EXPECT_EQ((*m)->info().arch, "qwen2");
    ContextOptions o;
    o.cache_type = DType::F32;
    auto ctx = Context::create(*m, o);
    ASSERT_TRUE(ctx.ok());
    auto g = read_json(golden_dir("qwen2") + "/golden.json");
    auto ours = prefill_logits(**ctx, g["sequences"][1].get<std::vector<int32_t>>());
    ASSERT_TRUE(ours.ok());
    auto ref = read_f32(golden_dir("qwen2") + "/" + g["logits"][1]["file"].get<std::string>());
    EXPECT_LE(max_rel(*ours, ref, g["logits"][1]["std"].get<double>()), 1e-4);
}

}  // namespace
}  // namespace rz::test
