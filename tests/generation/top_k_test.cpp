// Context::top_k and the sampler's candidate path (Sampler::top_k_needed / sample_top): the host top-k
// against a full sort in the sampler's order (ties, NaN, -inf, -0), the default Context::top_k's errors, and
// the candidate path drawing exactly the tokens of the full path (same candidates, same RNG draws) for many
// seeds and options, on random rows, on stories260K's logits, and through the generation loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "realizar/runtime/context.h"
#include "realizar/runtime/generate.h"
#include "realizar/runtime/sampler.h"
#include "realizar/runtime/top_k.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::runtime {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const std::string kStories = std::string(RZ_SHARED_DIR) + "/data/tinystories-260K/stories260K-f32.gguf";

// The definition: stable sort of ids by cleaned logit, descending (stable = the lower id first on ties).
std::vector<TokenLogit> reference_top(const std::vector<float>& l, int k) {
    std::vector<TokenLogit> all;
    for (size_t i = 0; i < l.size(); ++i) all.push_back({static_cast<int32_t>(i), std::isnan(l[i]) ? -kInf : l[i]});
    std::stable_sort(all.begin(), all.end(), [](const TokenLogit& a, const TokenLogit& b) { return a.logit > b.logit; });
    all.resize(static_cast<size_t>(k));
    return all;
}

// Rows with many ties, NaN, +-inf and both zeros.
std::vector<float> nasty_row(Rng& rng, size_t n, int trial) {
    std::vector<float> l(n);
    for (float& x : l) x = static_cast<float>(static_cast<int>(rng.next() % 9) - 4) * 0.5f;
    for (size_t j = 0; j < n / 7 + 1; ++j) {
        float& x = l[rng.next() % n];
        switch ((trial + static_cast<int>(j)) % 5) {
            case 0: x = std::numeric_limits<float>::quiet_NaN(); break;
            case 1: x = -kInf; break;
            case 2: x = -0.0f; break;
            case 3: x = 0.0f; break;
            default: x = trial % 11 == 0 ? kInf : x; break;
        }
    }
    if (trial % 13 == 0) std::fill(l.begin(), l.end(), std::numeric_limits<float>::quiet_NaN());
    return l;
}

void expect_same(const std::vector<TokenLogit>& got, const std::vector<TokenLogit>& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t j = 0; j < want.size(); ++j) {
        ASSERT_EQ(got[j].id, want[j].id) << what << " entry " << j;
        // Bit-equal values (-0 stays -0; NaN came back as -inf).
        ASSERT_EQ(std::signbit(got[j].logit), std::signbit(want[j].logit)) << what << " entry " << j;
        ASSERT_TRUE(got[j].logit == want[j].logit) << what << " entry " << j;
    }
}

TEST(TopKRow, MatchesAFullSortInTheSamplersOrder) {
    Rng rng(11);
    int trial = 0;
    for (size_t n : {1u, 2u, 3u, 7u, 64u, 257u, 300u, 32000u})
        for (int k : {1, 2, 3, 40, 256})
            for (int rep = 0; rep < 6; ++rep, ++trial) {
                if (static_cast<size_t>(k) > n) continue;
                const auto l = nasty_row(rng, n, trial);
                std::vector<TokenLogit> got;
                top_k_row(l, k, got);
                expect_same(got, reference_top(l, k), "n " + std::to_string(n) + " k " + std::to_string(k));
            }
}

TEST(TopKRow, GreedyIsTheArgmax) {
    Rng rng(5);
    for (int trial = 0; trial < 200; ++trial) {
        const auto l = nasty_row(rng, 1 + rng.next() % 100, trial);
        std::vector<TokenLogit> got;
        top_k_row(l, 1, got);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].id, argmax(l)) << "trial " << trial;
    }
}

TEST(TopKRow, CheckTopKNamesTheRange) {
    EXPECT_TRUE(check_top_k(1, 512).ok());
    EXPECT_TRUE(check_top_k(kMaxTopK, 32000).ok());
    EXPECT_TRUE(check_top_k(3, 3).ok());
    for (auto [k, v] : {std::pair{0, 512}, {-1, 512}, {kMaxTopK + 1, 32000}, {4, 3}}) {
        const Status st = check_top_k(k, v);
        EXPECT_FALSE(st.ok()) << k << " " << v;
        EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
        EXPECT_NE(st.message().find("top_k: k must be in [1,"), std::string::npos) << st.message();
    }
}

