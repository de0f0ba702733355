// Sampler chain: stages, the seeded draw, log-probabilities. See include/realizar/runtime/sampler.h and
// docs/sampling.md for the order and the defaults.
#include "realizar/runtime/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>

namespace rz::runtime {

namespace {

// Total order used everywhere we sort: higher logit first, lower id on ties. Being total (ids are unique)
// makes every sort, partial sort and greedy pick deterministic.
inline bool better(const TokenData& a, const TokenData& b) {
    if (a.logit != b.logit) return a.logit > b.logit;
    return a.id < b.id;
}

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z          = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z          = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

// Sorts only as far as needed: the first `k` entries end up in order.
void partial_sort_candidates(Candidates& cand, size_t k) {
    if (cand.sorted) return;
    k = std::min(k, cand.data.size());
    if (k == cand.data.size()) {
        std::sort(cand.data.begin(), cand.data.end(), better);
        cand.sorted = true;
    } else {
        std::partial_sort(cand.data.begin(), cand.data.begin() + static_cast<std::ptrdiff_t>(k), cand.data.end(),
                          better);
    }
}

// ---- stages ----

class LogitBiasStage final : public SamplerStage {
  public:
    explicit LogitBiasStage(std::vector<LogitBias> bias) : bias_(std::move(bias)) {}
    const char* name() const override { return "logit-bias"; }
    void apply(Candidates& cand) override {
        for (const LogitBias& b : bias_) {
            const auto tok = static_cast<size_t>(b.token);
            // Fast path: the candidates are still the vocabulary in id order (bias runs first).
            if (b.token >= 0 && tok < cand.data.size() && cand.data[tok].id == b.token) {
                cand.data[tok].logit += b.bias;
                continue;
            }
            for (TokenData& td : cand.data) {
                if (td.id == b.token) {
                    td.logit += b.bias;
                    break;
                }
            }
        }
        if (!bias_.empty()) cand.sorted = false;
    }
    std::unique_ptr<SamplerStage> clone() const override { return std::make_unique<LogitBiasStage>(bias_); }

  private:
    std::vector<LogitBias> bias_;
};

class PenaltiesStage final : public SamplerStage {
  public:
    PenaltiesStage(int32_t last_n, float repeat, float presence, float frequency)
        : last_n_(last_n), repeat_(repeat), presence_(presence), frequency_(frequency) {}
    const char* name() const override { return "penalties"; }
    void apply(Candidates& cand) override {
        if (counts_.empty()) return;
        auto penalize = [&](TokenData& td, int count) {
            // Dividing a negative logit would make the token MORE likely; multiply those instead
            // (the usual fix to the CTRL paper's rule, as llama.cpp and HF do).
            if (td.logit <= 0.0f) {
                td.logit *= repeat_;
            } else {
                td.logit /= repeat_;
            }
            td.logit -= static_cast<float>(count) * frequency_ + presence_;
        };
        // Usual case: the candidates are still the vocabulary in id order, so visit only the (at most
        // last_n) seen tokens instead of hashing every vocabulary entry.
        bool direct = true;
        for (const auto& [id, count] : counts_) {
            const auto i = static_cast<size_t>(id);
            if (id < 0 || i >= cand.data.size() || cand.data[i].id != id) {
                direct = false;
                break;
            }
        }
        if (direct) {
            for (const auto& [id, count] : counts_) penalize(cand.data[static_cast<size_t>(id)], count);
        } else {
            for (TokenData& td : cand.data) {
                auto it = counts_.find(td.id);
                if (it != counts_.end()) penalize(td, it->second);
            }
        }
        cand.sorted = false;
    }
    void accept(int32_t token) override {
        if (last_n_ == 0) return;
        if (last_n_ > 0 && history_.size() >= static_cast<size_t>(last_n_)) {
            const int32_t old = history_.front();
            history_.pop_front();
            auto it = counts_.find(old);
            if (it != counts_.end() && --it->second == 0) counts_.erase(it);
        }
        history_.push_back(token);
        ++counts_[token];
    }
    void reset() override {
        history_.clear();
        counts_.clear();
    }
    std::unique_ptr<SamplerStage> clone() const override {
        auto c      = std::make_unique<PenaltiesStage>(last_n_, repeat_, presence_, frequency_);
        c->history_ = history_;
        c->counts_  = counts_;
        return c;
    }

