// Layer-range contexts (the CPU half of partial GPU offload): running layers [0, k) in one context and
// [k, n_layer) in another, handing the hidden states over, must give the full context's logits exactly, for
// every split point, over a prompt and the decode steps after it, with two sequences in one batch.
#include <gtest/gtest.h>

#include "runtime/context_impl.h"
#include "runtime/golden_util.h"

namespace rz::test {
namespace {

using runtime::Batch;
using runtime::ContextImpl;

std::shared_ptr<runtime::Model> stories() {
    auto m = runtime::Model::load(shared_dir() + "/data/tinystories-260K/stories260K-f32.gguf");
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    return m.ok() ? *m : nullptr;
}

runtime::ContextOptions opts() {
    runtime::ContextOptions o;
    o.cache_type = DType::F32;
    o.n_threads = 1;
    o.n_seq_max = 2;
    o.n_ctx = 64;
    return o;
}

TEST(LayerRange, SplitAtEveryLayerMatchesTheFullContext) {
    auto model = stories();
    ASSERT_TRUE(model);
    const int L = model->info().n_layer, E = model->info().n_embd, V = model->info().n_vocab;
    auto full = ContextImpl::create(model, opts());
    ASSERT_TRUE(full.ok()) << full.status().to_string();
    // Two sequences: a 6-token prompt in seq 0 and a 3-token prompt in seq 1, then 4 one-token steps of both.
    std::vector<Batch> steps(1);
    for (int p = 0; p < 6; ++p) steps[0].add(1 + 37 * p % 500, p, 0, p == 5);
    for (int p = 0; p < 3; ++p) steps[0].add(7 + 11 * p, p, 1, p == 2);
    for (int s = 0; s < 4; ++s) {
        Batch b;
        b.add(100 + s, 6 + s, 0, true);
        b.add(200 + s, 3 + s, 1, true);
        steps.push_back(b);
    }
    std::vector<std::vector<float>> ref;
    for (const Batch& b : steps) {
        ASSERT_TRUE((*full)->decode(b).ok());
        for (size_t i = 0; i < b.size(); ++i)
            if (b.logits[i]) ref.emplace_back((*full)->logits(i).begin(), (*full)->logits(i).end());
    }
    for (int k = 1; k < L; ++k) {
        auto head = ContextImpl::create_range(model, opts(), 0, k);
        auto tail = ContextImpl::create_range(model, opts(), k, L);
        ASSERT_TRUE(head.ok() && tail.ok());
        EXPECT_EQ((*head)->layer_end(), k);
        EXPECT_FALSE((*head)->decode(steps[0]).ok()) << "a partial context has no plain decode()";
        size_t r = 0;
        for (const Batch& b : steps) {
            std::vector<float> x(b.size() * static_cast<size_t>(E));
            ASSERT_TRUE((*head)->decode_hidden(b, nullptr, x.data()).ok());
            ASSERT_TRUE((*tail)->decode_hidden(b, x.data(), nullptr).ok());
            for (size_t i = 0; i < b.size(); ++i) {
                if (!b.logits[i]) continue;
                auto got = (*tail)->logits(i);
                ASSERT_EQ(got.size(), static_cast<size_t>(V));
                for (int v = 0; v < V; ++v) ASSERT_EQ(got[static_cast<size_t>(v)], ref[r][static_cast<size_t>(v)]) << "split " << k << " vocab " << v;
                ++r;
            }
        }
        EXPECT_EQ(r, ref.size());
        EXPECT_EQ((*tail)->seq_len(0), 10);
        EXPECT_EQ((*tail)->kv_cells_total(), 2 * 64);
    }
}

TEST(LayerRange, BadRangesAndMissingHiddenStatesAreErrors) {
    auto model = stories();
    ASSERT_TRUE(model);
    const int L = model->info().n_layer;
    EXPECT_FALSE(ContextImpl::create_range(model, opts(), 0, 0).ok());
    EXPECT_FALSE(ContextImpl::create_range(model, opts(), 3, 2).ok());
    EXPECT_FALSE(ContextImpl::create_range(model, opts(), -1, 2).ok());
    EXPECT_FALSE(ContextImpl::create_range(model, opts(), 0, L + 1).ok());
    auto tail = ContextImpl::create_range(model, opts(), 2, L);
    ASSERT_TRUE(tail.ok());
    Batch b;
    b.add(1, 0, 0, true);
    auto st = (*tail)->decode_hidden(b, nullptr, nullptr);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("hidden"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace rz::test
