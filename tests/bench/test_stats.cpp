// Statistics of `realizar bench`: summaries of known sequences, t and binomial intervals, CV stopping.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <tuple>

#include "realizar/bench/stats.h"

using namespace rz::bench;

TEST(BenchStats, SummaryOfKnownSequence) {
    const std::vector<double> x = {1, 2, 3, 4, 5};
    const Summary s = summarize(x);
    EXPECT_EQ(s.samples, 5);
    EXPECT_DOUBLE_EQ(s.mean, 3.0);
    EXPECT_DOUBLE_EQ(s.median, 3.0);
    EXPECT_NEAR(s.stddev, std::sqrt(2.5), 1e-12);
    EXPECT_NEAR(s.cv, std::sqrt(2.5) / 3.0, 1e-12);
    ASSERT_TRUE(s.ci95.has_value());
    const double half = 2.7764 * std::sqrt(2.5) / std::sqrt(5.0);  // t(0.975, 4) = 2.7764
    EXPECT_NEAR(s.ci95->first, 3.0 - half, 1e-3);
    EXPECT_NEAR(s.ci95->second, 3.0 + half, 1e-3);
    EXPECT_FALSE(s.median_ci95.has_value());  // 5 samples cannot bound the median at 95%
    EXPECT_EQ(s.min, 1.0);
    EXPECT_EQ(s.max, 5.0);
}

TEST(BenchStats, EvenMedianAndUnsortedInput) {
    const std::vector<double> x = {10, 1, 4, 3};
    const Summary s = summarize(x);
    EXPECT_DOUBLE_EQ(s.median, 3.5);
    EXPECT_DOUBLE_EQ(s.mean, 4.5);
}

TEST(BenchStats, DegenerateSequences) {
    EXPECT_EQ(summarize({}).samples, 0);
    const std::vector<double> one = {7};
    const Summary s1 = summarize(one);
    EXPECT_EQ(s1.stddev, 0.0);
    EXPECT_FALSE(s1.ci95.has_value());
    const std::vector<double> same = {2, 2, 2, 2, 2, 2, 2};
    const Summary s = summarize(same);
    EXPECT_EQ(s.cv, 0.0);
    ASSERT_TRUE(s.ci95 && s.median_ci95);
    EXPECT_EQ(s.ci95->first, 2.0);
    EXPECT_EQ(s.median_ci95->second, 2.0);
}

TEST(BenchStats, TQuantiles) {
    EXPECT_NEAR(t_quantile_975(1), 12.706, 1e-3);
    EXPECT_NEAR(t_quantile_975(10), 2.228, 1e-3);
    EXPECT_NEAR(t_quantile_975(30), 2.042, 1e-3);
    EXPECT_NEAR(t_quantile_975(40), 2.0211, 1e-3);   // tables: 2.021
    EXPECT_NEAR(t_quantile_975(60), 2.0003, 1e-3);   // 2.000
    EXPECT_NEAR(t_quantile_975(120), 1.9799, 1e-3);  // 1.980
    EXPECT_NEAR(t_quantile_975(100000), 1.95996, 1e-4);
}

TEST(BenchStats, MedianIntervalRanksAreExactBinomial) {
    EXPECT_FALSE(median_ci_ranks(5).has_value());
    // n = 6: P(B = 0) = 1/64 = 1.6% <= 2.5%, P(B <= 1) = 7/64 > 2.5% -> x(1), x(6).
    EXPECT_EQ(median_ci_ranks(6), std::make_pair(1, 6));
    // n = 10: P(B <= 1) = 11/1024 = 1.07%, P(B <= 2) = 56/1024 = 5.5% -> x(2), x(9).
    EXPECT_EQ(median_ci_ranks(10), std::make_pair(2, 9));
    // n = 20: P(B <= 5) = 2.07%, P(B <= 6) = 5.8% -> x(6), x(15) (the textbook values).
    EXPECT_EQ(median_ci_ranks(20), std::make_pair(6, 15));
    // Large n stays finite and near the normal approximation (n - 1.96 sqrt(n)) / 2.
    auto r = median_ci_ranks(10000);
    ASSERT_TRUE(r.has_value());
    EXPECT_NEAR(r->first, (10000 - 1.96 * 100) / 2, 2);
    const std::vector<double> x = {9, 1, 8, 2, 7, 3, 6, 4, 5, 10};
    const Summary s = summarize(x);
    ASSERT_TRUE(s.median_ci95.has_value());
    EXPECT_EQ(s.median_ci95->first, 2.0);
    EXPECT_EQ(s.median_ci95->second, 9.0);
}

