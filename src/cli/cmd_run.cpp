#include "cli/commands.h"

namespace rz::cli {

Runner add_run_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt, or feed token ids and dump logits");
    cmd->allow_extras();
    return [] { return not_built_yet("run"); };
}

}  // namespace rz::cli
