#include "cli/commands.h"

namespace rz::cli {

Runner add_bench_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("bench", "Benchmark prompt processing and generation, or a running server");
    cmd->allow_extras();
    return [] { return not_built_yet("bench"); };
}

}  // namespace rz::cli
