// Statistics of repeated measurements: see include/realizar/bench/stats.h for the method.
#include "realizar/bench/stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

namespace rz::bench {

double t_quantile_975(int df) {
    // Two-sided 95% critical values of Student's t for df = 1..30.
    static constexpr double kTable[30] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
                                          2.2622,  2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
                                          2.1098,  2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
                                          2.0595,  2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    RZ_ASSERT(df >= 1, "t_quantile_975 needs df >= 1");
    if (df <= 30) return kTable[df - 1];
    // Cornish-Fisher expansion of the t quantile around the normal quantile z.
    const double z = 1.959963984540054, n = df;
    const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n);
}

std::optional<std::pair<int, int>> median_ci_ranks(int n) {
    if (n < 6) return std::nullopt;
    // Largest k with P(B < k) <= 0.025, B ~ Binomial(n, 1/2); computed in log space so large n cannot overflow.
    double cdf = 0.0;  // P(B < k) for the current k
    int k = 0;
    for (int i = 0; i <= n; ++i) {
        const double log_p = std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0);
        const double next = cdf + std::exp(log_p);  // P(B < i + 1)
        if (next > 0.025) break;
        cdf = next;
        k = i + 1;
    }
    if (k < 1) return std::nullopt;
    return std::make_pair(k, n + 1 - k);
}

Summary summarize(std::span<const double> xs) {
    Summary s;
    s.samples = static_cast<int>(xs.size());
    if (xs.empty()) return s;
    std::vector<double> v(xs.begin(), xs.end());
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    s.min = v.front();
    s.max = v.back();
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    double sum = 0.0;
    for (double x : v) sum += x;
    s.mean = sum / static_cast<double>(n);
    if (n >= 2) {
        double ss = 0.0;
        for (double x : v) ss += (x - s.mean) * (x - s.mean);
        s.stddev = std::sqrt(ss / static_cast<double>(n - 1));
        const double half = t_quantile_975(static_cast<int>(n - 1)) * s.stddev / std::sqrt(static_cast<double>(n));
        s.ci95 = std::make_pair(s.mean - half, s.mean + half);
    }
    s.cv = s.mean != 0.0 ? s.stddev / std::fabs(s.mean) : 0.0;
    if (auto r = median_ci_ranks(static_cast<int>(n))) s.median_ci95 = std::make_pair(v[r->first - 1], v[r->second - 1]);
    return s;
}

bool cv_below(std::span<const double> xs, double cv_target) {
    if (xs.size() < 2) return false;  // one sample says nothing about its variation
    return summarize(xs).cv < cv_target;
}

const char* stop_reason_name(StopReason r) {
    switch (r) {
        case StopReason::kCvReached: return "cv_reached";
        case StopReason::kMaxRuns: return "max_runs";
        case StopReason::kTimeBudget: return "time_budget";
    }
    return "?";
}

Result<RepeatResult> repeat_until_stable(const RepeatOptions& o, const std::function<Result<double>()>& measure) {
    if (o.max_runs < 1) return invalid_argument("bench: repetitions: max runs must be >= 1");
    if (o.min_runs < 1 || o.min_runs > o.max_runs)
        return invalid_argument("bench: repetitions: min runs (" + std::to_string(o.min_runs) + ") must be in 1.." +
                                std::to_string(o.max_runs));
    if (o.warmup < 0) return invalid_argument("bench: warm-up runs must be >= 0");
    if (!(o.cv_target > 0.0)) return invalid_argument("bench: the CV target must be > 0");
    if (o.max_seconds < 0.0 || !std::isfinite(o.max_seconds)) return invalid_argument("bench: max time must be >= 0");
    RepeatResult r;
    for (int i = 0; i < o.warmup; ++i) {
        auto v = measure();
        if (!v.ok()) return v.status();
        ++r.warmup_runs;
        if (o.on_run) o.on_run(true, r.warmup_runs, *v);
    }
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    for (;;) {
        auto v = measure();
        if (!v.ok()) return v.status();
        r.values.push_back(*v);
        const int n = static_cast<int>(r.values.size());
        if (o.on_run) o.on_run(false, n, *v);
        r.cv_reached = cv_below(r.values, o.cv_target);
        if (n >= o.min_runs && r.cv_reached) {
            r.stop = StopReason::kCvReached;
            break;
        }
        if (n >= o.max_runs) {
            r.stop = StopReason::kMaxRuns;
            break;
        }
        const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
        if (o.max_seconds > 0.0 && elapsed >= o.max_seconds) {
            r.stop = StopReason::kTimeBudget;
            break;
        }
    }
    r.summary = summarize(r.values);
    return r;
}

}  // namespace rz::bench
