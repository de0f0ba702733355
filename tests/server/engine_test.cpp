// Scheduler logic of the continuous-batching engine, on a deterministic stand-in for the runtime: a Context
// whose next-token logits are a hash of the sequence's own history (so a correct scheduler gives every
// request the same tokens whatever else shares the batch) and which enforces the Batch contract (positions
// continue each sequence, ids in range, batch size limit). The real model is exercised end to end in
// server_e2e_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "realizar/formats/model_file.h"
#include "realizar/server/engine.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::server {
namespace {

constexpr int kVocab = 258;  // bytes 0..255, BOS 256, EOS 257
constexpr int kBos = 256, kEos = 257;

class ByteTokenizer final : public tokenizer::Tokenizer {
public:
    Result<std::vector<int32_t>> encode(std::string_view text, bool add_special, bool) const override {
        std::vector<int32_t> ids;
        if (add_special) ids.push_back(kBos);
        for (unsigned char c : text) ids.push_back(c);
        return ids;
    }
    std::string token_to_piece(int32_t id, bool) const override {
        return id < 256 ? std::string(1, static_cast<char>(id)) : std::string();
    }
    std::string decode(std::span<const int32_t> ids, bool) const override {
        std::string s;
        for (int32_t id : ids) s += token_to_piece(id, false);
        return s;
    }
    int n_vocab() const override { return kVocab; }
    int32_t bos() const override { return kBos; }
    int32_t eos() const override { return kEos; }
    bool is_eog(int32_t id) const override { return id == kEos; }
    bool is_special(int32_t id) const override { return id >= 256; }
    std::string token_text(int32_t id) const override { return token_to_piece(id, true); }
    const std::string& chat_template() const override { return tmpl_; }

private:
    std::string tmpl_;
};

class FakeModel final : public runtime::Model {
public:
    FakeModel() { info_.n_vocab = kVocab; info_.arch = "fake"; }
    const runtime::ModelInfo& info() const override { return info_; }
    const formats::ModelFile& file() const override { return file_; }

private:
    runtime::ModelInfo info_;
    formats::ModelFile file_;
};

// Next-token logits = f(history of this sequence only). Lowercase letters and space are likely; EOS becomes
// likely once a sequence is long, so some requests end with "stop" and others with "length".
class FakeContext final : public runtime::Context {
public:
    FakeContext(int n_ctx, int n_seq, int n_batch) : n_ctx_(n_ctx), n_batch_(n_batch), hist_(n_seq) {}

    Status decode(const runtime::Batch& b) override {
        if (b.size() == 0 || static_cast<int>(b.size()) > n_batch_) return invalid_argument("bad batch size");
        if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
        ++n_decodes;
        max_batch_seen = std::max(max_batch_seen, static_cast<int>(b.size()));
        rows_.assign(b.size(), {});
        for (size_t i = 0; i < b.size(); ++i) {
            const int s = b.seq_id[i];
            if (s < 0 || s >= static_cast<int>(hist_.size())) return out_of_range("seq id");
            if (b.token[i] < 0 || b.token[i] >= kVocab) return out_of_range("token id");
            if (b.pos[i] != static_cast<int>(hist_[s].size())) return invalid_argument("position does not continue");
            if (b.pos[i] >= n_ctx_) return out_of_range("context overflow");
            hist_[s].push_back(b.token[i]);
            ++n_evaluated;
            if (b.logits[i]) rows_[i] = row_for(hist_[s]);
        }
        return Status::Ok();
    }
    std::span<const float> logits(size_t i) const override { return rows_.at(i); }
    Status top_k(size_t i, int k, std::vector<runtime::TokenLogit>& out) const override {
        ++n_top_k;  // the default (host) selection, counted: which path the engine took
        return Context::top_k(i, k, out);
    }
    void seq_clear(int32_t s) override { hist_.at(static_cast<size_t>(s)).clear(); }
    Status seq_truncate(int32_t s, int32_t n_keep) override {
        auto& h = hist_.at(static_cast<size_t>(s));
        if (n_keep < 0) return invalid_argument("n_keep");
        if (static_cast<size_t>(n_keep) < h.size()) h.resize(static_cast<size_t>(n_keep));
        return Status::Ok();
    }
    int32_t seq_len(int32_t s) const override { return static_cast<int32_t>(hist_.at(static_cast<size_t>(s)).size()); }
    int n_ctx() const override { return n_ctx_; }
    int n_seq_max() const override { return static_cast<int>(hist_.size()); }
    int64_t kv_cells_used() const override {
        int64_t n = 0;
        for (const auto& h : hist_) n += static_cast<int64_t>(h.size());
        return n;
    }
    int64_t kv_cells_total() const override { return static_cast<int64_t>(n_ctx_) * static_cast<int64_t>(hist_.size()); }
    const runtime::Model& model() const override { return model_; }

