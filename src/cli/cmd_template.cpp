#include "cli/commands.h"

namespace rz::cli {

Runner add_template_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("template", "Render chat messages through a model's chat template");
    cmd->allow_extras();
    return [] { return not_built_yet("template"); };
}

}  // namespace rz::cli
