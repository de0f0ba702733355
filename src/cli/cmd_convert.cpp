// realizar convert INPUT -o OUTPUT [--to gguf|apr|safetensors] [--type T] [--pure] [--threads N] [--tokenizer F]
// realizar convert --synthetic SHAPE --type T --vocab TOKENIZER -o FILE.gguf
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "realizar/convert/convert.h"

namespace rz::cli {

namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_convert_signal(int) { g_cancel.store(true); }

struct ConvertCli {
    std::string input, output, to, type, tokenizer, synthetic, vocab;
    bool pure = false, quiet = false;
    int threads = 0;
    uint64_t seed = 1234;
};

std::string human(double bytes) {
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000.0 && u < 4) bytes /= 1000.0, ++u;
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

// A bar with bytes and ETA redrawn in place on a terminal; plain lines at every 10% otherwise.
class ProgressPrinter {
public:
    explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0), t0_(Clock::now()) {}
    void operator()(const convert::Progress& p) {
        if (quiet_ || p.bytes_total == 0) return;
        const double frac = static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total);
        const double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
        const double eta = frac > 0.0 ? secs * (1.0 - frac) / frac : 0.0;
        if (tty_) {
            const auto now = Clock::now();
            if (p.bytes_done != p.bytes_total && now - last_ < std::chrono::milliseconds(100)) return;
            last_ = now;
            constexpr int kWidth = 30;
            const int fill = static_cast<int>(frac * kWidth);
            std::string bar(static_cast<size_t>(fill), '#');
            bar.append(static_cast<size_t>(kWidth - fill), '.');
            std::fprintf(stderr, "\r[%s] %3.0f%% %s / %s  ETA %4.0fs  %zu/%zu %-32.32s", bar.c_str(), frac * 100.0,
                         human(static_cast<double>(p.bytes_done)).c_str(), human(static_cast<double>(p.bytes_total)).c_str(), eta,
                         p.tensor_index + 1, p.n_tensors, p.tensor_name.c_str());
            if (p.bytes_done == p.bytes_total) std::fprintf(stderr, "\n");
            std::fflush(stderr);
        } else {
            const int decile = static_cast<int>(frac * 10.0);
            if (decile <= last_decile_) return;
            last_decile_ = decile;
            std::fprintf(stderr, "convert: %3d%% %s / %s, %.1fs elapsed, ETA %.0fs\n", decile * 10,
                         human(static_cast<double>(p.bytes_done)).c_str(), human(static_cast<double>(p.bytes_total)).c_str(), secs, eta);
        }
    }

private:
    using Clock = std::chrono::steady_clock;
    bool quiet_, tty_;
    Clock::time_point t0_, last_{};
    int last_decile_ = -1;
};

int run_convert(const ConvertCli& c) {
    auto fail = [](const std::string& msg, int code = 1) {
        std::fprintf(stderr, "realizar convert: error: %s\n", msg.c_str());
        return code;
    };
    // A thread each up to the cores of a large machine; beyond that a typo (the OS refuses the threads mid-run).
    if (c.threads < 0 || c.threads > 1024) return fail("--threads " + std::to_string(c.threads) + " is out of range (0 = physical cores, at most 1024)", 2);
    // Ctrl-C / SIGTERM stop the conversion at the next chunk; the writers then remove their temporary files.
    g_cancel = false;
    std::signal(SIGINT, on_convert_signal);
    std::signal(SIGTERM, on_convert_signal);
    std::signal(SIGHUP, on_convert_signal);

    ProgressPrinter printer(c.quiet);
    convert::ConvertOptions o;
    o.threads = c.threads;
    o.cancel = &g_cancel;
    o.progress = [&printer](const convert::Progress& p) { printer(p); };
    Status st = Status::Ok();
    if (!c.synthetic.empty()) {
        if (!c.input.empty()) return fail("give either INPUT or --synthetic SHAPE, not both", 2);
        convert::SyntheticOptions s;
        s.shape = c.synthetic;
        s.type = c.type.empty() ? "q4_k_m" : c.type;
        s.vocab = c.vocab;
        s.output = c.output;
        s.seed = c.seed;
        s.convert = o;
        st = convert::write_synthetic(s);
    } else {
        if (c.input.empty()) return fail("no INPUT given (or --synthetic SHAPE)", 2);
        o.input = c.input;
        o.output = c.output;
        o.type = c.type;
        o.pure = c.pure;
        o.tokenizer = c.tokenizer.empty() ? c.vocab : c.tokenizer;
        if (c.to == "gguf") o.to = convert::OutFormat::kGguf;
        else if (c.to == "apr") o.to = convert::OutFormat::kApr;
        else if (c.to == "safetensors" || c.to == "hf") o.to = convert::OutFormat::kSafeTensors;
        else if (!c.to.empty()) return fail("--to '" + c.to + "' (expected gguf, apr or safetensors)", 2);
        // Say which tensors do not get the requested type because of their row length.
        if (!c.quiet) o.note = [](const std::string& line) { std::fprintf(stderr, "convert: %s\n", line.c_str()); };
        st = convert::convert_model(o);
    }
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::signal(SIGHUP, SIG_DFL);
    if (!st.ok()) {
        if (st.code() == StatusCode::kCancelled) return fail("interrupted; no output written", 130);
        return fail(st.to_string());
    }
    if (!c.quiet) std::fprintf(stderr, "convert: wrote %s\n", c.output.c_str());
    return 0;
}

}  // namespace

Runner add_convert_command(CLI::App& app) {
    auto c = std::make_shared<ConvertCli>();
    CLI::App* cmd = app.add_subcommand("convert", "Convert between GGUF, SafeTensors and APR, with quantization");
    cmd->add_option("input", c->input, "Model: GGUF, APR, Hugging Face folder / .safetensors, llama2.c .bin");
    cmd->add_option("-o,--output", c->output, "Output file (.gguf, .apr) or Hugging Face folder")->required();
    cmd->add_option("--to", c->to, "Output format: gguf, apr, safetensors (default: from OUTPUT's extension)");
    cmd->add_option("--type", c->type,
                    "Storage type: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q2_k_s q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k iq4_xs "
                    "iq4_nl (default: keep)");
    cmd->add_flag("--pure", c->pure, "One type for every 2-D tensor (no llama.cpp mix)");
    cmd->add_option("--threads,-t", c->threads, "Quantization threads (default: physical cores)");
    cmd->add_option("--tokenizer", c->tokenizer, "Tokenizer file or folder (default: found with the model)");
    cmd->add_option("--synthetic", c->synthetic, "Write a random-weight model of a known shape: tinyllama-1.1b, qwen2.5-0.5b, llama-3.2-1b, phi-2, qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b, phi-3-mini, gemma-2b");
    cmd->add_option("--vocab", c->vocab, "Tokenizer whose vocabulary a --synthetic model gets");
    cmd->add_option("--seed", c->seed, "Random seed for --synthetic");
    cmd->add_flag("-q,--quiet", c->quiet, "No progress output");
    return [c] { return run_convert(*c); };
}

}  // namespace rz::cli
