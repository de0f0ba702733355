// End to end through the real binary: internal benchmarks on stories260K and a classical APR model (JSON
// validated against docs/bench-schema.json), compare's exit codes, the HTTP driver against our own server
// (`realizar serve --demo` on a free loopback port) for the realizar and openai APIs, and the SVG chart
// rendered by headless Chromium.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "realizar/bench/http.h"
#include "realizar/bench/report.h"
#include "realizar/classical/apr_io.h"
#include "realizar/classical/bench_models.h"

using namespace rz::bench;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct CliRun {
    int code = -1;
    std::string out;
};

CliRun run_cli(const std::string& args) {
    const std::string cmd = std::string(RZ_REALIZAR_BIN) + " " + args + " 2>&1";
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    const int st = pclose(p);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/rz-bench-test-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

json schema() { return *read_json_file(std::string(RZ_SOURCE_DIR) + "/docs/bench-schema.json"); }

void expect_valid(const json& j) {
    const auto st = validate_against_schema(j, schema());
    EXPECT_TRUE(st.ok()) << st.message();
}

// `realizar serve --demo --port 0` as a child process; killed (and reaped) by the destructor.
class DemoServer {
  public:
    DemoServer() {
        int fds[2];
        if (pipe(fds) != 0) return;
        pid_ = fork();
        if (pid_ == 0) {
            dup2(fds[1], STDERR_FILENO);
            close(fds[0]);
            close(fds[1]);
            execl(RZ_REALIZAR_BIN, RZ_REALIZAR_BIN, "serve", "--demo", "--host", "127.0.0.1", "--port", "0",
                  "--parallel", "4", "--threads", "1", static_cast<char*>(nullptr));
            _exit(127);
        }
        close(fds[1]);
        fd_ = fds[0];
        // Read stderr until "listening on http://127.0.0.1:PORT" (at most 60 s).
        std::string text;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        fcntl(fd_, F_SETFL, O_NONBLOCK);
        while (std::chrono::steady_clock::now() < deadline) {
            char buf[512];
            const ssize_t n = read(fd_, buf, sizeof buf);
            if (n > 0) text.append(buf, static_cast<size_t>(n));
            else if (n == 0) break;
            else std::this_thread::sleep_for(std::chrono::milliseconds(20));
            const auto at = text.find("listening on http://");
            if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
                const std::string line = text.substr(at + 20, text.find('\n', at) - at - 20);
                url_ = "http://" + line;
                break;
            }
        }
        log_ = text;
    }
    ~DemoServer() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) close(fd_);
    }
    const std::string& url() const { return url_; }
    const std::string& log() const { return log_; }

  private:
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string url_, log_;
};

const std::string kStories = std::string(RZ_SHARED_DIR) + "/data/tinystories-260K/stories260K-f32.gguf";

// `realizar bench ARGS --format json -o OUT`: exits 0, writes a valid report whose results are `tests`, in order.
json bench_report(const std::string& args, const std::string& out, const std::vector<std::string>& tests) {
    const CliRun r = run_cli("bench " + args + " --format json -o " + out);
    EXPECT_EQ(r.code, 0) << r.out;
    auto j = read_json_file(out);
    if (!j.ok()) {
        ADD_FAILURE() << j.status().message();
        return json::object();
    }
    expect_valid(*j);
    EXPECT_EQ((*j)["results"].size(), tests.size());
    for (size_t i = 0; i < tests.size() && i < (*j)["results"].size(); ++i)
        EXPECT_EQ((*j)["results"][i]["test"], tests[i]) << i;
    return *j;
}

}  // namespace

TEST(BenchCli, InternalBenchOnStories260K) {
    TempDir d;
    const std::string extra = " --md " + (d / "r.md") + " --svg " + (d / "r.svg");
    const json j = bench_report(kStories + " -p 32 -n 16 --threads 1 --warmup 1 --max-runs 5" + extra, d / "r.json",
                                {"pp32", "ttft32", "tg16"});
    if (HasFailure()) return;
    for (int i : {0, 2}) {
        const json& t = j["results"][i]["tokens_per_second"];
        EXPECT_GT(t["median"].get<double>(), 0.0);
        EXPECT_GE(t["samples"].get<int>(), 3);
        EXPECT_LE(t["samples"].get<int>(), 5);
        EXPECT_EQ(t["warmup"], 1);
        EXPECT_GT(j["results"][i]["peak_rss_bytes"].get<double>(), 1e6);
    }
    EXPECT_GT(j["results"][1]["ttft_ms"]["median"].get<double>(), 0.0);
    EXPECT_TRUE(fs::file_size(d / "r.md") > 100);
    EXPECT_TRUE(fs::file_size(d / "r.svg") > 300);
}

