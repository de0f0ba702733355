// api_client: talks to a running `realizar serve` over HTTP.
//
//   api_client [--host 127.0.0.1] [--port 8080] [--api-key KEY]
//       generate, stream, and chat once each, printing what the server says.
//   api_client --port 8080 --clients 4 --requests 8 --max-tokens 64
//       load mode: N concurrent streaming clients, each sending M requests; prints aggregate generated
//       tokens/s and time to first token (median, p90) as measured by the client.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string api_key;
    int clients = 0;  // 0 = demo mode
    int requests = 4;
    int max_tokens = 64;
    std::string prompt = "Once upon a time";
};

httplib::Headers headers(const Options& o) {
    httplib::Headers h;
    if (!o.api_key.empty()) h.emplace("Authorization", "Bearer " + o.api_key);
    return h;
}

httplib::Client client(const Options& o) {
    httplib::Client c(o.host, o.port);
    c.set_read_timeout(300, 0);
    c.set_tcp_nodelay(true);
    return c;
}

// Streams one /stream/generate request; returns false on error. Fills the generated token count and the
// time from sending the request to the first token event.
bool stream_once(const Options& o, httplib::Client& c, int* n_tokens, double* ttft_s, std::string* text) {
    const auto t0 = Clock::now();
    std::string buf;
    bool first = true;
    int n = 0;
    json body = {{"prompt", o.prompt}, {"max_tokens", o.max_tokens}, {"ignore_eos", true}};
    // cpp-httplib 0.11's Post() has no content receiver: build the request by hand to see events as they arrive.
    httplib::Request req;
    req.method = "POST";
    req.path = "/stream/generate";
    req.headers = headers(o);
    req.set_header("Content-Type", "application/json");
    req.body = body.dump();
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
        buf.append(data, len);
        size_t end;
        while ((end = buf.find("\n\n")) != std::string::npos) {
            const std::string ev = buf.substr(0, end);
            buf.erase(0, end + 2);
            if (ev.rfind("event: token", 0) == 0) {
                if (first) {
                    *ttft_s = std::chrono::duration<double>(Clock::now() - t0).count();
                    first = false;
                }
                ++n;
                if (text) {
                    const auto at = ev.find("data: ");
                    if (at != std::string::npos) {
                        auto j = json::parse(ev.substr(at + 6), nullptr, false);
                        if (!j.is_discarded()) *text += j["text"].get<std::string>();
                    }
                }
            }
        }
        return true;
    };
    httplib::Response resp;
    httplib::Error err = httplib::Error::Success;
    if (!c.send(req, resp, err) || resp.status != 200) {
        std::fprintf(stderr, "stream request failed: %s (status %d)\n", httplib::to_string(err).c_str(), resp.status);
        return false;
    }
    *n_tokens = n;
    return true;
}

int demo(const Options& o) {
    auto c = client(o);
    auto h = c.Get("/health");
    if (!h) {
        std::fprintf(stderr, "cannot reach http://%s:%d: %s\n", o.host.c_str(), o.port, httplib::to_string(h.error()).c_str());
        return 1;
    }
    std::printf("GET /health -> %d %s\n\n", h->status, h->body.c_str());

    json gen = {{"prompt", o.prompt}, {"max_tokens", o.max_tokens}};
    auto r = c.Post("/generate", headers(o), gen.dump(), "application/json");
    if (!r || r->status != 200) {
        std::fprintf(stderr, "/generate failed: %s\n", r ? r->body.c_str() : httplib::to_string(r.error()).c_str());
        return 1;
    }
    auto j = json::parse(r->body);
    std::printf("POST /generate -> %s%s\n  (%d tokens, finish_reason %s)\n\n", o.prompt.c_str(),
                j["text"].get<std::string>().c_str(), j["num_generated"].get<int>(),
                j["finish_reason"].get<std::string>().c_str());

    int n = 0;
    double ttft = 0;
    std::string text;
    if (!stream_once(o, c, &n, &ttft, &text)) return 1;
    std::printf("POST /stream/generate -> %d token events, first after %.1f ms:\n  %s%s\n\n", n, ttft * 1e3,
                o.prompt.c_str(), text.c_str());

    json chat = {{"messages", {{{"role", "user"}, {"content", "Tell me a story."}}}}, {"max_tokens", o.max_tokens}};
    r = c.Post("/v1/chat/completions", headers(o), chat.dump(), "application/json");
    if (!r || r->status != 200) {
        std::fprintf(stderr, "/v1/chat/completions failed: %s\n", r ? r->body.c_str() : "no response");
        return 1;
    }
    j = json::parse(r->body);
    std::printf("POST /v1/chat/completions -> %s\n", j["choices"][0]["message"]["content"].get<std::string>().c_str());
    return 0;
}

int load(const Options& o) {
    std::vector<double> ttfts;
    std::atomic<long> tokens{0};
    std::atomic<int> failures{0};
    std::mutex mu;
    const auto t0 = Clock::now();
    std::vector<std::thread> th;
    for (int i = 0; i < o.clients; ++i) {
        th.emplace_back([&] {
            auto c = client(o);
            for (int k = 0; k < o.requests; ++k) {
                int n = 0;
                double ttft = 0;
                if (!stream_once(o, c, &n, &ttft, nullptr)) {
                    failures.fetch_add(1);
                    break;  // one message per client is enough
                }
                tokens.fetch_add(n);
                std::lock_guard lk(mu);
                ttfts.push_back(ttft);
            }
        });
    }
    for (auto& t : th) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::sort(ttfts.begin(), ttfts.end());
    auto pct = [&](double p) {
        return ttfts.empty() ? 0.0 : ttfts[std::min(ttfts.size() - 1, static_cast<size_t>(p * (ttfts.size() - 1) + 0.5))];
    };
    std::printf("clients %d, requests %d, max_tokens %d: %ld tokens in %.2f s = %.1f tok/s aggregate; "
                "TTFT median %.1f ms, p90 %.1f ms; failures %d\n",
                o.clients, o.clients * o.requests, o.max_tokens, tokens.load(), secs, tokens.load() / secs,
                pct(0.5) * 1e3, pct(0.9) * 1e3, failures.load());
    return failures.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"api_client: talk to a running `realizar serve` (demo), or load it with concurrent streams"};
    app.add_option("--host", o.host)->capture_default_str();
    app.add_option("--port", o.port)->capture_default_str();
    app.add_option("--api-key", o.api_key, "Sent as Authorization: Bearer KEY");
    app.add_option("--prompt", o.prompt)->capture_default_str();
    app.add_option("--max-tokens", o.max_tokens)->capture_default_str();
    app.add_option("--clients", o.clients, "Load mode: concurrent streaming clients (0 = demo mode)")
        ->capture_default_str();
    app.add_option("--requests", o.requests, "Load mode: requests per client")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    return o.clients > 0 ? load(o) : demo(o);
}