  private:
    int32_t last_n_;
    float repeat_, presence_, frequency_;
    std::deque<int32_t> history_;
    std::unordered_map<int32_t, int> counts_;
};

class TopKStage final : public SamplerStage {
  public:
    explicit TopKStage(int32_t k) : k_(k) {}
    const char* name() const override { return "top-k"; }
    void apply(Candidates& cand) override {
        if (k_ <= 0 || static_cast<size_t>(k_) >= cand.data.size()) return;
        const auto k = static_cast<size_t>(k_);
        partial_sort_candidates(cand, k);
        cand.data.resize(k);
        cand.sorted = true;
    }
    std::unique_ptr<SamplerStage> clone() const override { return std::make_unique<TopKStage>(k_); }

  private:
    int32_t k_;
};

// Locally typical sampling (Meister et al. 2022): keep the tokens whose surprisal is closest to the
// distribution's entropy until their mass exceeds p.
class TypicalStage final : public SamplerStage {
  public:
    TypicalStage(float p, int32_t min_keep) : p_(p), min_keep_(min_keep) {}
    const char* name() const override { return "typical-p"; }
    void apply(Candidates& cand) override {
        if (p_ >= 1.0f || cand.data.size() <= 1) return;
        cand.softmax();
        double entropy = 0.0;
        for (const TokenData& td : cand.data) {
            if (td.p > 0.0f) entropy -= static_cast<double>(td.p) * std::log(static_cast<double>(td.p));
        }
        const size_t n = cand.data.size();
        std::vector<std::pair<double, size_t>> order(n);  // (|surprisal - entropy|, index)
        for (size_t i = 0; i < n; ++i) {
            const double p         = cand.data[i].p;
            const double surprisal = p > 0.0 ? -std::log(p) : std::numeric_limits<double>::infinity();
            order[i]               = {std::fabs(surprisal - entropy), i};
        }
        std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
            if (a.first != b.first) return a.first < b.first;
            return cand.data[a.second].id < cand.data[b.second].id;
        });
        double cum  = 0.0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += cand.data[order[i].second].p;
            if (cum > p_ && i + 1 >= static_cast<size_t>(std::max(min_keep_, 1))) {
                keep = i + 1;
                break;
            }
        }
        std::vector<TokenData> kept;
        kept.reserve(keep);
        for (size_t i = 0; i < keep; ++i) kept.push_back(cand.data[order[i].second]);
        cand.data   = std::move(kept);
        cand.sorted = false;
    }
    std::unique_ptr<SamplerStage> clone() const override { return std::make_unique<TypicalStage>(p_, min_keep_); }

  private:
    float p_;
    int32_t min_keep_;
};

// Nucleus sampling: the smallest prefix (by probability) whose mass reaches p.
class TopPStage final : public SamplerStage {
  public:
    TopPStage(float p, int32_t min_keep) : p_(p), min_keep_(min_keep) {}
    const char* name() const override { return "top-p"; }
    void apply(Candidates& cand) override {
        if (p_ >= 1.0f || cand.data.size() <= 1) return;
        cand.softmax();
        const size_t n        = cand.data.size();
        const size_t min_keep = std::min(n, static_cast<size_t>(std::max(min_keep_, 1)));
        // Sort only a prefix that surely holds the nucleus: select the best k in O(n) (nth_element) and
        // grow k 4x until their mass reaches p. Most of an LM's mass sits in a few hundred tokens, so a
        // 150k vocabulary rarely needs more than one or two rounds instead of a full sort.
        size_t k = n;
        if (!cand.sorted) {
            k = std::min(n, std::max<size_t>(256, min_keep));
            for (;;) {
                if (k < n) {
                    std::nth_element(cand.data.begin(), cand.data.begin() + static_cast<std::ptrdiff_t>(k - 1),
                                     cand.data.end(), better);
                }
                double mass = 0.0;
                for (size_t i = 0; i < k; ++i) mass += cand.data[i].p;
                if (mass >= p_ || k == n) break;
                k = std::min(n, k * 4);
            }
            std::sort(cand.data.begin(), cand.data.begin() + static_cast<std::ptrdiff_t>(k), better);
        }
        double cum  = 0.0;
        size_t keep = k;  // float round-off can leave the total a hair under p: keep everything then
        for (size_t i = 0; i < k; ++i) {
            cum += cand.data[i].p;
            if (cum >= p_ && i + 1 >= min_keep) {
                keep = i + 1;
                break;
            }
        }
        cand.data.resize(keep);
        cand.sorted = true;  // the kept prefix is in order
    }
    std::unique_ptr<SamplerStage> clone() const override { return std::make_unique<TopPStage>(p_, min_keep_); }

