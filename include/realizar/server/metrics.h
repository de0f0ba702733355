#pragma once
// Prometheus text exposition (format 0.0.4), written in-house: prometheus-cpp is not packaged in Debian.
// One registry for the server: counters by route and status, token counters, latency histograms, and
// gauges read at scrape time from the engine. All methods are thread-safe.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace rz::server {

class Histogram {
public:
    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double v);
    // Appends the _bucket/_sum/_count lines of `name` with optional extra labels ("route=\"/x\"").
    void render(std::string& out, const std::string& name, const std::string& labels) const;

private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // per bucket (not cumulative); last = +Inf
    double sum_ = 0.0;
    uint64_t count_ = 0;
};

// Values read from the engine at every scrape.
struct EngineGauges {
    int slots_active = 0;
    int slots_total = 0;
    int requests_queued = 0;
    int64_t kv_cells_used = 0;
    int64_t kv_cells_total = 0;
    bool model_loaded = false;
};

class Metrics {
public:
    Metrics(std::string version, std::string compute_mode);

    void set_model_name(std::string name);
    void set_gauge_source(std::function<EngineGauges()> fn);

    void on_request(const std::string& route, int status, double seconds);
    // prompt: tokens evaluated; cached: prompt tokens a request took from its slot's cache instead.
    void on_tokens(int64_t prompt, int64_t generated, int64_t cached = 0);
    void on_first_token(double seconds);   // from admission in the queue to the first generated token
    void on_inter_token(double seconds);   // between consecutive tokens of one request
    void on_step(int n_tokens, int n_sequences);  // one engine step (one decode call)
    void on_rejected_queue_full();
    void on_cancelled();

    std::string render() const;

private:
    mutable std::mutex mu_;
    std::string version_, compute_mode_, model_name_;
    std::function<EngineGauges()> gauge_source_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    std::map<std::string, Histogram> durations_;  // by route
    Histogram ttft_;
    Histogram itl_;
    Histogram step_seqs_;
    uint64_t step_tokens_ = 0;
    uint64_t prompt_tokens_ = 0, generated_tokens_ = 0, cached_tokens_ = 0, queue_full_ = 0, cancelled_ = 0;
};

// Escapes a label value (backslash, double quote, newline) for the exposition format.
std::string escape_label_value(const std::string& v);

}  // namespace rz::server
