// The real pretrained stories260K (llama2.c) from its three forms: the llama2.c checkpoint, the GGUF
// conversion (NORM RoPE, weights as llama2.c has them) and the HF SafeTensors folder (q/k permuted for
// rotate_half, NEOX RoPE): logits against llama2.c run.c's, and run.c's greedy 200-token output.
#include <gtest/gtest.h>

#include <sstream>

#include "runtime/golden_util.h"

namespace rz::test {
namespace {

std::string dir() { return shared_dir() + "/data/tinystories-260K"; }

class Stories260K : public testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        auto m = runtime::Model::load(dir() + "/" + GetParam());
        ASSERT_TRUE(m.ok()) << m.status().to_string();
        model_ = *m;
        ASSERT_EQ(model_->info().n_vocab, 512);
        ASSERT_EQ(model_->info().n_layer, 5);
    }
    std::unique_ptr<runtime::Context> context(DType cache = DType::F32) {
        runtime::ContextOptions o;
        o.cache_type = cache;
        o.n_threads = 2;
        auto c = runtime::Context::create(model_, o);
        EXPECT_TRUE(c.ok()) << c.status().to_string();
        return c.ok() ? std::move(*c) : nullptr;
    }
    std::shared_ptr<runtime::Model> model_;
};

// max|ours - ref| / max|ref| over positions 0..7 of a reference file.
void check_reference(runtime::Context& ctx, const std::string& file) {
    auto j = read_json(dir() + "/reference/" + file);
    ASSERT_TRUE(j.is_object()) << file;
    std::vector<int32_t> fed = j["prompt_tokens"].get<std::vector<int32_t>>();
    std::vector<int32_t> rest = j["tokens_fed_then_greedy"].get<std::vector<int32_t>>();
    // tokens_fed_then_greedy[i] is the token fed at position i + 1.
    std::vector<int32_t> seq = {fed[0]};
    const size_t n_pos = j["logits"].size();
    for (size_t i = 0; seq.size() < n_pos; ++i) seq.push_back(rest[i]);
    auto ours = prefill_logits(ctx, seq);
    ASSERT_TRUE(ours.ok()) << ours.status().to_string();
    double worst = 0.0;
    for (size_t p = 0; p < n_pos; ++p) {
        std::vector<float> ref = j["logits"][p].get<std::vector<float>>();
        ASSERT_EQ(ref.size(), 512u);
        double mx = 0.0, md = 0.0;
        for (size_t v = 0; v < ref.size(); ++v) {
            mx = std::max(mx, std::fabs(static_cast<double>(ref[v])));
            md = std::max(md, std::fabs(static_cast<double>((*ours)[p * 512 + v]) - ref[v]));
        }
        worst = std::max(worst, md / mx);
    }
    EXPECT_LE(worst, 1e-4) << file;
}

TEST_P(Stories260K, LogitsMatchLlama2cFromBos) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    check_reference(*ctx, "ref_bos_greedy200_logits.json");
}

TEST_P(Stories260K, LogitsMatchLlama2cOnPrompt) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    check_reference(*ctx, "ref_prompt_once_upon_a_time_greedy64_logits.json");
}

// run.c -t 0.0 -n 200: 200 forward steps from BOS, each emitting the argmax (stopping only on BOS).
void greedy_matches(runtime::Context& ctx) {
    const std::vector<int32_t> want = stories_greedy_reference();
    ASSERT_GE(want.size(), 150u);
    EXPECT_EQ(greedy_from_bos(ctx, want.size()), want);
}

TEST_P(Stories260K, Greedy200FromBosF32Cache) {
    auto ctx = context(DType::F32);
    ASSERT_TRUE(ctx);
    greedy_matches(*ctx);
}

TEST_P(Stories260K, Greedy200FromBosF16Cache) {
    auto ctx = context(DType::F16);
    ASSERT_TRUE(ctx);
    greedy_matches(*ctx);
}

INSTANTIATE_TEST_SUITE_P(Forms, Stories260K, testing::Values("stories260K.bin", "stories260K-f32.gguf", "hf"),
                         [](const testing::TestParamInfo<std::string>& i) {
                             return i.param == "hf" ? std::string("hf_folder") : i.param.find("gguf") != std::string::npos ? std::string("gguf") : std::string("llama2c");
                         });

}  // namespace
}  // namespace rz::test

namespace rz::test {
namespace {

// A 200-token prefill (several FFN sub-chunks, several attention tiles and query blocks) equals 200
// single-token steps, on a real model.
TEST(Stories260KLong, PrefillEqualsDecodeOver200Tokens) {
    auto m = runtime::Model::load(shared_dir() + "/data/tinystories-260K/stories260K-f32.gguf");
    ASSERT_TRUE(m.ok());
    std::vector<int32_t> toks = {1};
    for (int32_t id : stories_greedy_reference(199)) toks.push_back(id);
    for (DType cache : {DType::F32, DType::F16}) {
        runtime::ContextOptions o;
        o.cache_type = cache;
        o.n_threads = 2;
        auto a = runtime::Context::create(*m, o);
        auto b = runtime::Context::create(*m, o);
        ASSERT_TRUE(a.ok() && b.ok());
        auto pre = prefill_logits(**a, toks);
        ASSERT_TRUE(pre.ok());
        std::vector<float> dec;
        runtime::Batch batch;
        for (size_t t = 0; t < toks.size(); ++t) {
            batch.clear();
            batch.add(toks[t], static_cast<int32_t>(t), 0, true);
            ASSERT_TRUE((*b)->decode(batch).ok());
            dec.insert(dec.end(), (*b)->logits(0).begin(), (*b)->logits(0).end());
        }
        // F32 cache: equal to float rounding (the batched matmul sums in another order). F16 cache: those
        // last-bit differences can round a K/V element to the neighbouring half, so the bound is the F16
        // cache's own (see golden_test.cpp).
        EXPECT_LE(max_rel(*pre, dec, stddev(dec)), cache == DType::F32 ? 1e-5 : 5e-3) << dtype_name(cache);
    }
}

}  // namespace
}  // namespace rz::test
