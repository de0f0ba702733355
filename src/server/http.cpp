// HttpServer on cpp-httplib 0.11. Why the indirections below:
// - the gate (API key, draining, loading) runs inside each route's handler, after httplib has read the
//   body: a pre-routing "Handled" would leave an unread body on a keep-alive connection;
// - the logger callback runs on the connection thread after the whole response (also a stream) was
//   written, so per-request state (start time, route, token counts) lives in a thread_local slot;
// - a write to a peer that went away must not kill the process: SIGPIPE is ignored;
// - POST / PUT / DELETE handlers read their body through httplib's content reader (with_body): for regular
//   handlers Debian's compiled cpp-httplib 0.11 answers 413 to any body over 8 KB sent as
//   application/x-www-form-urlencoded (CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH, fixed when the library was
//   built), which is what `curl -d` sends, and parses such bodies as a query string.
#include "realizar/server/http.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

namespace rz::server {

namespace {

uint16_t port_of(const sockaddr_storage& a) {
    if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
    if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
    return 0;
}

// The descriptor of this process's TCP connection local_port <-> remote_port, or -1. httplib 0.11 does not hand
// handlers their socket; the ports name the connection, and it stays open (its thread is in the handler) while
// the handler looks.
int connection_fd(int local_port, int remote_port) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
        const int fd = std::atoi(name.c_str());
        sockaddr_storage local{}, peer{};
        socklen_t ll = sizeof local, pl = sizeof peer;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 || port_of(local) != local_port) continue;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0 || port_of(peer) != remote_port) continue;
        return fd;
    }
    return -1;
}

// The peer closed (or reset) the connection: a hang-up, or end of stream with nothing left to read. Pipelined
// bytes of a next request read as alive.
bool peer_closed(int fd) {
    pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
    char c = 0;
    return (p.revents & POLLIN) && ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (k.size() == name.size() &&
            std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            }))
            return v;
    }
    return {};
}

namespace {

using Clock = std::chrono::steady_clock;

// What the logger needs about the request running on this connection thread.
struct InFlight {
    Clock::time_point start;
    std::string request_id;
    std::string route = "other";
    std::shared_ptr<HttpResponse> response;  // set once a route handled it
};
thread_local InFlight t_in_flight;

std::atomic<uint64_t> g_request_counter{0};

class SinkWriter final : public StreamWriter {
public:
    explicit SinkWriter(httplib::DataSink& sink) : sink_(sink) {}
    bool write(std::string_view data) override {
        if (!ok_) return false;
        if (data.empty()) return true;
        ok_ = sink_.write(data.data(), data.size());
        return ok_;
    }
    bool ok() const { return ok_; }

private:
    httplib::DataSink& sink_;
    bool ok_ = true;
};

}  // namespace

struct HttpServer::Impl {
    HttpServerOptions opts;
    httplib::Server svr;
    std::function<bool(const HttpRequest&, HttpResponse&)> gate;
    std::function<std::string(int, const std::string&)> error_body;
    std::function<void(const RequestRecord&)> observer;
    std::map<std::string, std::set<std::string>> methods_by_path;
    int listen_fd = -1;        // the listening socket, captured while bind() runs
    bool capturing = false;

    HttpRequest convert(const httplib::Request& req, std::string body) const {
        HttpRequest r;
        r.method = req.method;
        r.path = req.path;
        r.body = std::move(body);
        r.remote_addr = req.remote_addr;
        r.request_id = t_in_flight.request_id;
        r.headers.reserve(req.headers.size());
        for (const auto& [k, v] : req.headers) r.headers.emplace_back(k, v);
        // Found on first use (a handler polls only after waiting a while), then polled.
        r.client_gone = [lp = req.local_port, rp = req.remote_port, fd = std::make_shared<int>(-2)] {
            if (*fd == -2) *fd = lp > 0 && rp > 0 ? connection_fd(lp, rp) : -1;
            return *fd >= 0 && peer_closed(*fd);
        };
        return r;
    }

    void apply(const std::shared_ptr<HttpResponse>& resp, httplib::Response& res) const {
        res.status = resp->status;
        for (const auto& [k, v] : resp->headers) res.set_header(k, v);
        res.set_header("X-Request-Id", t_in_flight.request_id);
        cors(res);
        if (resp->stream) {
            res.set_chunked_content_provider(resp->content_type, [resp](size_t, httplib::DataSink& sink) {
                SinkWriter w(sink);
                resp->stream(w);
                if (w.ok()) sink.done();
                return w.ok();
            });
        } else {
            res.set_content(resp->body, resp->content_type);
        }
    }

    // A handler of the request and its body.
    using BodyHandler = std::function<void(const httplib::Request&, std::string, httplib::Response&)>;

    httplib::Server::Handler without_body(BodyHandler h) const {
        return [h = std::move(h)](const httplib::Request& req, httplib::Response& res) { h(req, req.body, res); };
    }

