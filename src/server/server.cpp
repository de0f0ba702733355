// run_server: binds first (so /health answers 503 "loading" at once), loads the model on a background thread,
// then waits for SIGINT/SIGTERM and shuts down gracefully: new requests get 503, running ones get
// --shutdown-timeout seconds to finish, the rest are cancelled (their streams end with an error event), then
// the listener closes and the process exits 0.
#include "realizar/server/server.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "realizar/classical/apr_io.h"
#include "realizar/formats/model_file.h"
#include "realizar/server/demo.h"
#include "realizar/tokenizer/chat_template.h"
#include "server/state.h"

namespace rz::server {

namespace {

// Constant-time comparison: the time taken does not depend on where the strings differ.
bool secure_equals(const std::string& a, const std::string& b) {
    const size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned>(x ^ y);
    }
    return diff == 0;
}

Status validate(const ServerOptions& o) {
    if (o.parallel < 1 || o.parallel > 256) return invalid_argument(fmt::format("--parallel must be in [1, 256], got {}", o.parallel));
    if (o.ctx_size < 0) return invalid_argument(fmt::format("--ctx-size must be >= 0, got {}", o.ctx_size));
    if (o.max_tokens < 1) return invalid_argument(fmt::format("--max-tokens must be >= 1, got {}", o.max_tokens));
    if (o.timeout_s < 1) return invalid_argument(fmt::format("--timeout must be >= 1 s, got {}", o.timeout_s));
    if (o.body_limit < 64) return invalid_argument(fmt::format("--body-limit must be >= 64 bytes, got {}", o.body_limit));
    if (o.queue_size < 0) return invalid_argument(fmt::format("--queue-size must be >= 0, got {}", o.queue_size));
    if (o.n_batch < 1) return invalid_argument(fmt::format("--batch-size must be >= 1, got {}", o.n_batch));
    if (!o.demo && o.model_path.empty()) return invalid_argument("give --model PATH or --demo");
    return Status::Ok();
}

Status load_llm(ServerState& st, const std::string& path) {
    runtime::ModelOptions mo;
    mo.n_threads = st.opts.threads;
    RZ_ASSIGN_OR_RETURN(std::shared_ptr<runtime::Model> model, runtime::Model::load(path, mo));
    auto tok = tokenizer::Tokenizer::from_model_file(model->file());
    if (!tok.ok()) {
        auto alt = tokenizer::Tokenizer::from_path(path);
        if (!alt.ok()) return tok.status().with_context("tokenizer");
        tok = std::move(alt);
    }
    runtime::ContextOptions co;
    co.n_ctx = st.opts.ctx_size;
    co.n_seq_max = st.opts.parallel;
    co.n_batch = st.opts.n_batch;
    co.n_threads = st.opts.threads;
    co.n_gpu_layers = st.opts.n_gpu_layers;
    RZ_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Context> ctx, runtime::Context::create(model, co));
    if (st.opts.warmup) {  // one-time costs (page-in, GPU setup and graph captures) at load, not in the first request
        const auto t0 = std::chrono::steady_clock::now();
        RZ_RETURN_IF_ERROR(ctx->warm_up());
        spdlog::info("warm-up in {:.0f} ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    st.tok = std::move(tok).value();
    st.chat_template = st.tok->chat_template();
    if (st.chat_template.empty()) {
        // Models without a template (base models such as stories260K) get ChatML, as llama.cpp's server does.
        auto chatml = tokenizer::builtin_chat_template("chatml");
        if (!chatml.ok()) return chatml.status();
        st.chat_template = *chatml;
        spdlog::warn("model has no chat template; /v1/chat/completions uses ChatML");
    }
    if (st.tok->bos() >= 0) st.bos_text = st.tok->token_text(st.tok->bos());
    if (st.tok->eos() >= 0) st.eos_text = st.tok->token_text(st.tok->eos());
    if (!st.opts.demo) {
        const auto& info = model->info();
        st.model_name = !info.name.empty() ? info.name : std::filesystem::path(path).filename().string();
        st.metrics.set_model_name(st.model_name);
    }
    EngineOptions eo;
    eo.n_batch = st.opts.n_batch;
    eo.queue_size = st.opts.queue_size;
    eo.cache_prompt = st.opts.cache_prompt;
    st.model = model;
    st.engine = std::make_unique<Engine>(std::move(ctx), *st.tok, eo, &st.metrics);
    spdlog::info("model {} loaded: arch {}, {} parameters, {} slots x {} tokens of context", st.model_name,
                 model->info().arch, model->info().n_params, st.engine->n_slots(), st.engine->n_ctx());
    return Status::Ok();
}

}  // namespace

int run_server(const ServerOptions& opts) {
    if (Status s = validate(opts); !s.ok()) {
        std::fprintf(stderr, "realizar serve: %s\n", s.message().c_str());
        return 2;
    }
    std::string path = opts.model_path;
    if (opts.demo) {
        auto p = demo_model_path();
        if (!p.ok()) {
            std::fprintf(stderr, "realizar serve: --demo is not available: %s\n", p.status().message().c_str());
            return 1;
        }
        path = *p;
    }

    // Block the shutdown signals in every thread (they inherit this mask); the main thread takes them
    // with sigtimedwait, so no handler runs in the middle of a request.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    ServerState st(opts);
    st.model_name = opts.demo ? kDemoModelName : std::filesystem::path(path).filename().string();
    bool is_classical = false;
    {
        auto file = formats::open_model_file(path);
        if (!file.ok()) {
            std::fprintf(stderr, "realizar serve: %s\n", file.status().to_string().c_str());
            return 1;
        }
        is_classical = file->format == formats::Format::kApr && classical::is_classical(*file);
    }

    HttpServerOptions ho;
    ho.host = opts.host;
    ho.port = opts.port;
    ho.body_limit = opts.body_limit;
    ho.cors_origin = opts.cors_origin;
    // A connection holds its thread while open: the slots and the queue, plus room for idle keep-alive connections
    // (fewer spare threads let 80 idle clients delay /health by seconds).
    ho.n_threads = opts.http_threads > 0 ? opts.http_threads : std::max(64, opts.parallel + opts.queue_size + 64);
    HttpServer http(ho);
    http.set_error_body([](int status, const std::string& msg) {
        ApiError e;
        e.status = status;
        e.message = msg;
        e.type = status >= 500 ? "server_error" : status == 404 ? "not_found_error" : "invalid_request_error";
        e.code = status == 404   ? "not_found"
                 : status == 405 ? "method_not_allowed"
                 : status == 411 ? "length_required"
                 : status == 413 ? "body_too_large"
                                 : "";
        return e.to_json();
    });
    http.set_gate([&st](const HttpRequest& req, HttpResponse& res) {
        const bool open_route = req.path == "/health" || (req.path == "/" && req.method == "GET");
        if (!st.opts.api_key.empty() && !open_route) {
            const std::string auth = req.header("Authorization");
            // The scheme is case-insensitive (RFC 9110 11.1): "bearer KEY" is as good as "Bearer KEY".
            const std::string prefix = "bearer ";
            bool scheme = auth.size() > prefix.size();
            for (size_t i = 0; scheme && i < prefix.size(); ++i)
                scheme = std::tolower(static_cast<unsigned char>(auth[i])) == prefix[i];
            const bool ok = scheme && secure_equals(auth.substr(prefix.size()), st.opts.api_key);
            if (!ok) {
                ApiError e;
                e.status = 401;
                e.type = "authentication_error";
                e.code = "invalid_api_key";
                e.message = auth.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "invalid API key";
                send_error(res, e);
                res.set_header("WWW-Authenticate", "Bearer");
                return false;
            }
        }
        if (req.path == "/health" || req.path == "/metrics" || req.path == "/") return true;
        const Phase ph = st.phase.load(std::memory_order_acquire);
        if (ph == Phase::kReady) return true;
        ApiError e = ApiError::from_status(unavailable(
            ph == Phase::kLoading ? "the model is still loading; retry shortly"
            : ph == Phase::kDraining ? "the server is shutting down"
                                     : "the model failed to load: " + st.load_error));
        send_error(res, e);
        return false;
    });
    http.set_observer([&st](const RequestRecord& r) {
        st.metrics.on_request(r.route, r.status, r.seconds);
        spdlog::info("request id={} method={} route={} path={} status={} prompt_tokens={} generated_tokens={} "
                     "latency_ms={:.1f} remote={}",
                     r.request->request_id, r.request->method, r.route, r.request->path, r.status, r.prompt_tokens,
                     r.generated_tokens, r.seconds * 1e3, r.request->remote_addr);
    });

    if (is_classical) {
        auto m = classical::load_classical_model(path);
        if (!m.ok()) {
            std::fprintf(stderr, "realizar serve: %s\n", m.status().to_string().c_str());
            return 1;
        }
        st.classical.emplace(std::move(m).value());
        if (!st.classical->spec().name.empty()) st.model_name = st.classical->spec().name;
    }
    register_realizar_routes(http, st);
    register_openai_routes(http, st);
    register_classical_routes(http, st);
    register_web_routes(http, st);

    auto port = http.bind();
    if (!port.ok()) {
        std::fprintf(stderr, "realizar serve: %s\n", port.status().message().c_str());
        return 1;
    }
    st.metrics.set_model_name(st.model_name);
    std::fprintf(stderr, "realizar serve: listening on http://%s:%d\n", opts.host.c_str(), *port);
    std::fflush(stderr);
    std::thread serve_thread([&http] { http.serve(); });

    std::thread loader;
    if (is_classical) {
        st.phase.store(Phase::kReady, std::memory_order_release);
        st.metrics.set_gauge_source([] {
            EngineGauges g;
            g.model_loaded = true;
            return g;
        });
    } else {
        loader = std::thread([&st, path] {
            const auto t0 = Clock::now();
            Status s = load_llm(st, path);
            if (!s.ok()) {
                st.load_error = s.to_string();
                spdlog::error("loading {} failed: {}", st.opts.demo ? std::string(kDemoModelName) : path, st.load_error);
                st.phase.store(Phase::kFailed, std::memory_order_release);
                return;
            }
            st.metrics.set_gauge_source([&st] { return st.engine->gauges(); });
            spdlog::info("ready in {:.2f} s", std::chrono::duration<double>(Clock::now() - t0).count());
            st.phase.store(Phase::kReady, std::memory_order_release);
        });
    }

    int exit_code = 0;
    for (;;) {
        timespec ts{0, 200 * 1000 * 1000};
        const int sig = sigtimedwait(&sigs, nullptr, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            spdlog::info("received {}, shutting down (up to {} s for running requests)",
                         sig == SIGINT ? "SIGINT" : "SIGTERM", opts.shutdown_timeout_s);
            break;
        }
        if (st.phase.load(std::memory_order_acquire) == Phase::kFailed) {
            std::fprintf(stderr, "realizar serve: %s\n", st.load_error.c_str());
            exit_code = 1;
            break;
        }
    }
    if (loader.joinable()) loader.join();

    const bool had_engine = st.phase.load() == Phase::kReady && st.engine != nullptr;
    if (st.phase.load() == Phase::kReady) st.phase.store(Phase::kDraining, std::memory_order_release);
    if (had_engine) {
        st.engine->stop_accepting();
        const auto deadline = Clock::now() + std::chrono::seconds(opts.shutdown_timeout_s);
        while (st.engine->in_flight() > 0 && Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (st.engine->in_flight() > 0) {
            spdlog::warn("cancelling {} requests still running after {} s", st.engine->in_flight(),
                         opts.shutdown_timeout_s);
            st.engine->cancel_all();
            const auto hard = Clock::now() + std::chrono::seconds(5);
            while (st.engine->in_flight() > 0 && Clock::now() < hard)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        // Let the connection threads write the final events of what just finished.
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    http.stop();
    serve_thread.join();
    st.metrics.set_gauge_source(nullptr);
    st.engine.reset();
    spdlog::info("server stopped");
    return exit_code;
}

}  // namespace rz::server
