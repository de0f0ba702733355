// The HTTP layer on its own: routing, 404/405/413 bodies, gate, streaming, observer.
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <thread>

#include "realizar/server/http.h"

namespace rz::server {
namespace {

struct Running {
    HttpServer http;
    std::thread th;
    int port = 0;
    std::atomic<int> observed{0};
    explicit Running(HttpServerOptions o) : http(std::move(o)) {}
    void start() {
        auto p = http.bind();
        ASSERT_TRUE(p.ok()) << p.status().to_string();
        port = *p;
        th = std::thread([this] { http.serve(); });
    }
    ~Running() {
        http.stop();
        if (th.joinable()) th.join();
    }
};

HttpServerOptions opts() {
    HttpServerOptions o;
    o.port = 0;
    o.body_limit = 1000;
    o.n_threads = 4;
    return o;
}

TEST(Http, RoutesErrorsGateStream) {
    Running r(opts());
    r.http.set_error_body([](int status, const std::string& msg) {
        return "{\"status\":" + std::to_string(status) + ",\"msg\":\"" + msg + "\"}";
    });
    r.http.set_gate([](const HttpRequest& req, HttpResponse& res) {
        if (req.header("x-deny") == "1") {
            res.status = 401;
            res.body = "denied";
            return false;
        }
        return true;
    });
    r.http.set_observer([&](const RequestRecord& rec) {
        if (rec.route == "/echo") r.observed.fetch_add(1);
    });
    r.http.route("POST", "/echo", [](const HttpRequest& req, HttpResponse& res) {
        res.body = req.body + "|" + req.header("X-Thing") + "|" + req.request_id.substr(0, 4);
        res.content_type = "text/plain";
    });
    r.http.route("GET", "/stream", [](const HttpRequest&, HttpResponse& res) {
        res.content_type = "text/event-stream";
        res.stream = [](StreamWriter& w) {
            for (int i = 0; i < 3; ++i) w.write("data: " + std::to_string(i) + "\n\n");
        };
    });
    r.start();

    httplib::Client c("127.0.0.1", r.port);
    auto res = c.Post("/echo", {{"X-Thing", "yes"}}, "hello", "text/plain");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "hello|yes|req-");
    EXPECT_FALSE(res->get_header_value("X-Request-Id").empty());

    res = c.Get("/nope");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404);
    EXPECT_NE(res->body.find("\"status\":404"), std::string::npos) << res->body;

    res = c.Get("/echo");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 405);
    EXPECT_EQ(res->get_header_value("Allow"), "POST");

    res = c.Post("/echo", std::string(5000, 'x'), "text/plain");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
    EXPECT_NE(res->body.find("1000 bytes"), std::string::npos) << res->body;

    httplib::Client c2("127.0.0.1", r.port);
    res = c2.Post("/echo", {{"x-deny", "1"}}, "x", "text/plain");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_EQ(res->body, "denied");

    res = c2.Get("/stream");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    EXPECT_EQ(res->get_header_value("Transfer-Encoding"), "chunked");
    EXPECT_GE(r.observed.load(), 2);
}

}  // namespace
}  // namespace rz::server
