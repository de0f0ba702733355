// The one-token attention's query heads a block follow the context (cuda.h, attention_fused_heads), and the
// one-token graphs follow them: a context keeps a graph per sequence and variant, so a generation that crosses
// from 1 to 2 to 4 heads a block gives the same logits, bit for bit, as the same steps launched without graphs
// (which pick the kernel at every step). The kernel itself is pinned to float64 by FusedAttentionMatchesReference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "cuda/cuda_test_util.h"
#include "realizar/model/synthetic.h"
#include "realizar/runtime/context.h"
#include "realizar/runtime/sampler.h"
#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/cuda.h"
#endif

namespace rz::runtime {
namespace {

using test::ScopedEnv;

#ifdef RZ_HAVE_CUDA
TEST(CudaAttentionVariant, HeadsFollowTheContext) {
    if (!test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    const auto heads = [](int n_head, int n_kv, int pos, int hd = 64, bool f16 = true, int n_swa = 0) {
        return cuda::attention_fused_heads(f16, n_head, n_kv, hd, hd, pos, n_swa);
    };
    // TinyLlama's 32 heads in groups of 8: 1 with a short context, 4 after a long one, never fewer as it grows.
    EXPECT_EQ(heads(32, 4, 0), 1);
    EXPECT_EQ(heads(32, 4, 100000), 4);
    int last = 1;
    for (int pos = 0; pos <= 100000; pos += 7) {
        const int g = heads(32, 4, pos);
        ASSERT_TRUE(g == 1 || g == 2 || g == 4) << pos;
        ASSERT_GE(g, last) << pos;
        last = g;
    }
    EXPECT_EQ(heads(16, 8, 100000), 2);         // groups of 2: at most 2
    EXPECT_EQ(heads(32, 4, 100000, 128), 4);    // head_dim 128
    EXPECT_EQ(heads(32, 4, -1), 2);             // no position known
    EXPECT_EQ(heads(32, 4, 100000, 64, true, 16), 1);  // a sliding window of 16 keys: as short a context as 16
    EXPECT_EQ(heads(32, 32, 100000), 1);        // groups of 1 (no GQA): a block per query head
    EXPECT_EQ(heads(24, 8, 100000), 1);         // odd groups of 3 or more: the same
    EXPECT_EQ(heads(14, 2, 0), 1);              // (qwen2.5-0.5b's groups of 7)
    EXPECT_EQ(heads(32, 32, 100000, 80), 1);    // phi-2: head_dim 80, groups of 1
    EXPECT_EQ(heads(32, 32, 100000, 96), 1);    // phi-3: head_dim 96
    EXPECT_EQ(heads(8, 1, 100000, 256), 4);     // gemma-2b: head_dim 256, one kv head
    EXPECT_EQ(heads(32, 32, 100000, 112), 0);   // head_dim 112: the split kernel
    EXPECT_EQ(heads(32, 4, 100000, 64, false), 0);  // f32 cache
    {
        ScopedEnv env{{"RZ_CUDA_GQA_HEADS", "2"}};  // fixed
        EXPECT_EQ(heads(32, 4, 0), 2);
        EXPECT_EQ(heads(32, 4, 100000), 2);
    }
    {
        ScopedEnv env{{"RZ_CUDA_GQA_HEADS", "1"}};  // a block per query head: any group
        EXPECT_EQ(heads(32, 32, 100000), 1);
    }
    ScopedEnv env{{"RZ_CUDA_ATTN_GQA", "0"}};
    EXPECT_EQ(heads(32, 4, 0), 0);
}

TEST(CudaAttentionVariant, GraphStepsMatchStepsWithoutGraphsAcrossVariants) {
    if (!test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    const std::string dir = (std::filesystem::temp_directory_path() / ("rz_variant_" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir);
    model::SyntheticSpec sp = test::synthetic_spec("qwen3");  // 8 heads in groups of 4, head_dim 64, q/k norms
    sp.n_ctx = 8192;
    sp.ftype = "Q8_0";
    sp.seed = 91;
    const std::string path = dir + "/m.gguf";
    ASSERT_TRUE(model::write_synthetic_gguf(path, sp).ok());
    auto m = Model::load(path);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(m.ok()) << m.status().message();
    // Low thresholds move the variant within this short context (8 heads: 2 a block from position 32 on 132 SMs, 4
    // from 65; the steps follow the device's SM count, so they are computed here, not assumed). Splits of one key
    // or more and a context of 4608 positions (room for the splits' partials) give each G its own split count (8 / G
    // units share the SMs), so the variants' logits differ in their last bits.
    ScopedEnv share{{"RZ_CUDA_GQA_AT2", "2"}, {"RZ_CUDA_GQA_AT4", "4"}, {"RZ_CUDA_GQA_MIN", "1"}};
    constexpr int kSteps = 150, kCtx = 4608;
    const auto slot = [](int g) { return g == 4 ? 2 : g - 1; };
    std::vector<int> variant(kSteps);
    for (int p = 0; p < kSteps; ++p) variant[static_cast<size_t>(p)] = cuda::attention_fused_heads(true, 8, 2, 64, 64, p);
    ASSERT_EQ(variant.front(), 1);
    ASSERT_EQ(variant.back(), 4) << "this GPU's SM count keeps 4 heads a block beyond " << kSteps << " positions";
    std::unique_ptr<Context> graphs = test::make_context(*m, -1, kCtx, DType::F16, 2), eager;
    {
        ScopedEnv env{{"RZ_CUDA_GRAPHS", "0"}};
        eager = test::make_context(*m, -1, kCtx, DType::F16, 2);
    }
    ASSERT_TRUE(graphs && eager);
    // Two sequences interleaved (a graph per sequence and variant), greedy from the graph context. After each
    // step, `eager` redoes it (truncate, decode) with each other G fixed: where those bits differ from the step's
    // own, a graph of that G could not have matched; then once more with the rule, which must restore them.
    int32_t tok[2] = {3, 700};
    int differs[3][3] = {};  // [the step's variant][another G]: steps whose bits differ
    for (int p = 0; p < kSteps; ++p) {
        const int v = slot(variant[static_cast<size_t>(p)]);
        for (int s = 0; s < 2; ++s) {
            Batch b;
            b.add(tok[s], p, s, true);
            ASSERT_TRUE(graphs->decode(b).ok() && eager->decode(b).ok());
            const auto lg = graphs->logits(0);
            const std::vector<float> le(eager->logits(0).begin(), eager->logits(0).end());
            ASSERT_FALSE(lg.empty());
            ASSERT_EQ(lg.size(), le.size());
            for (size_t j = 0; j < lg.size(); ++j)
                ASSERT_EQ(lg[j], le[j]) << "position " << p << " (" << variant[static_cast<size_t>(p)] << " heads a block), sequence " << s << ", logit " << j;
            for (int k = 0; k < 3; ++k) {
                if (k == v) continue;
                ASSERT_TRUE(eager->seq_truncate(s, p).ok());
                ScopedEnv other{{"RZ_CUDA_GQA_HEADS", k == 0 ? "1" : k == 1 ? "2" : "4"}};
                ASSERT_TRUE(eager->decode(b).ok());
                const auto lf = eager->logits(0);
                if (!std::equal(lf.begin(), lf.end(), le.begin(), le.end())) ++differs[v][k];
            }
            ASSERT_TRUE(eager->seq_truncate(s, p).ok());
            ASSERT_TRUE(eager->decode(b).ok());
            const auto lr = eager->logits(0);
            ASSERT_TRUE(std::equal(lr.begin(), lr.end(), le.begin(), le.end())) << "redoing position " << p << " changed its logits";
            tok[s] = argmax(lg);
        }
    }
    for (int v = 0; v < 3; ++v)
        for (int k = 0; k < 3; ++k)
            if (k != v) {
                EXPECT_GT(differs[v][k], 0) << (k == 2 ? 4 : k + 1) << " heads a block gave the bits of " << (v == 2 ? 4 : v + 1)
                                            << " at every such step: the comparison cannot tell their graphs apart";
            }
}
#endif  // RZ_HAVE_CUDA

}  // namespace
}  // namespace rz::runtime
