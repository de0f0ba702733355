// The HTTP load driver of `realizar bench --url`: one thread per concurrent client, streaming requests.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "realizar/bench/http.h"

namespace rz::bench {

using Clock = std::chrono::steady_clock;

static double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// What went wrong, in words (httplib names its errors "Connection", "Read", ...); timeout_s: the read timeout, and
// the option that sets it when there is one.
static std::string transport_error(httplib::Error e, int timeout_s, const char* option = nullptr) {
    switch (e) {
        case httplib::Error::Connection: return "cannot connect (nothing listening there, or unreachable)";
        case httplib::Error::ConnectionTimeout: return "the connection timed out";
        case httplib::Error::Read:
            return fmt::format("no answer for {} s{}, or the connection dropped", timeout_s, option ? fmt::format(" ({})", option) : "");
        case httplib::Error::Write: return "the request could not be sent (connection dropped)";
        case httplib::Error::SSLConnection:
        case httplib::Error::SSLLoadingCerts:
        case httplib::Error::SSLServerVerification: return "TLS failed (bench --url speaks plain http)";
        default: return httplib::to_string(e);
    }
}

// A server's answer in an error message: one line, at most 200 characters (an HTML error page is not a message).
static std::string one_line(const std::string& body) {
    std::string out;
    for (char c : body) {
        if (out.size() >= 200) return out + "...";
        out += c == '\n' || c == '\r' || c == '\t' ? ' ' : c;
    }
    return out;
}

RequestSample run_request(const HttpBenchOptions& o, const std::string& prompt) {
    RequestSample s;
    httplib::Client cli(o.url);
    if (!cli.is_valid()) {
        s.error = "invalid --url " + o.url;
        return s;
    }
    cli.set_connection_timeout(10, 0);
    cli.set_read_timeout(o.timeout_s, 0);
    cli.set_write_timeout(o.timeout_s, 0);
    const HttpRequestSpec spec = build_request(o.api, o.model, prompt, o.max_tokens, o.ignore_eos);
    StreamParser parser(o.api);
    std::string err;
    bool done = false;
    int64_t token_events = 0;
    std::optional<int64_t> server_count;
    std::string error_body;  // kept small: what a non-200 answer said
    Clock::time_point last;
    const auto t0 = Clock::now();
    auto handle = [&](const std::vector<StreamEvent>& evs) {
        const auto now = Clock::now();
        for (const auto& e : evs) {
            if (e.kind == StreamEvent::kToken) {
                if (token_events == 0) s.ttft_ms = ms_between(t0, now);
                else s.itl_ms.push_back(ms_between(last, now));
                last = now;
                ++token_events;
            } else if (e.kind == StreamEvent::kDone) {
                done = true;
                server_count = e.n_generated;
            } else if (err.empty()) {
                err = e.text;
            }
        }
    };
    httplib::Request req;
    req.method = "POST";
    req.path = spec.path;
    req.body = spec.body;
    req.set_header("Content-Type", "application/json");
    req.set_header("Accept", o.api == Api::kOllama ? "application/x-ndjson" : "text/event-stream");
    int status = 0;
    req.response_handler = [&](const httplib::Response& r) {
        status = r.status;
        return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        if (status != 200) {
            if (error_body.size() < 500) error_body.append(data, std::min<size_t>(n, 500 - error_body.size()));
            return true;
        }
        handle(parser.feed(std::string_view(data, n)));
        return true;
    };
    httplib::Response res;
    httplib::Error herr = httplib::Error::Success;
    const bool sent = cli.send(req, res, herr);
    const auto t_end = Clock::now();
    s.latency_ms = ms_between(t0, t_end);
    if (!sent) {
        s.error = fmt::format("{} {}: {}", o.url, spec.path, transport_error(herr, o.timeout_s, "--timeout"));
        return s;
    }
    if (status == 0) status = res.status;
    if (status != 200) {
        s.error = fmt::format("{} {}: HTTP {}: {}", o.url, spec.path, status, one_line(error_body.empty() ? res.body : error_body));
        return s;
    }
    if (!done) handle(parser.finish());
    if (!err.empty()) {
        s.error = err;
        return s;
    }
    s.tokens = server_count.value_or(token_events);
    s.ok = true;
    return s;
}

Status wait_until_ready(const HttpBenchOptions& o, double seconds) {
    const char* path = o.api == Api::kOpenAI ? "/v1/models" : o.api == Api::kOllama ? "/api/version" : "/health";
    httplib::Client cli(o.url);
    if (!cli.is_valid()) return invalid_argument("invalid --url " + o.url);
    cli.set_connection_timeout(2, 0);
    cli.set_read_timeout(5, 0);
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    std::string last;
    for (;;) {
        if (auto res = cli.Get(path)) {
            if (res->status == 200) return {};
            // No such route (or method): waiting will not change that; another kind of server, or the wrong --api.
            if (res->status == 404 || res->status == 405 || res->status == 501)
                return unavailable(fmt::format("bench --url: {} answers HTTP {} on {}: not a {} server (--api?): {}", o.url, res->status, path,
                                               api_name(o.api), one_line(res->body)));
            last = fmt::format("HTTP {}: {}", res->status, one_line(res->body));
        } else {
            last = transport_error(res.error(), 5);
        }
        if (Clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return unavailable(fmt::format("bench --url: {}{} not ready after {:.0f} s (last answer: {})", o.url, path, seconds, last));
}

// The server's base URL: scheme://host[:port], a trailing '/' dropped, and for the openai API the usual "/v1" of a
// client's base URL too (the routes add it). Any other path is refused: the routes are fixed.
Result<std::string> base_url(const std::string& url, Api api) {
    std::string u = url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    const size_t scheme = u.find("://");
    if (scheme == std::string::npos || scheme == 0) return invalid_argument(fmt::format("--url '{}': expected http://HOST:PORT", url));
    const size_t slash = u.find('/', scheme + 3);
    if (slash == std::string::npos) return u;
    const std::string path = u.substr(slash);
    if (api == Api::kOpenAI && path == "/v1") return u.substr(0, slash);
    return invalid_argument(fmt::format("--url '{}': give the server's base URL (http://HOST:PORT), without the path '{}'", url, path));
}

Result<Report> run_http_bench(const HttpBenchOptions& opts) {
    if (opts.url.empty()) return invalid_argument("bench: --url is empty");
    HttpBenchOptions o = opts;
    RZ_ASSIGN_OR_RETURN(o.url, base_url(opts.url, opts.api));
    if (o.timeout_s < 1) return invalid_argument("bench: --timeout must be >= 1 second");
    if (o.prompts.empty()) return invalid_argument("bench: no prompts");
    if (o.max_tokens < 1) return invalid_argument("bench: -n must be >= 1 for --url");
    if (o.requests < 0) return invalid_argument("bench: --requests must be >= 0");
    if (o.ignore_eos && o.api == Api::kOllama) return invalid_argument("bench: --ignore-eos: the ollama API has no such option");
    if (o.wait_ready_s > 0) RZ_RETURN_IF_ERROR(wait_until_ready(o, o.wait_ready_s));
    Report rep;
    rep.model = o.url + (o.model.empty() ? "" : " (" + o.model + ")");
    const std::string runtime = o.runtime.empty() ? api_name(o.api) : o.runtime;
    std::string concurrency_list;
    for (int c : o.concurrency) concurrency_list += (concurrency_list.empty() ? "" : ",") + std::to_string(c);
    rep.options = {{"url", o.url}, {"api", api_name(o.api)}, {"max_tokens", o.max_tokens},
                   {"ignore_eos", o.ignore_eos}, {"concurrency", concurrency_list}, {"prompts", o.prompts.size()}};
    for (int c : o.concurrency) {
        const int n_req = o.requests > 0 ? std::max(o.requests, c) : std::max(8, 2 * c);
        std::vector<RequestSample> samples(static_cast<size_t>(n_req));
        std::atomic<int> next{0};
        const auto t0 = Clock::now();
        std::vector<std::thread> clients;
        for (int t = 0; t < c; ++t)
            clients.emplace_back([&] {
                for (int i; (i = next.fetch_add(1)) < n_req;)
                    samples[static_cast<size_t>(i)] = run_request(o, o.prompts[static_cast<size_t>(i) % o.prompts.size()]);
            });
        for (auto& th : clients) th.join();
        const double wall_s = ms_between(t0, Clock::now()) / 1000.0;

        std::vector<double> ttft, itl, lat, tps, ntok;
        int64_t tokens = 0;
        int errors = 0;
        std::string first_error;
        for (const auto& s : samples) {
            if (!s.ok) {
                ++errors;
                if (first_error.empty()) first_error = s.error;
                continue;
            }
            tokens += s.tokens;
            ntok.push_back(static_cast<double>(s.tokens));
            ttft.push_back(s.ttft_ms);
            lat.push_back(s.latency_ms);
            itl.insert(itl.end(), s.itl_ms.begin(), s.itl_ms.end());
            // Per-request decode rate: tokens after the first over the time after the first.
            if (s.tokens > 1 && s.latency_ms > s.ttft_ms) tps.push_back((s.tokens - 1) * 1000.0 / (s.latency_ms - s.ttft_ms));
        }
        if (errors == n_req)
            return unavailable(fmt::format("bench --url: all {} requests at concurrency {} failed; first: {}", n_req, c, first_error));
        Record rec{.test = fmt::format("c{}", c), .runtime = runtime, .kind = "http",
                   .params = {{"concurrency", c}, {"requests", n_req}, {"max_tokens", o.max_tokens}, {"api", api_name(o.api)}}};
        rec.metrics["ttft_ms"] = metric_per_request(ttft);
        rec.metrics["latency_ms"] = metric_per_request(lat);
        if (!itl.empty()) rec.metrics["itl_ms"] = metric_per_request(itl);
        if (!tps.empty()) rec.metrics["tokens_per_second"] = metric_per_request(tps);
        // Tokens each request really got: below max_tokens, the model stopped early (end of text, a stop string),
        // and the aggregate measures shorter requests than asked for (--ignore-eos).
        if (!ntok.empty()) rec.metrics["tokens_per_request"] = metric_per_request(ntok);
        rec.aggregate_tokens_per_second = wall_s > 0 ? tokens / wall_s : 0.0;
        rec.errors = errors;
        if (errors) rec.params["first_error"] = first_error;
        rep.results.push_back(std::move(rec));
    }
    return rep;
}

}  // namespace rz::bench