// -d: every run starts with that many tokens in the cache; the tests are named llama-bench's way ("pp16 @ d300") and
// the report records the depth. 300 + 16 positions exceed stories260K's 256 training positions (RoPE: allowed).
TEST(BenchCli, InternalBenchAtDepth) {
    TempDir d;
    const json j = bench_report(kStories + " -p 16 -n 8 -d 300 --threads 1 --warmup 0 --max-runs 3", d / "r.json",
                                {"pp16 @ d300", "ttft16 @ d300", "tg8 @ d300"});
    if (HasFailure()) return;
    EXPECT_EQ(j["results"][2]["params"]["n_depth"], 300);
    EXPECT_EQ(j["options"]["n_depth"], 300);
    for (int i : {0, 2}) EXPECT_GT(j["results"][i]["tokens_per_second"]["median"].get<double>(), 0.0);
    // Bad depths are usage errors: negative, a context past 2^24 positions, with --url (a classical model: below).
    EXPECT_EQ(run_cli("bench " + kStories + " -p 8 -n 8 -d -1").code, 2);
    EXPECT_EQ(run_cli("bench " + kStories + " -p 8 -n 8 -d 2147483647").code, 2);
    EXPECT_EQ(run_cli("bench --url http://127.0.0.1:1 -d 100").code, 2);
}

// llama-bench's -m MODEL names the model as the positional does; --max-runs 1 alone is one run (the default
// --min-runs follows it down), an explicit --min-runs above it a usage error.
TEST(BenchCli, ModelAsOptionAndOneRun) {
    TempDir d;
    const CliRun r = run_cli("bench -m " + kStories + " -p 8 -n 4 --threads 1 --warmup 0 --max-runs 1 --json " + (d / "r.json"));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("tg4"), std::string::npos) << r.out;
    const auto j = read_json_file(d / "r.json");
    ASSERT_TRUE(j.ok()) << j.status().to_string();
    ASSERT_EQ((*j)["results"].size(), 3u) << j->dump();  // pp8, ttft8, tg4
    for (const char* m : {"tokens_per_second", "ttft_ms"}) {
        for (const auto& t : (*j)["results"]) {
            if (t.contains(m)) {
                EXPECT_EQ(t[m]["samples"], 1) << t.dump();
            }
        }
    }
    EXPECT_EQ(run_cli("bench -m " + kStories + " -p 8 -n 4 --min-runs 3 --max-runs 1").code, 2);
}

// -s: the tg test generates S sequences together, a token of each per decode call (a server's continuous batching),
// each with its own depth tokens (copied from the first sequence, cut back before every later run); tok/s counts all S.
TEST(BenchCli, InternalBenchSequencesTogether) {
    TempDir d;
    const json j = bench_report(kStories + " -p 0 -n 8 -s 4 -d 300 --threads 1 --warmup 1 --max-runs 3", d / "r.json",
                                {"tg8 x4 @ d300"});
    if (HasFailure()) return;
    EXPECT_EQ(j["results"][0]["params"]["n_seq"], 4);
    EXPECT_EQ(j["results"][0]["params"]["n_depth"], 300);
    EXPECT_EQ(j["options"]["n_seq"], 4);
    EXPECT_GT(j["results"][0]["tokens_per_second"]["median"].get<double>(), 0.0);
    EXPECT_EQ(j["results"][0]["tokens_per_second"]["samples"], 3);
    const std::string runs = " --threads 1 --warmup 0 --min-runs 2 --max-runs 2";
    const json k = bench_report(kStories + " -p 8 -n 8 -s 3" + runs, d / "k.json", {"pp8", "ttft8", "tg8 x3"});
    if (HasFailure()) return;
    EXPECT_FALSE(k["results"][0]["params"].contains("n_seq"));  // pp stays one sequence
    // Usage errors: no sequence, more than a server's 256 slots, no tg test, with --url (a classical model: below).
    EXPECT_EQ(run_cli("bench " + kStories + " -p 8 -n 8 -s 0").code, 2);
    EXPECT_EQ(run_cli("bench " + kStories + " -p 8 -n 8 -s 257").code, 2);
    EXPECT_EQ(run_cli("bench " + kStories + " -p 8 -n 0 -s 2").code, 2);
    EXPECT_EQ(run_cli("bench --url http://127.0.0.1:1 -s 2").code, 2);
}

