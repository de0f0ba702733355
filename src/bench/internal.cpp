// In-process LLM and classical-model benchmarks; see include/realizar/bench/internal.h.
#include "realizar/bench/internal.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "realizar/classical/apr_io.h"
#include "realizar/convert/convert.h"
#include "realizar/runtime/context.h"
#include "realizar/runtime/gpu_info.h"

namespace rz::bench {

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Deletes the synthetic model file however the benchmark ends.
struct TempFile {
    std::string path;
    ~TempFile() {
        if (!path.empty()) {
            std::error_code ec;
            std::filesystem::remove(path, ec);
        }
    }
};

// The greedy token of batch entry i through Context::top_k (k = 1): what a greedy sampler reads, so on the
// GPU only one (id, logit) pair leaves the device per step (RZ_CUDA_TOPK=0: the whole row, as before).
Result<int32_t> greedy_token(const runtime::Context& ctx, size_t i) {
    std::vector<runtime::TokenLogit> top;
    RZ_RETURN_IF_ERROR(ctx.top_k(i, 1, top));
    return top[0].id;
}

// The repetition options of one test, with progress lines naming it.
RepeatOptions labelled(const RepeatOptions& base, const std::function<void(const std::string&)>& log,
                       const std::string& test, const char* unit) {
    RepeatOptions r = base;
    if (log)
        r.on_run = [log, test, unit](bool warmup, int i, double v) {
            log(fmt::format("{} {} {}: {:.2f} {}", test, warmup ? "warm-up" : "run", i, v, unit));
        };
    return r;
}

}  // namespace

