// `realizar run MODEL "prompt"`: stream a completion to stdout (logs, progress and timings to stderr).
// Also: --chat (interactive REPL), --tokens/--logits-out (runtime's logits dump), classical APR models
// (--features/--features-file). See docs/run.md.
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cli/chat_repl.h"
#include "cli/commands.h"
#include "cli/run_classical.h"
#include "cli/run_logits.h"
#include "realizar/core/dtype.h"
#include "realizar/formats/model_file.h"
#include "realizar/runtime/context.h"
#include "realizar/runtime/generate.h"
#include "realizar/server/demo.h"
#include "realizar/tokenizer/chat_template.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::cli {

namespace {

struct RunOptions {
    std::string model;
    std::string prompt;
    std::string prompt_file;
    std::string system;
    std::string tokenizer;
    std::string chat_template;
    std::string format = "text";
    std::string tokens;
    std::string logits_out;
    std::string cache_type = "f16";
    std::string features, features_file;
    std::vector<std::string> stop;
    int max_tokens          = -1;
    float temperature       = 0.8f;
    int top_k               = 40;
    float top_p             = 0.95f;
    float min_p             = 0.05f;
    float typical_p         = 1.0f;
    float repeat_penalty    = 1.0f;
    int repeat_last_n       = 64;
    float presence_penalty  = 0.0f;
    float frequency_penalty = 0.0f;
    std::string seed        = "-1";  // -1 or 0 .. 2^64 - 2 (every seed a random run prints), parsed by parse_seed
    int ctx_size            = 0;
    int threads             = 0;
    int n_gpu_layers        = 0;  // CUDA backend: the first N layers on the device (-1: all)
    int batch_size          = 512;
    bool raw                = false;
    bool demo               = false;  // the model embedded in the binary; the first positional is then the prompt
    bool echo               = false;
    bool chat               = false;
    bool ignore_eos         = false;
    bool no_timings         = false;
    bool no_warmup          = false;
};

std::atomic<bool> g_interrupt{false};
std::atomic<bool> g_chat_mode{false};

extern "C" void on_sigint(int) {
    // First Ctrl-C stops the answer; a second one (outside --chat) ends the program at once.
    if (g_interrupt.load() && !g_chat_mode.load()) _exit(130);
    g_interrupt.store(true);
}

void install_sigint() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked read() returns EINTR so the REPL sees Ctrl-C at its prompt
    sigaction(SIGINT, &sa, nullptr);
}

int fail(const std::string& msg) {
    std::fprintf(stderr, "realizar run: error: %s\n", msg.c_str());
    return 1;
}

// Shows "loading MODEL ... 2.3 s" on a terminal when loading takes longer than half a second.
class LoadProgress {
  public:
    explicit LoadProgress(std::string what) : what_(std::move(what)) {
        if (!isatty(STDERR_FILENO)) return;
        thread_ = std::thread([this] {
            const auto t0 = std::chrono::steady_clock::now();
            std::unique_lock lk(mu_);
            if (cv_.wait_for(lk, std::chrono::milliseconds(500), [this] { return done_; })) return;
            static const char kSpin[] = "|/-\\";
            for (int i = 0; !done_; ++i) {
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                std::fprintf(stderr, "\r%c loading %s ... %.1f s ", kSpin[i % 4], what_.c_str(), s);
                std::fflush(stderr);
                shown_ = true;
                cv_.wait_for(lk, std::chrono::milliseconds(100), [this] { return done_; });
            }
        });
    }
    ~LoadProgress() { stop(); }
    void stop() {
        {
            std::lock_guard lk(mu_);
            done_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
        if (shown_) {
            std::fputs("\r\033[K", stderr);  // clear the progress line
            std::fflush(stderr);
            shown_ = false;
        }
    }

  private:
    std::string what_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_  = false;
    bool shown_ = false;
};

Result<std::string> read_prompt_file(const std::string& path) {
    if (path == "-") {
        std::ostringstream ss;
        ss << std::cin.rdbuf();
        return ss.str();
    }
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return invalid_argument(fmt::format("prompt file '{}' is a folder", path));
    std::ifstream f(path, std::ios::binary);
    if (!f) return not_found(fmt::format("cannot open prompt file '{}'", path));
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) return io_error(fmt::format("cannot read prompt file '{}'", path));
    return s;
}

// --seed: -1 (random) or a seed a run printed, 0 .. 2^64 - 2 (the sampler never picks kRandomSeed = 2^64 - 1).
Result<uint64_t> parse_seed(const std::string& text) {
    if (text == "-1") return runtime::kRandomSeed;
    uint64_t v = 0;
    const char* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || p != end || v == runtime::kRandomSeed)
        return invalid_argument(fmt::format("--seed '{}': expected -1 (random) or 0 to {}", text, runtime::kRandomSeed - 1));
    return v;
}