  private:
    float p_;
    int32_t min_keep_;
};

// Keep tokens with p >= min_p * p_max, i.e. logit >= max_logit + log(min_p) (no softmax needed).
class MinPStage final : public SamplerStage {
  public:
    MinPStage(float p, int32_t min_keep) : p_(p), min_keep_(min_keep) {}
    const char* name() const override { return "min-p"; }
    void apply(Candidates& cand) override {
        if (p_ <= 0.0f || cand.data.empty()) return;
        float max_logit = -std::numeric_limits<float>::infinity();
        for (const TokenData& td : cand.data) max_logit = std::max(max_logit, td.logit);
        const float threshold = max_logit + std::log(p_);
        size_t n_pass         = 0;
        for (const TokenData& td : cand.data) n_pass += td.logit >= threshold ? 1 : 0;
        const size_t min_keep = static_cast<size_t>(std::max(min_keep_, 1));
        if (n_pass >= min_keep) {
            // Stable filter: keeps the current order (and thus `sorted`).
            auto end = std::stable_partition(cand.data.begin(), cand.data.end(),
                                             [&](const TokenData& td) { return td.logit >= threshold; });
            cand.data.erase(end, cand.data.end());
        } else {
            partial_sort_candidates(cand, min_keep);
            cand.data.resize(std::min(min_keep, cand.data.size()));
            cand.sorted = true;
        }
    }
    std::unique_ptr<SamplerStage> clone() const override { return std::make_unique<MinPStage>(p_, min_keep_); }

  private:
    float p_;
    int32_t min_keep_;
};

class TemperatureStage final : public SamplerStage {
  public:
    explicit TemperatureStage(float t) : t_(t) {}
    const char* name() const override { return "temperature"; }
    void apply(Candidates& cand) override {
        if (cand.data.empty()) return;
        if (t_ <= 0.0f) {
            // Greedy: only the best candidate survives (lowest id on ties).
            auto best            = std::min_element(cand.data.begin(), cand.data.end(), better);
            const TokenData keep = *best;
            cand.data.assign(1, keep);
            cand.sorted = true;
            return;
        }
        const float inv = 1.0f / t_;
        for (TokenData& td : cand.data) td.logit *= inv;
    }
    std::unique_ptr<SamplerStage> clone() const override { return std::make_unique<TemperatureStage>(t_); }

  private:
    float t_;
};

}  // namespace

// ---- Candidates ----

void Candidates::reset(std::span<const float> logits) {
    data.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) {
        float l = logits[i];
        // NaN would break the strict weak ordering every sort relies on; treat it as impossible.
        if (std::isnan(l)) l = -std::numeric_limits<float>::infinity();
        data[i] = TokenData{static_cast<int32_t>(i), l, 0.0f};
    }
    sorted   = false;
    selected = -1;
}

void Candidates::sort() {
    if (sorted) return;
    std::sort(data.begin(), data.end(), better);
    sorted = true;
}

void Candidates::softmax() {
    if (data.empty()) return;
    float max_l = -std::numeric_limits<float>::infinity();
    for (const TokenData& td : data) max_l = std::max(max_l, td.logit);
    if (!std::isfinite(max_l)) {
        // Every candidate was banned (-inf): spread the mass evenly rather than produce NaN.
        const float u = 1.0f / static_cast<float>(data.size());
        for (TokenData& td : data) td.p = u;
        return;
    }
    double sum = 0.0;
    for (TokenData& td : data) {
        td.p = std::exp(td.logit - max_l);
        sum += td.p;
    }
    const double inv = 1.0 / sum;
    for (TokenData& td : data) td.p = static_cast<float>(td.p * inv);
}

// ---- Rng ----

Rng::Rng(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& w : s_) w = splitmix64(x);
}