Result<Report> run_llm_bench(const LlmBenchOptions& o) {
    if (o.n_prompt < 0 || o.n_gen < 0) return invalid_argument("bench: -p and -n must be >= 0");
    if (o.n_prompt == 0 && o.n_gen == 0) return invalid_argument("bench: nothing to run (-p 0 and -n 0)");
    if (o.batch < 1) return invalid_argument("bench: --batch must be >= 1");
    if (o.threads < 0) return invalid_argument("bench: --threads must be >= 0");
    if (o.n_depth < 0) return invalid_argument("bench: --n-depth must be >= 0");
    // As many sequences as a server's slots (serve --parallel).
    if (o.n_seq < 1 || o.n_seq > 256)
        return invalid_argument(fmt::format("bench: --n-seq must be in [1, 256], got {}", o.n_seq));
    if (o.n_seq > 1 && o.n_gen == 0) return invalid_argument("bench: --n-seq applies to the tg test: give -n > 0");
    // Bounded like Context's own limit (2^24 positions), in 64 bits so that no sum overflows.
    constexpr int64_t kMaxCtx = int64_t{1} << 24;
    const int64_t depth64 = o.n_depth;
    const int64_t ctx_needed = std::max<int64_t>({depth64 + o.n_prompt, depth64 + o.n_gen + 1, 16});
    if (ctx_needed > kMaxCtx)
        return invalid_argument(fmt::format("bench: --n-depth {} with -p {} / -n {} needs a context of {} tokens "
                                            "(at most {})",
                                            o.n_depth, o.n_prompt, o.n_gen, ctx_needed, kMaxCtx));
    if (o.model.empty() == o.synthetic.empty()) return invalid_argument("bench: give either MODEL or --synthetic SHAPE:TYPE");

    Report rep;
    TempFile tmp;
    std::string path = o.model;
    double synth_seconds = 0.0;
    if (!o.synthetic.empty()) {
        const auto colon = o.synthetic.find(':');
        convert::SyntheticOptions so;
        so.shape = o.synthetic.substr(0, colon);
        so.type = colon == std::string::npos ? "q4_k_m" : o.synthetic.substr(colon + 1);
        tmp.path = (std::filesystem::temp_directory_path() /
                    fmt::format("rz-bench-{}-{}-{}.gguf", getpid(), so.shape, so.type)).string();
        so.output = tmp.path;
        so.convert.threads = o.threads;
        const auto t0 = Clock::now();
        if (o.log) o.log("writing synthetic " + so.shape + ":" + so.type + " to " + tmp.path);
        RZ_RETURN_IF_ERROR(convert::write_synthetic(so).with_context("bench --synthetic"));
        synth_seconds = seconds_since(t0);
        path = tmp.path;
        rep.model = "synthetic:" + so.shape + ":" + so.type;
    } else {
        rep.model = o.model;
    }

    runtime::ModelOptions mo;
    mo.n_threads = o.threads;
    const auto tl = Clock::now();
    RZ_ASSIGN_OR_RETURN(auto model, runtime::Model::load(path, mo));
    const double load_seconds = seconds_since(tl);
    const auto& info = model->info();
    rep.model_info = {{"arch", info.arch}, {"name", info.name}, {"n_vocab", info.n_vocab}, {"n_embd", info.n_embd},
                      {"n_layer", info.n_layer}, {"n_params", info.n_params}, {"weight_bytes", info.weight_bytes},
                      {"decode_weight_bytes", info.decode_weight_bytes}, {"load_seconds", load_seconds}};
    if (!o.synthetic.empty()) rep.model_info["synthetic_write_seconds"] = synth_seconds;
    if (info.n_vocab < 1) return invalid_argument("bench: " + rep.model + ": model has no vocabulary");

    runtime::ContextOptions co;
    co.n_ctx = static_cast<int>(ctx_needed);
    co.n_batch = std::max(o.batch, o.n_seq);  // a tg step holds a token of each sequence
    co.n_seq_max = o.n_seq;
    co.n_threads = o.threads;
    co.n_gpu_layers = o.n_gpu_layers;
    RZ_ASSIGN_OR_RETURN(auto ctx, runtime::Context::create(model, co));
    // On the GPU: the device, and with every layer there the decode roofline of the tg test (the weights' bytes a
    // token over the measured copy bandwidth; measured after the upload, in the memory the model left free). No
    // bandwidth (buffers that do not fit even at 128 MiB): no roofline, the benchmark still runs.
    std::optional<double> gbps;
    if (o.n_gpu_layers != 0) {
        Result<runtime::GpuInfo> g = runtime::probe_gpu();
        if (!g.ok()) g = runtime::probe_gpu(uint64_t{128} << 20);
        if (g.ok()) {
            rep.device = {{"name", g->name}, {"copy_bandwidth_gbps", g->copy_gbps}, {"copy_buffer_bytes", g->copy_bytes}};
            if (o.n_gpu_layers < 0 || o.n_gpu_layers >= info.n_layer) gbps = g->copy_gbps;
        } else if (o.log) {
            o.log("no device bandwidth, no roofline: " + g.status().message());
        }
    }

    rep.options = {{"n_prompt", o.n_prompt}, {"n_gen", o.n_gen}, {"threads", o.threads}, {"batch", o.batch},
                   {"n_gpu_layers", o.n_gpu_layers}, {"warmup", o.repeat.warmup}, {"min_runs", o.repeat.min_runs}, {"max_runs", o.repeat.max_runs},
                   {"cv_target", o.repeat.cv_target}, {"max_seconds", o.repeat.max_seconds}};
    nlohmann::json params = {{"n_prompt", o.n_prompt}, {"n_gen", o.n_gen}, {"threads", o.threads},
                             {"batch", o.batch}};
    // Test names and parameters of a run at depth (reports without depth keep their old names and keys, so saved
    // reports still compare).
    const std::string at_depth = o.n_depth > 0 ? fmt::format(" @ d{}", o.n_depth) : "";
    if (o.n_depth > 0) rep.options["n_depth"] = o.n_depth, params["n_depth"] = o.n_depth;
    if (o.n_seq > 1) rep.options["n_seq"] = o.n_seq;

    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int32_t> tok_dist(0, info.n_vocab - 1);
    // toks at positions pos0.. of sequence 0 in decode calls of --batch tokens, logits for the last token only.
    auto decode_tokens = [&](const std::vector<int32_t>& toks, int pos0) -> Status {
        runtime::Batch b;
        const int n = static_cast<int>(toks.size());
        for (int start = 0; start < n; start += o.batch) {
            b.clear();
            const int end = std::min(n, start + o.batch);
            for (int i = start; i < end; ++i) b.add(toks[static_cast<size_t>(i)], pos0 + i, 0, i == n - 1);
            RZ_RETURN_IF_ERROR(ctx->decode(b));
        }
        return Status::Ok();
    };
    std::vector<int32_t> depth(static_cast<size_t>(o.n_depth));
    for (auto& t : depth) t = tok_dist(rng);
    // Before each run (untimed): sequences 0..n_seq-1 hold the depth tokens and nothing after them. Sequence 0 decodes
    // them, the others (the tg test's) copy sequence 0's (the attention reads each sequence's own cache either way).
    // Only this code writes the sequences, always starting with the depth tokens, so once they are cached a run's own
    // tokens are cut off instead of the whole depth being decoded again (-d 4000 on a CPU: seconds a run).
    auto fill = [&](int n_seq) -> Status {
        for (int s = 0; s < n_seq; ++s) {
            if (o.n_depth > 0 && ctx->seq_len(s) >= o.n_depth) {
                RZ_RETURN_IF_ERROR(ctx->seq_truncate(s, o.n_depth));
                continue;
            }
            ctx->seq_clear(s);
            if (o.n_depth > 0) RZ_RETURN_IF_ERROR(s == 0 ? decode_tokens(depth, 0) : ctx->seq_copy(0, s));
        }
        return Status::Ok();
    };

    if (o.n_prompt > 0) {
        std::vector<int32_t> prompt(static_cast<size_t>(o.n_prompt));
        for (auto& t : prompt) t = tok_dist(rng);
        std::vector<double> ttft;
        bool measuring = false;  // the warm-up runs' TTFT are discarded like their throughput
        int calls = 0;
        auto measure = [&]() -> Result<double> {
            RZ_RETURN_IF_ERROR(fill(1));
            const auto t0 = Clock::now();
            RZ_RETURN_IF_ERROR(decode_tokens(prompt, o.n_depth));
            const double t_prefill = seconds_since(t0);
            // The logits row of the last decode call's last token (rows are per call).
            const auto last = static_cast<size_t>((o.n_prompt - 1) % o.batch);
            RZ_ASSIGN_OR_RETURN(const int32_t first, greedy_token(*ctx, last));
            (void)first;
            const double t_first = seconds_since(t0);
            if (++calls > o.repeat.warmup) measuring = true;
            if (measuring) ttft.push_back(t_first * 1000.0);
            return o.n_prompt / std::max(t_prefill, 1e-9);
        };
        const std::string pp_name = fmt::format("pp{}{}", o.n_prompt, at_depth);
        RZ_ASSIGN_OR_RETURN(auto r, repeat_until_stable(labelled(o.repeat, o.log, pp_name, "tok/s"), measure));
        Record pp{.test = pp_name, .runtime = "realizar", .kind = "internal", .params = params};
        pp.metrics["tokens_per_second"] = metric_from(r);
        pp.peak_rss_bytes = peak_rss_bytes();
        rep.results.push_back(pp);
        Record tt{.test = fmt::format("ttft{}{}", o.n_prompt, at_depth), .runtime = "realizar", .kind = "internal",
                  .params = params};
        RepeatResult tr = r;
        tr.values = ttft;
        tr.summary = summarize(ttft);
        tr.cv_reached = cv_below(ttft, o.repeat.cv_target);
        tt.metrics["ttft_ms"] = metric_from(tr);
        tt.peak_rss_bytes = pp.peak_rss_bytes;
        rep.results.push_back(tt);
    }
    if (o.n_gen > 0) {
        const int32_t start_tok = tok_dist(rng);
        // Each step one decode call with the next token of every sequence (greedy, fed back).
        auto measure = [&]() -> Result<double> {
            RZ_RETURN_IF_ERROR(fill(o.n_seq));
            runtime::Batch b;
            std::vector<int32_t> tok(static_cast<size_t>(o.n_seq), start_tok);
            const auto t0 = Clock::now();
            for (int i = 0; i < o.n_gen; ++i) {
                b.clear();
                for (int s = 0; s < o.n_seq; ++s) b.add(tok[static_cast<size_t>(s)], o.n_depth + i, s, true);
                RZ_RETURN_IF_ERROR(ctx->decode(b));
                for (int s = 0; s < o.n_seq; ++s) {
                    RZ_ASSIGN_OR_RETURN(tok[static_cast<size_t>(s)], greedy_token(*ctx, static_cast<size_t>(s)));
                }
            }
            return static_cast<double>(o.n_seq) * o.n_gen / std::max(seconds_since(t0), 1e-9);
        };
        const std::string seqs = o.n_seq > 1 ? fmt::format(" x{}", o.n_seq) : "";
        const std::string tg_name = fmt::format("tg{}{}{}", o.n_gen, seqs, at_depth);
        nlohmann::json tg_params = params;
        if (o.n_seq > 1) tg_params["n_seq"] = o.n_seq;
        RZ_ASSIGN_OR_RETURN(auto r, repeat_until_stable(labelled(o.repeat, o.log, tg_name, "tok/s"), measure));
        Record tg{.test = tg_name, .runtime = "realizar", .kind = "internal", .params = tg_params};
        tg.metrics["tokens_per_second"] = metric_from(r);
        if (gbps && info.decode_weight_bytes > 0) {
            Roofline rl;
            rl.weight_bytes_per_token = info.decode_weight_bytes;
            rl.tokens_per_second = o.n_seq * *gbps * 1e9 / static_cast<double>(info.decode_weight_bytes);
            rl.fraction = r.summary.median / rl.tokens_per_second;
            tg.roofline = rl;
        }
        tg.peak_rss_bytes = peak_rss_bytes();
        rep.results.push_back(tg);
    }
    return rep;
}