    // The body read through the content reader, at most opts.body_limit bytes: httplib answers 413 itself when a
    // Content-Length is larger; a chunked body past it is read to its end and dropped (the connection stays in
    // step) and answered 413. Multipart parts are read and dropped (the API takes JSON: the handler sees an empty
    // body).
    httplib::Server::HandlerWithContentReader with_body(BodyHandler h) const {
        return [this, h = std::move(h)](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
            std::string body;
            bool too_large = false;
            const auto take = [&](const char* data, size_t n) {
                if (too_large || body.size() + n > opts.body_limit) {
                    too_large = true;
                    std::string().swap(body);
                } else {
                    body.append(data, n);
                }
                return true;
            };
            const bool ok = req.is_multipart_form_data()
                                ? reader([](const httplib::MultipartFormData&) { return true; }, [](const char*, size_t) { return true; })
                                : reader(take);
            if (!ok || too_large) {  // the error handler writes the JSON body
                res.status = too_large || res.status == 413 ? 413 : 400;
                return;
            }
            h(req, std::move(body), res);
        };
    }

    // The methods a handler can be registered for; GET alone reads no body.
    static constexpr std::array<std::string_view, 5> kMethods = {"GET", "POST", "PUT", "DELETE", "PATCH"};

    // Registers h for `method` on `pattern` (a path, or httplib's regex).
    void on(std::string_view method, const std::string& pattern, BodyHandler h) {
        if (method == "GET") svr.Get(pattern, without_body(std::move(h)));
        else if (method == "POST") svr.Post(pattern, with_body(std::move(h)));
        else if (method == "PUT") svr.Put(pattern, with_body(std::move(h)));
        else if (method == "DELETE") svr.Delete(pattern, with_body(std::move(h)));
        else if (method == "PATCH") svr.Patch(pattern, with_body(std::move(h)));
        else RZ_ASSERT(false, "unsupported method");
    }

    BodyHandler wrap(const std::string& path, HttpHandler handler) {
        return [this, path, handler = std::move(handler)](const httplib::Request& req, std::string body, httplib::Response& res) {
            t_in_flight.route = path;
            auto resp = std::make_shared<HttpResponse>();
            t_in_flight.response = resp;
            const HttpRequest r = convert(req, std::move(body));
            if (!gate || gate(r, *resp)) handler(r, *resp);
            apply(resp, res);
        };
    }

    void cors(httplib::Response& res) const {
        if (!opts.cors_origin.empty()) res.set_header("Access-Control-Allow-Origin", opts.cors_origin);
    }

    // OPTIONS on a known path: 204 with Allow, and the CORS preflight answer (no API key: browsers send none).
    void options_handler(const std::string& path) {
        std::string allowed;  // fixed once the routes are (bind)
        for (const auto& m : methods_by_path.at(path)) allowed += m + ", ";
        allowed += "OPTIONS";
        svr.Options(path, [this, path, allowed](const httplib::Request&, httplib::Response& res) {
            t_in_flight.route = path;
            res.status = 204;
            res.set_header("Allow", allowed);
            res.set_header("X-Request-Id", t_in_flight.request_id);
            if (!opts.cors_origin.empty()) {
                cors(res);
                res.set_header("Access-Control-Allow-Methods", allowed);
                res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
                res.set_header("Access-Control-Max-Age", "86400");
            }
        });
    }

    BodyHandler method_not_allowed(const std::string& path) {
        return [this, path](const httplib::Request& req, std::string, httplib::Response& res) {
            t_in_flight.route = path;
            std::string allowed;
            for (const auto& m : methods_by_path[path]) allowed += (allowed.empty() ? "" : ", ") + m;
            res.status = 405;
            res.set_header("Allow", allowed + ", OPTIONS");
            cors(res);
            res.set_content(error_body ? error_body(405, fmt::format("method {} is not allowed on {}; use {}",
                                                                     req.method, path, allowed))
                                       : std::string("method not allowed"),
                            "application/json");
        };
    }
};

