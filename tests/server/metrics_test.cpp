// Prometheus exposition: content checks here, and the official linter (promtool check metrics) on the output.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "realizar/server/metrics.h"

namespace rz::server {
namespace {

void populate(Metrics& m) {
    m.set_model_name("stories\"260K\"\n");
    m.set_gauge_source([] {
        EngineGauges g;
        g.model_loaded = true;
        g.slots_active = 2;
        g.slots_total = 4;
        g.requests_queued = 1;
        g.kv_cells_used = 100;
        g.kv_cells_total = 2048;
        return g;
    });
    m.on_request("/generate", 200, 0.12);
    m.on_request("/generate", 200, 3.0);
    m.on_request("/generate", 400, 0.001);
    m.on_request("/v1/chat/completions", 200, 0.5);
    m.on_tokens(10, 20, 7);
    m.on_first_token(0.02);
    m.on_inter_token(0.004);
    m.on_inter_token(0.0001);
}

std::string populated() {
    Metrics m("0.1.0", "cpu");
    populate(m);
    return m.render();
}

TEST(Metrics, Content) {
    const std::string t = populated();
    EXPECT_NE(t.find("realizar_requests_total{route=\"/generate\",code=\"200\"} 2\n"), std::string::npos) << t;
    EXPECT_NE(t.find("realizar_requests_total{route=\"/generate\",code=\"400\"} 1\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_prompt_tokens_total 10\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_prompt_tokens_cached_total 7\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_generated_tokens_total 20\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_request_duration_seconds_bucket{route=\"/generate\",le=\"0.25\"} 2\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_request_duration_seconds_bucket{route=\"/generate\",le=\"+Inf\"} 3\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_request_duration_seconds_count{route=\"/generate\"} 3\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_inter_token_latency_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_kv_cells_capacity 2048\n"), std::string::npos);
    EXPECT_NE(t.find("realizar_slots_active 2\n"), std::string::npos);
    EXPECT_NE(t.find("model=\"stories\\\"260K\\\"\\n\""), std::string::npos) << "label values are escaped";
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
    if (std::system("command -v promtool >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "promtool not installed (Debian package prometheus; scripts/install-deps.sh --test)";
    const auto dir = std::filesystem::temp_directory_path() / ("rz_metrics_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "metrics.txt";
    {
        std::ofstream(file) << populated();
    }
    // Also the empty registry (no requests yet), as the first scrape sees it.
    const auto empty = dir / "empty.txt";
    {
        std::ofstream(empty) << Metrics("0.1.0", "cpu").render();
    }
    for (const auto& f : {file, empty}) {
        const std::string cmd = "promtool check metrics < " + f.string() + " > " + (dir / "out.txt").string() + " 2>&1";
        const int rc = std::system(cmd.c_str());
        std::ifstream in(dir / "out.txt");
        const std::string out((std::istreambuf_iterator<char>(in)), {});
        EXPECT_EQ(rc, 0) << "promtool on " << f << ":\n" << out;
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rz::server
