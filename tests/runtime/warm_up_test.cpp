// Context::warm_up(): it leaves every sequence empty and changes no result; it refuses a context in use.
#include <gtest/gtest.h>

#include "runtime/golden_util.h"

namespace rz::test {
namespace {

std::string data() { return shared_dir() + "/data/tinystories-260K"; }

std::shared_ptr<runtime::Model> stories() {
    auto m = runtime::Model::load(data() + "/stories260K-f32.gguf");
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    return m.ok() ? *m : nullptr;
}

std::unique_ptr<runtime::Context> context(const std::shared_ptr<runtime::Model>& m, int n_seq, int n_ctx = 256) {
    runtime::ContextOptions o;
    o.n_seq_max = n_seq;
    o.n_ctx = n_ctx;
    o.n_threads = 2;
    auto c = runtime::Context::create(m, o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(*c) : nullptr;
}

// llama2.c's greedy tokens from BOS on sequence `seq` (run.c -t 0 -n 200; its first 40).
void greedy_matches_llama2c(runtime::Context& ctx, int32_t seq) {
    const std::vector<int32_t> want = stories_greedy_reference(40);
    ASSERT_EQ(want.size(), 40u);
    EXPECT_EQ(greedy_from_bos(ctx, want.size(), seq), want) << "sequence " << seq;
}

TEST(WarmUp, LeavesSequencesEmptyAndResultsUnchanged) {
    auto m = stories();
    ASSERT_TRUE(m);
    auto warm = context(m, 3), cold = context(m, 3);
    ASSERT_TRUE(warm && cold);
    ASSERT_TRUE(warm->warm_up().ok());
    for (int s = 0; s < 3; ++s) EXPECT_EQ(warm->seq_len(s), 0) << s;
    EXPECT_EQ(warm->kv_cells_used(), 0);
    // The same logits, bit for bit, as a context that never warmed up: a prompt on sequence 1, a step of two.
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};  // "Once upon a time"
    auto lw = prefill_logits(*warm, prompt, 1), lc = prefill_logits(*cold, prompt, 1);
    ASSERT_TRUE(lw.ok() && lc.ok());
    EXPECT_EQ(*lw, *lc);
    greedy_matches_llama2c(*warm, 0);
    greedy_matches_llama2c(*warm, 2);
}

TEST(WarmUp, RefusesAContextInUseAndLeavesItAlone) {
    auto m = stories();
    ASSERT_TRUE(m);
    auto c = context(m, 2);
    ASSERT_TRUE(c);
    runtime::Batch b;
    b.add(1, 0, 1, true);
    ASSERT_TRUE(c->decode(b).ok());
    const std::vector<float> before(c->logits(0).begin(), c->logits(0).end());
    Status st = c->warm_up();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("sequence 1 holds 1 positions"), std::string::npos) << st.message();
    EXPECT_EQ(c->seq_len(1), 1);
    EXPECT_EQ(c->seq_len(0), 0);
    b.clear();
    b.add(1, 0, 0, true);  // sequence 0 still starts at position 0, and gives what sequence 1 gave
    ASSERT_TRUE(c->decode(b).ok());
    EXPECT_EQ(std::vector<float>(c->logits(0).begin(), c->logits(0).end()), before);
}

TEST(WarmUp, TinyContextsWarmUp) {
    auto m = stories();
    ASSERT_TRUE(m);
    for (int n_ctx : {1, 2, 3}) {
        auto c = context(m, 1, n_ctx);
        ASSERT_TRUE(c);
        EXPECT_TRUE(c->warm_up().ok()) << n_ctx;
        EXPECT_EQ(c->seq_len(0), 0);
    }
}

}  // namespace
}  // namespace rz::test
