// The HTTP layer on its own: routing, 404/405/413 bodies, gate, streaming, observer.
#include <gtest/gtest.h>

#include <httplib.h>

#include <algorithm>
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
    EXPECT_EQ(res->get_header_value("Allow"), "POST, OPTIONS");

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

// Bodies reach the handlers whatever their content type: `curl -d` sends JSON as application/x-www-form-urlencoded,
// which the compiled cpp-httplib refused past 8 KB (413) for regular handlers. Chunked bodies keep the limit,
// multipart bodies arrive empty, and a wrong method with a large body is still a 405.
TEST(Http, BodiesOfAnyContentTypeAndTheLimit) {
    HttpServerOptions o = opts();
    o.body_limit = 100000;
    Running r(o);
    r.http.set_error_body([](int status, const std::string& msg) {
        return "{\"status\":" + std::to_string(status) + ",\"msg\":\"" + msg + "\"}";
    });
    r.http.route("POST", "/echo", [](const HttpRequest& req, HttpResponse& res) {
        res.body = req.body;
        res.content_type = "text/plain";
    });
    r.http.route("GET", "/only-get", [](const HttpRequest&, HttpResponse& res) { res.body = "got"; });
    r.start();

    httplib::Client c("127.0.0.1", r.port);
    std::string form(20000, 'a');
    for (size_t i = 0; i < form.size(); i += 7) form[i] = i % 2 ? '&' : '=';
    form = "{\"prompt\":\"" + form + "\"}";
    auto res = c.Post("/echo", form, "application/x-www-form-urlencoded");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body.substr(0, 200);
    EXPECT_TRUE(res->body == form) << "echoed " << res->body.size() << " bytes of " << form.size();

    res = c.Post("/only-get", form, "application/x-www-form-urlencoded");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 405);
    // An unknown path: 404 with the JSON error, whatever the body's type and size (under the limit).
    for (const char* type : {"application/x-www-form-urlencoded", "application/json"}) {
        res = c.Post("/nowhere", form, type);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 404) << type;
        EXPECT_NE(res->body.find("no route for POST /nowhere"), std::string::npos) << res->body;
    }
    res = c.Delete("/nowhere/else");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404);
    res = c.Patch("/echo", form, "application/json");  // a known path: 405 naming the methods it takes
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 405);
    EXPECT_EQ(res->get_header_value("Allow"), "POST, OPTIONS");

    // Chunked (no Content-Length): under the limit it arrives whole; past it 413, and the connection stays usable.
    const auto chunked = [](size_t total) {
        return [total](size_t offset, httplib::DataSink& sink) {
            if (offset >= total) {
                sink.done();
                return true;
            }
            const std::string part(std::min<size_t>(4096, total - offset), 'z');
            return sink.write(part.data(), part.size());
        };
    };
    res = c.Post("/echo", chunked(10000), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, std::string(10000, 'z'));
    res = c.Post("/echo", chunked(150000), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
    EXPECT_NE(res->body.find("100000 bytes"), std::string::npos) << res->body;
    res = c.Post("/echo", "after", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "after");

    res = c.Post("/echo", httplib::MultipartFormDataItems{{"field", "value", "", ""}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "");
}

}  // namespace
}  // namespace rz::server
