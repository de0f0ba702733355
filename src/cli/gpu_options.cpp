// Options several subcommands share.
#include "cli/commands.h"

namespace rz::cli {

void add_gpu_options(CLI::App* cmd, int& n_gpu_layers) {
    cmd->add_option("--n-gpu-layers,--ngl", n_gpu_layers,
                    "Layers on the GPU (CUDA builds): the first N layers run on the device, the rest and the output head on the CPU; -1 "
                    "or >= the layer count: the whole model")
        ->capture_default_str();
    int* n = &n_gpu_layers;
    cmd->add_flag_callback("--gpu", [n] { *n = -1; }, "Run the whole model on the GPU (CUDA builds)");
}

}  // namespace rz::cli