    static std::vector<float> row_for(const std::vector<int32_t>& h) {
        uint64_t x = 1469598103934665603ull;
        for (int32_t t : h) x = (x ^ static_cast<uint64_t>(t)) * 1099511628211ull;
        std::vector<float> row(kVocab, -30.0f);
        for (int v = 'a'; v <= 'z'; ++v) {
            x ^= x >> 33;
            x *= 0xff51afd7ed558ccdull;
            row[static_cast<size_t>(v)] = static_cast<float>(x % 1000) / 100.0f;
        }
        row[' '] = 5.0f;
        row[kEos] = h.size() > 40 ? 9.95f : -30.0f;
        return row;
    }

    int n_decodes = 0;
    int n_evaluated = 0;  // tokens decoded, over all sequences
    mutable std::atomic<int> n_top_k{0};
    int max_batch_seen = 0;
    int delay_us = 0;  // makes a decode slow enough for queueing tests

private:
    int n_ctx_, n_batch_;
    std::vector<std::vector<int32_t>> hist_;
    std::vector<std::vector<float>> rows_;
    FakeModel model_;
};

struct Result1 {
    std::vector<int32_t> ids;
    std::string text;
    RequestStream::Final fin;
};

Result1 wait_for(RequestStream& rs) {
    Result1 r;
    std::vector<RequestStream::Token> toks;
    std::optional<RequestStream::Final> fin;
    for (int i = 0; i < 400 && !fin; ++i) rs.next(toks, fin, std::chrono::milliseconds(50));
    EXPECT_TRUE(fin.has_value()) << "generation did not finish within 20 s";
    for (auto& t : toks) {
        r.ids.push_back(t.id);
        r.text += t.text;
    }
    if (fin) {
        r.fin = *fin;
        r.text += fin->tail;
    }
    return r;
}

GenTask task(const std::string& prompt, int max_tokens) {
    GenTask t;
    t.prompt.push_back(kBos);
    for (unsigned char c : prompt) t.prompt.push_back(c);
    t.gen.max_tokens = max_tokens;
    t.gen.sampling.strategy = Strategy::kGreedy;
    return t;
}

struct Fixture {
    ByteTokenizer tok;
    FakeContext* ctx = nullptr;
    std::unique_ptr<Engine> engine;
    Fixture(int n_slots, int n_ctx = 256, int n_batch = 32, int queue = 64, bool cache_prompt = true) {
        auto c = std::make_unique<FakeContext>(n_ctx, n_slots, n_batch);
        ctx = c.get();
        EngineOptions eo;
        eo.n_batch = n_batch;
        eo.queue_size = queue;
        eo.cache_prompt = cache_prompt;
        engine = std::make_unique<Engine>(std::move(c), tok, eo, nullptr);
    }
};

TEST(Engine, GreedyMatchesReferenceLoop) {
    Fixture f(1);
    auto rs = f.engine->submit(task("hello", 20));
    ASSERT_TRUE(rs.ok()) << rs.status().to_string();
    Result1 r = wait_for(**rs);
    // Reference: the plain generation loop over the same fake model.
    std::vector<int32_t> h = task("hello", 0).prompt, expect;
    for (int i = 0; i < 20; ++i) {
        const auto row = FakeContext::row_for(h);
        const int32_t next = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
        if (next == kEos) break;
        expect.push_back(next);
        h.push_back(next);
    }
    EXPECT_EQ(r.ids, expect);
    EXPECT_EQ(r.fin.prompt_tokens, 6);
    EXPECT_EQ(std::string(runtime::finish_reason_name(r.fin.reason)), "length");
}

TEST(Engine, BatchingDoesNotChangeResults) {
    std::vector<std::string> prompts;
    for (int i = 0; i < 16; ++i) prompts.push_back("prompt number " + std::to_string(i) + std::string(i * 3, 'x'));
    std::vector<std::vector<int32_t>> alone;
    {
        Fixture f(1);
        for (const auto& p : prompts) {
            auto rs = f.engine->submit(task(p, 48));
            ASSERT_TRUE(rs.ok());
            alone.push_back(wait_for(**rs).ids);
        }
    }
    Fixture f(16, 256, 24);  // small budget: prompts are prefilled in chunks next to running decodes
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const auto& p : prompts) {
        auto rs = f.engine->submit(task(p, 48));
        ASSERT_TRUE(rs.ok());
        streams.push_back(*rs);
    }
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(wait_for(*streams[i]).ids, alone[i]) << "request " << i;
    EXPECT_GT(f.ctx->max_batch_seen, 8);  // really batched together
    EXPECT_LE(f.ctx->max_batch_seen, 24);
}

