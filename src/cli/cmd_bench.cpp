// realizar bench MODEL | --synthetic SHAPE:TYPE | --url URL --api API   (docs/bench.md)
// realizar bench compare BASE.json NEW.json [--threshold 5%]       exit 1 on a regression
// realizar bench report A.json [B.json ...] --format md|svg|json    merge and render saved reports
// Exit codes: 0 success, 1 benchmark failure or regression, 2 usage error.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "realizar/bench/http.h"
#include "realizar/bench/internal.h"
#include "realizar/bench/report.h"

namespace rz::cli {

namespace {

struct BenchCli {
    std::string model, synthetic, format = "text", output, json_out, md_out, svg_out;
    int n_prompt = 512, n_gen = 128, n_depth = 0, n_seq = 1, threads = 0, batch = 512;
    int n_gpu_layers = 0;
    int warmup = 1, min_runs = 3, max_runs = 10;
    std::string cv = "5%";
    double max_time = 120.0;
    std::string url, api = "realizar", concurrency = "1", prompts, model_name, runtime_label;
    int timeout_s = 60;  // --timeout (HttpBenchOptions::timeout_s)
    int requests = 0;
    double wait_ready = 60;
    bool n_given = false;
    bool ignore_eos = false;
    bool quiet = false;
    CLI::Option* batch_opt = nullptr;  // given explicitly? (classical default differs)
    CLI::Option* min_runs_opt = nullptr;  // given explicitly? (else at most --max-runs)
    // compare / report
    std::string base, now, threshold = "5%";
    std::vector<std::string> inputs;
};

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "realizar bench: error: %s\n", msg.c_str());
    return 2;
}

int failure(const Status& st) {
    std::fprintf(stderr, "realizar bench: error: %s\n", st.to_string().c_str());
    return 1;
}

std::string render(const nlohmann::json& report, const std::string& format) {
    if (format == "json") return report.dump(2) + "\n";
    if (format == "md") return bench::to_markdown(report);
    if (format == "svg") return bench::to_svg(report);
    return bench::to_text(report);
}

// Writes the main output (--format to -o or stdout) and any extra --json/--md/--svg files.
int emit(const BenchCli& c, const nlohmann::json& report) {
    const std::string text = render(report, c.format);
    if (c.output.empty()) {
        std::fwrite(text.data(), 1, text.size(), stdout);
    } else if (Status st = bench::write_text_file(c.output, text); !st.ok()) {
        return failure(st);
    }
    for (const auto& [path, fmt] : {std::pair{c.json_out, "json"}, {c.md_out, "md"}, {c.svg_out, "svg"}})
        if (!path.empty())
            if (Status st = bench::write_text_file(path, render(report, fmt)); !st.ok()) return failure(st);
    return 0;
}

void progress_line(const std::string& s) { std::fprintf(stderr, "realizar bench: %s\n", s.c_str()); }