TEST(SamplerCandidates, TopKNeededOnlyWhereTheCandidatePathIsExact) {
    auto needed = [](SamplingParams p, int n_vocab = 1000) {
        auto s = Sampler::create(p, n_vocab);
        EXPECT_TRUE(s.ok()) << s.status().message();
        return s.ok() ? (*s)->top_k_needed() : -1;
    };
    SamplingParams p;  // defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05
    EXPECT_EQ(needed(p), 40);
    SamplingParams g;
    g.temperature = 0.0f;
    EXPECT_EQ(needed(g), 1);  // plain greedy, whatever top_k says
    g.top_k = 0;
    EXPECT_EQ(needed(g), 1);
    SamplingParams off = p;
    off.top_k = 0;
    EXPECT_EQ(needed(off), 0);  // no top-k stage: every token may be drawn
    off.top_k = kMaxTopK + 1;
    EXPECT_EQ(needed(off), 0);  // above the device cap
    off.top_k = 1000;
    EXPECT_EQ(needed(off), 0);  // top_k >= n_vocab: no top-k stage
    SamplingParams pen = p;
    pen.repeat_penalty = 1.1f;
    EXPECT_EQ(needed(pen), 0);  // penalties change logits before top-k
    pen.penalty_last_n = 0;
    EXPECT_EQ(needed(pen), 40);  // ... unless their window is empty
    SamplingParams bias = p;
    bias.logit_bias.push_back({3, 1.0f});
    EXPECT_EQ(needed(bias), 0);
    SamplingParams greedy_typ = g;
    greedy_typ.typical_p = 0.5f;
    greedy_typ.top_k = 10;
    EXPECT_EQ(needed(greedy_typ), 10);  // not plain greedy (typical-p may drop the best), but top-k comes first
}

// Draws the same row through both paths, `steps` times in a row (the RNG must stay in step), and compares the
// token and the final candidates.
void expect_paths_agree(const SamplingParams& p, const std::vector<std::vector<float>>& rows, const std::string& what) {
    const int n_vocab = static_cast<int>(rows[0].size());
    auto full = Sampler::create(p, n_vocab);
    auto cand = Sampler::create(p, n_vocab);
    ASSERT_TRUE(full.ok() && cand.ok());
    const int k = (*cand)->top_k_needed();
    ASSERT_GT(k, 0) << what;
    std::vector<TokenLogit> top;
    for (size_t step = 0; step < rows.size(); ++step) {
        top_k_row(rows[step], k, top);
        const int32_t a = (*full)->sample(rows[step]);
        const int32_t b = (*cand)->sample_top(top);
        ASSERT_EQ(a, b) << what << " step " << step;
        const Candidates &ca = (*full)->candidates(), &cb = (*cand)->candidates();
        ASSERT_EQ(ca.size(), cb.size()) << what << " step " << step;
        for (size_t j = 0; j < ca.size(); ++j) {
            ASSERT_EQ(ca.data[j].id, cb.data[j].id) << what << " step " << step;
            ASSERT_EQ(ca.data[j].p, cb.data[j].p) << what << " step " << step;
        }
        (*full)->accept(a);
        (*cand)->accept(b);
    }
}

std::vector<SamplingParams> option_grid() {
    std::vector<SamplingParams> out;
    for (float temp : {0.0f, 0.3f, 0.8f, 1.5f})
        for (int top_k : {1, 2, 5, 40, 256})
            for (float top_p : {1.0f, 0.95f, 0.5f})
                for (float min_p : {0.0f, 0.05f, 0.3f})
                    for (float typ : {1.0f, 0.7f}) {
                        SamplingParams p;
                        p.temperature = temp, p.top_k = top_k, p.top_p = top_p, p.min_p = min_p, p.typical_p = typ;
                        p.min_keep = top_k % 2 == 0 ? 3 : 1;
                        p.seed = static_cast<uint64_t>(out.size()) * 7919u + 1;
                        out.push_back(p);
                    }
    return out;
}

TEST(SamplerCandidates, SampleTopDrawsTheFullPathsTokens) {
    Rng rng(99);
    std::vector<std::vector<float>> rows(12, std::vector<float>(600));
    int r = 0;
    for (auto& row : rows) {
        for (float& x : row) x = static_cast<float>(rng.uniform() * 12.0 - 6.0);
        if (r % 3 == 1)  // ties at the top-k boundary
            for (size_t i = 0; i < row.size(); i += 3) row[i] = 4.0f;
        if (r % 4 == 2) {  // NaN and -inf entries
            row[rng.next() % row.size()] = std::numeric_limits<float>::quiet_NaN();
            row[rng.next() % row.size()] = -kInf;
        }
        ++r;
    }
    for (const SamplingParams& p : option_grid())
        expect_paths_agree(p, rows, "seed " + std::to_string(p.seed) + " temp " + std::to_string(p.temperature) + " top_k " +
                                        std::to_string(p.top_k));
}

