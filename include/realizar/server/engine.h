#pragma once
// The continuous-batching engine: one thread owns a runtime Context with n_seq_max = --parallel slots. Each
// step it packs the next token of every generating slot plus chunks of waiting prompts (under a token
// budget) into one Batch, runs one decode(), then samples every slot that asked for logits. Requests come in
// through a bounded queue (full -> ResourceExhausted -> 503) and results go out through a RequestStream per
// request; a cancelled stream (client gone, timeout, shutdown) frees its slot at the next step.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "realizar/core/status.h"
#include "realizar/runtime/context.h"
#include "realizar/runtime/sampler.h"
#include "realizar/runtime/stop.h"
#include "realizar/server/metrics.h"
#include "realizar/server/protocol.h"

namespace rz::tokenizer {
class Tokenizer;
}

namespace rz::server {

using Clock = std::chrono::steady_clock;

// The per-request channel between the engine thread (producer) and the HTTP thread (consumer).
class RequestStream {
public:
    struct Token {
        int32_t id = 0;
        std::string text;  // complete UTF-8 characters now safe to show (may be "": held back for a stop string)
        std::optional<runtime::LogprobsEntry> logprobs;
    };
    struct Final {
        runtime::FinishReason reason = runtime::FinishReason::kNone;
        std::string tail;        // text released at the end (held-back text, an incomplete UTF-8 tail)
        int prompt_tokens = 0;
        int cached_tokens = 0;   // prompt tokens taken from the slot's KV cache instead of evaluated
        int n_generated = 0;
        bool timed_out = false;
        bool client_gone = false;  // cancelled because the client closed its connection (collect)
        Status error;            // set when reason == kError
        double ttft_s = 0.0;     // submission -> first token
        double total_s = 0.0;    // submission -> end
        // GenerationSpec::prompt_logprobs: entry i for prompt token i + 1 (the first has none)
        std::vector<runtime::LogprobsEntry> prompt_logprobs;
    };

    // Consumer: waits up to `wait` for news; moves out new tokens and, once finished, the Final (returned
    // once). Returns true when anything was delivered.
    bool next(std::vector<Token>& tokens, std::optional<Final>& fin, std::chrono::milliseconds wait);
    // Consumer: gives up on the request (client gone). The engine frees the slot at its next step.
    void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
    bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

    // Producer side.
    void push(Token t);
    void finish(Final f);

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Token> tokens_;
    std::optional<Final> final_;
    bool final_taken_ = false;
    std::atomic<bool> cancelled_{false};
};

struct GenTask {
    std::vector<int32_t> prompt;  // token ids, at least one
    GenerationSpec gen;
    std::optional<Clock::time_point> deadline;  // per-request timeout
};

struct EngineOptions {
    int n_batch = 512;       // token budget per step (decode tokens + prompt chunks)
    int queue_size = 64;     // requests waiting for a slot; more -> 503
    // A finished request's tokens stay in its slot's KV cache, and a new request goes to the free slot holding
    // the longest prefix of its prompt (chat turns resend the conversation) and evaluates only the rest.
    // false (`serve --no-cache-prompt`): every request evaluates its whole prompt.
    bool cache_prompt = true;
};

class Engine {
public:
    // ctx: a Context with n_seq_max slots (the engine owns it from now on). tok must outlive the engine.
    Engine(std::unique_ptr<runtime::Context> ctx, const tokenizer::Tokenizer& tok, EngineOptions opts,
           Metrics* metrics);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Validates (prompt fits the context, sampler parameters) and queues. Errors: InvalidArgument (400),
    // ResourceExhausted when the queue is full (503), Unavailable while shutting down (503).
    Result<std::shared_ptr<RequestStream>> submit(GenTask task);
    // Admits the tasks all together or none (for /batch/generate).
    Result<std::vector<std::shared_ptr<RequestStream>>> submit_all(std::vector<GenTask> tasks);

    // Stop taking new requests; running and queued ones continue.
    void stop_accepting();
    // Cancel everything queued or running (their streams finish with kCancelled).
    void cancel_all();
    // Running + queued requests.
    int in_flight() const;
    EngineGauges gauges() const;

    int n_ctx() const { return n_ctx_; }
    int n_slots() const { return n_slots_; }
    int n_vocab() const { return n_vocab_; }

private:
    struct Slot;
    struct Pending {
        GenTask task;
        std::shared_ptr<RequestStream> stream;
        std::unique_ptr<runtime::Sampler> sampler;
        Clock::time_point submitted;
    };

    Result<Pending> prepare(GenTask task) const;
    void loop();
    void admit_locked();
    void finish_slot(Slot& s, runtime::FinishReason reason, Status error = {}, bool timed_out = false);
    // Samples batch entry i of the last decode for slot s: from Context::top_k's candidates when the sampler
    // allows it and no logprobs are asked for (only k pairs leave a GPU), else from the whole row.
    void after_logits(Slot& s, size_t i);

    std::unique_ptr<runtime::Context> ctx_;
    const tokenizer::Tokenizer& tok_;
    EngineOptions opts_;
    Metrics* metrics_;
    int n_ctx_ = 0, n_slots_ = 0, n_vocab_ = 0;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Pending> queue_;
    bool accepting_ = true;
    bool quit_ = false;
    bool cancel_all_ = false;

    std::vector<std::unique_ptr<Slot>> slots_;  // engine thread only
    std::vector<runtime::TokenLogit> top_;       // engine thread only: after_logits' candidates
    std::atomic<int> active_{0};
    std::atomic<int64_t> kv_used_{0}, kv_total_{0};
    std::thread thread_;
};

}  // namespace rz::server
