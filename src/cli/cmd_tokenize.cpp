#include "cli/commands.h"

namespace rz::cli {

Runner add_tokenize_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("tokenize", "Tokenize text with a model's or a tokenizer file's vocabulary");
    cmd->allow_extras();
    return [] { return not_built_yet("tokenize"); };
}

}  // namespace rz::cli