std::unique_ptr<Context> stories_context(std::shared_ptr<Model>& model) {
    auto m = Model::load(kStories);
    EXPECT_TRUE(m.ok()) << m.status().message();
    if (!m.ok()) return nullptr;
    model = *m;
    ContextOptions o;
    o.n_ctx = 128;
    o.n_threads = 2;
    auto c = Context::create(model, o);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
}

TEST(ContextTopK, DefaultMatchesTheRowAndReportsErrors) {
    std::shared_ptr<Model> model;
    auto ctx = stories_context(model);
    ASSERT_TRUE(ctx);
    Batch b;
    for (int i = 0; i < 6; ++i) b.add(1 + i * 37, i, 0, i % 2 == 1);
    ASSERT_TRUE(ctx->decode(b).ok());
    std::vector<TokenLogit> top;
    for (size_t i = 1; i < 6; i += 2)
        for (int k : {1, 5, 40, 256}) {
            ASSERT_TRUE(ctx->top_k(i, k, top).ok());
            const auto row = ctx->logits(i);
            expect_same(top, reference_top(std::vector<float>(row.begin(), row.end()), k), "entry " + std::to_string(i));
        }
    Status st = ctx->top_k(0, 5, top);  // asked for no logits
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("has no logits"), std::string::npos) << st.message();
    for (int bad : {0, 257, 513}) {
        st = ctx->top_k(1, bad, top);
        EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
        EXPECT_NE(st.message().find("k must be in"), std::string::npos) << st.message();
    }
    EXPECT_FALSE(ctx->top_k(99, 1, top).ok());
}

// Real logits (stories260K, 512 tokens): the sampler paths agree over a greedy walk's rows.
TEST(SamplerCandidates, SampleTopMatchesOnModelLogits) {
    std::shared_ptr<Model> model;
    auto ctx = stories_context(model);
    ASSERT_TRUE(ctx);
    std::vector<std::vector<float>> rows;
    int32_t t = 1;
    for (int i = 0; i < 16; ++i) {
        Batch b;
        b.add(t, i, 0, true);
        ASSERT_TRUE(ctx->decode(b).ok());
        const auto row = ctx->logits(0);
        rows.emplace_back(row.begin(), row.end());
        t = argmax(row);
    }
    for (const SamplingParams& p : option_grid()) expect_paths_agree(p, rows, "seed " + std::to_string(p.seed));
}

// The generation loop gives the same tokens with the candidate path (use_top_k) as with the whole rows.
TEST(SamplerCandidates, GenerationLoopSameTokensWithAndWithoutTopK) {
    std::shared_ptr<Model> model;
    auto ctx = stories_context(model);
    ASSERT_TRUE(ctx);
    auto tok = tokenizer::Tokenizer::from_model_file(model->file());
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    ASSERT_EQ((*tok)->n_vocab(), model->info().n_vocab);  // else the loop bans the padding and samples full rows
    auto prompt = (*tok)->encode("Once upon a time", true, false);
    ASSERT_TRUE(prompt.ok());
    Generator gen(*ctx, **tok);
    int n_candidate_runs = 0;
    for (uint64_t seed : {1u, 2u, 3u, 42u, 1234u})
        for (float temp : {0.0f, 0.7f, 1.2f})
            for (int top_k : {1, 8, 40}) {
                GenerateOptions o;
                o.sampling.seed = seed, o.sampling.temperature = temp, o.sampling.top_k = top_k;
                o.sampling.top_p = seed % 2 ? 0.9f : 1.0f;
                o.stop.max_tokens = 24;
                o.stop.ignore_eog = true;
                o.stop.stop_on_bos = false;
                auto s = Sampler::create(o.sampling, model->info().n_vocab);
                ASSERT_TRUE(s.ok());
                n_candidate_runs += (*s)->top_k_needed() > 0 ? 1 : 0;
                gen.reset();
                auto a = gen.generate(*prompt, o, nullptr);
                o.use_top_k = false;
                gen.reset();
                auto b = gen.generate(*prompt, o, nullptr);
                ASSERT_TRUE(a.ok() && b.ok());
                EXPECT_EQ(a->tokens, b->tokens) << "seed " << seed << " temp " << temp << " top_k " << top_k;
                EXPECT_EQ(a->tokens.size(), 24u);
            }
    EXPECT_EQ(n_candidate_runs, 45);  // every combination above takes the candidate path
}

}  // namespace
}  // namespace rz::runtime
