// Quantized weights used in place: every q-TYPE.gguf of ../shared/golden/quant (written by llama.cpp's own
// llama-quantize) against dq-TYPE.gguf, the same tensors dequantized to f32 by gguf-py. The only remaining
// difference is the activations' quantization inside the CPU kernels (Q8_0 / Q8_K, as llama.cpp does), so
// the logits agree to a small, per-type bound.
#include <gtest/gtest.h>

#include "realizar/formats/model_file.h"
#include "runtime/golden_util.h"

namespace rz::test {
namespace {

class QuantModel : public testing::TestWithParam<std::string> {};

std::vector<float> logits_of(Result<std::shared_ptr<runtime::Model>> m, const std::vector<int32_t>& toks) {
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    if (!m.ok()) return {};
    runtime::ContextOptions o;
    o.cache_type = DType::F32;
    o.n_threads = 2;
    auto ctx = runtime::Context::create(*m, o);
    EXPECT_TRUE(ctx.ok());
    auto r = prefill_logits(**ctx, toks);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : std::vector<float>{};
}

TEST_P(QuantModel, MatchesDequantizedTwin) {
    const std::string dir = shared_dir() + "/golden/quant/";
    const std::vector<int32_t> toks = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
    auto q = logits_of(runtime::Model::load(dir + "q-" + GetParam() + ".gguf"), toks);
    // dq-TYPE.gguf holds only tensors: give them q-TYPE's hyper-parameters (Model::from_model_file).
    auto qf = formats::open_model_file(dir + "q-" + GetParam() + ".gguf");
    auto dqf = formats::open_model_file(dir + "dq-" + GetParam() + ".gguf");
    ASSERT_TRUE(qf.ok() && dqf.ok());
    dqf->metadata = qf->metadata;
    dqf->build_index();
    auto dq = logits_of(runtime::Model::from_model_file(std::move(*dqf)), toks);
    ASSERT_FALSE(q.empty());
    ASSERT_EQ(q.size(), dq.size());
    // Per-position cosine similarity of the logit vectors: activation quantization (Q8_0/Q8_K blocks) adds
    // ~1% noise per matmul, and this model's output rows include deliberate outliers (spikes, ramps), so an
    // elementwise bound would say little; a wrong block layout or scale gives cosines near 0.
    double worst = 1.0;
    const size_t V = q.size() / toks.size();
    for (size_t t = 0; t < toks.size(); ++t) {
        double ab = 0, aa = 0, bb = 0;
        for (size_t v = 0; v < V; ++v) {
            const double a = q[t * V + v], b = dq[t * V + v];
            ab += a * b;
            aa += a * a;
            bb += b * b;
        }
        worst = std::min(worst, ab / std::sqrt(aa * bb));
    }
    RecordProperty("min_cosine", std::to_string(worst));
    EXPECT_GE(worst, 0.99) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Types, QuantModel,
                         testing::Values("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K",
                                         "IQ4_NL", "IQ4_XS"));

}  // namespace
}  // namespace rz::test