int run_bench(const BenchCli& c) {
    bench::RepeatOptions rep;
    rep.warmup = c.warmup;
    // `--max-runs 1` alone means one run: the default minimum (3) follows it down; an explicit --min-runs above
    // --max-runs stays a usage error.
    rep.min_runs = c.min_runs_opt && c.min_runs_opt->count() == 0 ? std::min(c.min_runs, std::max(1, c.max_runs)) : c.min_runs;
    rep.max_runs = c.max_runs;
    rep.max_seconds = c.max_time;
    auto cv = bench::parse_threshold(c.cv);
    if (!cv.ok()) return usage_error("--cv: " + cv.status().message());
    rep.cv_target = *cv;
    if (rep.cv_target <= 0) return usage_error("--cv must be > 0");

    Result<bench::Report> report = internal_error("unreachable");
    if (c.ignore_eos && c.url.empty()) return usage_error("--ignore-eos needs --url (the local tg test never stops at end-of-text)");
    if (!c.url.empty()) {
        if (!c.model.empty() || !c.synthetic.empty()) return usage_error("give MODEL/--synthetic or --url, not both");
        if (c.n_depth != 0)
            return usage_error("--n-depth is for MODEL / --synthetic (a server's context is its requests' prompts)");
        if (c.n_seq != 1) return usage_error("--n-seq is for MODEL / --synthetic (a server's load: --concurrency)");
        bench::HttpBenchOptions h;
        h.url = c.url;
        auto api = bench::parse_api(c.api);
        if (!api.ok()) return usage_error(api.status().message());
        h.api = *api;
        auto conc = bench::parse_int_list(c.concurrency, "--concurrency");
        if (!conc.ok()) return usage_error(conc.status().message());
        h.concurrency = *conc;
        if (!c.prompts.empty()) {
            auto p = bench::load_prompts(c.prompts);
            if (!p.ok()) return usage_error(p.status().message());
            h.prompts = *p;
        } else {
            h.prompts = bench::default_prompts();
        }
        h.max_tokens = c.n_given ? c.n_gen : 64;
        h.ignore_eos = c.ignore_eos;
        h.requests = c.requests;
        h.model = c.model_name;
        h.runtime = c.runtime_label;
        h.wait_ready_s = c.wait_ready;
        h.timeout_s = c.timeout_s;
        report = bench::run_http_bench(h);
    } else if (c.model.empty() && c.synthetic.empty()) {
        return usage_error("give MODEL, --synthetic SHAPE:TYPE or --url URL (see realizar bench --help)");
    } else if (!c.model.empty() && bench::is_classical_model(c.model)) {
        if (c.n_depth != 0) return usage_error("--n-depth is for language models, not a classical APR model");
        if (c.n_seq != 1) return usage_error("--n-seq is for language models, not a classical APR model");
        bench::ClassicalBenchOptions co;
        co.model = c.model;
        co.batch = c.batch_opt && c.batch_opt->count() ? c.batch : 64;  // samples per predict_batch call
        co.repeat = rep;
        if (!c.quiet) co.log = progress_line;
        report = bench::run_classical_bench(co);
    } else {
        bench::LlmBenchOptions lo;
        lo.model = c.model;
        lo.synthetic = c.synthetic;
        lo.n_prompt = c.n_prompt;
        lo.n_gen = c.n_gen;
        lo.n_depth = c.n_depth;
        lo.n_seq = c.n_seq;
        lo.threads = c.threads;
        lo.n_gpu_layers = c.n_gpu_layers;
        lo.batch = c.batch;
        lo.repeat = rep;
        if (!c.quiet) lo.log = progress_line;
        report = bench::run_llm_bench(lo);
    }
    if (!report.ok()) {
        const bool usage = report.status().code() == StatusCode::kInvalidArgument;
        std::fprintf(stderr, "realizar bench: error: %s\n", report.status().to_string().c_str());
        return usage ? 2 : 1;
    }
    return emit(c, bench::to_json(*report));
}

int run_compare(const BenchCli& c) {
    auto thr = bench::parse_threshold(c.threshold);
    if (!thr.ok()) return usage_error(thr.status().message());
    auto base = bench::read_json_file(c.base);
    if (!base.ok()) return usage_error(base.status().message());
    auto now = bench::read_json_file(c.now);
    if (!now.ok()) return usage_error(now.status().message());
    auto cmp = bench::compare_reports(*base, *now, *thr);
    if (!cmp.ok()) return usage_error(cmp.status().message());
    const std::string table = bench::comparison_markdown(*cmp, *thr);
    std::fwrite(table.data(), 1, table.size(), stdout);
    return cmp->regression ? 1 : 0;
}

int run_report(const BenchCli& c) {
    std::vector<nlohmann::json> docs;
    for (const auto& p : c.inputs) {
        auto j = bench::read_json_file(p);
        if (!j.ok()) return usage_error(j.status().message());
        if (!j->is_object() || j->value("schema_version", 0) != bench::kSchemaVersion)
            return usage_error(p + ": not a realizar bench report of schema_version 1");
        docs.push_back(std::move(*j));
    }
    return emit(c, bench::merge_reports(docs));
}

void add_output_options(CLI::App* cmd, BenchCli& c) {
    cmd->add_option("--format", c.format, "Output format: text, json, md, svg")
        ->check(CLI::IsMember({"text", "json", "md", "svg"}))
        ->capture_default_str();
    cmd->add_option("-o,--output", c.output, "Write the output to FILE instead of stdout");
    cmd->add_option("--json", c.json_out, "Also write the JSON report to FILE");
    cmd->add_option("--md", c.md_out, "Also write the Markdown table to FILE");
    cmd->add_option("--svg", c.svg_out, "Also write the SVG chart to FILE");
}

}  // namespace

