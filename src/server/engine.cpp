// Continuous batching (see engine.h). The engine thread is the only one touching the Context, the slots and
// the samplers; HTTP threads only touch the queue (under mu_) and their own RequestStream.
//
// One step:
//   1. admit queued requests into free slots (seq_id = slot index): the slot whose cache holds the longest prefix
//      of the prompt (that prefix is kept, the rest dropped), else the least recently used one;
//   2. drop slots whose client went away or whose deadline passed;
//   3. batch = the pending token of every generating slot (1 each, logits on) + prompt chunks of slots still
//      prefilling, oldest first, until n_batch tokens (logits only on a prompt's last token);
//   4. decode once; sample each slot that asked for logits; stream the token; check stop conditions.
// Decode tokens go first so running requests keep their pace while long prompts are prefilled in chunks.
#include "realizar/server/engine.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "realizar/runtime/generate.h"
#include "realizar/server/sse.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::server {

// ---------------------------------------------------------------------------------------------- stream

bool RequestStream::next(std::vector<Token>& tokens, std::optional<Final>& fin, std::chrono::milliseconds wait) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, wait, [&] { return !tokens_.empty() || (final_ && !final_taken_); });
    bool any = false;
    if (!tokens_.empty()) {
        for (auto& t : tokens_) tokens.push_back(std::move(t));
        tokens_.clear();
        any = true;
    }
    if (final_ && !final_taken_) {
        fin = std::move(*final_);
        final_taken_ = true;
        any = true;
    }
    return any;
}

void RequestStream::push(Token t) {
    {
        std::lock_guard lk(mu_);
        tokens_.push_back(std::move(t));
    }
    cv_.notify_all();
}

void RequestStream::finish(Final f) {
    {
        std::lock_guard lk(mu_);
        if (final_ || final_taken_) return;
        final_ = std::move(f);
    }
    cv_.notify_all();
}

// ---------------------------------------------------------------------------------------------- slots

struct Engine::Slot {
    int id = 0;
    bool busy = false;
    uint64_t admitted = 0;          // admission order (prefill is first come, first served)
    Pending p;
    size_t n_prompt_fed = 0;        // prompt tokens decoded so far
    int32_t n_past = 0;             // cached positions of this sequence
    int32_t next_token = -1;        // sampled, not yet decoded
    std::vector<int32_t> cached;    // the tokens in this sequence's KV cache (n_past of them), kept after a request
    uint64_t last_used = 0;         // admission order of its last request (LRU among slots without a match)
    int n_cached = 0;               // prompt tokens this request took from the cache
    std::optional<runtime::StopMatcher> stop;
    Utf8Accumulator acc;
    Clock::time_point last_token;
    bool got_first = false;
    double ttft = 0.0;
    std::vector<runtime::LogprobsEntry> prompt_lps;  // GenerationSpec::prompt_logprobs, so far
};