HttpServer::HttpServer(HttpServerOptions opts) : impl_(std::make_unique<Impl>()) {
    ::signal(SIGPIPE, SIG_IGN);
    impl_->opts = std::move(opts);
    auto& svr = impl_->svr;
    const size_t n_threads = static_cast<size_t>(std::max(2, impl_->opts.n_threads));
    svr.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
    svr.set_payload_max_length(impl_->opts.body_limit);
    svr.set_read_timeout(impl_->opts.read_timeout_s, 0);
    svr.set_write_timeout(impl_->opts.write_timeout_s, 0);
    svr.set_keep_alive_timeout(impl_->opts.keep_alive_timeout_s);
    // Headers and body (and every SSE event) are separate writes: without TCP_NODELAY, Nagle's algorithm
    // and the client's delayed ACK add ~40 ms to responses and token events.
    svr.set_tcp_nodelay(true);
    // httplib's default sets SO_REUSEPORT, which would let a second server bind the same port and silently
    // take half of its connections; SO_REUSEADDR alone allows a quick restart and nothing more.
    svr.set_socket_options([this](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (impl_->capturing) impl_->listen_fd = sock;
    });

    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        t_in_flight = InFlight{};
        t_in_flight.start = Clock::now();
        t_in_flight.request_id = fmt::format("req-{}", g_request_counter.fetch_add(1) + 1);
        // Known paths are labelled as such also when httplib answers before the handler (413 on an oversized body).
        if (impl_->methods_by_path.contains(req.path)) t_in_flight.route = req.path;
        // A POST / PUT / PATCH with neither Content-Length nor Transfer-Encoding (`curl -X POST url`): httplib 0.11
        // would read its body until the client closes or the read timeout passes, holding a connection thread all
        // that time (a hundred such requests stalled every other client for 30 s). There is no body to leave
        // unread, so it is answered here at once: 411, the length is required.
        if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") && !req.has_header("Content-Length") &&
            !req.has_header("Transfer-Encoding")) {
            res.status = 411;
            res.set_header("X-Request-Id", t_in_flight.request_id);
            impl_->cors(res);
            const std::string msg = "the request has no Content-Length (nor chunked Transfer-Encoding): send the JSON body with its length";
            res.set_content(impl_->error_body ? impl_->error_body(411, msg) : msg, "application/json");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty() || !impl_->error_body) return httplib::Server::HandlerResponse::Unhandled;
        std::string msg;
        switch (res.status) {
            case 404: msg = fmt::format("no route for {} {}", req.method, req.path); break;
            case 413: msg = fmt::format("request body larger than the limit of {} bytes", impl_->opts.body_limit); break;
            case 414: msg = "request URI too long"; break;
            case 400: msg = "malformed HTTP request"; break;
            default: msg = fmt::format("HTTP error {}", res.status); break;
        }
        res.set_content(impl_->error_body(res.status, msg), "application/json");
        res.set_header("X-Request-Id", t_in_flight.request_id);
        impl_->cors(res);
        return httplib::Server::HandlerResponse::Handled;
    }));
    svr.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
            if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        spdlog::error("http: handler threw: {}", what);
        res.status = 500;
        res.set_content(impl_->error_body ? impl_->error_body(500, "internal error: " + what) : what, "application/json");
    });
    svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        if (!impl_->observer) return;
        const double secs = std::chrono::duration<double>(Clock::now() - t_in_flight.start).count();
        HttpRequest r;
        r.method = req.method;
        r.path = req.path;
        r.remote_addr = req.remote_addr;
        r.request_id = t_in_flight.request_id;
        RequestRecord rec{&r, res.status, secs, 0, 0, t_in_flight.route};
        if (t_in_flight.response) {
            rec.prompt_tokens = t_in_flight.response->prompt_tokens;
            rec.generated_tokens = t_in_flight.response->generated_tokens;
        }
        impl_->observer(rec);
        t_in_flight.response.reset();
    });
}

HttpServer::~HttpServer() = default;

void HttpServer::route(const std::string& method, const std::string& path, HttpHandler handler) {
    impl_->methods_by_path[path].insert(method);
    impl_->on(method, path, impl_->wrap(path, std::move(handler)));
}

void HttpServer::set_gate(std::function<bool(const HttpRequest&, HttpResponse&)> gate) { impl_->gate = std::move(gate); }
void HttpServer::set_error_body(std::function<std::string(int, const std::string&)> fn) { impl_->error_body = std::move(fn); }
void HttpServer::set_observer(std::function<void(const RequestRecord&)> fn) { impl_->observer = std::move(fn); }

Result<int> HttpServer::bind() {
    auto& svr = impl_->svr;
    // 405 for the other methods of known paths; registered last so the real handlers match first.
    for (const auto& [path, methods] : impl_->methods_by_path) {
        impl_->options_handler(path);
        for (const std::string_view m : Impl::kMethods)
            if (!methods.contains(std::string(m))) impl_->on(m, path, impl_->method_not_allowed(path));
    }
    // Bodies sent to any other path are read through the content reader too, so that they get the 404 (its JSON
    // body from the error handler): httplib's own read refuses form-encoded bodies over 8 KB (`curl -d`) with 413.
    // (GET reads no body: httplib's own 404.)
    const auto not_found = [](const httplib::Request&, std::string, httplib::Response& res) { res.status = 404; };
    for (const std::string_view m : Impl::kMethods)
        if (m != "GET") impl_->on(m, ".*", not_found);
    const auto& o = impl_->opts;
    if (o.port < 0 || o.port > 65535) return invalid_argument(fmt::format("--port {} is not a TCP port", o.port));
    impl_->capturing = true;
    int port = o.port;
    if (o.port == 0) {
        port = svr.bind_to_any_port(o.host);
        if (port <= 0) port = -1;
    } else if (!svr.bind_to_port(o.host, o.port)) {
        port = -1;
    }
    impl_->capturing = false;
    if (port < 0)
        return unavailable(fmt::format("cannot bind to {}:{} (in use, or not a local address)", o.host,
                                       o.port == 0 ? std::string("any") : std::to_string(o.port)));
    // cpp-httplib 0.11 listens with a backlog of 5: a burst of clients connecting at once overflows it and
    // their SYNs are retried a second later. listen() again on the same socket raises the backlog.
    if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, 1024);
    return port;
}

void HttpServer::serve() { impl_->svr.listen_after_bind(); }

void HttpServer::stop() { impl_->svr.stop(); }

}  // namespace rz::server