TEST(BenchCli, ClassicalAprModel) {
    TempDir d;
    ASSERT_TRUE(rz::classical::save_classical_model(rz::classical::make_bench_spec(rz::classical::BenchModel::kIris), d / "iris.apr").ok());
    const CliRun r = run_cli("bench " + (d / "iris.apr") + " --max-runs 4 --format json -o " + (d / "c.json"));
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = read_json_file(d / "c.json");
    ASSERT_TRUE(j.ok());
    expect_valid(*j);
    ASSERT_EQ((*j)["results"].size(), 2u);
    EXPECT_EQ((*j)["results"][0]["test"], "predict1");
    EXPECT_EQ((*j)["results"][0]["kind"], "classical");
    EXPECT_GT((*j)["results"][0]["predictions_per_second"]["median"].get<double>(), 1000.0);
    EXPECT_GT((*j)["results"][0]["latency_ms"]["median"].get<double>(), 0.0);
    EXPECT_EQ((*j)["results"][1]["test"], "predict64");
    EXPECT_EQ(run_cli("bench " + (d / "iris.apr") + " -d 10").code, 2);  // --n-depth is for language models
    EXPECT_EQ(run_cli("bench " + (d / "iris.apr") + " -s 2").code, 2);   // so is --n-seq
}

TEST(BenchCli, CompareExitCodes) {
    TempDir d;
    auto write_report = [&](const std::string& name, double tps) {
        Report r;
        r.model = "m";
        Record rec{.test = "tg128", .runtime = "realizar", .kind = "internal"};
        rec.metrics["tokens_per_second"] = metric_per_request({tps, tps, tps});
        r.results = {rec};
        ASSERT_TRUE(write_text_file(d / name, to_json(r).dump()).ok());
    };
    write_report("base.json", 100);
    write_report("same.json", 98);  // -2%: within 5%
    write_report("slow.json", 90);  // -10%
    write_report("fast.json", 130);
    CliRun r = run_cli("bench compare " + (d / "base.json") + " " + (d / "same.json"));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("no regression"), std::string::npos);
    r = run_cli("bench compare " + (d / "base.json") + " " + (d / "slow.json"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("REGRESSION"), std::string::npos);
    EXPECT_EQ(run_cli("bench compare " + (d / "base.json") + " " + (d / "slow.json") + " --threshold 15%").code, 0);
    EXPECT_EQ(run_cli("bench compare " + (d / "base.json") + " " + (d / "fast.json")).code, 0);
    // Usage errors: missing file, bad threshold, not a report.
    EXPECT_EQ(run_cli("bench compare " + (d / "base.json") + " " + (d / "missing.json")).code, 2);
    EXPECT_EQ(run_cli("bench compare " + (d / "base.json") + " " + (d / "same.json") + " --threshold x").code, 2);
    ASSERT_TRUE(write_text_file(d / "junk.json", "{\"results\": []}").ok());
    EXPECT_EQ(run_cli("bench compare " + (d / "base.json") + " " + (d / "junk.json")).code, 2);
    // Reports with no result in common compare nothing: an error (2), not "no regression" (0), so a CI gate fed
    // the wrong files fails.
    Report other;
    other.model = "m";
    Record rec{.test = "pp512", .runtime = "realizar", .kind = "internal"};
    rec.metrics["tokens_per_second"] = metric_per_request({50, 50, 50});
    other.results = {rec};
    ASSERT_TRUE(write_text_file(d / "other.json", to_json(other).dump()).ok());
    r = run_cli("bench compare " + (d / "base.json") + " " + (d / "other.json"));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_EQ(r.out.find("no regression"), std::string::npos) << r.out;
}