bool is_classical_model(const std::string& path) {
    if (!path.ends_with(".apr")) return false;
    return classical::load_classical_model(path).ok();
}

Result<Report> run_classical_bench(const ClassicalBenchOptions& o) {
    if (o.batch < 1) return invalid_argument("bench: --batch must be >= 1");
    RZ_ASSIGN_OR_RETURN(auto model, classical::load_classical_model(o.model));
    Report rep;
    rep.model = o.model;
    rep.model_info = {{"type", std::string(classical::model_type_name(model.spec().type))},
                      {"n_inputs", model.n_inputs()}, {"n_outputs", model.n_outputs()},
                      {"n_parameters", model.n_parameters()}, {"isa", std::string(classical::isa_name(model.isa()))}};
    rep.options = {{"batch", o.batch}, {"warmup", o.repeat.warmup}, {"min_runs", o.repeat.min_runs},
                   {"max_runs", o.repeat.max_runs}, {"cv_target", o.repeat.cv_target}};
    const int64_t n_in = model.n_inputs(), n_out = model.n_outputs();
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n_in * o.batch));
    for (auto& v : x) v = dist(rng);
    std::vector<float> out(static_cast<size_t>(n_out * o.batch));
    auto ws = model.make_workspace();

    // One run: repeat the call until min_run_seconds passed (timer resolution and call overhead stay small
    // against the run); sample = predictions per second.
    auto run_for = [&](int64_t per_call, auto&& call) -> Result<double> {
        int64_t preds = 0;
        const auto t0 = Clock::now();
        double el = 0.0;
        do {
            RZ_RETURN_IF_ERROR(call());
            preds += per_call;
            el = seconds_since(t0);
        } while (el < o.min_run_seconds);
        return preds / std::max(el, 1e-12);
    };
    auto one = [&]() -> Status {
        return model.predict(std::span(x).first(static_cast<size_t>(n_in)), std::span(out).first(static_cast<size_t>(n_out)), ws);
    };
    auto many = [&]() -> Status { return model.predict_batch(x, o.batch, out, ws); };
    const nlohmann::json params = {{"batch", 1}};
    {
        RZ_ASSIGN_OR_RETURN(auto r, repeat_until_stable(labelled(o.repeat, o.log, "predict1", "pred/s"), [&] { return run_for(1, one); }));
        Record rec{.test = "predict1", .runtime = "realizar", .kind = "classical", .params = params};
        rec.metrics["predictions_per_second"] = metric_from(r);
        RepeatResult lat = r;  // ms per prediction = 1000 / (predictions per second), per run
        for (auto& v : lat.values) v = 1000.0 / v;
        lat.summary = summarize(lat.values);
        lat.cv_reached = cv_below(lat.values, o.repeat.cv_target);
        rec.metrics["latency_ms"] = metric_from(lat);
        rec.peak_rss_bytes = peak_rss_bytes();
        rep.results.push_back(rec);
    }
    {
        RZ_ASSIGN_OR_RETURN(auto r, repeat_until_stable(labelled(o.repeat, o.log, fmt::format("predict{}", o.batch), "pred/s"),
                                                         [&] { return run_for(o.batch, many); }));
        Record rec{.test = fmt::format("predict{}", o.batch), .runtime = "realizar", .kind = "classical",
                   .params = {{"batch", o.batch}}};
        rec.metrics["predictions_per_second"] = metric_from(r);
        rec.peak_rss_bytes = peak_rss_bytes();
        rep.results.push_back(rec);
    }
    return rep;
}

}  // namespace rz::bench
