// Sampler chain: every stage on hand-made logits, the seeded draw, logprobs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "realizar/runtime/sampler.h"

namespace rz::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Logits whose softmax is exactly `probs` (up to float rounding).
std::vector<float> logits_from_probs(const std::vector<double>& probs) {
    std::vector<float> l;
    for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
    return l;
}

std::vector<int32_t> ids(const Candidates& c) {
    std::vector<int32_t> out;
    for (const TokenData& td : c.data) out.push_back(td.id);
    return out;
}

Candidates make(const std::vector<float>& logits) {
    Candidates c;
    c.reset(logits);
    return c;
}

TEST(SamplerStages, TopKKeepsTheKBestInOrder) {
    Candidates c = make({1, 5, 3, 4, 2});
    make_top_k_stage(2)->apply(c);
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3}));
    EXPECT_TRUE(c.sorted);

    Candidates all = make({1, 5, 3});
    make_top_k_stage(0)->apply(all);  // off
    EXPECT_EQ(all.size(), 3u);
    make_top_k_stage(10)->apply(all);  // k >= size: unchanged
    EXPECT_EQ(ids(all), (std::vector<int32_t>{0, 1, 2}));
}

TEST(SamplerStages, TopKTiesBreakByLowerId) {
    Candidates c = make({2, 7, 7, 1, 7});
    make_top_k_stage(2)->apply(c);
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2}));
}

TEST(SamplerStages, TopPKeepsTheSmallestNucleus) {
    const auto l = logits_from_probs({0.05, 0.5, 0.15, 0.3});
    Candidates c = make(l);
    make_top_p_stage(0.75f, 1)->apply(c);  // 0.5 + 0.3 = 0.8 >= 0.75
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3}));

    c = make(l);
    make_top_p_stage(0.85f, 1)->apply(c);  // needs the 0.15 too
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3, 2}));

    c = make(l);
    make_top_p_stage(0.0f, 1)->apply(c);  // degenerate: the single best token
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1}));

    c = make(l);
    make_top_p_stage(0.0f, 3)->apply(c);  // min_keep wins
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3, 2}));

    c = make(l);
    make_top_p_stage(1.0f, 1)->apply(c);  // off
    EXPECT_EQ(c.size(), 4u);
}

TEST(SamplerStages, TopPOnALargeVocabularyFallsBackToAFullSort) {
    // 2000 equally likely tokens: the 256-token fast path cannot reach p = 0.9, the full sort must.
    std::vector<float> l(2000, 0.0f);
    Candidates c = make(l);
    make_top_p_stage(0.9f, 1)->apply(c);
    EXPECT_NEAR(static_cast<double>(c.size()), 1800.0, 2.0);
    for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(c.data[i].id, static_cast<int32_t>(i));  // ties by id
}

TEST(SamplerStages, MinPIsRelativeToTheBestToken) {
    const auto l = logits_from_probs({0.05, 0.5, 0.15, 0.3});
    Candidates c = make(l);
    make_min_p_stage(0.2f, 1)->apply(c);                 // p >= 0.1
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2, 3}));  // unsorted input keeps its order

    c = make(l);
    make_min_p_stage(0.5f, 1)->apply(c);  // p >= 0.25
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3}));

    c = make(l);
    make_min_p_stage(0.99f, 2)->apply(c);  // only one passes, min_keep 2 keeps the best two
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3}));
}

TEST(SamplerStages, TypicalPKeepsTokensNearTheEntropy) {
    // p = [0.4, 0.3, 0.2, 0.1]: entropy 1.2799 nats; |surprisal - H| = [0.364, 0.076, 0.329, 1.023],
    // so the order is 1, 2, 0, 3 and the most likely token is not the most typical one.
    const auto l = logits_from_probs({0.4, 0.3, 0.2, 0.1});
    Candidates c = make(l);
    make_typical_stage(0.4f, 1)->apply(c);  // 0.3, then 0.5 > 0.4
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2}));

    c = make(l);
    make_typical_stage(0.6f, 1)->apply(c);  // 0.3, 0.5, 0.9 > 0.6
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2, 0}));

    c = make(l);
    make_typical_stage(1.0f, 1)->apply(c);  // off
    EXPECT_EQ(c.size(), 4u);
}

TEST(SamplerStages, TemperatureScalesOrPicksTheArgmax) {
    Candidates c = make({2.0f, -4.0f, 1.0f});
    make_temperature_stage(2.0f)->apply(c);
    ASSERT_EQ(c.size(), 3u);
    EXPECT_FLOAT_EQ(c.data[0].logit, 1.0f);
    EXPECT_FLOAT_EQ(c.data[1].logit, -2.0f);
    EXPECT_FLOAT_EQ(c.data[2].logit, 0.5f);

    c = make({2.0f, 9.0f, 9.0f});
    make_temperature_stage(0.0f)->apply(c);
    EXPECT_EQ(ids(c), (std::vector<int32_t>{1}));  // tie -> lower id
}

