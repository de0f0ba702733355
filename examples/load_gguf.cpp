// load_gguf FILE.gguf: open a GGUF file (zero-copy mmap) and print its summary: version, architecture,
// hyperparameters, vocabulary size and the first tensors with their row-major shapes.
#include <cstdio>
#include <string>

#include "realizar/formats/gguf.h"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s FILE.gguf\n", argv[0]);
        return 2;
    }
    auto mf = rz::formats::open_gguf(argv[1]);
    if (!mf.ok()) {
        std::fprintf(stderr, "%s\n", mf.status().to_string().c_str());
        return 1;
    }
    const std::string arch = mf->meta_string("general.architecture").value_or("?");
    std::printf("GGUF v%u, %zu metadata keys, %zu tensors, alignment %llu\n", mf->version, mf->metadata.size(),
                mf->tensors.size(), static_cast<unsigned long long>(mf->alignment));
    std::printf("architecture: %s\n", arch.c_str());
    for (const char* k : {"embedding_length", "block_count", "attention.head_count", "context_length"}) {
        if (auto v = mf->meta_int(arch + "." + k)) std::printf("  %s.%s = %lld\n", arch.c_str(), k, static_cast<long long>(*v));
    }
    if (const auto* toks = mf->find_meta("tokenizer.ggml.tokens"); toks && toks->as_array()) {
        std::printf("vocabulary: %zu tokens (%s)\n", toks->as_array()->items.size(),
                    mf->meta_string("tokenizer.ggml.model").value_or("?").c_str());
    }
    size_t shown = 0;
    for (const auto& t : mf->tensors) {
        if (shown++ == 8) {
            std::printf("  ... %zu more\n", mf->tensors.size() - 8);
            break;
        }
        std::string shape;
        for (int64_t d : t.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
        std::printf("  %-28s %-6s [%s] %llu bytes\n", t.name.c_str(), std::string(rz::dtype_name(t.dtype)).c_str(),
                    shape.c_str(), static_cast<unsigned long long>(t.n_bytes));
    }
    return 0;
}