Runner add_bench_command(CLI::App& app) {
    auto c = std::make_shared<BenchCli>();
    CLI::App* cmd = app.add_subcommand("bench", "Benchmark prompt processing and generation, or a running server");
    cmd->add_option("model,-m,--model", c->model,
                    "Model file (GGUF, APR, llama2.c, HF folder); a classical APR model too (positional, or llama-bench's -m)");
    cmd->add_option("--synthetic", c->synthetic, "Benchmark a random-weight model SHAPE:TYPE, e.g. tinyllama-1.1b:q4_k_m");
    cmd->add_option("-p,--n-prompt", c->n_prompt, "Prompt tokens of the pp/ttft tests (0 skips)")->capture_default_str();
    cmd->add_option_function<int>("-n,--n-gen", [c](int v) { c->n_gen = v, c->n_given = true; },
                                  "Generated tokens of the tg test (default 128; 0 skips); with --url: max tokens per request (default 64)");
    cmd->add_option("-d,--n-depth", c->n_depth,
                    "Tokens already in the cache when each pp/ttft/tg run starts (llama-bench's -d; untimed)")
        ->capture_default_str();
    cmd->add_option("-s,--n-seq", c->n_seq,
                    "Sequences generated together in the tg test, a token of each per decode call, as a server's "
                    "continuous batching (llama-batched-bench's -npl; tok/s of all of them)")
        ->capture_default_str();
    cmd->add_option("-t,--threads", c->threads, "Compute threads (0 = physical cores)")->capture_default_str();
    add_gpu_options(cmd, c->n_gpu_layers);
    c->batch_opt = cmd->add_option("-b,--batch", c->batch, "Prompt tokens per decode call (classical: samples per batch, 64)")
        ->capture_default_str();
    cmd->add_option("--warmup", c->warmup, "Warm-up runs per test (discarded)")->capture_default_str();
    c->min_runs_opt = cmd->add_option("--min-runs", c->min_runs, "Measured runs at least (at most --max-runs unless given)")->capture_default_str();
    cmd->add_option("--max-runs", c->max_runs, "Measured runs at most")->capture_default_str();
    cmd->add_option("--cv", c->cv, "Stop once the coefficient of variation is below this")->capture_default_str();
    cmd->add_option("--max-time", c->max_time, "Seconds of measured runs per test before stopping (0 = no limit)")
        ->capture_default_str();
    cmd->add_option("--url", c->url, "Benchmark a running server at http://HOST:PORT");
    cmd->add_option("--api", c->api, "Server API: realizar, openai, llama-cpp, ollama")->capture_default_str();
    cmd->add_option("--concurrency", c->concurrency, "Concurrent clients per level, e.g. 1,4,16")->capture_default_str();
    cmd->add_option("--prompts", c->prompts, "Prompts file: one per line, or a JSON array of strings");
    cmd->add_flag("--ignore-eos", c->ignore_eos, "With --url: ask the server for all -n tokens past end-of-text (not ollama)");
    cmd->add_option("--requests", c->requests, "Requests per concurrency level (0 = max(8, 2 x concurrency))");
    cmd->add_option("--model-name", c->model_name, "Model name sent to openai/ollama servers");
    cmd->add_option("--runtime", c->runtime_label, "Runtime label in the report (default: the API name)");
    cmd->add_flag("-q,--quiet", c->quiet, "No progress lines on stderr");
    cmd->add_option("--wait-ready", c->wait_ready, "Seconds to wait for the server to report ready (0 = none)")
        ->capture_default_str();
    cmd->add_option("--timeout", c->timeout_s, "With --url: a request that receives nothing for this many seconds fails")
        ->capture_default_str();
    add_output_options(cmd, *c);

    CLI::App* cmp = cmd->add_subcommand("compare", "Compare two JSON reports; exit 1 on a regression");
    cmp->add_option("base", c->base, "Baseline report (JSON)")->required();
    cmp->add_option("new", c->now, "New report (JSON)")->required();
    cmp->add_option("--threshold", c->threshold, "Regression threshold, e.g. 5%")->capture_default_str();

    CLI::App* rpt = cmd->add_subcommand("report", "Merge saved JSON reports and render them (md, svg, json, text)");
    rpt->add_option("inputs", c->inputs, "JSON reports")->required();
    add_output_options(rpt, *c);

    return [c, cmp, rpt] {
        if (cmp->parsed()) return run_compare(*c);
        if (rpt->parsed()) return run_report(*c);
        return run_bench(*c);
    };
}

}  // namespace rz::cli
