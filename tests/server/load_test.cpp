// Load and integration with outside tools: 16 concurrent streaming clients get exactly the tokens they get
// alone (continuous batching must not change results), a bounded wrk run has zero errors and a stable RSS,
// and a real Prometheus server scrapes /metrics and returns one of our series through its query API.
#include <atomic>
#include <thread>

#include "server/harness.h"

namespace rz::test {
namespace {

std::string prompt_for(int i) {
    static const char* starts[] = {"Once upon a time", "The little dog", "Lily and Tom", "One day, a bird",
                                   "The sun was", "Mom said", "A big red ball", "There was a cat"};
    return std::string(starts[i % 8]) + (i >= 8 ? " and a friend" : "");
}

TEST(ServerLoad, SixteenConcurrentStreamsMatchSoloGreedy) {
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--parallel", "16", "--batch-size", "64"});
    ASSERT_NE(srv, nullptr);
    constexpr int kClients = 16;
    // Alone: one request at a time.
    std::vector<std::string> solo(kClients);
    std::vector<json> solo_ids(kClients);
    for (int i = 0; i < kClients; ++i) {
        auto res = srv->client().Post("/generate", json{{"prompt", prompt_for(i)}, {"max_tokens", 48}}.dump(),
                                      "application/json");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        auto j = json::parse(res->body);
        solo[i] = j["text"];
        solo_ids[i] = j["token_ids"];
    }
    // Together: 16 streams at once, released by a barrier.
    std::vector<std::string> text(kClients);
    std::vector<json> ids(kClients, json::array());
    std::vector<std::string> errors(kClients);
    std::atomic<int> ready{0};
    std::vector<std::thread> th;
    for (int i = 0; i < kClients; ++i) {
        th.emplace_back([&, i] {
            auto c = srv->client();
            ready.fetch_add(1);
            while (ready.load() < kClients) std::this_thread::yield();
            auto res = c.Post("/stream/generate", json{{"prompt", prompt_for(i)}, {"max_tokens", 48}}.dump(),
                              "application/json");
            if (!res || res->status != 200) {
                errors[i] = res ? res->body : "no response";
                return;
            }
            auto events = parse_sse(res->body);
            if (!events) {
                errors[i] = "bad SSE: " + res->body.substr(0, 200);
                return;
            }
            for (const auto& e : *events) {
                if (e.event != "token") continue;
                auto t = json::parse(e.data);
                text[i] += t["text"].get<std::string>();
                ids[i].push_back(t["token_id"]);
            }
        });
    }
    for (auto& t : th) t.join();
    for (int i = 0; i < kClients; ++i) {
        EXPECT_TRUE(errors[i].empty()) << "client " << i << ": " << errors[i];
        EXPECT_EQ(ids[i], solo_ids[i]) << "client " << i << " got different tokens when batched";
        EXPECT_EQ(text[i], solo[i]) << "client " << i;
    }
    // The requests really shared forward passes: some steps carried more than 8 sequences.
    auto m = srv->client().Get("/metrics");
    ASSERT_TRUE(m);
    auto count_le = [&](const std::string& le) {
        const std::string key = "realizar_batch_sequences_bucket{le=\"" + le + "\"} ";
        const auto at = m->body.find(key);
        return at == std::string::npos ? -1L : std::atol(m->body.c_str() + at + key.size());
    };
    EXPECT_GT(count_le("+Inf"), count_le("8")) << m->body;
}

TEST(ServerLoad, WrkRunHasNoErrorsAndStableMemory) {
    if (run_shell("command -v wrk").first != 0) GTEST_SKIP() << "wrk missing: scripts/install-test-extras.sh";
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--parallel", "4"});
    ASSERT_NE(srv, nullptr);
    const auto dir = make_temp_dir("wrk");
    {
        std::ofstream(dir / "post.lua") << "wrk.method = \"POST\"\n"
                                           "wrk.body = '{\"prompt\":\"Once upon a time\",\"max_tokens\":16}'\n"
                                           "wrk.headers[\"Content-Type\"] = \"application/json\"\n";
    }
    const std::string cmd = "timeout 60 wrk -t2 -c8 -d3s --timeout 10s -s " + (dir / "post.lua").string() +
                            " http://127.0.0.1:" + std::to_string(srv->port()) + "/generate";
    auto [rc1, warm] = run_shell(cmd);  // warm-up: allocator pools, thread stacks, KV cache pages
    ASSERT_EQ(rc1, 0) << warm;
    const long rss1 = srv->rss_kib();
    auto [rc2, out] = run_shell(cmd);
    ASSERT_EQ(rc2, 0) << out;
    auto [rc3, out3] = run_shell(cmd);
    ASSERT_EQ(rc3, 0) << out3;
    const long rss3 = srv->rss_kib();
    for (const std::string& o : {warm, out, out3}) {
        EXPECT_EQ(o.find("Non-2xx"), std::string::npos) << o;
        EXPECT_EQ(o.find("Socket errors"), std::string::npos) << o;
        const auto at = o.find(" requests in ");
        ASSERT_NE(at, std::string::npos) << o;
        const auto line = o.rfind('\n', at);
        EXPECT_GT(std::atol(o.c_str() + line + 1), 10) << o;
    }
    // Two more full runs after the warm-up must not grow the process noticeably.
    EXPECT_LT(rss3 - rss1, std::max(8L * 1024, rss1 / 10)) << "RSS " << rss1 << " KiB -> " << rss3 << " KiB";
    auto h = srv->client().Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    std::filesystem::remove_all(dir);
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

TEST(ServerLoad, PrometheusScrapesAndQueriesOurSeries) {
    if (run_shell("command -v prometheus").first != 0) GTEST_SKIP() << "prometheus missing: install-deps.sh --test";
    auto srv = ServerProcess::start({"--model", stories_gguf()});
    ASSERT_NE(srv, nullptr);
    auto g = srv->client().Post("/generate", R"({"prompt":"Once upon a time","max_tokens":8})", "application/json");
    ASSERT_TRUE(g);
    const auto dir = make_temp_dir("prometheus");
    {
        std::ofstream(dir / "prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                                 "scrape_configs:\n  - job_name: realizar\n    static_configs:\n"
                                                 "      - targets: ['127.0.0.1:"
                                              << srv->port() << "']\n";
    }
    const int pport = free_port();
    ASSERT_GT(pport, 0);
    std::vector<std::string> args = {"/usr/bin/prometheus",
                                     "--config.file=" + (dir / "prometheus.yml").string(),
                                     "--storage.tsdb.path=" + (dir / "data").string(),
                                     "--web.listen-address=127.0.0.1:" + std::to_string(pport),
                                     "--log.level=warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string plog = (dir / "prometheus.log").string();
    posix_spawn_file_actions_addopen(&fa, 1, plog.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    ASSERT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);

    // Bounded: Prometheus starts, scrapes every second; we query until the series shows up.
    std::string found;
    httplib::Client pc("127.0.0.1", pport);
    pc.set_connection_timeout(1, 0);
    pc.set_read_timeout(5, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (found.empty() && std::chrono::steady_clock::now() < deadline) {
        auto r = pc.Get("/api/v1/query?query=realizar_requests_total%7Broute%3D%22%2Fgenerate%22%7D");
        if (r && r->status == 200) {
            auto j = json::parse(r->body, nullptr, false);
            if (!j.is_discarded() && j["status"] == "success" && !j["data"]["result"].empty()) found = r->body;
        }
        if (found.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    // Also: the scrape target is up.
    std::string up;
    if (!found.empty()) {
        auto r = pc.Get("/api/v1/query?query=up%7Bjob%3D%22realizar%22%7D");
        if (r) up = r->body;
    }
    ::kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100 && ::waitpid(pid, &st, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (::waitpid(pid, &st, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
    }
    ASSERT_FALSE(found.empty()) << "Prometheus never returned realizar_requests_total; its log:\n"
                                << read_file(dir / "prometheus.log");
    auto j = json::parse(found);
    const auto& series = j["data"]["result"][0];
    EXPECT_EQ(series["metric"]["job"], "realizar");
    EXPECT_EQ(series["metric"]["code"], "200");
    EXPECT_EQ(series["value"][1], "1");
    EXPECT_NE(up.find("\"1\""), std::string::npos) << up;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rz::test
