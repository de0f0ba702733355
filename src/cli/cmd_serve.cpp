#include "cli/commands.h"

namespace rz::cli {

Runner add_serve_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("serve", "Serve a model over HTTP (REST, SSE, OpenAI-compatible API, /metrics)");
    cmd->allow_extras();
    return [] { return not_built_yet("serve"); };
}

}  // namespace rz::cli