// A measurement that replays a fixed sequence.
struct Replay {
    std::vector<double> seq;
    size_t i = 0;
    int calls = 0;
    rz::Result<double> operator()() {
        ++calls;
        return seq[std::min(i++, seq.size() - 1)];
    }
};

TEST(BenchStats, StopsOnceCvBelowTargetAndDiscardsWarmup) {
    Replay r{{1000, 100, 101, 99, 100, 500, 500}};
    RepeatOptions o;
    o.warmup = 1;
    o.min_runs = 3;
    o.max_runs = 10;
    o.cv_target = 0.05;
    auto res = repeat_until_stable(o, std::ref(r));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->warmup_runs, 1);
    EXPECT_EQ(res->values, (std::vector<double>{100, 101, 99}));  // 1000 (warm-up) is not a sample
    EXPECT_TRUE(res->cv_reached);
    EXPECT_EQ(res->stop, StopReason::kCvReached);
    EXPECT_EQ(r.calls, 4);
}

TEST(BenchStats, MinRunsHoldsEvenWhenCvIsLow) {
    Replay r{{5, 5, 5, 5, 5, 5}};
    RepeatOptions o;
    o.warmup = 0;
    o.min_runs = 5;
    auto res = repeat_until_stable(o, std::ref(r));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->values.size(), 5u);
    EXPECT_EQ(res->stop, StopReason::kCvReached);
}

TEST(BenchStats, NoisySequenceStopsAtMaxRunsAndSaysSo) {
    Replay r{{1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10}};
    RepeatOptions o;
    o.warmup = 2;
    o.max_runs = 6;
    auto res = repeat_until_stable(o, std::ref(r));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->values.size(), 6u);
    EXPECT_FALSE(res->cv_reached);
    EXPECT_EQ(res->stop, StopReason::kMaxRuns);
    EXPECT_STREQ(stop_reason_name(res->stop), "max_runs");
    EXPECT_GT(res->summary.cv, 0.5);
}

TEST(BenchStats, CvTargetReachedLateInTheSequence) {
    // Spread at first; equal values then dilute it. After n samples the squared deviations sum to 5000, so
    // cv = sqrt(5000 / (n - 1)) / 100 < 0.2  <=>  n - 1 > 12.5  <=>  n >= 14.
    Replay r{{50, 150, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100}};
    RepeatOptions o;
    o.warmup = 0;
    o.max_runs = 30;
    o.cv_target = 0.20;
    auto res = repeat_until_stable(o, std::ref(r));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->values.size(), 14u);
    EXPECT_TRUE(res->cv_reached);
    EXPECT_LT(res->summary.cv, 0.20);
    EXPECT_GT(summarize(std::span(res->values).first(13)).cv, 0.20);
}

TEST(BenchStats, TimeBudgetStopsAfterOneRun) {
    RepeatOptions o;
    o.warmup = 0;
    o.max_seconds = 1e-9;
    int calls = 0;
    auto res = repeat_until_stable(o, [&]() -> rz::Result<double> {
        ++calls;
        return calls % 2 ? 1.0 : 9.0;
    });
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->values.size(), 1u);
    EXPECT_EQ(res->stop, StopReason::kTimeBudget);
    EXPECT_FALSE(res->cv_reached);
}

TEST(BenchStats, ErrorsAndBadOptions) {
    RepeatOptions o;
    auto err = repeat_until_stable(o, []() -> rz::Result<double> { return rz::io_error("boom"); });
    ASSERT_FALSE(err.ok());
    EXPECT_EQ(err.status().message(), "boom");
    auto one = [] { return rz::Result<double>(1.0); };
    o.max_runs = 0;
    EXPECT_FALSE(repeat_until_stable(o, one).ok());
    o = {};
    o.min_runs = 11;
    EXPECT_FALSE(repeat_until_stable(o, one).ok());
    o = {};
    o.cv_target = 0;
    EXPECT_FALSE(repeat_until_stable(o, one).ok());
    o = {};
    o.warmup = -1;
    EXPECT_FALSE(repeat_until_stable(o, one).ok());
}

TEST(BenchStats, ProgressCallbackSeesWarmupAndRuns) {
    Replay r{{9, 1, 1, 1}};
    RepeatOptions o;
    o.warmup = 1;
    std::vector<std::tuple<bool, int, double>> seen;
    o.on_run = [&](bool warmup, int i, double v) { seen.emplace_back(warmup, i, v); };
    auto res = repeat_until_stable(o, std::ref(r));
    ASSERT_TRUE(res.ok());
    ASSERT_EQ(seen.size(), 4u);
    EXPECT_EQ(seen[0], std::make_tuple(true, 1, 9.0));
    EXPECT_EQ(seen[3], std::make_tuple(false, 3, 1.0));
}
