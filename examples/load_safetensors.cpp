// load_safetensors PATH: open a .safetensors file, a sharded model.safetensors.index.json, or a Hugging
// Face folder (config.json + weights), and print the model type, dtypes and total size.
#include <cstdio>
#include <map>
#include <string>

#include "realizar/formats/model_file.h"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s FILE.safetensors|INDEX.json|HF_FOLDER\n", argv[0]);
        return 2;
    }
    auto mf = rz::formats::open_model_file(argv[1]);
    if (!mf.ok()) {
        std::fprintf(stderr, "%s\n", mf.status().to_string().c_str());
        return 1;
    }
    std::printf("%s: %s, %zu tensors in %zu file(s)\n", mf->path.c_str(),
                std::string(rz::formats::format_name(mf->format)).c_str(), mf->tensors.size(), mf->files.size());
    if (auto type = mf->meta_string("hf.config.model_type")) {
        std::printf("config.json: model_type %s, hidden_size %lld, layers %lld\n", type->c_str(),
                    static_cast<long long>(mf->meta_int("hf.config.hidden_size").value_or(-1)),
                    static_cast<long long>(mf->meta_int("hf.config.num_hidden_layers").value_or(mf->meta_int("hf.config.n_layer").value_or(-1))));
    }
    std::map<std::string, uint64_t> bytes_by_dtype;
    uint64_t params = 0;
    for (const auto& t : mf->tensors) {
        bytes_by_dtype[std::string(rz::dtype_name(t.dtype))] += t.n_bytes;
        params += t.n_elements();
    }
    std::printf("parameters: %llu\n", static_cast<unsigned long long>(params));
    for (const auto& [dt, b] : bytes_by_dtype) std::printf("  %-6s %llu bytes\n", dt.c_str(), static_cast<unsigned long long>(b));
    if (const auto* t = mf->find_tensor("model.embed_tokens.weight")) {
        std::printf("embed_tokens: [%lld, %lld]\n", static_cast<long long>(t->shape[0]), static_cast<long long>(t->shape[1]));
    }
    return 0;
}