TEST(SamplerStages, PenaltiesRepeatPresenceFrequencyOverAWindow) {
    auto pen = make_penalties_stage(/*last_n=*/3, /*repeat=*/2.0f, /*presence=*/0.0f, /*frequency=*/0.0f);
    pen->accept(0);
    pen->accept(1);
    Candidates c = make({4.0f, -2.0f, 3.0f});
    pen->apply(c);
    EXPECT_FLOAT_EQ(c.data[0].logit, 2.0f);   // positive: divided
    EXPECT_FLOAT_EQ(c.data[1].logit, -4.0f);  // negative: multiplied
    EXPECT_FLOAT_EQ(c.data[2].logit, 3.0f);   // not seen

    auto pf = make_penalties_stage(/*last_n=*/4, 1.0f, /*presence=*/1.0f, /*frequency=*/0.5f);
    for (int32_t t : {2, 2, 0}) pf->accept(t);
    c = make({1.0f, 1.0f, 1.0f});
    pf->apply(c);
    EXPECT_FLOAT_EQ(c.data[0].logit, 1.0f - 1.0f - 0.5f);
    EXPECT_FLOAT_EQ(c.data[1].logit, 1.0f);
    EXPECT_FLOAT_EQ(c.data[2].logit, 1.0f - 1.0f - 2 * 0.5f);

    // The window slides: after 2, 2, 0, 1, 1 only the last four (2, 0, 1, 1) count.
    pf->accept(1);
    pf->accept(1);
    c = make({1.0f, 1.0f, 1.0f});
    pf->apply(c);
    EXPECT_FLOAT_EQ(c.data[0].logit, 1.0f - 1.0f - 0.5f);
    EXPECT_FLOAT_EQ(c.data[1].logit, 1.0f - 1.0f - 1.0f);
    EXPECT_FLOAT_EQ(c.data[2].logit, 1.0f - 1.0f - 0.5f);

    pf->reset();
    c = make({1.0f, 1.0f, 1.0f});
    pf->apply(c);
    EXPECT_FLOAT_EQ(c.data[2].logit, 1.0f);
}

TEST(SamplerStages, LogitBiasAddsAndBans) {
    Candidates c = make({1.0f, 5.0f, 3.0f});
    make_logit_bias_stage({{1, kNegInf}, {2, 0.5f}})->apply(c);
    EXPECT_EQ(c.data[1].logit, kNegInf);
    EXPECT_FLOAT_EQ(c.data[2].logit, 3.5f);
    EXPECT_FLOAT_EQ(c.data[0].logit, 1.0f);
}

TEST(Sampler, GreedyIsTheArgmaxAfterBiasAndPenalties) {
    SamplingParams p;
    p.temperature = 0.0f;
    auto s        = Sampler::create(p, 4);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    EXPECT_EQ((*s)->sample(std::vector<float>{0.1f, 3.0f, 2.0f, 3.0f}), 1);

    p.logit_bias = {{1, kNegInf}};
    s            = Sampler::create(p, 4);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ((*s)->sample(std::vector<float>{0.1f, 3.0f, 2.0f, 3.0f}), 3);

    SamplingParams rp;
    rp.temperature    = 0.0f;
    rp.repeat_penalty = 2.0f;
    s                 = Sampler::create(rp, 3);
    ASSERT_TRUE(s.ok());
    const std::vector<float> l{1.0f, 3.0f, 2.0f};
    EXPECT_EQ((*s)->sample(l), 1);
    (*s)->accept(1);  // 3 / 2 = 1.5 < 2
    EXPECT_EQ((*s)->sample(l), 2);
}

TEST(Sampler, PlainGreedyFastPathAgreesWithTheChain) {
    // The fast path skips the chain; with top-k/top-p/min-p on, the chain must still pick the argmax.
    Rng rng(7);
    for (int trial = 0; trial < 50; ++trial) {
        std::vector<float> l(300);
        for (float& x : l) x = static_cast<float>(rng.uniform() * 20.0 - 10.0);
        SamplingParams p;
        p.temperature = 0.0f;
        ASSERT_TRUE(p.is_plain_greedy());
        auto fast    = Sampler::create(p, 300);
        Candidates c = make(l);
        make_top_k_stage(40)->apply(c);
        make_top_p_stage(0.95f, 1)->apply(c);
        make_min_p_stage(0.05f, 1)->apply(c);
        make_temperature_stage(0.0f)->apply(c);
        ASSERT_EQ(c.size(), 1u);
        EXPECT_EQ((*fast)->sample(l), c.data[0].id);
        EXPECT_EQ(c.data[0].id, argmax(l));
    }
}

