#include "cli/commands.h"

namespace rz::cli {

Runner add_inspect_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("inspect", "Show a model file's format, metadata and tensors");
    cmd->allow_extras();
    return [] { return not_built_yet("inspect"); };
}

}  // namespace rz::cli
