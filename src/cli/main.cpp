// realizar: one binary, many subcommands (serve, run, convert, bench, inspect, tokenize, template).
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "realizar/core/log.h"
#include "realizar/version.h"

int main(int argc, char** argv) {
    CLI::App app{"realizar: fast, correct LLM inference (GGUF, SafeTensors, APR) with an OpenAI-compatible server"};
    app.set_version_flag("--version", std::string("realizar ") + RZ_VERSION_STRING);
    app.require_subcommand(1);
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->capture_default_str();

    std::vector<std::pair<CLI::App*, rz::cli::Runner>> commands;
    auto add = [&](rz::cli::Runner (*fn)(CLI::App&)) {
        const size_t before = app.get_subcommands({}).size();
        rz::cli::Runner r = fn(app);
        auto subs = app.get_subcommands({});
        if (subs.size() > before) commands.emplace_back(subs.back(), std::move(r));
    };
    add(rz::cli::add_serve_command);
    add(rz::cli::add_run_command);
    add(rz::cli::add_convert_command);
    add(rz::cli::add_bench_command);
    add(rz::cli::add_inspect_command);
    add(rz::cli::add_tokenize_command);
    add(rz::cli::add_template_command);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // app.exit prints the help, the version or the error; CLI11's own codes (104-114) become the usage-error
        // code 2 that scripts can test (docs/run.md, docs/bench.md).
        return app.exit(e) == 0 ? 0 : 2;
    }
    rz::init_logging(log_level);
    for (auto& [sub, runner] : commands) {
        if (sub->parsed()) {
            try {
                return runner();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "realizar %s: error: %s\n", sub->get_name().c_str(), e.what());
                return 1;
            }
        }
    }
    return 2;
}