// The same prompt on a fresh engine with the cache off: what a request must give whatever the cache holds.
std::vector<int32_t> fresh_ids(const GenTask& t) {
    Fixture f(1, 256, 32, 64, /*cache_prompt=*/false);
    auto rs = f.engine->submit(t);
    EXPECT_TRUE(rs.ok());
    return rs.ok() ? wait_for(**rs).ids : std::vector<int32_t>{};
}

// A chat turn resends the conversation: prompt + the answer + a new message.
GenTask next_turn(const GenTask& prev, const std::vector<int32_t>& answer, const std::string& msg, int max_tokens) {
    GenTask t = prev;
    t.prompt.insert(t.prompt.end(), answer.begin(), answer.end());
    for (unsigned char c : msg) t.prompt.push_back(c);
    t.gen.max_tokens = max_tokens;
    return t;
}

TEST(Engine, PromptCacheReusesTheConversationPrefix) {
    Fixture f(2);
    const GenTask t1 = task("hello there", 10);
    auto r1 = f.engine->submit(t1);
    ASSERT_TRUE(r1.ok());
    const Result1 a = wait_for(**r1);
    ASSERT_EQ(a.ids.size(), 10u);
    EXPECT_EQ(a.fin.cached_tokens, 0);
    EXPECT_EQ(f.ctx->n_evaluated, 12 + 9);  // the prompt, then every answer token but the last (never fed back)

    const GenTask t2 = next_turn(t1, a.ids, " and more", 8);
    const int before = f.ctx->n_evaluated;
    auto r2 = f.engine->submit(t2);
    ASSERT_TRUE(r2.ok());
    const Result1 b = wait_for(**r2);
    EXPECT_EQ(b.fin.cached_tokens, 12 + 9);  // all that the slot holds
    EXPECT_EQ(b.fin.prompt_tokens, static_cast<int>(t2.prompt.size()));
    EXPECT_EQ(f.ctx->n_evaluated - before, static_cast<int>(t2.prompt.size()) - 21 + 7);
    EXPECT_EQ(b.ids, fresh_ids(t2));

    // The same prompt again: everything but its last token comes from the cache.
    auto r3 = f.engine->submit(t2);
    ASSERT_TRUE(r3.ok());
    const Result1 c = wait_for(**r3);
    EXPECT_EQ(c.fin.cached_tokens, static_cast<int>(t2.prompt.size()) - 1);
    EXPECT_EQ(c.ids, b.ids);
}

TEST(Engine, PromptCacheKeepsEachConversationInItsSlot) {
    Fixture f(3);
    const GenTask ta = task("alpha conversation", 6), tb = task("bravo conversation", 6);
    auto ra = f.engine->submit(ta);
    ASSERT_TRUE(ra.ok());
    const Result1 a = wait_for(**ra);
    // b shares only BOS with a's slot: it takes an unused slot instead of evicting a's conversation.
    auto rb = f.engine->submit(tb);
    ASSERT_TRUE(rb.ok());
    const Result1 b = wait_for(**rb);
    EXPECT_EQ(b.fin.cached_tokens, 0);
    // A two-token prompt shares BOS, half of it, with both, but a slot is only taken for a prefix of at least half
    // of what it holds: the third slot.
    auto rx = f.engine->submit(task("x", 3));
    ASSERT_TRUE(rx.ok());
    EXPECT_EQ(wait_for(**rx).fin.cached_tokens, 0);
    for (int turn = 0; turn < 2; ++turn) {  // the two conversations go on, each finding its own slot
        const GenTask& t = turn == 0 ? ta : tb;
        const Result1& prev = turn == 0 ? a : b;
        const GenTask next = next_turn(t, prev.ids, " go on", 5);
        auto r = f.engine->submit(next);
        ASSERT_TRUE(r.ok());
        const Result1 got = wait_for(**r);
        EXPECT_EQ(got.fin.cached_tokens, static_cast<int>(t.prompt.size()) + 5) << "turn " << turn;
        EXPECT_EQ(got.ids, fresh_ids(next)) << "turn " << turn;
    }
}

