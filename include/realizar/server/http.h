#pragma once
// A small HTTP server interface so the rest of the server never touches cpp-httplib directly: routes get a
// plain HttpRequest and fill an HttpResponse, either with a complete body or with a streaming writer that
// runs on the connection's thread (SSE). One implementation (http.cpp) sits on cpp-httplib 0.11.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realizar/core/status.h"

namespace rz::server {

struct HttpRequest {
    std::string method;       // "GET", "POST", ...
    std::string path;         // without the query string
    std::string body;
    std::string remote_addr;
    std::string request_id;   // "req-<n>", unique per process, echoed as X-Request-Id
    std::vector<std::pair<std::string, std::string>> headers;
    // True once the client has closed its connection (a non-blocking poll of the socket; false when that cannot be
    // told). A handler that waits for a whole result polls it, so that a generation for a client that went away
    // stops and frees its slot instead of running to max_tokens.
    std::function<bool()> client_gone;

    // Case-insensitive header lookup; "" when absent.
    std::string header(std::string_view name) const;
};

// Writes one piece of a streamed body. Returns false once the client is gone; the stream should stop.
class StreamWriter {
public:
    virtual ~StreamWriter() = default;
    virtual bool write(std::string_view data) = 0;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    // When set, the body is streamed (chunked transfer encoding) by calling this on the connection's
    // thread after the headers are sent; `body` is ignored.
    std::function<void(StreamWriter&)> stream;
    // Filled by the route for the request log / metrics: prompt and generated token counts.
    int prompt_tokens = 0;
    int generated_tokens = 0;

    void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

struct HttpServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                   // 0 = any free port
    size_t body_limit = 1 << 20;       // bytes; larger bodies get 413
    int n_threads = 16;                // connection threads (each open connection holds one)
    int read_timeout_s = 10;  // a client silent this long in the middle of a request is dropped (it holds a thread)
    int write_timeout_s = 30;
    int keep_alive_timeout_s = 5;
    // "" = no CORS headers; else Access-Control-Allow-Origin on every answer ("*" or one origin), so that a web page
    // from that origin may call the API (preflight OPTIONS requests are answered either way).
    std::string cors_origin;
};

// Called after every request (also streamed ones, once the stream ended) for logs and metrics.
struct RequestRecord {
    const HttpRequest* request;
    int status;
    double seconds;
    int prompt_tokens;
    int generated_tokens;
    std::string route;  // the registered route pattern ("/generate"), or "other" for unknown paths
};

class HttpServer {
public:
    explicit HttpServer(HttpServerOptions opts);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Exact-path routes. A path registered for another method answers 405; an unknown path 404.
    void route(const std::string& method, const std::string& path, HttpHandler handler);
    // Runs before the route; returning false means the response is already filled (auth failure, ...).
    void set_gate(std::function<bool(const HttpRequest&, HttpResponse&)> gate);
    // JSON body for errors the HTTP layer itself produces (404, 405, 413, 400 on a bad request line).
    void set_error_body(std::function<std::string(int status, const std::string& message)> fn);
    void set_observer(std::function<void(const RequestRecord&)> fn);

    // Binds the listening socket; returns the bound port.
    Result<int> bind();
    // Serves until stop(); returns when the listener and every connection thread have ended.
    void serve();
    // Stops accepting and ends idle connections; streams still running are cut off at their next write.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace rz::server