uint64_t Rng::next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t      = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() {
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

// ---- params ----

Status SamplingParams::validate(int n_vocab) const {
    auto bad = [](std::string msg) { return invalid_argument(std::move(msg)); };
    if (std::isnan(temperature) || std::isinf(temperature))
        return bad(fmt::format("temperature must be a finite number, got {}", temperature));
    if (!(top_p >= 0.0f && top_p <= 1.0f)) return bad(fmt::format("top_p must be in [0, 1], got {}", top_p));
    if (!(min_p >= 0.0f && min_p <= 1.0f)) return bad(fmt::format("min_p must be in [0, 1], got {}", min_p));
    if (!(typical_p >= 0.0f && typical_p <= 1.0f))
        return bad(fmt::format("typical_p must be in [0, 1], got {}", typical_p));
    if (!(repeat_penalty > 0.0f) || std::isinf(repeat_penalty))
        return bad(fmt::format("repeat_penalty must be a positive finite number, got {}", repeat_penalty));
    if (!std::isfinite(presence_penalty))
        return bad(fmt::format("presence_penalty must be finite, got {}", presence_penalty));
    if (!std::isfinite(frequency_penalty))
        return bad(fmt::format("frequency_penalty must be finite, got {}", frequency_penalty));
    if (penalty_last_n < -1) return bad(fmt::format("penalty_last_n must be >= -1, got {}", penalty_last_n));
    if (min_keep < 0) return bad(fmt::format("min_keep must be >= 0, got {}", min_keep));
    for (const LogitBias& b : logit_bias) {
        if (b.token < 0 || b.token >= n_vocab)
            return bad(fmt::format("logit_bias token {} is outside the vocabulary [0, {})", b.token, n_vocab));
        if (std::isnan(b.bias) || b.bias == std::numeric_limits<float>::infinity())
            return bad(fmt::format("logit_bias for token {} must be a number or -infinity, got {}", b.token, b.bias));
    }
    return Status::Ok();
}

bool SamplingParams::is_plain_greedy() const {
    const bool penalties_on =
        penalty_last_n != 0 && (repeat_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f);
    // top-k, top-p and min-p always keep the most likely token; typical-p may drop it.
    return temperature <= 0.0f && logit_bias.empty() && !penalties_on && typical_p >= 1.0f;
}

// ---- stage factories ----

std::unique_ptr<SamplerStage> make_logit_bias_stage(std::vector<LogitBias> bias) {
    return std::make_unique<LogitBiasStage>(std::move(bias));
}
std::unique_ptr<SamplerStage> make_penalties_stage(int32_t last_n, float repeat, float presence, float frequency) {
    return std::make_unique<PenaltiesStage>(last_n, repeat, presence, frequency);
}
std::unique_ptr<SamplerStage> make_top_k_stage(int32_t k) {
    return std::make_unique<TopKStage>(k);
}
std::unique_ptr<SamplerStage> make_typical_stage(float p, int32_t min_keep) {
    return std::make_unique<TypicalStage>(p, min_keep);
}
std::unique_ptr<SamplerStage> make_top_p_stage(float p, int32_t min_keep) {
    return std::make_unique<TopPStage>(p, min_keep);
}
std::unique_ptr<SamplerStage> make_min_p_stage(float p, int32_t min_keep) {
    return std::make_unique<MinPStage>(p, min_keep);
}
std::unique_ptr<SamplerStage> make_temperature_stage(float temperature) {
    return std::make_unique<TemperatureStage>(temperature);
}

// ---- Sampler ----

Result<std::unique_ptr<Sampler>> Sampler::create(const SamplingParams& params, int n_vocab) {
    if (n_vocab <= 0)
        return invalid_argument(fmt::format("sampler: vocabulary size must be positive, got {}", n_vocab));
    RZ_RETURN_IF_ERROR(params.validate(n_vocab));
    std::unique_ptr<Sampler> s(new Sampler());
    s->params_  = params;
    s->n_vocab_ = n_vocab;
    if (params.seed == kRandomSeed) {
        std::random_device rd;
        const uint64_t t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        uint64_t mix     = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ t;
        s->seed_         = splitmix64(mix);
        if (s->seed_ == kRandomSeed) s->seed_ = 0;  // kRandomSeed is not a reproducible seed
    } else {
        s->seed_ = params.seed;
    }
    s->rng_ = Rng(s->seed_);

    // Only the stages that do something are in the chain (cheaper, and describe() tells the truth).
    if (!params.logit_bias.empty()) s->stages_.push_back(make_logit_bias_stage(params.logit_bias));
    const bool penalties_on =
        params.penalty_last_n != 0 &&
        (params.repeat_penalty != 1.0f || params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f);
    if (penalties_on) {
        s->stages_.push_back(make_penalties_stage(params.penalty_last_n, params.repeat_penalty, params.presence_penalty,
                                                  params.frequency_penalty));
    }
    if (params.top_k > 0 && params.top_k < n_vocab) s->stages_.push_back(make_top_k_stage(params.top_k));
    if (params.typical_p < 1.0f) s->stages_.push_back(make_typical_stage(params.typical_p, params.min_keep));
    if (params.top_p < 1.0f) s->stages_.push_back(make_top_p_stage(params.top_p, params.min_keep));
    if (params.min_p > 0.0f) s->stages_.push_back(make_min_p_stage(params.min_p, params.min_keep));
    s->stages_.push_back(make_temperature_stage(params.temperature));
    // The candidate path (sample_top) is exact when the chain before top-k leaves the logits alone: the top-k
    // stage then keeps exactly the k best of the row, in the order Context::top_k returns them, and every
    // later stage and the draw see the same candidates. Plain greedy needs only the best one.
    if (params.is_plain_greedy()) {
        s->top_k_needed_ = 1;
    } else if (params.logit_bias.empty() && !penalties_on && params.top_k > 0 && params.top_k < n_vocab &&
               params.top_k <= kMaxTopK) {
        s->top_k_needed_ = params.top_k;
    }
    return s;
}

int32_t Sampler::sample(std::span<const float> logits) {
    RZ_ASSERT(static_cast<int>(logits.size()) == n_vocab_, "sampler: logits row size differs from the vocabulary");
    if (params_.is_plain_greedy()) {
        const int32_t id = argmax(logits);
        const float l    = logits[static_cast<size_t>(id)];
        cand_.data.assign(1, TokenData{id, std::isnan(l) ? -std::numeric_limits<float>::infinity() : l, 1.0f});
        cand_.sorted   = true;
        cand_.selected = 0;
        return id;
    }
    cand_.reset(logits);
    return draw();
}

int32_t Sampler::sample_top(std::span<const TokenLogit> top) {
    RZ_ASSERT(top_k_needed_ > 0 && top.size() == static_cast<size_t>(top_k_needed_),
              "sampler: sample_top needs exactly top_k_needed() candidates");
    if (params_.is_plain_greedy()) {
        cand_.data.assign(1, TokenData{top[0].id, top[0].logit, 1.0f});
        cand_.sorted   = true;
        cand_.selected = 0;
        return top[0].id;
    }
    // What the top-k stage leaves of the full row: these k, best first (its apply() is then a no-op).
    cand_.data.resize(top.size());
    for (size_t i = 0; i < top.size(); ++i) cand_.data[i] = TokenData{top[i].id, top[i].logit, 0.0f};
    cand_.sorted   = true;
    cand_.selected = -1;
    return draw();
}

int32_t Sampler::draw() {
    for (auto& stage : stages_) stage->apply(cand_);
    RZ_ASSERT(!cand_.data.empty(), "sampler: a stage removed every candidate");

    // Draw: inverse CDF over the surviving candidates, in their current order (deterministic).
    cand_.softmax();
    if (cand_.data.size() == 1) {
        cand_.selected = 0;
        return cand_.data[0].id;
    }
    const double target = rng_.uniform();
    double cum          = 0.0;
    size_t pick         = cand_.data.size() - 1;  // float round-off can leave cum a hair under 1
    for (size_t i = 0; i < cand_.data.size(); ++i) {
        cum += cand_.data[i].p;
        if (target < cum) {
            pick = i;
            break;
        }
    }
    cand_.selected = static_cast<int32_t>(pick);
    return cand_.data[pick].id;
}

void Sampler::accept(int32_t token) {
    for (auto& stage : stages_) stage->accept(token);
}

void Sampler::reset() {
    for (auto& stage : stages_) stage->reset();
    rng_ = Rng(seed_);
    cand_.data.clear();
    cand_.selected = -1;
}

std::unique_ptr<Sampler> Sampler::clone() const {
    std::unique_ptr<Sampler> s(new Sampler());
    s->params_  = params_;
    s->n_vocab_ = n_vocab_;
    s->seed_    = seed_;
    s->rng_     = rng_;
    s->top_k_needed_ = top_k_needed_;
    for (const auto& stage : stages_) s->stages_.push_back(stage->clone());
    return s;
}

std::string Sampler::describe() const {
    std::string out;
    for (const auto& stage : stages_) {
        out += stage->name();
        out += " -> ";
    }
    out += params_.temperature <= 0.0f ? "greedy" : fmt::format("dist(seed {})", seed_);
    return out;
}

// ---- free functions ----

// The sampler's order (`better` over Candidates::reset's values: NaN as -inf, the lowest id on ties), so the
// greedy fast path, the chain's greedy pick and Context::top_k(1) agree, in two vector passes: the max, then
// its first index. The greedy step of a GPU decode scans a 32k-150k row per token; this is ~6-8x faster than
// the scalar compare chain (docs/perf/generation.md).
int32_t argmax(std::span<const float> logits) {
    RZ_ASSERT(!logits.empty());
    const float* p = logits.data();
    const size_t n = logits.size();
    float m = -std::numeric_limits<float>::infinity();
    size_t i = 0;
#if defined(__SSE2__)
    // maxps(x, m) is exactly `x > m ? x : m` per lane, so a NaN element is skipped.
    __m128 m0 = _mm_set1_ps(m), m1 = m0, m2 = m0, m3 = m0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm_max_ps(_mm_loadu_ps(p + i), m0);
        m1 = _mm_max_ps(_mm_loadu_ps(p + i + 4), m1);
        m2 = _mm_max_ps(_mm_loadu_ps(p + i + 8), m2);
        m3 = _mm_max_ps(_mm_loadu_ps(p + i + 12), m3);
    }
    alignas(16) float lanes[16];
    _mm_store_ps(lanes, m0);
    _mm_store_ps(lanes + 4, m1);
    _mm_store_ps(lanes + 8, m2);
    _mm_store_ps(lanes + 12, m3);
    for (float l : lanes) m = l > m ? l : m;
#endif
    for (; i < n; ++i) m = p[i] > m ? p[i] : m;
    if (m == -std::numeric_limits<float>::infinity()) return 0;  // every entry -inf or NaN: all tie, id 0 wins
    size_t j = 0;
#if defined(__SSE2__)
    const __m128 mv = _mm_set1_ps(m);
    for (; j + 4 <= n; j += 4) {
        const int mask = _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(p + j), mv));
        if (mask != 0) return static_cast<int32_t>(j + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask))));
    }