// Options the parser rejects (unknown, malformed, a value out of a fixed set) exit 2 like every other usage
// error, whatever CLI11's own code for them (104-114); --help and --version exit 0.
TEST(BenchCli, ParserErrorsExitTwo) {
    EXPECT_EQ(run_cli("bench " + kStories + " -n 99999999999").code, 2);
    EXPECT_EQ(run_cli("bench " + kStories + " --format xml").code, 2);
    EXPECT_EQ(run_cli("bench " + kStories + " --no-such-option").code, 2);
    EXPECT_EQ(run_cli("--log-level bogus bench " + kStories).code, 2);
    EXPECT_EQ(run_cli("run").code, 1);  // the runner's own error (no MODEL): 1, as docs/run.md says
    EXPECT_EQ(run_cli("run --threads x").code, 2);
    EXPECT_EQ(run_cli("nosuchcommand").code, 2);
    EXPECT_EQ(run_cli("bench --help").code, 0);
    EXPECT_EQ(run_cli("--version").code, 0);
}

TEST(BenchCli, UsageErrors) {
    EXPECT_EQ(run_cli("bench").code, 2);
    EXPECT_EQ(run_cli("bench --synthetic nosuchshape:q4_0 -p 8 -n 8").code, 2);
    EXPECT_EQ(run_cli("bench " + kStories + " --url http://127.0.0.1:1").code, 2);
    EXPECT_EQ(run_cli("bench --url http://127.0.0.1:1 --api vllm").code, 2);
    EXPECT_EQ(run_cli("bench " + kStories + " -p 8 -n 8 --ignore-eos").code, 2);
    EXPECT_EQ(run_cli("bench " + kStories + " --cv 0").code, 2);
    EXPECT_EQ(run_cli("bench /nonexistent/model.gguf -p 8 -n 8").code, 1);
}

TEST(BenchCli, HttpDriverAgainstOurServer) {
    DemoServer server;
    ASSERT_FALSE(server.url().empty()) << server.log();
    for (Api api : {Api::kRealizar, Api::kOpenAI}) {
        HttpBenchOptions o;
        o.url = server.url();
        o.api = api;
        o.concurrency = {1, 2};
        o.prompts = default_prompts();
        o.max_tokens = 8;
        o.requests = 4;
        auto rep = run_http_bench(o);
        ASSERT_TRUE(rep.ok()) << rep.status().message();
        ASSERT_EQ(rep->results.size(), 2u);
        for (const auto& rec : rep->results) {
            EXPECT_EQ(rec.errors, 0) << rec.params.dump();
            EXPECT_EQ(rec.runtime, api_name(api));
            const auto& ttft = rec.metrics.at("ttft_ms");
            EXPECT_EQ(ttft.summary.samples, 4);
            EXPECT_GT(ttft.summary.median, 0.0);
            EXPECT_LE(ttft.summary.max, rec.metrics.at("latency_ms").summary.max);
            ASSERT_TRUE(rec.metrics.count("itl_ms"));
            EXPECT_GT(*rec.metrics.at("itl_ms").p99, 0.0);
            ASSERT_TRUE(rec.aggregate_tokens_per_second.has_value());
            EXPECT_GT(*rec.aggregate_tokens_per_second, 0.0);
        }
        EXPECT_EQ(rep->results[1].test, "c2");
        expect_valid(to_json(*rep));
        // --ignore-eos: every request gets all of its tokens, whatever the model would have stopped at.
        o.ignore_eos = true;
        o.max_tokens = 400;  // the demo model ends its stories before this (median ~230 tokens without --ignore-eos)
        o.concurrency = {2};
        rep = run_http_bench(o);
        ASSERT_TRUE(rep.ok()) << rep.status().message();
        const auto& per = rep->results.at(0).metrics.at("tokens_per_request").summary;
        EXPECT_EQ(per.samples, 4);
        EXPECT_EQ(per.median, 400.0);
        EXPECT_EQ(per.max, 400.0);
        EXPECT_EQ(per.min, 400.0);
    }
    {  // the ollama API has no ignore_eos: refused before any request
        HttpBenchOptions o;
        o.url = server.url();
        o.api = Api::kOllama;
        o.prompts = {"x"};
        o.ignore_eos = true;
        auto rep = run_http_bench(o);
        ASSERT_FALSE(rep.ok());
        EXPECT_NE(rep.status().message().find("ignore-eos"), std::string::npos) << rep.status().message();
    }
    // Through the CLI, with an error answer counted as an error (max_tokens above the server's limit).
    TempDir d;
    CliRun r = run_cli("bench --url " + server.url() + " --api openai --concurrency 1 --requests 2 -n 4 --format json -o " + (d / "h.json"));
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = read_json_file(d / "h.json");
    ASSERT_TRUE(j.ok());
    expect_valid(*j);
    r = run_cli("bench --url " + server.url() + " --api realizar --requests 1 -n 100000 --format json");
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("HTTP 400"), std::string::npos) << r.out;
    // Base URLs as users write them: a trailing '/', an OpenAI client's ".../v1"; any other path is a usage error.
    EXPECT_EQ(run_cli("bench -q --url " + server.url() + "/ --requests 1 -n 4").code, 0);
    EXPECT_EQ(run_cli("bench -q --url " + server.url() + "/v1 --api openai --requests 1 -n 4").code, 0);
    r = run_cli("bench -q --url " + server.url() + "/api --requests 1 -n 4");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("base URL"), std::string::npos) << r.out;
}