TEST(Engine, PromptCacheOff) {
    const GenTask t = task("hello there", 10);
    {  // per request
        Fixture f(1);
        auto r1 = f.engine->submit(t);
        ASSERT_TRUE(r1.ok());
        const Result1 a = wait_for(**r1);
        GenTask again = t;
        again.gen.cache_prompt = false;
        auto r2 = f.engine->submit(again);
        ASSERT_TRUE(r2.ok());
        const Result1 b = wait_for(**r2);
        EXPECT_EQ(b.fin.cached_tokens, 0);
        EXPECT_EQ(b.ids, a.ids);
    }
    {  // server-wide: nothing stays in the cache after a request
        Fixture f(1, 256, 32, 64, /*cache_prompt=*/false);
        for (int i = 0; i < 2; ++i) {
            auto r = f.engine->submit(t);
            ASSERT_TRUE(r.ok());
            EXPECT_EQ(wait_for(**r).fin.cached_tokens, 0);
            EXPECT_EQ(f.ctx->kv_cells_used(), 0);
        }
    }
}

TEST(Engine, QueueFullIsResourceExhausted) {
    Fixture f(1, 256, 32, /*queue=*/2);
    f.ctx->delay_us = 2000;  // ~0.4 s per request: nothing finishes while the 8 are submitted
    std::vector<std::shared_ptr<RequestStream>> ok;
    int rejected = 0;
    for (int i = 0; i < 8; ++i) {
        auto rs = f.engine->submit(task("abc", 200));
        if (rs.ok()) ok.push_back(*rs);
        else {
            EXPECT_EQ(rs.status().code(), StatusCode::kResourceExhausted);
            ++rejected;
        }
    }
    // 1 slot + 2 queue places (+1 if the engine admitted one between two submissions).
    EXPECT_GE(rejected, 4);
    EXPECT_LE(ok.size(), 4u);
    for (auto& s : ok) s->cancel();
    for (auto& s : ok) wait_for(*s);
}

