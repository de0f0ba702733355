#include "cli/commands.h"

namespace rz::cli {

Runner add_convert_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("convert", "Convert between GGUF, SafeTensors and APR, with quantization");
    cmd->allow_extras();
    return [] { return not_built_yet("convert"); };
}

}  // namespace rz::cli
