// Reports: JSON against docs/bench-schema.json, compare's regressions, Markdown and SVG output.
#include <gtest/gtest.h>

#include "realizar/bench/report.h"

using namespace rz::bench;
using nlohmann::json;

namespace {

json schema() {
    auto s = read_json_file(std::string(RZ_SOURCE_DIR) + "/docs/bench-schema.json");
    RZ_ASSERT(s.ok(), "docs/bench-schema.json must parse");
    return *s;
}

Metric metric_of(std::vector<double> v) {
    RepeatOptions o;
    o.warmup = 0;
    o.max_runs = static_cast<int>(v.size());
    o.min_runs = static_cast<int>(v.size());
    size_t i = 0;
    auto r = repeat_until_stable(o, [&]() -> rz::Result<double> { return v[i++]; });
    RZ_ASSERT(r.ok());
    return metric_from(*r);
}

json sample_report(double pp, double tg, double ttft) {
    Report r;
    r.model = "synthetic:tinyllama-1.1b:q4_k_m";
    Record a{.test = "pp512", .runtime = "realizar", .kind = "internal", .params = {{"n_prompt", 512}}};
    a.metrics["tokens_per_second"] = metric_of({pp, pp * 1.01, pp * 0.99});
    a.peak_rss_bytes = 123456789;
    Record b{.test = "tg128", .runtime = "realizar", .kind = "internal"};
    b.metrics["tokens_per_second"] = metric_of({tg, tg, tg * 1.02, tg * 0.98, tg, tg, tg});
    Record c{.test = "c4", .runtime = "llama-cpp", .kind = "http", .params = {{"concurrency", 4}}};
    c.metrics["ttft_ms"] = metric_per_request({ttft, ttft * 1.5, ttft * 0.8});
    c.metrics["itl_ms"] = metric_per_request({10, 11, 12, 50});
    c.aggregate_tokens_per_second = 42.5;
    r.results = {a, b, c};
    return to_json(r);
}

}  // namespace

TEST(BenchReport, JsonValidatesAgainstTheDocumentedSchema) {
    const json j = sample_report(100, 20, 300);
    const auto st = validate_against_schema(j, schema());
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(j["schema_version"], 1);
    EXPECT_EQ(j["results"][0]["test"], "pp512");
    const json& tps = j["results"][0]["tokens_per_second"];
    for (const char* k : {"median", "mean", "stddev", "cv", "ci95", "samples"}) EXPECT_TRUE(tps.contains(k)) << k;
    EXPECT_EQ(tps["samples"], 3);
    EXPECT_TRUE(j["results"][1]["tokens_per_second"]["median_ci95"].is_array());  // 7 samples
    EXPECT_TRUE(j["results"][0]["tokens_per_second"]["median_ci95"].is_null());   // 3 samples
    EXPECT_FALSE(j["machine"]["cpu_model"].get<std::string>().empty());
}

// A GPU run's report: the device line and the tg row's roofline in JSON (schema-valid), text and Markdown.
TEST(BenchReport, DeviceAndRooflineRender) {
    Report r;
    r.model = "synthetic:tinyllama-1.1b:q4_k_m";
    r.device = {{"name", "NVIDIA H200"}, {"copy_bandwidth_gbps", 4000.0}, {"copy_buffer_bytes", 536870912}};
    Record b{.test = "tg128", .runtime = "realizar", .kind = "internal"};
    b.metrics["tokens_per_second"] = metric_of({2000, 2000, 2000});
    b.roofline = Roofline{.weight_bytes_per_token = 640000000, .tokens_per_second = 6250.0, .fraction = 0.32};
    r.results = {b};
    const json j = to_json(r);
    const auto st = validate_against_schema(j, schema());
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(j["device"]["name"], "NVIDIA H200");
    EXPECT_EQ(j["results"][0]["roofline"]["weight_bytes_per_token"], 640000000u);
    const std::string text = to_text(j), md = to_markdown(j);
    EXPECT_NE(text.find("device: NVIDIA H200, copy bandwidth 4000 GB/s"), std::string::npos) << text;
    EXPECT_NE(text.find("roofline"), std::string::npos) << text;
    EXPECT_NE(text.find("6250.0 tok/s (640.0 MB of weights a token at 4000 GB/s), median at 32.0%"), std::string::npos) << text;
    EXPECT_NE(md.find("| realizar | tg128 | roofline (tok/s) | 6250.0 tok/s (640.0 MB"), std::string::npos) << md;
    // A CPU report has neither.
    const json cpu = sample_report(100, 20, 300);
    EXPECT_FALSE(cpu.contains("device"));
    EXPECT_EQ(to_text(cpu).find("roofline"), std::string::npos);
    json bad = j;
    bad["results"][0]["roofline"].erase("fraction");
    EXPECT_FALSE(validate_against_schema(bad, schema()).ok());
}