// A loopback listener for the driver's failure paths: answers every request with `reply` (or, empty, reads and
// never answers), one connection at a time, until destroyed.
class FakeServer {
public:
    explicit FakeServer(std::string reply) : reply_(std::move(reply)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int yes = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) return;
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        th_ = std::thread([this] {
            for (;;) {
                const int c = ::accept(fd_, nullptr, nullptr);
                if (c < 0) return;  // closed by the destructor
                char buf[4096];
                if (::recv(c, buf, sizeof buf, 0) > 0 && !reply_.empty()) ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
                open_.push_back(c);  // kept open: a stalled server never closes either
            }
        });
    }
    ~FakeServer() {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        if (th_.joinable()) th_.join();
        for (int c : open_) ::close(c);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    std::string reply_;
    int fd_ = -1, port_ = 0;
    std::thread th_;
    std::vector<int> open_;
};

// A server that takes the request and never answers fails the request after --timeout (it waited 300 s, with the
// error "Read"); one without the API's readiness route fails at once instead of after --wait-ready.
TEST(BenchCli, HttpDriverStalledOrForeignServer) {
    FakeServer stalled("");
    const auto t0 = std::chrono::steady_clock::now();
    CliRun r = run_cli("bench -q --url " + stalled.url() + " --wait-ready 0 --timeout 1 --requests 1 -n 4");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("no answer for 1 s"), std::string::npos) << r.out;
    EXPECT_LT(secs, 20.0);
    FakeServer html("HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 31\r\nConnection: close\r\n\r\n<html>\n<body>nope</body>\n</html>");
    const auto t1 = std::chrono::steady_clock::now();
    r = run_cli("bench -q --url " + html.url() + " --requests 1 -n 4");  // the default --wait-ready 60
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("not a realizar server"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("<body>nope</body>\n"), std::string::npos) << r.out;  // one line, not the page
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(), 10.0);
    r = run_cli("bench -q --url http://127.0.0.1:1 --wait-ready 0 --requests 1 -n 4");
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("cannot connect"), std::string::npos) << r.out;
    EXPECT_EQ(run_cli("bench -q --url " + stalled.url() + " --timeout 0").code, 2);
}

TEST(BenchCli, HttpDriverServerDown) {
    HttpBenchOptions o;
    o.url = "http://127.0.0.1:1";
    o.prompts = {"x"};
    o.requests = 1;
    o.wait_ready_s = 0.3;
    auto rep = run_http_bench(o);
    ASSERT_FALSE(rep.ok());
    EXPECT_NE(rep.status().message().find("not ready after"), std::string::npos) << rep.status().message();
    o.wait_ready_s = 0;  // no readiness wait: every request fails, so the level fails
    rep = run_http_bench(o);
    ASSERT_FALSE(rep.ok());
    EXPECT_NE(rep.status().message().find("all 1 requests at concurrency 1 failed"), std::string::npos)
        << rep.status().message();
}

