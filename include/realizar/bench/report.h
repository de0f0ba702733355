#pragma once
// The output of `realizar bench`: records of named tests (pp512, tg128, ttft512, c4, predict1, ...) carrying
// statistics per metric, written as versioned JSON (docs/bench-schema.json), a Markdown table or an SVG chart;
// and `bench compare` of two JSON files.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "realizar/bench/stats.h"
#include "realizar/core/status.h"

namespace rz::bench {

inline constexpr int kSchemaVersion = 1;

// One measured quantity of a test: its statistics and how the repetition stopped.
struct Metric {
    Summary summary;
    bool cv_reached = false;
    std::string stop;  // "cv_reached", "max_runs", "time_budget", or "per_request" (HTTP: one sample per request)
    int warmup = 0;
    std::vector<double> values;  // the samples (kept in the JSON so others can recompute)
    std::optional<double> p50, p99;  // percentiles (HTTP latency metrics)
};
Metric metric_from(const RepeatResult& r);
Metric metric_per_request(std::vector<double> values);  // percentiles included
double percentile(std::vector<double> v, double q);     // linear interpolation between order statistics

// Metric names: "tokens_per_second", "predictions_per_second" (higher is better); "ttft_ms", "latency_ms",
// "itl_ms" (lower is better).
bool higher_is_better(const std::string& metric);

// A decode test's roofline (tg on the GPU with every layer there): the weight bytes a step reads per token
// (ModelInfo::decode_weight_bytes; a step of S sequences reads them once for S tokens) over the device's measured
// copy bandwidth, and the measured median as a fraction of it.
struct Roofline {
    uint64_t weight_bytes_per_token = 0;
    double tokens_per_second = 0.0;  // n_seq x copy bandwidth / weight bytes
    double fraction = 0.0;           // tokens_per_second median / the roofline's
};

struct Record {
    std::string test;     // "pp512", "tg128", "ttft512", "c4", "predict1", "predict64"
    std::string runtime;  // "realizar", "llama-cpp", "ollama", "openai" (a server behind the OpenAI API)
    std::string kind;     // "internal", "http", "classical"
    nlohmann::json params = nlohmann::json::object();  // n_prompt, n_gen, threads, batch, concurrency, ...
    std::map<std::string, Metric> metrics;
    std::optional<uint64_t> peak_rss_bytes;              // process peak RSS after the test (internal)
    std::optional<double> aggregate_tokens_per_second;   // HTTP: all tokens of a level / its wall time
    int errors = 0;                                      // HTTP: failed requests
    std::optional<Roofline> roofline;                    // internal tg on the GPU
};

struct Report {
    std::string model;  // model path, "synthetic:SHAPE:TYPE", or server URL
    nlohmann::json model_info = nlohmann::json::object();
    nlohmann::json options = nlohmann::json::object();
    nlohmann::json device = nlohmann::json::object();  // the GPU of an internal --gpu run: name, copy_bandwidth_gbps
    std::vector<Record> results;
};

// cpu model, logical cores, physical cores, ISA flags, OS, realizar version and commit.
nlohmann::json machine_info();
uint64_t peak_rss_bytes();  // getrusage(RUSAGE_SELF).ru_maxrss

nlohmann::json to_json(const Report& r);  // adds schema_version, machine, created (UTC ISO 8601); device if any
std::string to_markdown(const nlohmann::json& report);
std::string to_text(const nlohmann::json& report);
std::string to_svg(const nlohmann::json& report);
// Merges several report JSONs (e.g. one per runtime of the matrix) into one (results concatenated).
nlohmann::json merge_reports(const std::vector<nlohmann::json>& reports);

// Structural validation against docs/bench-schema.json (a JSON Schema subset: type, required, properties,
// items, enum, minimum, $ref to #/$defs). Returns the first violation with its JSON path.
Status validate_against_schema(const nlohmann::json& doc, const nlohmann::json& schema);

struct CompareRow {
    std::string key;     // "runtime/test"
    std::string metric;
    double base = 0.0, now = 0.0;  // medians
    double change = 0.0;           // (now - base) / base
    bool regression = false;       // worse than the threshold in the metric's direction
};
struct Comparison {
    std::vector<CompareRow> rows;
    std::vector<std::string> only_in_base, only_in_new;
    bool regression = false;
};
// threshold: fraction (0.05 = 5%). Both documents must carry schema_version 1.
Result<Comparison> compare_reports(const nlohmann::json& base, const nlohmann::json& now, double threshold);
std::string comparison_markdown(const Comparison& c, double threshold);
// "5%", "5", "0.05" -> 0.05 ("5" and "5%" are percent; a value below 1 without % is a fraction).
Result<double> parse_threshold(const std::string& s);

Result<nlohmann::json> read_json_file(const std::string& path);
Status write_text_file(const std::string& path, const std::string& text);

}  // namespace rz::bench