TEST(Sampler, DrawFollowsTheDistribution) {
    SamplingParams p;
    p.seed        = 1234;
    p.temperature = 1.0f;
    p.top_k       = 0;
    p.top_p       = 1.0f;
    p.min_p       = 0.0f;
    auto s        = Sampler::create(p, 3);
    ASSERT_TRUE(s.ok());
    const auto l = logits_from_probs({0.2, 0.5, 0.3});
    std::map<int32_t, int> hist;
    const int n = 20000;
    for (int i = 0; i < n; ++i) ++hist[(*s)->sample(l)];
    EXPECT_NEAR(hist[0] / double(n), 0.2, 0.015);
    EXPECT_NEAR(hist[1] / double(n), 0.5, 0.015);
    EXPECT_NEAR(hist[2] / double(n), 0.3, 0.015);

    // Temperature 0.5 squares the odds: p ∝ [0.04, 0.25, 0.09].
    p.temperature = 0.5f;
    s             = Sampler::create(p, 3);
    hist.clear();
    for (int i = 0; i < n; ++i) ++hist[(*s)->sample(l)];
    EXPECT_NEAR(hist[1] / double(n), 0.25 / 0.38, 0.015);
}

TEST(Sampler, SeedReproducesTheSameTokens) {
    SamplingParams p;
    p.seed            = 42;
    p.temperature     = 1.3f;
    p.repeat_penalty  = 1.1f;
    const int n_vocab = 1000;
    Rng lg(99);
    std::vector<std::vector<float>> rows(200, std::vector<float>(n_vocab));
    for (auto& r : rows)
        for (float& x : r) x = static_cast<float>(lg.uniform() * 8.0);

    auto run = [&](Sampler& s) {
        std::vector<int32_t> out;
        for (const auto& r : rows) {
            out.push_back(s.sample(r));
            s.accept(out.back());
        }
        return out;
    };
    auto a        = Sampler::create(p, n_vocab);
    auto b        = Sampler::create(p, n_vocab);
    const auto ta = run(**a);
    EXPECT_EQ(ta, run(**b));
    EXPECT_EQ((*a)->seed(), 42u);

    (*a)->reset();  // replays from the seed
    EXPECT_EQ(ta, run(**a));

    p.seed = 43;
    auto c = Sampler::create(p, n_vocab);
    EXPECT_NE(ta, run(**c));

    // A clone continues exactly like the original.
    p.seed = 42;
    auto d = Sampler::create(p, n_vocab);
    for (int i = 0; i < 10; ++i) (*d)->accept((*d)->sample(rows[static_cast<size_t>(i)]));
    auto e = (*d)->clone();
    for (int i = 10; i < 50; ++i) {
        const int32_t x = (*d)->sample(rows[static_cast<size_t>(i)]);
        const int32_t y = e->sample(rows[static_cast<size_t>(i)]);
        ASSERT_EQ(x, y);
        (*d)->accept(x);
        e->accept(y);
    }
}

TEST(Sampler, RandomSeedIsResolvedAndReported) {
    SamplingParams p;  // kRandomSeed
    auto s = Sampler::create(p, 100);
    ASSERT_TRUE(s.ok());
    EXPECT_NE((*s)->seed(), kRandomSeed);
    EXPECT_NE((*s)->describe().find("top-k"), std::string::npos);
}

TEST(Rng, GoldenXoshiro256StarStarValues) {
    // Computed with an independent Python implementation of splitmix64 seeding + xoshiro256**: pins the
    // generator so seeded output cannot silently change between builds.
    Rng a(0);
    EXPECT_EQ(a.next(), 0x99ec5f36cb75f2b4ull);
    EXPECT_EQ(a.next(), 0xbf6e1f784956452aull);
    EXPECT_EQ(a.next(), 0x1a5f849d4933e6e0ull);
    EXPECT_EQ(a.next(), 0x6aa594f1262d2d2cull);
    Rng b(42);
    EXPECT_EQ(b.next(), 0x15780b2e0c2ec716ull);
    EXPECT_EQ(b.next(), 0x6104d9866d113a7eull);
    for (int i = 0; i < 1000; ++i) {
        const double u = b.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
    }
}