TEST(BenchReport, SchemaValidatorRejectsBrokenReports) {
    const json s = schema();
    json j = sample_report(100, 20, 300);
    j.erase("machine");
    EXPECT_FALSE(validate_against_schema(j, s).ok());
    j = sample_report(100, 20, 300);
    j["schema_version"] = 2;
    EXPECT_FALSE(validate_against_schema(j, s).ok());
    j = sample_report(100, 20, 300);
    j["results"][0]["tokens_per_second"]["ci95"] = json::array({1.0});
    auto st = validate_against_schema(j, s);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("$.results[0].tokens_per_second.ci95"), std::string::npos) << st.message();
    j = sample_report(100, 20, 300);
    j["results"][1]["tokens_per_second"].erase("stddev");
    EXPECT_FALSE(validate_against_schema(j, s).ok());
    j = sample_report(100, 20, 300);
    j["results"][2]["kind"] = "remote";
    EXPECT_FALSE(validate_against_schema(j, s).ok());
}

TEST(BenchReport, CompareFindsRegressionsInTheRightDirection) {
    const json base = sample_report(100, 20, 300);
    // Same numbers: no regression.
    auto same = compare_reports(base, base, 0.05);
    ASSERT_TRUE(same.ok());
    EXPECT_FALSE(same->regression);
    // tg 10% slower: regression at 5%, not at 15%.
    const json slower = sample_report(100, 18, 300);
    EXPECT_TRUE(compare_reports(base, slower, 0.05)->regression);
    EXPECT_FALSE(compare_reports(base, slower, 0.15)->regression);
    // Faster throughput and lower latency are improvements.
    const json better = sample_report(150, 30, 200);
    EXPECT_FALSE(compare_reports(base, better, 0.05)->regression);
    // Higher latency (TTFT +20%) is a regression even with faster throughput.
    const json laggy = sample_report(150, 30, 360);
    auto c = compare_reports(base, laggy, 0.05);
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(c->regression);
    bool ttft_flagged = false;
    for (const auto& row : c->rows) ttft_flagged = ttft_flagged || (row.metric == "ttft_ms" && row.regression);
    EXPECT_TRUE(ttft_flagged);
    EXPECT_NE(comparison_markdown(*c, 0.05).find("REGRESSION"), std::string::npos);
    // Not a report.
    EXPECT_FALSE(compare_reports(json::object(), base, 0.05).ok());
    // No result in common: nothing compared is an error, not "no regression".
    json other = base;
    for (auto& rec : other["results"]) rec["test"] = rec["test"].get<std::string>() + "-other";
    auto none = compare_reports(base, other, 0.05);
    EXPECT_EQ(none.status().code(), rz::StatusCode::kInvalidArgument);
}

TEST(BenchReport, Thresholds) {
    EXPECT_DOUBLE_EQ(*parse_threshold("5%"), 0.05);
    EXPECT_DOUBLE_EQ(*parse_threshold("5"), 0.05);
    EXPECT_DOUBLE_EQ(*parse_threshold("0.05"), 0.05);
    EXPECT_DOUBLE_EQ(*parse_threshold("12.5%"), 0.125);
    EXPECT_FALSE(parse_threshold("").ok());
    EXPECT_FALSE(parse_threshold("-1").ok());
    EXPECT_FALSE(parse_threshold("five").ok());
}

TEST(BenchReport, MarkdownAndSvg) {
    json j = sample_report(100, 20, 300);
    const std::string md = to_markdown(j);
    EXPECT_NE(md.find("| realizar | pp512 | tokens_per_second (tok/s) | 100.0"), std::string::npos) << md;
    EXPECT_NE(md.find("| llama-cpp | c4 | aggregate (tok/s) | 42.50"), std::string::npos) << md;
    j["results"][0]["runtime"] = "<a&b>";
    const std::string svg = to_svg(j);
    EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
    EXPECT_NE(svg.find("&lt;a&amp;b&gt; pp512"), std::string::npos);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_EQ(svg.find("<a&b>"), std::string::npos);
}

TEST(BenchReport, Percentiles) {
    EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 0.5), 3.0);
    EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 0.99), 4.96);
    EXPECT_DOUBLE_EQ(percentile({7}, 0.99), 7.0);
    const Metric m = metric_per_request({4, 1, 3, 2});
    EXPECT_DOUBLE_EQ(*m.p50, 2.5);
    EXPECT_EQ(m.stop, "per_request");
}
