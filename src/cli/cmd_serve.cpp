// `realizar serve`: options -> rz::server::run_server (src/server/server.cpp).
#include "cli/commands.h"
#include "realizar/server/server.h"

namespace rz::cli {

Runner add_serve_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("serve", "Serve a model over HTTP (REST, SSE, OpenAI-compatible API, /metrics)");
    auto o = std::make_shared<server::ServerOptions>();
    cmd->add_option("--model,-m", o->model_path, "Model: GGUF, APR, llama2.c .bin file or Hugging Face folder");
    cmd->add_flag("--demo", o->demo, "Serve the demo model embedded in the binary (stories260K)");
    cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port,-p", o->port, "TCP port (0 = any free port)")->capture_default_str();
    cmd->add_option("--parallel,--np", o->parallel, "Slots decoded together (continuous batching)")->capture_default_str();
    cmd->add_option("--ctx-size,-c", o->ctx_size, "Context per slot in tokens (0 = model's, at most 4096)")
        ->capture_default_str();
    cmd->add_option("--threads,-t", o->threads, "Compute threads (0 = physical cores)")->capture_default_str();
    add_gpu_options(cmd, o->n_gpu_layers);
    cmd->add_option("--batch-size,-b", o->n_batch, "Token budget of one engine step")->capture_default_str();
    cmd->add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on every route but /health")
        ->envname("REALIZAR_API_KEY");
    cmd->add_option("--max-tokens", o->max_tokens, "Largest max_tokens a request may ask for")->capture_default_str();
    cmd->add_option("--default-max-tokens", o->default_max_tokens, "max_tokens when a request names none")
        ->capture_default_str();
    cmd->add_option("--timeout", o->timeout_s, "Per-request generation deadline in seconds")->capture_default_str();
    cmd->add_option("--body-limit", o->body_limit, "Largest request body in bytes")->capture_default_str();
    cmd->add_option("--queue-size", o->queue_size, "Requests waiting for a slot before 503")->capture_default_str();
    cmd->add_option("--shutdown-timeout", o->shutdown_timeout_s,
                    "On SIGINT/SIGTERM, seconds running requests get to finish before they are cancelled")
        ->capture_default_str();
    cmd->add_option("--http-threads", o->http_threads, "Connection threads (0 = from --parallel and --queue-size)")
        ->capture_default_str();
    cmd->add_option("--cors-origin", o->cors_origin,
                    "Let web pages from this origin call the API ('*' for any; default: no CORS headers)");
    cmd->add_flag_callback("--no-cache-prompt", [o] { o->cache_prompt = false; },
                           "Evaluate every prompt whole (by default a request reuses the longest prefix of its prompt "
                           "a free slot still holds in its KV cache)");
    cmd->add_flag_callback("--no-warmup", [o] { o->warmup = false; },
                           "Skip the warm-up passes run after loading (the first request then pays the one-time setup)");
    return [o] { return server::run_server(*o); };
}

}  // namespace rz::cli
