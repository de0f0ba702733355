#pragma once
// Internal: what the route handlers share. Built by server.cpp; the model part is filled by the loading
// thread and published by setting phase to kReady (release), so handlers read it only after seeing kReady.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "realizar/classical/model.h"
#include "realizar/runtime/context.h"
#include "realizar/server/engine.h"
#include "realizar/server/http.h"
#include "realizar/server/metrics.h"
#include "realizar/server/protocol.h"
#include "realizar/server/server.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::server {

enum class Phase { kLoading, kReady, kFailed, kDraining };

struct ServerState {
    ServerOptions opts;
    ParseLimits limits;
    Metrics metrics;
    std::atomic<Phase> phase{Phase::kLoading};
    std::string load_error;
    int64_t created_unix = 0;
    std::string compute_mode = "cpu";

    // Set by the loader before phase becomes kReady.
    std::string model_name;  // for /health and /v1/models
    std::shared_ptr<runtime::Model> model;
    std::unique_ptr<tokenizer::Tokenizer> tok;
    std::unique_ptr<Engine> engine;
    std::string chat_template;
    std::string bos_text, eos_text;
    std::optional<classical::ClassicalModel> classical;  // set instead of model/tok/engine for classical APR

    explicit ServerState(const ServerOptions& o);
    bool ready() const { return phase.load(std::memory_order_acquire) == Phase::kReady; }
    Clock::time_point deadline() const { return Clock::now() + std::chrono::seconds(opts.timeout_s); }
};

// Response helpers.
void send_json(HttpResponse& res, int status, const json& body);
void send_error(HttpResponse& res, const ApiError& err);
// A response's usage object (OpenAI's shape): prompt_tokens_details.cached_tokens counts the prompt tokens
// taken from a slot's KV cache instead of evaluated.
json usage_json(const RequestStream::Final& fin, int completion);
json usage_json(int prompt, int completion, int cached);

// Waits for a whole (non-streamed) generation. Returns the generated tokens and the final record.
struct Collected {
    std::vector<RequestStream::Token> tokens;
    RequestStream::Final fin;
    std::string text() const;
};
// Waits for the whole result; cancels the generation once client_gone() says the client closed its connection
// (polled every half second), and marks the Final so (final_error: 499).
Collected collect(RequestStream& rs, const std::function<bool()>& client_gone = {});

// Maps an unsuccessful Final (error, timeout, shutdown) to an API error; nullopt when it finished normally.
std::optional<ApiError> final_error(const RequestStream::Final& fin, int timeout_s);

// Runs a streamed generation: calls on_token for every token and on_final once; keeps the connection alive
// with SSE comments while nothing happens; cancels the request when a write fails or a callback returns false.
void pump_stream(RequestStream& rs, StreamWriter& w,
                 const std::function<bool(const RequestStream::Token&)>& on_token,
                 const std::function<void(const RequestStream::Final&)>& on_final);

// Route groups.
void register_realizar_routes(HttpServer& http, ServerState& st);
void register_openai_routes(HttpServer& http, ServerState& st);
void register_classical_routes(HttpServer& http, ServerState& st);
void register_web_routes(HttpServer& http, ServerState& st);

}  // namespace rz::server
