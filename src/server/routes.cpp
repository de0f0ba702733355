// realizar's own API: /generate, /stream/generate, /batch/generate, /tokenize, /detokenize, /health, /metrics,
// plus the helpers every generating route shares (collect, pump_stream, error mapping).
#include <fmt/format.h>

#include "realizar/server/sse.h"
#include "realizar/version.h"
#include "server/state.h"

namespace rz::server {

ServerState::ServerState(const ServerOptions& o)
    : opts(o), metrics(RZ_VERSION_STRING, o.n_gpu_layers != 0 ? "cuda" : "cpu") {
    compute_mode = o.n_gpu_layers != 0 ? "cuda" : "cpu";
    limits.max_tokens_cap = o.max_tokens;
    limits.default_max_tokens = std::min(o.default_max_tokens, o.max_tokens);
    created_unix = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
}

void send_json(HttpResponse& res, int status, const json& body) {
    res.status = status;
    res.content_type = "application/json";
    res.body = dump_json(body);
}

void send_error(HttpResponse& res, const ApiError& err) {
    res.status = err.status;
    res.content_type = "application/json";
    res.body = err.to_json();
    if (err.status == 503) res.set_header("Retry-After", "1");
}

std::string Collected::text() const {
    std::string out;
    for (const auto& t : tokens) out += t.text;
    out += fin.tail;
    return out;
}

Collected collect(RequestStream& rs, const std::function<bool()>& client_gone) {
    Collected c;
    std::optional<RequestStream::Final> fin;
    bool gone = false;
    auto polled = std::chrono::steady_clock::now();
    for (;;) {
        rs.next(c.tokens, fin, std::chrono::milliseconds(500));  // returns early with news (tokens)
        if (fin) break;
        const auto now = std::chrono::steady_clock::now();
        if (gone || !client_gone || now - polled < std::chrono::milliseconds(100)) continue;  // a poll(2) every 0.1 s at most
        polled = now;
        if (client_gone()) {
            rs.cancel();  // the engine frees the slot and finishes the stream as cancelled
            gone = true;
        }
    }
    c.fin = std::move(*fin);
    c.fin.client_gone = gone;
    return c;
}

std::optional<ApiError> final_error(const RequestStream::Final& fin, int timeout_s) {
    const auto error = [](int status, const char* type, const char* code, std::string message) {
        ApiError e;
        e.status = status;
        e.type = type;
        e.code = code;
        e.message = std::move(message);
        return e;
    };
    if (fin.reason == runtime::FinishReason::kError) {
        ApiError e = ApiError::from_status(fin.error);
        if (e.status < 500) e.status = 500, e.type = "server_error", e.code = "internal_error";
        e.message = "generation failed: " + fin.error.message();
        return e;
    }
    if (fin.timed_out)
        return error(504, "server_error", "timeout", fmt::format("generation did not finish within {} s (--timeout)", timeout_s));
    if (fin.client_gone)  // nobody reads this answer; the status is for the log and /metrics (nginx's 499)
        return error(499, "invalid_request_error", "client_closed", "the client closed the connection; the generation was cancelled");
    if (fin.reason == runtime::FinishReason::kCancelled)
        return error(503, "server_error", "cancelled", "the request was cancelled (server shutting down)");
    return std::nullopt;
}

void pump_stream(RequestStream& rs, StreamWriter& w, const std::function<bool(const RequestStream::Token&)>& on_token,
                 const std::function<void(const RequestStream::Final&)>& on_final) {
    auto last_write = Clock::now();
    for (;;) {
        std::vector<RequestStream::Token> tokens;
        std::optional<RequestStream::Final> fin;
        rs.next(tokens, fin, std::chrono::milliseconds(250));
        for (const auto& t : tokens) {
            if (!on_token(t)) {
                rs.cancel();
                return;
            }
            last_write = Clock::now();
        }
        if (fin) {
            on_final(*fin);
            return;
        }
        // An SSE comment now and then: keeps proxies from timing out, and finds clients that went away
        // while a long prompt is being processed.
        if (Clock::now() - last_write > std::chrono::seconds(5)) {
            if (!w.write(": keep-alive\n\n")) {
                rs.cancel();
                return;
            }
            last_write = Clock::now();
        }
    }
}

json usage_json(int prompt, int completion, int cached) {
    return {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

json usage_json(const RequestStream::Final& fin, int completion) { return usage_json(fin.prompt_tokens, completion, fin.cached_tokens); }

namespace {

const char* finish_name(runtime::FinishReason r) { return runtime::finish_reason_name(r); }

// Tokenizes a realizar-API prompt: BOS as the model expects, special-token text is plain text.
Result<std::vector<int32_t>> encode_prompt(const ServerState& st, const std::string& prompt) {
    return st.tok->encode(prompt, /*add_special=*/true, /*parse_special=*/false);
}

template <typename T>
bool parsed_or_error(std::variant<T, ApiError>& v, HttpResponse& res) {
    if (auto* e = std::get_if<ApiError>(&v)) {
        send_error(res, *e);
        return false;
    }
    return true;
}

// Submits one prompt; on failure fills res and returns nullptr.
std::shared_ptr<RequestStream> start(ServerState& st, const std::string& prompt, const GenerationSpec& gen,
                                     HttpResponse& res, int* n_prompt) {
    auto ids = encode_prompt(st, prompt);
    if (!ids.ok()) {
        send_error(res, ApiError::bad_request("prompt: " + ids.status().message(), "prompt"));
        return nullptr;
    }
    *n_prompt = static_cast<int>(ids->size());
    GenTask task{std::move(ids).value(), gen, st.deadline()};
    auto rs = st.engine->submit(std::move(task));
    if (!rs.ok()) {
        send_error(res, ApiError::from_status(rs.status()));
        return nullptr;
    }
    return std::move(rs).value();
}

json generate_result(const Collected& c) {
    std::vector<int32_t> ids;
    ids.reserve(c.tokens.size());
    for (const auto& t : c.tokens) ids.push_back(t.id);
    const int n = static_cast<int>(ids.size());
    return {{"text", c.text()},
            {"token_ids", ids},
            {"num_generated", n},
            {"finish_reason", finish_name(c.fin.reason)},
            {"usage", usage_json(c.fin, n)}};
}

}  // namespace

void register_realizar_routes(HttpServer& http, ServerState& st) {
    http.route("GET", "/health", [&st](const HttpRequest&, HttpResponse& res) {
        const Phase ph = st.phase.load(std::memory_order_acquire);
        const char* status = ph == Phase::kReady ? "ok" : ph == Phase::kLoading ? "loading"
                           : ph == Phase::kDraining ? "shutting_down" : "error";
        json body = {{"status", status},
                     {"version", RZ_VERSION_STRING},
                     {"model", ph == Phase::kReady || ph == Phase::kDraining ? json(st.model_name) : json(nullptr)},
                     {"compute_mode", st.compute_mode}};
        if (ph == Phase::kFailed) body["error"] = st.load_error;
        send_json(res, ph == Phase::kReady ? 200 : 503, body);
        if (ph != Phase::kReady) res.set_header("Retry-After", "1");
    });

    http.route("GET", "/metrics", [&st](const HttpRequest&, HttpResponse& res) {
        res.status = 200;
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        res.body = st.metrics.render();
    });

    if (st.classical) return;  // a classical model has no token API

    http.route("POST", "/tokenize", [&st](const HttpRequest& req, HttpResponse& res) {
        auto v = parse_tokenize(req.body);
        if (!parsed_or_error(v, res)) return;
        const auto& r = std::get<TokenizeRequest>(v);
        auto ids = st.tok->encode(r.text, r.add_special, r.parse_special);
        if (!ids.ok()) return send_error(res, ApiError::bad_request("text: " + ids.status().message(), "text"));
        send_json(res, 200, {{"token_ids", *ids}, {"num_tokens", ids->size()}});
    });

    http.route("POST", "/detokenize", [&st](const HttpRequest& req, HttpResponse& res) {
        auto v = parse_detokenize(req.body);
        if (!parsed_or_error(v, res)) return;
        const auto& r = std::get<DetokenizeRequest>(v);
        for (size_t i = 0; i < r.token_ids.size(); ++i)
            if (r.token_ids[i] >= st.tok->n_vocab())
                return send_error(res, ApiError::bad_request(fmt::format("token_ids[{}] = {} is out of range (vocabulary "
                                                                         "size {})", i, r.token_ids[i], st.tok->n_vocab()),
                                                             "token_ids"));
        send_json(res, 200, {{"text", st.tok->decode(r.token_ids, r.skip_special)}});
    });

    http.route("POST", "/generate", [&st](const HttpRequest& req, HttpResponse& res) {
        auto v = parse_generate(req.body, st.limits);
        if (!parsed_or_error(v, res)) return;
        const auto& r = std::get<GenerateRequest>(v);
        int n_prompt = 0;
        auto rs = start(st, r.prompt, r.gen, res, &n_prompt);
        if (!rs) return;
        const Collected c = collect(*rs, req.client_gone);
        res.prompt_tokens = c.fin.prompt_tokens;
        res.generated_tokens = static_cast<int>(c.tokens.size());
        if (auto e = final_error(c.fin, st.opts.timeout_s)) return send_error(res, *e);
        send_json(res, 200, generate_result(c));
    });

    http.route("POST", "/batch/generate", [&st](const HttpRequest& req, HttpResponse& res) {
        auto v = parse_batch_generate(req.body, st.limits);
        if (!parsed_or_error(v, res)) return;
        const auto& r = std::get<BatchGenerateRequest>(v);
        std::vector<GenTask> tasks;
        for (size_t i = 0; i < r.prompts.size(); ++i) {
            auto ids = encode_prompt(st, r.prompts[i]);
            if (!ids.ok())
                return send_error(res, ApiError::bad_request(fmt::format("prompts[{}]: {}", i, ids.status().message()),
                                                             "prompts"));
            tasks.push_back(GenTask{std::move(ids).value(), r.gen, st.deadline()});
        }
        auto streams = st.engine->submit_all(std::move(tasks));
        if (!streams.ok()) return send_error(res, ApiError::from_status(streams.status()));
        json results = json::array();
        int prompt_total = 0, gen_total = 0, cached_total = 0;
        std::optional<ApiError> first_error;
        for (auto& rs : *streams) {
            const Collected c = collect(*rs, req.client_gone);
            prompt_total += c.fin.prompt_tokens;
            cached_total += c.fin.cached_tokens;
            gen_total += static_cast<int>(c.tokens.size());
            if (auto e = final_error(c.fin, st.opts.timeout_s); e && !first_error) first_error = e;
            results.push_back(generate_result(c));
        }
        res.prompt_tokens = prompt_total;
        res.generated_tokens = gen_total;
        if (first_error) return send_error(res, *first_error);
        send_json(res, 200, {{"results", results}, {"usage", usage_json(prompt_total, gen_total, cached_total)}});
    });

    http.route("POST", "/stream/generate", [&st](const HttpRequest& req, HttpResponse& res) {
        auto v = parse_generate(req.body, st.limits);
        if (!parsed_or_error(v, res)) return;
        const auto& r = std::get<GenerateRequest>(v);
        int n_prompt = 0;
        auto rs = start(st, r.prompt, r.gen, res, &n_prompt);
        if (!rs) return;
        res.prompt_tokens = n_prompt;
        res.content_type = "text/event-stream";
        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Accel-Buffering", "no");
        // The response object outlives this handler (httplib keeps it until the stream is written);
        // the guard cancels the generation if the stream never runs or stops early.
        auto guard = std::shared_ptr<RequestStream>(rs.get(), [keep = rs](RequestStream* p) { p->cancel(); });
        HttpResponse* resp = &res;
        const int timeout_s = st.opts.timeout_s;
        res.stream = [guard, resp, timeout_s](StreamWriter& w) {
            std::string text;
            int n = 0;
            pump_stream(
                *guard, w,
                [&](const RequestStream::Token& t) {
                    text += t.text;
                    ++n;
                    resp->generated_tokens = n;
                    return w.write(sse_event("token", dump_json({{"token_id", t.id}, {"text", t.text}})));
                },
                [&](const RequestStream::Final& fin) {
                    if (auto e = final_error(fin, timeout_s)) {
                        w.write(sse_event("error", e->to_json()));
                        return;
                    }
                    text += fin.tail;
                    w.write(sse_event("done", dump_json({{"text", text},
                                                         {"num_generated", n},
                                                         {"finish_reason", finish_name(fin.reason)},
                                                         {"usage", usage_json(fin, n)}})));
                });
        };
    });
}

}  // namespace rz::server