TEST(BenchCli, SvgRendersInHeadlessChromium) {
    if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "no /usr/bin/chromium";
    TempDir d;
    Report r;
    r.model = "synthetic:tinyllama-1.1b:q4_k_m";
    Record a{.test = "pp512", .runtime = "realizar", .kind = "internal"};
    a.metrics["tokens_per_second"] = metric_per_request({50, 52, 51});
    Record b{.test = "c4", .runtime = "llama-cpp", .kind = "http"};
    b.metrics["ttft_ms"] = metric_per_request({300, 320, 310});
    b.aggregate_tokens_per_second = 80;
    r.results = {a, b};
    ASSERT_TRUE(write_text_file(d / "chart.svg", to_svg(to_json(r))).ok());
    // A blank page of the same size as the control: the chart's screenshot must hold much more.
    ASSERT_TRUE(write_text_file(d / "blank.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"400\">"
                                                 "<rect width=\"100%\" height=\"100%\" fill=\"white\"/></svg>").ok());
    auto shoot = [&](const std::string& svg, const std::string& png) {
        const std::string cmd = "cd " + d.path.string() +
                                " && timeout 90 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic "
                                "--no-first-run --disable-background-networking --disable-component-update --disable-sync "
                                "--user-data-dir=" + (d / ("profile-" + png)) + " --window-size=900,400 --screenshot=" +
                                (d / png) + " " + (d / svg) + " >/dev/null 2>&1";
        return std::system(cmd.c_str());
    };
    ASSERT_EQ(shoot("chart.svg", "chart.png"), 0);
    ASSERT_EQ(shoot("blank.svg", "blank.png"), 0);
    ASSERT_TRUE(fs::exists(d / "chart.png"));
    ASSERT_TRUE(fs::exists(d / "blank.png"));
    std::ifstream in(d / "chart.png", std::ios::binary);
    std::string head(8, '\0');
    in.read(head.data(), 8);
    EXPECT_EQ(head.substr(1, 3), "PNG");
    // PNG compresses a uniform page to almost nothing; bars and text cost bytes.
    const auto chart = fs::file_size(d / "chart.png"), blank = fs::file_size(d / "blank.png");
    EXPECT_GT(chart, 3 * blank) << "chart " << chart << " bytes vs blank " << blank;
}

TEST(BenchCli, ReportMergesSavedReports) {
    TempDir d;
    auto write_report = [&](const std::string& name, const std::string& runtime) {
        Report r;
        r.model = runtime + "-url";
        Record rec{.test = "c1", .runtime = runtime, .kind = "http"};
        rec.metrics["ttft_ms"] = metric_per_request({5, 6, 7});
        rec.aggregate_tokens_per_second = 100;
        r.results = {rec};
        ASSERT_TRUE(write_text_file(d / name, to_json(r).dump()).ok());
    };
    write_report("a.json", "realizar");
    write_report("b.json", "llama-cpp");
    const CliRun r = run_cli("bench report " + (d / "a.json") + " " + (d / "b.json") + " --format md -o " + (d / "m.md") +
                             " --json " + (d / "m.json") + " --svg " + (d / "m.svg"));
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = read_json_file(d / "m.json");
    ASSERT_TRUE(j.ok());
    expect_valid(*j);
    ASSERT_EQ((*j)["results"].size(), 2u);
    EXPECT_EQ((*j)["results"][1]["runtime"], "llama-cpp");
    std::ifstream md(d / "m.md");
    const std::string text((std::istreambuf_iterator<char>(md)), {});
    EXPECT_NE(text.find("| llama-cpp | c1 |"), std::string::npos) << text;
    EXPECT_EQ(run_cli("bench report " + (d / "missing.json")).code, 2);
}

TEST(BenchCli, MatrixScriptAgainstOurServer) {
    TempDir d;
    const std::string cmd = "bash " + std::string(RZ_SOURCE_DIR) + "/scripts/bench-matrix.sh --realizar " + RZ_REALIZAR_BIN +
                            " -c 1,2 -n 4 -r 2 -t 1 -o " + (d / "out");
    const CliRun r = [&] {
        CliRun out;
        FILE* p = popen((cmd + " 2>&1").c_str(), "r");
        if (!p) return out;
        char buf[4096];
        for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.out.append(buf, n);
        const int st = pclose(p);
        out.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return out;
    }();
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = read_json_file(d / "out/bench-matrix.json");
    ASSERT_TRUE(j.ok()) << r.out;
    expect_valid(*j);
    ASSERT_EQ((*j)["results"].size(), 2u);
    EXPECT_EQ((*j)["results"][0]["errors"], 0);
    EXPECT_TRUE(fs::file_size(d / "out/bench-matrix.svg") > 300);
    EXPECT_TRUE(fs::file_size(d / "out/bench-matrix.md") > 100);
}
