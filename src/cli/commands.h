#pragma once
// Every subcommand lives in its own cmd_<name>.cpp: it registers its options on the app and returns the
// function main() calls when that subcommand was chosen (its return value is the exit code).
#include <functional>

#include <CLI/CLI.hpp>

namespace rz::cli {

using Runner = std::function<int()>;

Runner add_serve_command(CLI::App& app);
Runner add_run_command(CLI::App& app);
Runner add_convert_command(CLI::App& app);
Runner add_bench_command(CLI::App& app);
Runner add_inspect_command(CLI::App& app);
Runner add_tokenize_command(CLI::App& app);
Runner add_template_command(CLI::App& app);

// --n-gpu-layers N / --ngl N and --gpu (= -1) of run, serve and bench; n_gpu_layers must outlive the parse
// (the command's options struct, which its runner keeps alive).
void add_gpu_options(CLI::App* cmd, int& n_gpu_layers);

// "realizar <cmd>: not built yet" on stderr, exit code 2: for subcommands whose issue has not landed.
int not_built_yet(const char* command);

}  // namespace rz::cli