TEST(Sampler, ValidateRejectsBadParameters) {
    auto bad = [](auto mutate) {
        SamplingParams p;
        mutate(p);
        return !p.validate(100).ok();
    };
    EXPECT_TRUE(bad([](SamplingParams& p) { p.top_p = 1.5f; }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.top_p = std::nanf(""); }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.min_p = -0.1f; }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.typical_p = 2.0f; }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.repeat_penalty = 0.0f; }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.temperature = std::numeric_limits<float>::infinity(); }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.penalty_last_n = -2; }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.logit_bias = {{100, 1.0f}}; }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; }));
    EXPECT_TRUE(bad([](SamplingParams& p) { p.logit_bias = {{3, std::numeric_limits<float>::infinity()}}; }));
    EXPECT_FALSE(bad([](SamplingParams& p) { p.logit_bias = {{3, kNegInf}}; }));
    EXPECT_FALSE(bad([](SamplingParams&) {}));
    EXPECT_FALSE(Sampler::create(SamplingParams{}, 0).ok());
    SamplingParams p;
    p.top_p = 3.0f;
    auto r  = Sampler::create(p, 10);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("top_p"), std::string::npos);
}

TEST(Sampler, AllButOneBannedStillSamples) {
    SamplingParams p;
    p.seed       = 1;
    p.logit_bias = {{0, kNegInf}, {1, kNegInf}};
    auto s       = Sampler::create(p, 3);
    for (int i = 0; i < 20; ++i) EXPECT_EQ((*s)->sample(std::vector<float>{9.0f, 9.0f, -5.0f}), 2);
}

TEST(Logprobs, LogSoftmaxAndTopN) {
    const auto l = logits_from_probs({0.1, 0.6, 0.3});
    std::vector<float> lp(3);
    log_softmax(l, lp);
    EXPECT_NEAR(lp[0], std::log(0.1), 1e-6);
    EXPECT_NEAR(lp[1], std::log(0.6), 1e-6);

    // Shifting every logit leaves log-probabilities unchanged.
    std::vector<float> shifted = l;
    for (float& x : shifted) x += 1000.0f;
    const LogprobsEntry e = compute_logprobs(shifted, 2, 2);
    EXPECT_EQ(e.chosen.id, 2);
    EXPECT_NEAR(e.chosen.logprob, std::log(0.3), 1e-4);
    ASSERT_EQ(e.top.size(), 2u);
    EXPECT_EQ(e.top[0].id, 1);
    EXPECT_EQ(e.top[1].id, 2);
    EXPECT_NEAR(e.top[0].logprob, std::log(0.6), 1e-4);

    EXPECT_EQ(compute_logprobs(l, 0, 10).top.size(), 3u);  // clamped to the vocabulary
    EXPECT_TRUE(compute_logprobs(l, 0, 0).top.empty());
}

}  // namespace
// argmax (two vector passes) against the scalar definition of the sampler's order: NaN counts as -inf, the
// lowest id wins ties (so a NaN at 0 no longer wins); every length from 1 to 70 (vector bodies and tails) and a
// 151936-entry row.
TEST(Argmax, MatchesTheScalarDefinition) {
    auto reference = [](const std::vector<float>& v) {
        auto clean = [](float x) { return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x; };
        size_t best = 0;
        for (size_t i = 1; i < v.size(); ++i)
            if (clean(v[i]) > clean(v[best])) best = i;
        return static_cast<int32_t>(best);
    };
    uint64_t state = 12345;
    auto next = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<int>(state >> 33);
    };
    std::vector<size_t> lengths;
    for (size_t n = 1; n <= 70; ++n) lengths.push_back(n);
    lengths.push_back(151936);
    for (size_t n : lengths)
        for (int trial = 0; trial < 20; ++trial) {
            std::vector<float> v(n);
            for (float& x : v) x = static_cast<float>(next() % 7) - 3.0f;  // many ties
            if (trial % 4 == 1) v[static_cast<size_t>(next()) % n] = std::numeric_limits<float>::quiet_NaN();
            if (trial % 4 == 2) v[0] = std::numeric_limits<float>::quiet_NaN();
            if (trial % 4 == 3) v[static_cast<size_t>(next()) % n] = std::numeric_limits<float>::infinity();
            ASSERT_EQ(argmax(v), reference(v)) << "n " << n << " trial " << trial;
        }
    const std::vector<float> all_neg_inf(33, -std::numeric_limits<float>::infinity());
    EXPECT_EQ(argmax(all_neg_inf), 0);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(argmax(std::vector<float>{nan, -1.0f, 3.0f, nan}), 2);  // NaN at 0 loses to any number
    EXPECT_EQ(argmax(std::vector<float>{nan, -std::numeric_limits<float>::infinity(), nan}), 0);  // all "-inf": id 0
}

}  // namespace rz::runtime