#endif
    for (; j < n; ++j)
        if (p[j] == m) return static_cast<int32_t>(j);
    RZ_ASSERT(false, "argmax: the maximum was not found again");
    return 0;
}

namespace {
double log_sum_exp(std::span<const float> logits) {
    float max_l = -std::numeric_limits<float>::infinity();
    for (float l : logits) max_l = std::max(max_l, l);
    if (!std::isfinite(max_l)) return static_cast<double>(max_l);
    // float exp (several times faster than double over a 150k row), summed in double.
    double sum = 0.0;
    for (float l : logits) sum += std::exp(l - max_l);
    return max_l + std::log(sum);
}
}  // namespace

void log_softmax(std::span<const float> logits, std::span<float> out) {
    RZ_ASSERT(out.size() == logits.size());
    const double lse = log_sum_exp(logits);
    for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(static_cast<double>(logits[i]) - lse);
}

LogprobsEntry compute_logprobs(std::span<const float> logits, int32_t chosen, int top_n) {
    RZ_ASSERT(chosen >= 0 && static_cast<size_t>(chosen) < logits.size(), "logprobs: chosen token out of range");
    const double lse = log_sum_exp(logits);
    LogprobsEntry e;
    e.chosen       = {chosen, static_cast<float>(static_cast<double>(logits[static_cast<size_t>(chosen)]) - lse)};
    const size_t n = std::min(static_cast<size_t>(std::max(top_n, 0)), logits.size());
    if (n == 0) return e;
    // Strict total order: higher logit first (NaN as -inf), then lower id.
    auto key = [&](int32_t id) {
        const float l = logits[static_cast<size_t>(id)];
        return std::isnan(l) ? -std::numeric_limits<float>::infinity() : l;
    };
    auto before = [&](int32_t a, int32_t b) {
        const float la = key(a), lb = key(b);
        return la != lb ? la > lb : a < b;
    };
    std::vector<int32_t> idx;
    if (n <= 64) {
        // One pass keeping the n best in a small sorted list: O(V) instead of an O(V) index array + sort.
        idx.reserve(n + 1);
        for (int32_t id = 0; id < static_cast<int32_t>(logits.size()); ++id) {
            if (idx.size() == n && !before(id, idx.back())) continue;
            idx.insert(std::upper_bound(idx.begin(), idx.end(), id, before), id);
            if (idx.size() > n) idx.pop_back();
        }
    } else {
        idx.resize(logits.size());
        std::iota(idx.begin(), idx.end(), 0);
        std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(), before);
    }
    e.top.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const int32_t id = idx[i];
        e.top.push_back({id, static_cast<float>(static_cast<double>(logits[static_cast<size_t>(id)]) - lse)});
    }
    return e;
}

}  // namespace rz::runtime
