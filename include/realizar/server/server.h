#pragma once
// `realizar serve`: the whole server (HTTP routes, OpenAI API, SSE, metrics, engine) behind one call.
#include <functional>
#include <string>

#include "realizar/core/status.h"

namespace rz::server {

struct ServerOptions {
    std::string model_path;        // GGUF / APR / llama2.c file or HF folder
    bool demo = false;             // serve the embedded demo model (model_path ignored)
    std::string host = "127.0.0.1";
    int port = 8080;               // 0 = any free port (printed on stderr)
    int parallel = 4;              // slots decoded together (continuous batching)
    int ctx_size = 0;              // per slot; 0 = min(model's training context, 4096)
    int threads = 0;               // compute threads; 0 = physical cores
    int n_gpu_layers = 0;          // CUDA backend: the first N layers on the device (-1: all; see docs/cuda.md)
    int n_batch = 512;             // token budget of one engine step
    std::string api_key;           // "" = no auth; else Bearer auth on every route but /health
    int max_tokens = 2048;         // cap on max_tokens per request
    int default_max_tokens = 256;  // when a request (realizar API, chat) names none
    int timeout_s = 600;           // per-request generation deadline
    size_t body_limit = 1 << 20;   // request body bytes
    int queue_size = 64;           // requests waiting for a slot before 503
    bool cache_prompt = true;      // reuse a slot's cached prompt prefix (EngineOptions::cache_prompt)
    int shutdown_timeout_s = 10;   // on SIGINT/SIGTERM: let running requests finish this long, then cancel
    int http_threads = 0;          // 0 = enough for every slot and queued request plus idle connections
    std::string cors_origin;       // --cors-origin: "" = none, "*" or an origin (HttpServerOptions::cors_origin)
    bool warmup = true;            // run Context::warm_up() after loading (--no-warmup: the first request pays the setup)
};

// Runs until SIGINT or SIGTERM, then shuts down gracefully. Returns the process exit code (0 after a clean
// shutdown, 1 when the model cannot be loaded or the port cannot be bound).
int run_server(const ServerOptions& opts);

}  // namespace rz::server
