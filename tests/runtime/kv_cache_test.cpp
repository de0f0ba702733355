// KV cache semantics: prefill == token-by-token decode, several sequences in one batch, clear / truncate /
// copy, and the errors decode() owes its callers (overflow, bad ids, positions that skip).
#include <gtest/gtest.h>

#include "runtime/golden_util.h"

namespace rz::test {
namespace {

using runtime::Batch;
using runtime::Context;

class KvCache : public testing::TestWithParam<DType> {
protected:
    void SetUp() override {
        auto m = runtime::Model::load(golden_dir("llama_gqa"));
        ASSERT_TRUE(m.ok()) << m.status().to_string();
        model_ = *m;
        auto g = read_json(golden_dir("llama_gqa") + "/golden.json");
        s0_ = g["sequences"][0].get<std::vector<int32_t>>();
        s1_ = g["sequences"][1].get<std::vector<int32_t>>();
    }
    std::unique_ptr<Context> context(int n_seq = 1, int n_ctx = 64) {
        runtime::ContextOptions o;
        o.cache_type = GetParam();
        o.n_threads = 2;
        o.n_seq_max = n_seq;
        o.n_ctx = n_ctx;
        auto c = Context::create(model_, o);
        EXPECT_TRUE(c.ok()) << c.status().to_string();
        return c.ok() ? std::move(*c) : nullptr;
    }
    std::vector<float> one_by_one(Context& ctx, const std::vector<int32_t>& toks, int32_t seq) {
        std::vector<float> out;
        Batch b;
        for (size_t t = 0; t < toks.size(); ++t) {
            b.clear();
            b.add(toks[t], ctx.seq_len(seq), seq, true);
            EXPECT_TRUE(ctx.decode(b).ok());
            auto l = ctx.logits(0);
            out.insert(out.end(), l.begin(), l.end());
        }
        return out;
    }
    std::shared_ptr<runtime::Model> model_;
    std::vector<int32_t> s0_, s1_;
};

TEST_P(KvCache, PrefillEqualsSingleTokenDecode) {
    auto a = context();
    auto b = context();
    auto pre = prefill_logits(*a, s0_);
    ASSERT_TRUE(pre.ok());
    auto dec = one_by_one(*b, s0_, 0);
    // Batched matmuls may sum in another order than single-token ones: equal to float rounding with an F32
    // cache; with F16, a last-bit difference can round a K/V element to the neighbouring half (F16 bound).
    EXPECT_LE(max_rel(*pre, dec, stddev(dec)), GetParam() == DType::F32 ? 1e-5 : 5e-3);
    EXPECT_EQ(a->seq_len(0), static_cast<int32_t>(s0_.size()));
    EXPECT_EQ(a->kv_cells_used(), static_cast<int64_t>(s0_.size()));
}

TEST_P(KvCache, SequencesInterleavedInOneBatch) {
    auto solo = context();
    auto r0 = prefill_logits(*solo, s0_);
    solo->seq_clear(0);
    auto r1 = prefill_logits(*solo, s1_);
    ASSERT_TRUE(r0.ok() && r1.ok());

    auto ctx = context(3);
    Batch b;
    std::vector<std::pair<int, size_t>> where;  // (seq, index in its sequence) per batch entry
    for (size_t i = 0; i < std::max(s0_.size(), s1_.size()); ++i) {
        if (i < s1_.size()) { b.add(s1_[i], static_cast<int32_t>(i), 2, true); where.push_back({1, i}); }
        if (i < s0_.size()) { b.add(s0_[i], static_cast<int32_t>(i), 0, true); where.push_back({0, i}); }
    }
    ASSERT_TRUE(ctx->decode(b).ok());
    const size_t V = 512;
    double worst = 0.0;
    for (size_t e = 0; e < where.size(); ++e) {
        const auto& ref = where[e].first == 0 ? *r0 : *r1;
        auto l = ctx->logits(e);
        ASSERT_EQ(l.size(), V);
        for (size_t v = 0; v < V; ++v) worst = std::max(worst, std::fabs(static_cast<double>(l[v]) - ref[where[e].second * V + v]));
    }
    EXPECT_LE(worst, 1e-5);
    EXPECT_EQ(ctx->seq_len(0), static_cast<int32_t>(s0_.size()));
    EXPECT_EQ(ctx->seq_len(1), 0);
    EXPECT_EQ(ctx->seq_len(2), static_cast<int32_t>(s1_.size()));
    EXPECT_EQ(ctx->kv_cells_used(), static_cast<int64_t>(s0_.size() + s1_.size()));
    EXPECT_EQ(ctx->kv_cells_total(), 3 * 64);

    // One decode step for both sequences in one batch == each continued alone.
    b.clear();
    b.add(7, ctx->seq_len(0), 0, true);
    b.add(9, ctx->seq_len(2), 2, true);
    ASSERT_TRUE(ctx->decode(b).ok());
    auto alone0 = context();
    auto x0 = prefill_logits(*alone0, [&] { auto s = s0_; s.push_back(7); return s; }());
    auto alone1 = context();
    auto x1 = prefill_logits(*alone1, [&] { auto s = s1_; s.push_back(9); return s; }());
    ASSERT_TRUE(x0.ok() && x1.ok());
    std::vector<float> last0(x0->end() - V, x0->end()), last1(x1->end() - V, x1->end());
    EXPECT_LE(max_rel(std::vector<float>(ctx->logits(0).begin(), ctx->logits(0).end()), last0, 1.0), 1e-5);
    EXPECT_LE(max_rel(std::vector<float>(ctx->logits(1).begin(), ctx->logits(1).end()), last1, 1.0), 1e-5);
}

TEST_P(KvCache, ClearTruncateCopy) {
    auto ctx = context(2);
    auto full = prefill_logits(*ctx, s0_);
    ASSERT_TRUE(full.ok());
    const size_t V = 512, half = s0_.size() / 2;
    // Truncate to half, re-feed the rest: same logits as the first run.
    ASSERT_TRUE(ctx->seq_truncate(0, static_cast<int32_t>(half)).ok());
    EXPECT_EQ(ctx->seq_len(0), static_cast<int32_t>(half));
    auto rest = prefill_logits(*ctx, std::vector<int32_t>(s0_.begin() + static_cast<long>(half), s0_.end()));
    ASSERT_TRUE(rest.ok());
    EXPECT_LE(max_rel(*rest, std::vector<float>(full->begin() + static_cast<long>(half * V), full->end()), 1.0), 1e-5);
    // Copy the sequence into slot 1 and continue there.
    ASSERT_TRUE(ctx->seq_copy(0, 1).ok());
    EXPECT_EQ(ctx->seq_len(1), static_cast<int32_t>(s0_.size()));
    Batch b;
    b.add(11, ctx->seq_len(1), 1, true);
    ASSERT_TRUE(ctx->decode(b).ok());
    std::vector<float> via_copy(ctx->logits(0).begin(), ctx->logits(0).end());
    auto ref_ctx = context();
    auto ref = prefill_logits(*ref_ctx, [&] { auto s = s0_; s.push_back(11); return s; }());
    ASSERT_TRUE(ref.ok());
    EXPECT_LE(max_rel(via_copy, std::vector<float>(ref->end() - V, ref->end()), 1.0), 1e-5);
    ctx->seq_clear(0);
    EXPECT_EQ(ctx->seq_len(0), 0);
    EXPECT_EQ(ctx->kv_cells_used(), static_cast<int64_t>(s0_.size() + 1));
    EXPECT_FALSE(ctx->seq_copy(0, 5).ok());
    EXPECT_FALSE(ctx->seq_truncate(-1, 0).ok());
}

TEST_P(KvCache, ContextOverflowIsAClearError) {
    auto ctx = context(1, 8);
    auto r = prefill_logits(*ctx, std::vector<int32_t>(s0_.begin(), s0_.begin() + 8));
    ASSERT_TRUE(r.ok());
    Batch b;
    b.add(5, 8, 0, true);
    Status st = ctx->decode(b);
    EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
    EXPECT_NE(st.message().find("context overflow: sequence 0 holds 8 of 8 positions"), std::string::npos) << st.message();
    EXPECT_EQ(ctx->seq_len(0), 8);
    // A batch that would run past the end is refused as a whole, before anything is computed.
    auto ctx2 = context(1, 8);
    auto r2 = prefill_logits(*ctx2, s0_);
    EXPECT_FALSE(r2.ok());
    EXPECT_NE(r2.status().message().find("context overflow"), std::string::npos) << r2.status().message();
    EXPECT_EQ(ctx2->seq_len(0), 0);
}

TEST_P(KvCache, BadBatchesAreRefusedWithoutSideEffects) {
    auto ctx = context(2);
    Batch b;
    b.add(512, 0, 0, true);
    Status st = ctx->decode(b);
    EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
    EXPECT_NE(st.message().find("token id 512"), std::string::npos) << st.message();
    b.clear();
    b.add(5, 0, 2, true);
    EXPECT_NE(ctx->decode(b).message().find("sequence id 2"), std::string::npos);
    b.clear();
    b.add(5, 0, 0, true);
    b.add(6, 2, 0, true);  // skips position 1
    st = ctx->decode(b);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("position 2 does not continue sequence 0 (expected 1)"), std::string::npos) << st.message();
    EXPECT_EQ(ctx->seq_len(0), 0);
    b.clear();
    EXPECT_FALSE(ctx->decode(b).ok());  // empty
    b.add(5, 0, 0, false);
    ASSERT_TRUE(ctx->decode(b).ok());
    EXPECT_TRUE(ctx->logits(0).empty());  // did not ask for logits
    EXPECT_TRUE(ctx->logits(3).empty());
}

TEST_P(KvCache, OptionsAreValidated) {
    runtime::ContextOptions o;
    o.n_seq_max = 0;
    EXPECT_FALSE(Context::create(model_, o).ok());
    o = {};
    o.cache_type = DType::Q8_0;
    EXPECT_FALSE(Context::create(model_, o).ok());
    o = {};
    o.n_batch = 0;
    EXPECT_FALSE(Context::create(model_, o).ok());
    o = {};
    auto c = Context::create(model_, o);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)->n_ctx(), 256);  // min(n_ctx_train, 4096)
}

INSTANTIATE_TEST_SUITE_P(CacheTypes, KvCache, testing::Values(DType::F32, DType::F16),
                         [](const testing::TestParamInfo<DType>& i) { return i.param == DType::F32 ? std::string("f32") : std::string("f16"); });

}  // namespace
}  // namespace rz::test