runtime::GenerateOptions generate_options(const RunOptions& o, uint64_t seed) {
    runtime::GenerateOptions g;
    runtime::SamplingParams& s = g.sampling;
    s.seed                     = seed;
    s.temperature              = o.temperature;
    s.top_k                    = o.top_k;
    s.top_p                    = o.top_p;
    s.min_p                    = o.min_p;
    s.typical_p                = o.typical_p;
    s.repeat_penalty           = o.repeat_penalty;
    s.penalty_last_n           = o.repeat_last_n;
    s.presence_penalty         = o.presence_penalty;
    s.frequency_penalty        = o.frequency_penalty;
    g.stop.stop                = o.stop;
    g.stop.max_tokens          = o.max_tokens;
    g.stop.ignore_eog          = o.ignore_eos;
    g.n_batch                  = o.batch_size;
    g.cancel                   = &g_interrupt;
    return g;
}

nlohmann::json timings_json(const runtime::Timings& t, double load_ms, double warmup_ms) {
    return {{"load_ms", load_ms},
            {"warmup_ms", warmup_ms},
            {"prompt_tokens", t.n_prompt},
            {"prompt_tokens_evaluated", t.n_prompt_eval},
            {"prompt_ms", t.prompt_ms},
            {"prompt_tokens_per_s", t.prompt_tokens_per_s()},
            {"ttft_ms", t.ttft_ms},
            {"generated_tokens", t.n_generated},
            {"generation_ms", t.generation_ms},
            {"generation_tokens_per_s", t.generation_tokens_per_s()},
            {"total_ms", t.total_ms}};
}

