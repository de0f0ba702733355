#pragma once
// Benchmark statistics after Hoefler & Belli, "Scientific Benchmarking of Parallel Computing Systems" (SC'15):
// warm-up runs are discarded, measurements repeat until the coefficient of variation (stddev / mean) falls
// under a target or a maximum count / time budget is reached, and results report the median with a
// nonparametric 95% confidence interval (exact binomial order statistics, no normality assumption) next to
// the mean with a Student-t 95% confidence interval. Whether the CV target was reached is always reported.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "realizar/core/status.h"

namespace rz::bench {

struct Summary {
    int samples = 0;
    double median = 0.0;
    double mean = 0.0;
    double stddev = 0.0;  // sample standard deviation (n - 1); 0 for one sample
    double cv = 0.0;      // stddev / |mean|; 0 when the mean is 0
    double min = 0.0;
    double max = 0.0;
    // Student-t interval for the mean (needs 2 samples); nullopt otherwise.
    std::optional<std::pair<double, double>> ci95;
    // Exact nonparametric interval for the median: order statistics x_(k), x_(n+1-k) with the largest k such
    // that P(Binomial(n, 1/2) < k) <= 2.5%. Needs at least 6 samples; nullopt otherwise.
    std::optional<std::pair<double, double>> median_ci95;
};

Summary summarize(std::span<const double> xs);

// Two-sided 97.5% quantile of Student's t distribution with df degrees of freedom (df >= 1): a table up to
// 30, then the Cornish-Fisher expansion around the normal quantile (error < 1e-4 for df > 30).
double t_quantile_975(int df);

// Ranks (1-based) of the order statistics bounding the exact 95% median interval; nullopt for n < 6.
std::optional<std::pair<int, int>> median_ci_ranks(int n);

struct RepeatOptions {
    int warmup = 1;           // runs executed and discarded first
    int min_runs = 3;         // never stop before this many measured runs (time budget aside)
    int max_runs = 10;        // stop here even when the CV target is not reached
    double cv_target = 0.05;  // stop once cv < cv_target (and min_runs reached)
    double max_seconds = 0;   // > 0: stop once measured runs took this long (after at least one run)
    // Called after every run (warm-up included) with its 1-based index among its kind and its value:
    // progress output for runs that take minutes.
    std::function<void(bool warmup, int index, double value)> on_run;
};

enum class StopReason { kCvReached, kMaxRuns, kTimeBudget };
const char* stop_reason_name(StopReason r);  // "cv_reached", "max_runs", "time_budget"

struct RepeatResult {
    std::vector<double> values;  // measured values, warm-up excluded, in order
    Summary summary;
    bool cv_reached = false;
    StopReason stop = StopReason::kMaxRuns;
    int warmup_runs = 0;
};

// Calls `measure` (warm-up first) until the stopping rule holds. `measure` returns the value of one run;
// `elapsed_seconds` of each run is measured here (wall clock) for the time budget. Errors of `measure` are
// returned as they are. Invalid options (max_runs < 1, min_runs > max_runs, negative values) are errors.
Result<RepeatResult> repeat_until_stable(const RepeatOptions& opts, const std::function<Result<double>()>& measure);

// The stopping test alone, for a sequence measured so far.
bool cv_below(std::span<const double> xs, double cv_target);

}  // namespace rz::bench
