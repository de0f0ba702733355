// Bench records -> JSON / Markdown / text, machine description, file helpers.
#include "realizar/bench/report.h"

#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "realizar/core/thread_pool.h"
#include "realizar/version.h"

#ifndef RZ_BENCH_GIT_COMMIT
#define RZ_BENCH_GIT_COMMIT "unknown"
#endif

namespace rz::bench {

using nlohmann::json;

double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

Metric metric_from(const RepeatResult& r) {
    Metric m;
    m.summary = r.summary;
    m.cv_reached = r.cv_reached;
    m.stop = stop_reason_name(r.stop);
    m.warmup = r.warmup_runs;
    m.values = r.values;
    return m;
}

Metric metric_per_request(std::vector<double> values) {
    Metric m;
    m.summary = summarize(values);
    m.cv_reached = values.size() >= 2 && m.summary.cv < 0.05;
    m.stop = "per_request";
    m.p50 = percentile(values, 0.50);
    m.p99 = percentile(values, 0.99);
    m.values = std::move(values);
    return m;
}

bool higher_is_better(const std::string& metric) { return metric.ends_with("per_second"); }

static std::string read_first_line_with(const char* path, const std::string& key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key, 0) == 0) {
            auto colon = line.find(':');
            if (colon == std::string::npos) return "";
            auto v = line.substr(colon + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    return "";
}

json machine_info() {
    json m;
    std::string cpu = read_first_line_with("/proc/cpuinfo", "model name");
    m["cpu_model"] = cpu.empty() ? "unknown" : cpu;
    m["logical_cores"] = std::thread::hardware_concurrency();
    m["physical_cores"] = physical_core_count();
    std::istringstream flags(read_first_line_with("/proc/cpuinfo", "flags"));
    std::set<std::string> have;
    for (std::string f; flags >> f;) have.insert(f);
    json isa = json::array();
    for (const char* f : {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                          "avx512_bf16", "amx_tile"})
        if (have.count(f)) isa.push_back(f);
    m["isa"] = isa;
    struct utsname u {};
    if (uname(&u) == 0) m["os"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
    std::ifstream la("/proc/loadavg");
    double l1 = 0, l5 = 0, l15 = 0;
    if (la >> l1 >> l5 >> l15) m["loadavg"] = {l1, l5, l15};
    m["realizar_version"] = RZ_VERSION_STRING;
    const char* env_commit = std::getenv("RZ_GIT_COMMIT");
    m["commit"] = env_commit && *env_commit ? env_commit : RZ_BENCH_GIT_COMMIT;
    return m;
}

uint64_t peak_rss_bytes() {
    struct rusage ru {};
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

static json pair_json(const std::optional<std::pair<double, double>>& p) {
    if (!p) return nullptr;
    return json::array({p->first, p->second});
}

static json metric_json(const Metric& m) {
    const Summary& s = m.summary;
    json j = {{"median", s.median}, {"mean", s.mean}, {"stddev", s.stddev}, {"cv", s.cv}, {"min", s.min},
              {"max", s.max}, {"ci95", pair_json(s.ci95)}, {"median_ci95", pair_json(s.median_ci95)},
              {"samples", s.samples}, {"cv_target_reached", m.cv_reached}, {"stop", m.stop}, {"warmup", m.warmup},
              {"values", m.values}};
    if (m.p50) j["p50"] = *m.p50;
    if (m.p99) j["p99"] = *m.p99;
    return j;
}

static std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm {};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

json to_json(const Report& r) {
    json j;
    j["schema_version"] = kSchemaVersion;
    j["tool"] = "realizar bench";
    j["created"] = utc_now();
    j["machine"] = machine_info();
    j["model"] = r.model;
    j["model_info"] = r.model_info;
    j["options"] = r.options;
    if (!r.device.empty()) j["device"] = r.device;
    json results = json::array();
    for (const Record& rec : r.results) {
        json o = {{"test", rec.test}, {"runtime", rec.runtime}, {"kind", rec.kind}, {"params", rec.params}};
        for (const auto& [name, m] : rec.metrics) o[name] = metric_json(m);
        if (rec.peak_rss_bytes) o["peak_rss_bytes"] = *rec.peak_rss_bytes;
        if (rec.aggregate_tokens_per_second) o["aggregate_tokens_per_second"] = *rec.aggregate_tokens_per_second;
        o["errors"] = rec.errors;
        if (rec.roofline)
            o["roofline"] = {{"weight_bytes_per_token", rec.roofline->weight_bytes_per_token},
                             {"tokens_per_second", rec.roofline->tokens_per_second},
                             {"fraction", rec.roofline->fraction}};
        results.push_back(std::move(o));
    }
    j["results"] = std::move(results);
    return j;
}

json merge_reports(const std::vector<json>& reports) {
    json out;
    if (reports.empty()) return out;
    out = reports.front();
    json models = json::array();
    for (size_t i = 1; i < reports.size(); ++i)
        for (const auto& r : reports[i].value("results", json::array())) out["results"].push_back(r);
    for (const auto& r : reports) models.push_back(r.value("model", ""));
    out["model"] = models.size() == 1 ? models[0] : json(models);
    if (out["model"].is_array()) {  // keep the schema's string type: join the sources
        std::string joined;
        for (const auto& m : models) joined += (joined.empty() ? "" : ", ") + m.get<std::string>();
        out["model"] = joined;
    }
    return out;
}

// The metrics of a result in display order.
static std::vector<std::string> metric_names(const json& rec) {
    std::vector<std::string> out;
    for (const char* m : {"tokens_per_second", "predictions_per_second", "ttft_ms", "itl_ms", "latency_ms", "tokens_per_request"})
        if (rec.contains(m)) out.push_back(m);
    return out;
}

static std::string unit_of(const std::string& metric) {
    if (metric == "tokens_per_second") return "tok/s";
    if (metric == "predictions_per_second") return "pred/s";
    if (metric == "tokens_per_request") return "tokens";
    return "ms";
}

static std::string fmt_num(double v) {
    const double a = std::fabs(v);
    if (a >= 100) return fmt::format("{:.1f}", v);
    if (a >= 1) return fmt::format("{:.2f}", v);
    return fmt::format("{:.4f}", v);
}

static std::string metric_cell(const json& m) {
    std::string s = fmt_num(m.value("median", 0.0));
    if (m.contains("ci95") && m["ci95"].is_array())
        s += fmt::format(" (mean {} ± {})", fmt_num(m.value("mean", 0.0)),
                         fmt_num((m["ci95"][1].get<double>() - m["ci95"][0].get<double>()) / 2));
    if (m.contains("p99")) s += " p99 " + fmt_num(m["p99"].get<double>());
    s += fmt::format(", cv {:.1f}%, n={}", 100 * m.value("cv", 0.0), m.value("samples", 0));
    if (!m.value("cv_target_reached", false) && m.value("stop", "") != "per_request") s += " ⚠cv";
    return s;
}

// The report's device object (an internal --gpu run), or null.
static const json* device_of(const json& report) {
    const auto it = report.find("device");
    return it != report.end() && it->is_object() && it->contains("name") ? &*it : nullptr;
}

static std::string device_line(const json& dev) {
    std::string s = "device: " + dev.value("name", std::string("?"));
    if (dev.contains("copy_bandwidth_gbps")) s += fmt::format(", copy bandwidth {:.0f} GB/s", dev["copy_bandwidth_gbps"].get<double>());
    return s;
}

// e.g. "6224.1 tok/s (630.2 MB of weights a token at 3922 GB/s), median at 32.0%" (TinyLlama Q4_K_M, H200)
static std::string roofline_cell(const json& r, const json& report) {
    const double tps = r.value("tokens_per_second", 0.0), mb = r.value("weight_bytes_per_token", 0.0) / 1e6;
    std::string s = fmt::format("{} tok/s ({:.1f} MB of weights a token", fmt_num(tps), mb);
    if (const json* dev = device_of(report); dev && dev->contains("copy_bandwidth_gbps"))
        s += fmt::format(" at {:.0f} GB/s", (*dev)["copy_bandwidth_gbps"].get<double>());
    return s + fmt::format("), median at {:.1f}%", 100.0 * r.value("fraction", 0.0));
}

std::string to_markdown(const json& report) {
    std::string out;
    const json& mach = report.value("machine", json::object());
    out += fmt::format("**{}** on {} ({} logical cores), realizar {} ({})\n\n", report.value("model", ""),
                       mach.value("cpu_model", "?"), mach.value("logical_cores", 0),
                       mach.value("realizar_version", "?"), mach.value("commit", "?"));
    if (const json* dev = device_of(report)) out += device_line(*dev) + "\n\n";
    out += "| runtime | test | metric | median (mean ± 95% CI half-width), cv, samples |\n";
    out += "|---|---|---|---|\n";
    bool warned = false;
    for (const auto& rec : report.value("results", json::array())) {
        for (const auto& name : metric_names(rec)) {
            const json& m = rec[name];
            if (!m.value("cv_target_reached", false) && m.value("stop", "") != "per_request") warned = true;
            out += fmt::format("| {} | {} | {} ({}) | {} |\n", rec.value("runtime", ""), rec.value("test", ""), name,
                               unit_of(name), metric_cell(m));
        }
        if (rec.contains("aggregate_tokens_per_second"))
            out += fmt::format("| {} | {} | aggregate (tok/s) | {} ({} errors) |\n", rec.value("runtime", ""),
                               rec.value("test", ""), fmt_num(rec["aggregate_tokens_per_second"].get<double>()),
                               rec.value("errors", 0));
        if (rec.contains("roofline"))
            out += fmt::format("| {} | {} | roofline (tok/s) | {} |\n", rec.value("runtime", ""), rec.value("test", ""),
                               roofline_cell(rec["roofline"], report));
        if (rec.contains("peak_rss_bytes"))
            out += fmt::format("| {} | {} | peak RSS (MiB) | {:.1f} |\n", rec.value("runtime", ""),
                               rec.value("test", ""), rec["peak_rss_bytes"].get<double>() / (1 << 20));
    }
    if (warned) out += "\n⚠cv: the coefficient-of-variation target was not reached (max runs or time budget hit).\n";
    return out;
}

std::string to_text(const json& report) {
    std::string out;
    const json& mach = report.value("machine", json::object());
    out += fmt::format("model: {}\nmachine: {}, {} logical / {} physical cores", report.value("model", ""),
                       mach.value("cpu_model", "?"), mach.value("logical_cores", 0), mach.value("physical_cores", 0));
    if (mach.contains("loadavg")) out += fmt::format(", load {}", mach["loadavg"][0].get<double>());
    out += "\n";
    if (const json* dev = device_of(report)) out += device_line(*dev) + "\n";
    for (const auto& rec : report.value("results", json::array())) {
        for (const auto& name : metric_names(rec))
            out += fmt::format("{:<10} {:<10} {:<24} {}\n", rec.value("runtime", ""), rec.value("test", ""),
                               name, metric_cell(rec[name]));
        if (rec.contains("aggregate_tokens_per_second"))
            out += fmt::format("{:<10} {:<10} {:<24} {} tok/s, {} errors\n", rec.value("runtime", ""),
                               rec.value("test", ""), "aggregate", fmt_num(rec["aggregate_tokens_per_second"].get<double>()),
                               rec.value("errors", 0));
        if (rec.contains("roofline"))
            out += fmt::format("{:<10} {:<10} {:<24} {}\n", rec.value("runtime", ""), rec.value("test", ""), "roofline",
                               roofline_cell(rec["roofline"], report));
        if (rec.contains("peak_rss_bytes"))
            out += fmt::format("{:<10} {:<10} {:<24} {:.1f} MiB\n", rec.value("runtime", ""), rec.value("test", ""),
                               "peak_rss", rec["peak_rss_bytes"].get<double>() / (1 << 20));
    }
    return out;
}

Result<json> read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return not_found(path + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return corrupt(path + ": not valid JSON");
    return j;
}

Status write_text_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return io_error(path + ": cannot open for writing");
    out << text;
    out.close();
    if (!out) return io_error(path + ": write failed");
    return {};
}

}  // namespace rz::bench