TEST(Engine, PromptLongerThanContextIsRejected) {
    Fixture f(2, 16);
    auto rs = f.engine->submit(task(std::string(40, 'a'), 4));
    ASSERT_FALSE(rs.ok());
    EXPECT_EQ(rs.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(rs.status().message().find("context"), std::string::npos);
}

TEST(Engine, ContextFullEndsWithLength) {
    Fixture f(1, 24);
    auto rs = f.engine->submit(task("abcdefghij", 100));
    ASSERT_TRUE(rs.ok());
    Result1 r = wait_for(**rs);
    EXPECT_EQ(r.fin.reason, runtime::FinishReason::kContextFull);
    // Every position is used; the token sampled from the last position is returned but never decoded.
    EXPECT_EQ(r.fin.prompt_tokens + static_cast<int>(r.ids.size()), 24 + 1);
}

TEST(Engine, CancelFreesTheSlot) {
    Fixture f(1);
    f.ctx->delay_us = 1000;  // 200 tokens take ~0.2 s and EOS is ignored: the request is still running when
    GenTask first = task("first", 200);  // cancel() comes, however the threads are scheduled
    first.gen.ignore_eos = true;
    auto a = f.engine->submit(std::move(first));
    ASSERT_TRUE(a.ok());
    (*a)->cancel();
    Result1 ra = wait_for(**a);
    EXPECT_EQ(ra.fin.reason, runtime::FinishReason::kCancelled);
    auto b = f.engine->submit(task("second", 5));
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(wait_for(**b).ids.size(), 5u);
    EXPECT_EQ(f.engine->in_flight(), 0);
}

TEST(Engine, StopStringIsNotShown) {
    Fixture f(1);
    auto full = f.engine->submit(task("hello", 30));
    ASSERT_TRUE(full.ok());
    const std::string text = wait_for(**full).text;
    ASSERT_GE(text.size(), 10u);
    const std::string stop = text.substr(6, 3);
    GenTask t = task("hello", 30);
    t.gen.stop = {stop};
    auto rs = f.engine->submit(std::move(t));
    ASSERT_TRUE(rs.ok());
    Result1 r = wait_for(**rs);
    EXPECT_EQ(r.fin.reason, runtime::FinishReason::kStopString);
    EXPECT_EQ(r.text, text.substr(0, text.find(stop)));
}

TEST(Engine, DeadlineTimesOut) {
    Fixture f(1);
    GenTask t = task("slow", 200);
    t.deadline = Clock::now() - std::chrono::seconds(1);
    auto rs = f.engine->submit(std::move(t));
    ASSERT_TRUE(rs.ok());
    Result1 r = wait_for(**rs);
    EXPECT_TRUE(r.fin.timed_out);
    EXPECT_EQ(r.fin.reason, runtime::FinishReason::kCancelled);
}

TEST(Engine, SeededSamplingIsReproducibleAndBatchIndependent) {
    auto make = [](const std::string& p) {
        GenTask t = task(p, 30);
        t.gen.sampling.strategy = Strategy::kTopP;
        t.gen.sampling.temperature = 1.0f;
        t.gen.sampling.top_p = 0.9f;
        t.gen.sampling.seed = 1234;
        return t;
    };
    Fixture f(4);
    std::vector<std::shared_ptr<RequestStream>> s;
    for (int i = 0; i < 4; ++i) s.push_back(*f.engine->submit(make(i % 2 ? "same" : "other")));
    auto r0 = wait_for(*s[0]), r1 = wait_for(*s[1]), r2 = wait_for(*s[2]), r3 = wait_for(*s[3]);
    EXPECT_EQ(r0.ids, r2.ids);
    EXPECT_EQ(r1.ids, r3.ids);
    EXPECT_NE(r0.ids, r1.ids);
}

// Requests whose sampler allows it (greedy, top-k without penalties, no logprobs) are sampled from
// Context::top_k's candidates; the tokens are those of a Sampler over the whole rows with the same options.
TEST(Engine, TopKCandidatesGiveTheFullRowTokens) {
    struct Case {
        Strategy strategy;
        int top_k;
        float top_p;
        bool logprobs;
        bool candidates;  // expected to read top_k
    };
    for (const Case c : {Case{Strategy::kTopK, 10, 1.0f, false, true}, Case{Strategy::kTopP, 5, 0.8f, false, true},
                         Case{Strategy::kTopP, 0, 0.8f, false, false}, Case{Strategy::kTopK, 10, 1.0f, true, false},
                         Case{Strategy::kGreedy, 0, 1.0f, false, true}}) {
        GenTask t = task("sampled", 30);
        t.gen.sampling.strategy = c.strategy;
        t.gen.sampling.temperature = 0.9f;
        t.gen.sampling.top_k = c.top_k;
        t.gen.sampling.top_p = c.top_p;
        t.gen.sampling.seed = 77;
        t.gen.logprobs = c.logprobs;
        Fixture f(1);
        auto rs = f.engine->submit(t);
        ASSERT_TRUE(rs.ok());
        const Result1 r = wait_for(**rs);
        // Reference: the engine's option mapping, a Sampler over the full rows.
        runtime::SamplingParams p;
        p.seed = 77;
        p.top_p = c.strategy == Strategy::kTopP ? c.top_p : 1.0f;
        p.min_p = 0.0f;
        p.top_k = c.strategy == Strategy::kGreedy ? 0 : c.top_k;
        p.temperature = c.strategy == Strategy::kGreedy ? 0.0f : 0.9f;
        auto sampler = runtime::Sampler::create(p, kVocab);
        ASSERT_TRUE(sampler.ok());
        EXPECT_EQ((*sampler)->top_k_needed() > 0, c.candidates || c.logprobs);  // logprobs need the row anyway
        std::vector<int32_t> h = t.prompt, expect;
        for (int i = 0; i < 30; ++i) {
            const int32_t next = (*sampler)->sample(FakeContext::row_for(h));
            (*sampler)->accept(next);
            if (next == kEos) break;
            expect.push_back(next);
            h.push_back(next);
        }
        const std::string what = "top_k " + std::to_string(c.top_k) + " logprobs " + std::to_string(c.logprobs);
        EXPECT_EQ(r.ids, expect) << what;
        EXPECT_EQ(f.ctx->n_top_k.load() > 0, c.candidates) << what;
    }
}

TEST(Engine, StopAcceptingAndCancelAll) {
    Fixture f(2);
    f.ctx->delay_us = 1000;  // 200 tokens take ~0.2 s: still running when cancel_all() comes
    GenTask long_task = task("a", 200);
    long_task.gen.ignore_eos = true;
    auto a = f.engine->submit(std::move(long_task));
    ASSERT_TRUE(a.ok());
    f.engine->stop_accepting();
    auto b = f.engine->submit(task("b", 5));
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
    f.engine->cancel_all();
    Result1 r = wait_for(**a);
    EXPECT_EQ(r.fin.reason, runtime::FinishReason::kCancelled);
    EXPECT_LT(r.ids.size(), 200u);
}

}  // namespace
}  // namespace rz::server