Engine::Engine(std::unique_ptr<runtime::Context> ctx, const tokenizer::Tokenizer& tok, EngineOptions opts,
               Metrics* metrics)
    : ctx_(std::move(ctx)), tok_(tok), opts_(opts), metrics_(metrics) {
    RZ_ASSERT(ctx_ != nullptr);
    n_ctx_ = ctx_->n_ctx();
    n_slots_ = ctx_->n_seq_max();
    n_vocab_ = ctx_->model().info().n_vocab;
    if (n_vocab_ <= 0) n_vocab_ = tok_.n_vocab();
    opts_.n_batch = std::max(opts_.n_batch, 1);
    for (int i = 0; i < n_slots_; ++i) {
        auto s = std::make_unique<Slot>();
        s->id = i;
        slots_.push_back(std::move(s));
    }
    kv_total_ = ctx_->kv_cells_total();
    kv_used_ = ctx_->kv_cells_used();
    thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
    {
        std::lock_guard lk(mu_);
        quit_ = true;
        accepting_ = false;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

static runtime::SamplingParams to_sampling_params(const SamplingSpec& s) {
    runtime::SamplingParams p;
    p.seed = s.seed ? *s.seed : runtime::kRandomSeed;
    // kRandomSeed is reserved; a user asking for exactly that value gets the neighbouring seed instead.
    if (s.seed && *s.seed == runtime::kRandomSeed) p.seed = runtime::kRandomSeed - 1;
    p.top_p = 1.0f;
    p.min_p = s.min_p;
    p.top_k = 0;
    p.repeat_penalty = s.repeat_penalty;
    p.presence_penalty = s.presence_penalty;
    p.frequency_penalty = s.frequency_penalty;
    switch (s.strategy) {
        case Strategy::kGreedy:
            p.temperature = 0.0f;
            break;
        case Strategy::kTopK:
            p.temperature = s.temperature;
            p.top_k = s.top_k > 0 ? s.top_k : 40;
            break;
        case Strategy::kTopP:
            p.temperature = s.temperature;
            p.top_k = s.top_k;
            p.top_p = s.top_p;
            break;
    }
    return p;
}

Result<Engine::Pending> Engine::prepare(GenTask task) const {
    if (task.prompt.empty()) return invalid_argument("the prompt is empty (no tokens to start from)");
    for (int32_t t : task.prompt)
        if (t < 0 || t >= n_vocab_)
            return invalid_argument(fmt::format("prompt token id {} is out of range (vocabulary size {})", t, n_vocab_));
    if (static_cast<int64_t>(task.prompt.size()) >= n_ctx_)
        return invalid_argument(fmt::format("the prompt has {} tokens but the context holds {} per request "
                                            "(--ctx-size); shorten the prompt",
                                            task.prompt.size(), n_ctx_));
    const runtime::SamplingParams sp = to_sampling_params(task.gen.sampling);
    auto sampler = runtime::Sampler::create(sp, n_vocab_);
    if (!sampler.ok()) return sampler.status();
    Pending p;
    p.task = std::move(task);
    p.stream = std::make_shared<RequestStream>();
    p.sampler = std::move(sampler).value();
    p.submitted = Clock::now();
    return p;
}

Result<std::shared_ptr<RequestStream>> Engine::submit(GenTask task) {
    std::vector<GenTask> one;
    one.push_back(std::move(task));
    auto r = submit_all(std::move(one));
    if (!r.ok()) return r.status();
    return std::move(r).value().front();
}

Result<std::vector<std::shared_ptr<RequestStream>>> Engine::submit_all(std::vector<GenTask> tasks) {
    std::vector<Pending> prepared;
    prepared.reserve(tasks.size());
    for (size_t i = 0; i < tasks.size(); ++i) {
        auto p = prepare(std::move(tasks[i]));
        if (!p.ok()) return tasks.size() > 1 ? p.status().with_context(fmt::format("prompt {}", i)) : p.status();
        prepared.push_back(std::move(p).value());
    }
    std::vector<std::shared_ptr<RequestStream>> streams;
    {
        std::lock_guard lk(mu_);
        if (!accepting_) return unavailable("the server is shutting down");
        // More prompts than the slots and the whole queue can ever hold: not "busy, retry" (a client honouring
        // Retry-After would loop forever) but a request this server cannot take.
        if (static_cast<int64_t>(prepared.size()) > static_cast<int64_t>(n_slots_) + opts_.queue_size)
            return invalid_argument(fmt::format("{} prompts can never be taken together here: at most {} (--parallel {} + --queue-size {})",
                                                prepared.size(), n_slots_ + opts_.queue_size, n_slots_, opts_.queue_size));
        // Free slots absorb requests right away; only the rest must fit the queue.
        int free_slots = n_slots_ - active_.load();
        const int64_t need = static_cast<int64_t>(queue_.size() + prepared.size()) - std::max(free_slots, 0);
        if (need > opts_.queue_size) {
            if (metrics_) metrics_->on_rejected_queue_full();
            return resource_exhausted(fmt::format("the server is busy: {} requests are queued (--queue-size {}); "
                                                  "retry later",
                                                  queue_.size(), opts_.queue_size));
        }
        for (auto& p : prepared) {
            streams.push_back(p.stream);
            queue_.push_back(std::move(p));
        }
    }
    cv_.notify_all();
    return streams;
}

void Engine::stop_accepting() {
    std::lock_guard lk(mu_);
    accepting_ = false;
}

void Engine::cancel_all() {
    {
        std::lock_guard lk(mu_);
        cancel_all_ = true;
    }
    cv_.notify_all();
}

int Engine::in_flight() const {
    std::lock_guard lk(mu_);
    return static_cast<int>(queue_.size()) + active_.load();
}

EngineGauges Engine::gauges() const {
    EngineGauges g;
    g.model_loaded = true;
    g.slots_total = n_slots_;
    g.slots_active = active_.load();
    {
        std::lock_guard lk(mu_);
        g.requests_queued = static_cast<int>(queue_.size());
    }
    g.kv_cells_used = kv_used_.load();
    g.kv_cells_total = kv_total_.load();
    return g;
}

void Engine::admit_locked() {
    static uint64_t admission_counter = 0;
    while (!queue_.empty()) {
        const GenTask& next = queue_.front().task;
        const bool reuse = opts_.cache_prompt && next.gen.cache_prompt && !next.gen.prompt_logprobs;
        // The free slot with the longest reusable prefix among those where it covers at least half of the prompt
        // (llama.cpp's default slot similarity) and half of what the slot holds (a chat turn resending its
        // conversation, a repeated prompt); otherwise the least recently used free slot, so that a prompt sharing
        // little more than BOS with a conversation does not evict it.
        Slot *match = nullptr, *lru = nullptr;
        size_t match_n = 0;
        for (auto& sp : slots_) {
            if (sp->busy) continue;
            if (!lru || sp->last_used < lru->last_used) lru = sp.get();
            const size_t n = reuse ? runtime::reusable_prefix(sp->cached, next.prompt) : 0;
            if (n == 0 || 2 * n < next.prompt.size() || 2 * n < sp->cached.size()) continue;
            if (n > match_n || (n == match_n && sp->last_used < match->last_used)) match = sp.get(), match_n = n;
        }
        if (!lru) break;
        Slot* best = match ? match : lru;
        const size_t best_n = match ? match_n : reuse ? runtime::reusable_prefix(lru->cached, next.prompt) : 0;
        Pending p = std::move(queue_.front());
        queue_.pop_front();
        Slot& s = *best;
        const size_t keep = runtime::keep_prefix(*ctx_, s.id, ctx_->seq_len(s.id) == static_cast<int32_t>(s.cached.size()) ? best_n : 0);
        s.cached.resize(keep);
        s.busy = true;
        s.admitted = ++admission_counter;
        s.last_used = s.admitted;
        s.n_cached = static_cast<int>(keep);
        s.n_prompt_fed = keep;
        s.n_past = static_cast<int32_t>(keep);
        s.next_token = -1;
        s.got_first = false;
        s.ttft = 0.0;
        s.acc = Utf8Accumulator{};
        s.prompt_lps.clear();
        runtime::StopConfig sc;
        sc.stop = p.task.gen.stop;
        sc.max_tokens = p.task.gen.max_tokens;
        sc.ignore_eog = p.task.gen.ignore_eos;
        s.stop.emplace(std::move(sc), &tok_);
        // Penalties look at the prompt too (as llama.cpp's sampler does).
        for (int32_t t : p.task.prompt) p.sampler->accept(t);
        s.p = std::move(p);
        active_.fetch_add(1);
        // Nothing to generate: done, unless the prompt's own log-probabilities are asked for (then after its prefill).
        if (s.p.task.gen.max_tokens == 0 && !s.p.task.gen.prompt_logprobs) finish_slot(s, runtime::FinishReason::kMaxTokens);
    }
}

void Engine::finish_slot(Slot& s, runtime::FinishReason reason, Status error, bool timed_out) {
    // The cache stays for the next request (it holds s.cached), unless reuse is off or a failed decode may have
    // left it partly written.
    const bool drop_cache = !opts_.cache_prompt || !error.ok() || reason == runtime::FinishReason::kError;
    RequestStream::Final f;
    s.stop->set_reason(reason);
    if (s.stop->reason() != runtime::FinishReason::kStopString) {
        f.tail = s.stop->on_text(s.acc.flush());
        f.tail += s.stop->finish();
    }
    f.reason = s.stop->reason();
    f.prompt_tokens = static_cast<int>(s.p.task.prompt.size());
    f.cached_tokens = s.n_cached;
    f.n_generated = s.stop->n_generated();
    f.timed_out = timed_out;
    f.error = std::move(error);
    f.ttft_s = s.ttft;
    f.prompt_logprobs = std::move(s.prompt_lps);
    f.total_s = std::chrono::duration<double>(Clock::now() - s.p.submitted).count();
    if (metrics_) {
        // prompt tokens evaluated (not those taken from the cache)
        metrics_->on_tokens(static_cast<int64_t>(std::min(s.n_prompt_fed, s.p.task.prompt.size())) - s.n_cached, f.n_generated, s.n_cached);
        if (f.reason == runtime::FinishReason::kCancelled) metrics_->on_cancelled();
    }
    // The slot is released before the client hears the end, so whoever sees a finished request also sees it
    // gone from in_flight() and the slot gauges.
    std::shared_ptr<RequestStream> stream = std::move(s.p.stream);
    if (drop_cache) {
        ctx_->seq_clear(s.id);
        s.cached.clear();
    }
    s.busy = false;
    s.p = Pending{};
    s.stop.reset();
    active_.fetch_sub(1);
    stream->finish(std::move(f));
}

void Engine::after_logits(Slot& s, size_t i) {
    runtime::Sampler& sampler = *s.p.sampler;
    const int32_t k = s.p.task.gen.logprobs ? 0 : sampler.top_k_needed();
    int32_t tok = -1;
    std::optional<runtime::LogprobsEntry> lp;
    if (k > 0 && ctx_->top_k(i, k, top_).ok()) {
        tok = sampler.sample_top(top_);  // the token sample() would draw from the whole row
    } else {
        const std::span<const float> logits = ctx_->logits(i);
        tok = sampler.sample(logits);
        if (s.p.task.gen.logprobs) lp = runtime::compute_logprobs(logits, tok, s.p.task.gen.top_logprobs);
    }
    s.p.sampler->accept(tok);

    const auto now = Clock::now();
    if (!s.got_first) {
        s.got_first = true;
        s.ttft = std::chrono::duration<double>(now - s.p.submitted).count();
        if (metrics_) metrics_->on_first_token(s.ttft);
    } else if (metrics_) {
        metrics_->on_inter_token(std::chrono::duration<double>(now - s.last_token).count());
    }
    s.last_token = now;

    if (s.stop->on_token(tok) != runtime::FinishReason::kNone) {
        finish_slot(s, s.stop->reason());
        return;
    }
    RequestStream::Token t;
    t.id = tok;
    t.text = s.stop->on_text(s.acc.push(tok_.token_to_piece(tok, false)));
    t.logprobs = std::move(lp);
    s.p.stream->push(std::move(t));
    if (s.stop->done() || s.stop->limit_reached() != runtime::FinishReason::kNone) {
        finish_slot(s, s.stop->reason());
        return;
    }
    s.next_token = tok;
}

void Engine::loop() {
    runtime::Batch batch;
    std::vector<Slot*> logit_slot;  // batch entry -> slot wanting its logits (nullptr: none)
    std::vector<std::pair<Slot*, int>> fed;  // slot, tokens added this step
    std::vector<std::pair<Slot*, size_t>> prompt_lp;  // batch entry i -> (slot, its prompt token i's position)
    for (;;) {
        {
            std::unique_lock lk(mu_);
            if (quit_) break;
            if (cancel_all_) {
                cancel_all_ = false;
                for (auto& p : queue_) p.stream->cancel();
                for (auto& s : slots_)
                    if (s->busy) s->p.stream->cancel();
            }
            admit_locked();
            if (active_.load() == 0) {
                cv_.wait_for(lk, std::chrono::milliseconds(200),
                             [&] { return quit_ || cancel_all_ || !queue_.empty(); });
                continue;
            }
        }

        // 2. cancelled or late requests leave first.
        const auto now = Clock::now();
        for (auto& sp : slots_) {
            Slot& s = *sp;
            if (!s.busy) continue;
            if (s.p.stream->cancelled()) {
                finish_slot(s, runtime::FinishReason::kCancelled);
            } else if (s.p.task.deadline && now > *s.p.task.deadline) {
                finish_slot(s, runtime::FinishReason::kCancelled, {}, /*timed_out=*/true);
            }
        }

        // 3. pack the batch: decode tokens first, then prompt chunks in admission order.
        batch.clear();
        logit_slot.clear();
        fed.clear();
        prompt_lp.clear();
        int budget = opts_.n_batch;
        for (auto& sp : slots_) {
            Slot& s = *sp;
            if (!s.busy || s.next_token < 0 || budget <= 0) continue;
            if (s.stop->context_full(s.n_past, n_ctx_) != runtime::FinishReason::kNone) {
                finish_slot(s, runtime::FinishReason::kContextFull);
                continue;
            }
            batch.add(s.next_token, s.n_past, s.id, true);
            logit_slot.push_back(&s);
            prompt_lp.emplace_back(nullptr, 0);
            fed.emplace_back(&s, 1);
            --budget;
        }
        std::vector<Slot*> prefill;
        for (auto& sp : slots_)
            if (sp->busy && sp->next_token < 0 && sp->n_prompt_fed < sp->p.task.prompt.size()) prefill.push_back(sp.get());
        std::sort(prefill.begin(), prefill.end(), [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
        for (Slot* s : prefill) {
            if (budget <= 0) break;
            const auto& prompt = s->p.task.prompt;
            const size_t n = std::min(prompt.size() - s->n_prompt_fed, static_cast<size_t>(budget));
            const bool all = s->p.task.gen.prompt_logprobs;  // every position's logits: the next prompt token's log-probability
            for (size_t k = 0; k < n; ++k) {
                const size_t i = s->n_prompt_fed + k;
                const bool last = i + 1 == prompt.size();
                batch.add(prompt[i], s->n_past + static_cast<int32_t>(k), s->id, last || all);
                logit_slot.push_back(last ? s : nullptr);
                prompt_lp.emplace_back(all && !last ? s : nullptr, i);
            }
            fed.emplace_back(s, static_cast<int>(n));
            budget -= static_cast<int>(n);
        }
        if (batch.size() == 0) continue;

        // 4. one forward pass for everybody.
        if (metrics_) metrics_->on_step(static_cast<int>(batch.size()), static_cast<int>(fed.size()));
        const Status st = ctx_->decode(batch);
        if (!st.ok()) {
            spdlog::error("engine: decode of {} tokens failed: {}", batch.size(), st.to_string());
            for (auto& [s, n] : fed)
                if (s->busy) finish_slot(*s, runtime::FinishReason::kError, st);
            continue;
        }
        for (auto& [s, n] : fed) {
            if (s->next_token >= 0) {
                s->cached.push_back(s->next_token);
            } else {
                const auto first = s->p.task.prompt.begin() + static_cast<std::ptrdiff_t>(s->n_prompt_fed);
                s->cached.insert(s->cached.end(), first, first + n);
            }
            s->n_past += n;
            if (s->next_token < 0) s->n_prompt_fed += static_cast<size_t>(n);
            s->next_token = -1;
        }
        for (size_t i = 0; i < prompt_lp.size(); ++i) {  // before the sampling below, which may finish the slot
            auto [s, pi] = prompt_lp[i];
            if (s == nullptr || !s->busy) continue;
            const auto& g = s->p.task.gen;
            s->prompt_lps.push_back(runtime::compute_logprobs(ctx_->logits(i), s->p.task.prompt[pi + 1], g.top_logprobs));
        }
        for (size_t i = 0; i < logit_slot.size(); ++i) {
            Slot* s = logit_slot[i];
            if (s == nullptr || !s->busy) continue;
            if (s->p.task.gen.max_tokens == 0) {  // only the prompt's log-probabilities were asked for
                finish_slot(*s, runtime::FinishReason::kMaxTokens);
                continue;
            }
            after_logits(*s, i);
        }
        kv_used_ = ctx_->kv_cells_used();
        kv_total_ = ctx_->kv_cells_total();
    }
    // Quit: whoever is still waiting learns that the request was cancelled.
    std::lock_guard lk(mu_);
    for (auto& p : queue_) {
        RequestStream::Final f;
        f.reason = runtime::FinishReason::kCancelled;
        f.prompt_tokens = static_cast<int>(p.task.prompt.size());
        p.stream->finish(std::move(f));
    }
    queue_.clear();
    for (auto& s : slots_)
        if (s->busy) finish_slot(*s, runtime::FinishReason::kCancelled);
}

}  // namespace rz::server