int run_llm(const RunOptions& o, bool prompt_given) {
    // Inputs first: a bad option should not wait for a model load.
    std::string prompt_text = o.prompt;
    if (!o.prompt_file.empty() && prompt_given) return fail("give the prompt once: PROMPT / -p or --prompt-file");
    if (!o.tokens.empty() && (prompt_given || !o.prompt_file.empty())) return fail("--tokens replaces the prompt: give one of them");
    if (!o.prompt_file.empty()) {
        auto pf = read_prompt_file(o.prompt_file);
        if (!pf.ok()) return fail(pf.status().message());
        prompt_text  = *pf;
        prompt_given = true;
    }
    std::vector<int32_t> given_tokens;
    if (!o.tokens.empty()) {
        auto t = parse_token_list(o.tokens);
        if (!t.ok()) return fail(t.status().message());
        given_tokens = *t;
        if (given_tokens.empty()) return fail("--tokens: no token ids given");
    }
    if (o.chat && (!given_tokens.empty() || prompt_given))
        return fail("--chat takes no prompt, --prompt-file or --tokens");
    if (!o.chat && !prompt_given && given_tokens.empty()) {
        return fail("no prompt: give PROMPT, --prompt-file FILE (- for stdin), --tokens IDS or --chat");
    }
    if (o.format != "text" && o.format != "json")
        return fail(fmt::format("--format must be text or json, got '{}'", o.format));
    if (o.chat && o.format == "json") return fail("--chat has no json format");
    if (o.chat && (o.raw || o.echo)) return fail("--chat renders every turn through the chat template: --raw and --echo are for one prompt");
    // --chat-template FILE (a path: it has a '/' or ends in .jinja), loaded as `realizar template` loads it (a
    // template file, or a model / folder / tokenizer_config.json that holds one); else a builtin name or Jinja text.
    std::string chat_template = o.chat_template;
    if (const std::string& t = o.chat_template; !t.empty() && (t.find('/') != std::string::npos || t.ends_with(".jinja")) &&
                                                 t.find("{%") == std::string::npos && t.find("{{") == std::string::npos) {
        auto f = tokenizer::load_chat_template(t);
        if (!f.ok()) return fail(fmt::format("--chat-template: cannot read the file '{}': {}", t, f.status().message()));
        if (f->source.empty()) return fail(fmt::format("--chat-template: '{}' holds no chat template", t));
        chat_template = f->source;
    }
    const std::optional<DType> cache = dtype_from_name(o.cache_type);
    if (!cache || (*cache != DType::F16 && *cache != DType::F32)) {
        return fail(fmt::format("--cache-type must be f16 or f32, got '{}'", o.cache_type));
    }
    const Result<uint64_t> seed = parse_seed(o.seed);
    if (!seed.ok()) return fail(seed.status().message());
    runtime::GenerateOptions gopts = generate_options(o, *seed);
    if (Status st = gopts.sampling.validate(1 << 30); !st.ok()) return fail(st.message());

    const auto t_load = std::chrono::steady_clock::now();
    std::shared_ptr<runtime::Model> model;
    {
        LoadProgress progress(o.model);
        runtime::ModelOptions mopts;
        mopts.n_threads = o.threads;
        auto m          = runtime::Model::load(o.model, mopts);
        progress.stop();
        if (!m.ok()) return fail(m.status().to_string());
        model = *m;
    }
    auto tok_r = o.tokenizer.empty() ? tokenizer::Tokenizer::from_model_file(model->file())
                                     : tokenizer::Tokenizer::from_path(o.tokenizer);
    if (!tok_r.ok()) {
        return fail(
            fmt::format("{}{}", tok_r.status().to_string(), o.tokenizer.empty() ? " (pass --tokenizer PATH)" : ""));
    }
    std::unique_ptr<tokenizer::Tokenizer> tok = std::move(*tok_r);
    const runtime::ModelInfo& info            = model->info();
    if (tok->n_vocab() > info.n_vocab) {
        return fail(fmt::format("model and tokenizer mismatch: the tokenizer has {} tokens, the model {}",
                                tok->n_vocab(), info.n_vocab));
    }
    runtime::ContextOptions copts;
    copts.n_ctx      = o.ctx_size;
    copts.n_seq_max  = 1;
    copts.cache_type = *cache;
    copts.n_batch    = o.batch_size;
    copts.n_threads  = o.threads;
    copts.n_gpu_layers = o.n_gpu_layers;
    auto ctx_r       = runtime::Context::create(model, copts);
    if (!ctx_r.ok()) return fail(ctx_r.status().to_string());
    std::unique_ptr<runtime::Context> ctx = std::move(*ctx_r);
    const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
    spdlog::info("run: {} ({}, {} layers, vocab {}), context {} tokens, loaded in {:.0f} ms", info.name, info.arch,
                 info.n_layer, info.n_vocab, ctx->n_ctx(), load_ms);
    double warmup_ms = 0.0;
    if (!o.no_warmup) {  // one-time costs (page-in, GPU setup and graph captures) here, not in the first prompt's timing
        const auto t_warm = std::chrono::steady_clock::now();
        if (Status s = ctx->warm_up(); !s.ok()) return fail(s.to_string());
        warmup_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_warm).count();
        spdlog::info("run: warm-up in {:.0f} ms", warmup_ms);
    }

    // From here on Ctrl-C stops generation instead of killing the process (during loading it still kills).
    g_chat_mode.store(o.chat);
    install_sigint();

    runtime::Generator gen(*ctx, *tok);
    runtime::PromptOptions popts;
    popts.raw           = o.raw;
    popts.chat_template = chat_template;

    if (o.chat) {
        ChatReplOptions ropts;
        ropts.gen          = gopts;
        ropts.prompt       = popts;
        ropts.system       = o.system;
        ropts.show_timings = !o.no_timings;
        if (ropts.prompt.chat_template.empty() && tok->chat_template().empty()) {
            spdlog::warn("run: the model ships no chat template; using the builtin 'chatml' (--chat-template NAME)");
            ropts.prompt.chat_template = "chatml";
        }
        if (auto t = runtime::resolve_chat_template(*tok, ropts.prompt.chat_template); !t.ok()) {
            return fail(t.status().message());
        }
        // A template that refuses the conversation's shape (gemma's has no system role) would fail every turn: try
        // one turn now and stop with its error instead.
        std::vector<runtime::ChatMessage> probe;
        if (!o.system.empty()) probe.push_back({"system", o.system});
        probe.push_back({"user", "hello"});
        if (auto p = runtime::prepare_prompt(*tok, probe, ropts.prompt); !p.ok())
            return fail("--chat: the chat template fails on a first turn: " + p.status().message());
        return run_chat_repl(gen, *tok, ropts, g_interrupt, stdin, stdout, stderr);
    }

    std::vector<int32_t> prompt_tokens;
    std::string echo_text;
    if (!given_tokens.empty()) {
        prompt_tokens = given_tokens;
        echo_text     = tok->decode(prompt_tokens, /*skip_special=*/true);
    } else {
        std::vector<runtime::ChatMessage> msgs;
        if (!o.system.empty()) msgs.push_back({"system", o.system});
        msgs.push_back({"user", prompt_text});
        auto p = runtime::prepare_prompt(*tok, msgs, popts);
        if (!p.ok()) return fail(p.status().message());
        if (!p->templated && !o.raw) spdlog::info("run: the model ships no chat template: the prompt goes in raw");
        prompt_tokens = std::move(p->tokens);
        echo_text     = p->text;  // what the model was fed: the rendered template, or the raw text (with --system's)
    }

    const bool text_mode = o.format == "text";
    if (text_mode && o.echo) {
        std::fwrite(echo_text.data(), 1, echo_text.size(), stdout);
        std::fflush(stdout);
    }
    bool streamed = text_mode && o.echo && !echo_text.empty();
    auto r        = gen.generate(prompt_tokens, gopts, [&](std::string_view piece) {
        if (text_mode) {
            streamed = true;
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            std::fflush(stdout);
        }
        return true;
    });
    if (!r.ok()) {
        if (streamed) std::fputs("\n", stdout);
        return fail(r.status().to_string());
    }
    const runtime::Timings& t = r->timings;
    if (text_mode) {
        // End on a newline (as llama2.c does), so `--echo` output compares byte for byte with its stdout.
        const std::string& shown = r->text.empty() && o.echo ? echo_text : r->text;
        if (shown.empty() || shown.back() != '\n') std::fputs("\n", stdout);
        std::fflush(stdout);
        if (!o.no_timings) {
            std::fprintf(
                stderr,
                "\nprompt: %d tokens (%d evaluated) in %.1f ms, %.1f tok/s | generation: %d tokens in %.1f ms, "
                "%.1f tok/s | first token after %.1f ms | finish: %s (%s) | seed %llu\n",
                t.n_prompt, t.n_prompt_eval, t.prompt_ms, t.prompt_tokens_per_s(), t.n_generated, t.generation_ms,
                t.generation_tokens_per_s(), t.ttft_ms, runtime::finish_reason_name(r->finish),
                runtime::finish_reason_detail(r->finish), static_cast<unsigned long long>(r->seed));
        }
    } else {
        nlohmann::json j = {
            {"text", r->text},
            {"token_ids", r->tokens},
            {"finish_reason", runtime::finish_reason_name(r->finish)},
            {"finish_detail", runtime::finish_reason_detail(r->finish)},
            {"usage",
             {{"prompt_tokens", t.n_prompt},
              {"completion_tokens", t.n_generated},
              {"total_tokens", t.n_prompt + t.n_generated}}},
            {"timings", timings_json(t, load_ms, warmup_ms)},
            {"seed", r->seed},
        };
        if (o.echo) j["prompt"] = echo_text;
        if (!r->stop_matched.empty()) j["stop"] = r->stop_matched;
        const std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        std::fprintf(stdout, "%s\n", s.c_str());
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

Runner add_run_command(CLI::App& app) {
    auto o        = std::make_shared<RunOptions>();
    CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt, chat, or feed token ids and dump logits");
    CLI::Option* model_opt = cmd->add_option(
        "model,-m,--model", o->model,
        "Model: GGUF, SafeTensors, llama2.c .bin or APR file, or a Hugging Face folder (positional, or llama.cpp's -m)");
    cmd->add_flag("--demo", o->demo, "Run the demo model embedded in the binary (stories260K); the positional is then the prompt");
    CLI::Option* prompt_opt = cmd->add_option("prompt", o->prompt, "Prompt text (see --prompt-file, --tokens, --chat)");
    CLI::Option* prompt_flag = cmd->add_option("-p,--prompt", o->prompt, "Prompt text, as the positional PROMPT (llama.cpp's -p)");
    cmd->add_option("-n,--max-tokens", o->max_tokens,
                    "Tokens to generate at most (-1: until end of text or context full)")
        ->capture_default_str();
    cmd->add_option("--temperature,--temp", o->temperature, "Sampling temperature (0 = greedy)")->capture_default_str();
    cmd->add_option("--top-k", o->top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
    cmd->add_option("--top-p", o->top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
    cmd->add_option("--min-p", o->min_p, "Drop tokens below min_p x the best probability (0 = off)")
        ->capture_default_str();
    cmd->add_option("--typical-p", o->typical_p, "Locally typical sampling mass (1 = off)")->capture_default_str();
    cmd->add_option("--repeat-penalty", o->repeat_penalty, "Penalty for tokens in the last --repeat-last-n (1 = off)")
        ->capture_default_str();
    cmd->add_option("--repeat-last-n", o->repeat_last_n, "Window of the penalties (0 = off, -1 = whole sequence)")
        ->capture_default_str();
    cmd->add_option("--presence-penalty", o->presence_penalty, "Subtracted once from seen tokens")
        ->capture_default_str();
    cmd->add_option("--frequency-penalty", o->frequency_penalty, "Subtracted per occurrence")->capture_default_str();
    cmd->add_option("--seed", o->seed, "Sampling seed (-1 = random; the seed used is printed with the timings)")
        ->capture_default_str();
    cmd->add_option("--stop", o->stop, "Stop when this text appears (repeatable; never printed)");
    cmd->add_option("--system", o->system, "System message (chat template)");
    cmd->add_option("-c,--ctx-size", o->ctx_size, "Context size in tokens (0 = min(training context, 4096))")
        ->capture_default_str();
    cmd->add_option("-t,--threads", o->threads, "CPU threads (0 = physical cores)")->capture_default_str();
    add_gpu_options(cmd, o->n_gpu_layers);
    cmd->add_option("-b,--batch-size", o->batch_size, "Prompt tokens per forward pass")->capture_default_str();
    cmd->add_option("-f,--prompt-file", o->prompt_file, "Read the prompt from a file (- = stdin)");
    cmd->add_flag("--raw", o->raw, "Feed the prompt as is, without the chat template");
    cmd->add_flag("--echo", o->echo, "Print the prompt before the completion");
    cmd->add_flag("--chat", o->chat, "Interactive conversation (/clear, /exit, Ctrl-C stops an answer, Ctrl-D quits)");
    cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-text tokens");
    cmd->add_flag("--no-timings", o->no_timings, "Do not print timings to stderr");
    cmd->add_flag("--no-warmup", o->no_warmup, "Skip the warm-up passes run after loading (the first prompt then pays the one-time setup)");
    cmd->add_option("--format", o->format, "Output: text (streamed) or json (one object at the end)")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    cmd->add_option("--tokens", o->tokens, "Comma-separated token ids to feed instead of a prompt (no BOS added)");
    cmd->add_option("--logits-out", o->logits_out, "With --tokens: write every position's logits (f32 [T, V]) here");
    cmd->add_option("--cache-type", o->cache_type, "KV cache type: f16 or f32")->capture_default_str();
    cmd->add_option("--chat-template", o->chat_template,
                    "Chat template: a builtin name (chatml, llama3, ...) or Jinja text");
    cmd->add_option("--tokenizer", o->tokenizer, "Tokenizer file or folder when the model has none");
    cmd->add_option("--features", o->features, "Classical APR model: one sample, comma-separated numbers");
    cmd->add_option("--features-file", o->features_file, "Classical APR model: CSV file, one sample per line");

    return [o, model_opt, prompt_opt, prompt_flag] {
        bool has_prompt = prompt_opt->count() > 0 || prompt_flag->count() > 0;
        if (o->demo) {  // `realizar run --demo "Once upon a time"`: CLI11 gave the one positional to MODEL
            if (model_opt->count() > 0) {
                if (has_prompt) return fail("--demo runs the embedded model: give the prompt, not a MODEL");
                o->prompt = o->model;
                has_prompt = true;
            }
            auto path = server::demo_model_path();
            if (!path.ok()) return fail("--demo is not available: " + path.status().message());
            o->model = *path;
        } else if (o->model.empty()) {
            return fail("give a MODEL (or --demo for the model embedded in the binary)");
        }
        // Classical models (APR mlp / linear / logistic) take features, not prompts.
        const bool classical = is_classical_model(o->model);
        // --features on a language model (or a file that is none of them): say so, not "corrupt model".
        if ((!o->features.empty() || !o->features_file.empty()) && !classical && std::filesystem::exists(o->model))
            return fail(o->model + " is not a classical APR model (mlp, linear, logistic): --features / --features-file are for those");
        if (!o->features.empty() || !o->features_file.empty() || classical) {
            ClassicalRunOptions c;
            c.model_path    = o->model;
            c.features      = o->features;
            c.features_file = o->features_file;
            c.format        = o->format;
            return run_classical(c);
        }
        if (!o->logits_out.empty()) {
            if (o->tokens.empty()) return fail("--logits-out needs --tokens IDS");
            auto toks = parse_token_list(o->tokens);
            if (!toks.ok()) return fail(toks.status().message());
            RunLogitsOptions lo;
            lo.cache_type = o->cache_type;
            lo.ctx_size   = o->ctx_size;
            lo.threads    = o->threads;
            return run_logits(o->model, *toks, o->logits_out, lo);
        }
        if (prompt_opt->count() > 0 && prompt_flag->count() > 0) return fail("give the prompt once: PROMPT or -p/--prompt");
        return run_llm(*o, has_prompt);
    };
}

}  // namespace rz::cli
