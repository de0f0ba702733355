// Writes the seed corpus of fuzz_model: tiny synthetic models of every architecture in several storage types
// (GGUF), and APR conversions of two of them. scripts/run-fuzzers.sh adds stories260K's GGUF from ../shared.
//   fuzz_model_seeds DIR
#include <cstdio>
#include <string>

#include "realizar/convert/convert.h"
#include "realizar/model/synthetic.h"

using namespace rz;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_model_seeds DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    struct Seed {
        const char* arch;
        const char* ftype;
        int n_embd, n_head, n_head_kv, n_ff;
        bool tied, apr;
    };
    // Row lengths of 32 for the legacy types, 256 where a K-quant appears (Q4_0 files keep a Q6_K output, as llama.cpp's).
    const Seed seeds[] = {
        {"llama", "F32", 32, 4, 2, 64, false, true}, {"llama", "Q8_0", 32, 4, 2, 64, false, false},
        {"llama", "Q4_0", 256, 4, 1, 256, false, false}, {"llama", "Q4_K_M", 256, 4, 2, 256, false, false},
        {"qwen3", "F16", 32, 4, 2, 64, false, true},  {"gemma", "BF16", 32, 2, 1, 64, true, false},
        {"phi2", "F32", 32, 4, 4, 64, false, false},  {"gpt2", "Q8_0", 32, 4, 4, 64, true, false},
    };
    int n = 0;
    for (const Seed& s : seeds) {
        model::SyntheticSpec spec;
        spec.arch = s.arch;
        spec.ftype = s.ftype;
        spec.n_vocab = 40;
        spec.n_embd = s.n_embd;
        spec.n_layer = 2;
        spec.n_head = s.n_head;
        spec.n_head_kv = s.n_head_kv;
        spec.n_ff = s.n_ff;
        spec.n_ctx = 16;
        spec.tied = s.tied;
        spec.pool_rows = 4;
        const std::string path = dir + "/" + s.arch + "-" + s.ftype + ".gguf";
        if (Status st = model::write_synthetic_gguf(path, spec); !st.ok()) {
            std::fprintf(stderr, "%s: %s\n", path.c_str(), st.to_string().c_str());
            return 1;
        }
        ++n;
        if (!s.apr) continue;
        convert::ConvertOptions co;  // APR's own keys (config.json names), as `realizar convert` writes them
        co.input = path;
        co.output = dir + "/" + s.arch + "-" + s.ftype + ".apr";
        co.threads = 1;
        if (Status st = convert::convert_model(co); !st.ok()) {
            std::fprintf(stderr, "%s (APR): %s\n", path.c_str(), st.to_string().c_str());
            return 1;
        }
        ++n;
    }
    std::printf("fuzz_model_seeds: %d files in %s\n", n, dir.c_str());
    return 0;
}
