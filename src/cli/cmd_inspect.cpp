// realizar inspect FILE_OR_FOLDER [--json]: format, version, metadata and tensor table of a model file.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "realizar/formats/inspect.h"
#include "realizar/formats/model_file.h"

namespace rz::cli {

Runner add_inspect_command(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("inspect", "Show a model file's format, metadata and tensors");
    struct Opts {
        std::string path;
        bool json = false;
        size_t max_items = 8;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("path,-m,--model", o->path,
                    "GGUF, SafeTensors, APR or llama2.c file, sharded index, or Hugging Face folder (positional, or -m)")
        ->required();
    cmd->add_flag("--json", o->json, "Complete machine-readable JSON (all metadata, no summarising)");
    cmd->add_option("--max-items", o->max_items, "Text mode: array items shown before summarising")->capture_default_str();
    return [o] {
        auto mf = formats::open_model_file(o->path);
        if (!mf.ok()) {
            std::fprintf(stderr, "realizar inspect: error: %s\n", mf.status().to_string().c_str());
            return 1;
        }
        std::string out;
        if (o->json) {
            out = formats::inspect_json(*mf) + "\n";
        } else {
            formats::InspectOptions opts;
            opts.max_array_items = o->max_items;
            out = formats::inspect_text(*mf, opts);
        }
        std::fwrite(out.data(), 1, out.size(), stdout);
        return 0;
    };
}

}  // namespace rz::cli
