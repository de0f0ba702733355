#include "realizar/server/metrics.h"

#include <cmath>

#include <fmt/format.h>

namespace rz::server {

namespace {

std::string fmt_double(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    return fmt::format("{}", v);
}

const std::vector<double>& duration_buckets() {
    static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
    return b;
}

}  // namespace

std::string escape_label_value(const std::string& v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
    ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
    const std::string sep = labels.empty() ? "" : ",";
    uint64_t cum = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        cum += counts_[i];
        const std::string le = i < bounds_.size() ? fmt_double(bounds_[i]) : "+Inf";
        out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cum);
    }
    const std::string lb = labels.empty() ? "" : "{" + labels + "}";
    out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, lb, fmt_double(sum_), name, lb, count_);
}

Metrics::Metrics(std::string version, std::string compute_mode)
    : version_(std::move(version)),
      compute_mode_(std::move(compute_mode)),
      ttft_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
      itl_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}),
      step_seqs_({1, 2, 4, 8, 16, 32, 64, 128, 256}) {}

void Metrics::set_model_name(std::string name) {
    std::lock_guard lk(mu_);
    model_name_ = std::move(name);
}

void Metrics::set_gauge_source(std::function<EngineGauges()> fn) {
    std::lock_guard lk(mu_);
    gauge_source_ = std::move(fn);
}

void Metrics::on_request(const std::string& route, int status, double seconds) {
    std::lock_guard lk(mu_);
    ++requests_[{route, status}];
    auto it = durations_.find(route);
    if (it == durations_.end()) it = durations_.emplace(route, Histogram(duration_buckets())).first;
    it->second.observe(seconds);
}

void Metrics::on_tokens(int64_t prompt, int64_t generated, int64_t cached) {
    std::lock_guard lk(mu_);
    prompt_tokens_ += static_cast<uint64_t>(std::max<int64_t>(prompt, 0));
    cached_tokens_ += static_cast<uint64_t>(std::max<int64_t>(cached, 0));
    generated_tokens_ += static_cast<uint64_t>(std::max<int64_t>(generated, 0));
}

void Metrics::on_first_token(double seconds) {
    std::lock_guard lk(mu_);
    ttft_.observe(seconds);
}

void Metrics::on_inter_token(double seconds) {
    std::lock_guard lk(mu_);
    itl_.observe(seconds);
}

void Metrics::on_step(int n_tokens, int n_sequences) {
    std::lock_guard lk(mu_);
    step_seqs_.observe(n_sequences);
    step_tokens_ += static_cast<uint64_t>(std::max(n_tokens, 0));
}

void Metrics::on_rejected_queue_full() {
    std::lock_guard lk(mu_);
    ++queue_full_;
}

void Metrics::on_cancelled() {
    std::lock_guard lk(mu_);
    ++cancelled_;
}

std::string Metrics::render() const {
    std::function<EngineGauges()> source;
    {
        std::lock_guard lk(mu_);
        source = gauge_source_;
    }
    // Read the engine outside our lock: the engine may be reporting into us at the same time.
    const EngineGauges g = source ? source() : EngineGauges{};

    std::lock_guard lk(mu_);
    std::string out;
    out.reserve(8192);
    out += "# HELP realizar_build_info Build and model information (value is always 1).\n"
           "# TYPE realizar_build_info gauge\n";
    out += fmt::format("realizar_build_info{{version=\"{}\",compute_mode=\"{}\",model=\"{}\"}} 1\n",
                       escape_label_value(version_), escape_label_value(compute_mode_), escape_label_value(model_name_));

    out += "# HELP realizar_requests_total HTTP requests answered, by route and status code.\n"
           "# TYPE realizar_requests_total counter\n";
    for (const auto& [key, n] : requests_)
        out += fmt::format("realizar_requests_total{{route=\"{}\",code=\"{}\"}} {}\n", escape_label_value(key.first),
                           key.second, n);

    out += "# HELP realizar_prompt_tokens_total Prompt tokens evaluated (not those reused from a slot's cache).\n"
           "# TYPE realizar_prompt_tokens_total counter\n";
    out += fmt::format("realizar_prompt_tokens_total {}\n", prompt_tokens_);
    out += "# HELP realizar_prompt_tokens_cached_total Prompt tokens taken from a slot's KV cache (prompt cache).\n"
           "# TYPE realizar_prompt_tokens_cached_total counter\n";
    out += fmt::format("realizar_prompt_tokens_cached_total {}\n", cached_tokens_);
    out += "# HELP realizar_generated_tokens_total Tokens generated.\n"
           "# TYPE realizar_generated_tokens_total counter\n";
    out += fmt::format("realizar_generated_tokens_total {}\n", generated_tokens_);
    out += "# HELP realizar_queue_rejections_total Requests refused with 503 because the queue was full.\n"
           "# TYPE realizar_queue_rejections_total counter\n";
    out += fmt::format("realizar_queue_rejections_total {}\n", queue_full_);
    out += "# HELP realizar_requests_cancelled_total Generations cancelled (client gone, timeout, shutdown).\n"
           "# TYPE realizar_requests_cancelled_total counter\n";
    out += fmt::format("realizar_requests_cancelled_total {}\n", cancelled_);

    out += "# HELP realizar_request_duration_seconds Time from request start to the end of its response.\n"
           "# TYPE realizar_request_duration_seconds histogram\n";
    for (const auto& [route, h] : durations_)
        h.render(out, "realizar_request_duration_seconds", fmt::format("route=\"{}\"", escape_label_value(route)));
    out += "# HELP realizar_time_to_first_token_seconds Time from submission to the first generated token.\n"
           "# TYPE realizar_time_to_first_token_seconds histogram\n";
    ttft_.render(out, "realizar_time_to_first_token_seconds", "");
    out += "# HELP realizar_inter_token_latency_seconds Time between consecutive generated tokens of a request.\n"
           "# TYPE realizar_inter_token_latency_seconds histogram\n";
    itl_.render(out, "realizar_inter_token_latency_seconds", "");

    out += "# HELP realizar_batch_sequences Sequences packed into one engine step (one forward pass).\n"
           "# TYPE realizar_batch_sequences histogram\n";
    step_seqs_.render(out, "realizar_batch_sequences", "");
    out += "# HELP realizar_batch_tokens_total Tokens run through the model (prompt chunks and decode tokens).\n"
           "# TYPE realizar_batch_tokens_total counter\n";
    out += fmt::format("realizar_batch_tokens_total {}\n", step_tokens_);

    auto gauge = [&](const char* name, const char* help, int64_t v) {
        out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, v);
    };
    gauge("realizar_model_loaded", "1 once the model is loaded and serving.", g.model_loaded ? 1 : 0);
    gauge("realizar_slots_active", "Slots running a request.", g.slots_active);
    gauge("realizar_slots", "Slots (--parallel).", g.slots_total);
    gauge("realizar_requests_queued", "Requests waiting for a slot.", g.requests_queued);
    gauge("realizar_kv_cells_used", "KV-cache cells in use.", g.kv_cells_used);
    gauge("realizar_kv_cells_capacity", "KV-cache cells allocated.", g.kv_cells_total);
    return out;
}

}  // namespace rz::server
