// The runtime API on its own: load a model (GGUF, HF folder, APR, llama2.c), open a Context with room for
// several sequences, prefill two prompts in ONE batch, then decode both greedily, one batch per step --
// what the server's continuous batching does.
//
//   inference [MODEL] ["prompt one"] ["prompt two"]
//   default MODEL: ../shared/data/tinystories-260K/stories260K-f32.gguf (run from the repository root)
#include <cstdio>
#include <string>
#include <vector>

#include "realizar/formats/model_file.h"
#include "realizar/runtime/context.h"
#include "realizar/tokenizer/tokenizer.h"

using namespace rz;

static int argmax(std::span<const float> v) {
    int best = 0;
    for (size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int>(i);
    return best;
}

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "../shared/data/tinystories-260K/stories260K-f32.gguf";  // from the repo root
    const std::vector<std::string> prompts = {argc > 2 ? argv[2] : "Once upon a time", argc > 3 ? argv[3] : "The little dog"};

    auto model = runtime::Model::load(path);
    if (!model.ok()) {
        std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
        return 1;
    }
    const runtime::ModelInfo& info = (*model)->info();
    std::printf("%s (%s): %d layers, n_embd %d, %d heads (%d KV), vocab %d, %.2f M params\n", info.name.c_str(), info.arch.c_str(),
                info.n_layer, info.n_embd, info.n_head, info.n_head_kv, info.n_vocab, static_cast<double>(info.n_params) / 1e6);

    auto tok = tokenizer::Tokenizer::from_model_file((*model)->file());
    if (!tok.ok()) {
        std::fprintf(stderr, "no tokenizer in the model file: %s\n", tok.status().to_string().c_str());
        return 1;
    }

    runtime::ContextOptions co;
    co.n_ctx = 256;
    co.n_seq_max = static_cast<int>(prompts.size());
    co.cache_type = DType::F16;  // the default; DType::F32 for bit-for-bit reference comparisons
    auto ctx = runtime::Context::create(*model, co);
    if (!ctx.ok()) {
        std::fprintf(stderr, "%s\n", ctx.status().to_string().c_str());
        return 1;
    }

    // One batch holds both prompts; only each prompt's last token asks for logits.
    runtime::Batch batch;
    std::vector<std::vector<int32_t>> out(prompts.size());
    std::vector<size_t> last(prompts.size());
    for (size_t s = 0; s < prompts.size(); ++s) {
        auto ids = (*tok)->encode(prompts[s], /*add_special=*/true, /*parse_special=*/false);
        if (!ids.ok() || ids->empty()) {
            std::fprintf(stderr, "cannot tokenize prompt %zu\n", s);
            return 1;
        }
        for (size_t i = 0; i < ids->size(); ++i) batch.add((*ids)[i], static_cast<int32_t>(i), static_cast<int32_t>(s), i + 1 == ids->size());
        last[s] = batch.size() - 1;
        out[s] = *ids;
    }
    for (int step = 0; step < 40; ++step) {
        if (Status st = (*ctx)->decode(batch); !st.ok()) {
            std::fprintf(stderr, "%s\n", st.to_string().c_str());
            return 1;
        }
        runtime::Batch next;
        for (size_t s = 0; s < prompts.size(); ++s) {
            const int32_t id = argmax((*ctx)->logits(last[s]));
            out[s].push_back(id);
            next.add(id, (*ctx)->seq_len(static_cast<int32_t>(s)), static_cast<int32_t>(s), true);
            last[s] = next.size() - 1;
        }
        batch = std::move(next);
    }
    for (size_t s = 0; s < prompts.size(); ++s) std::printf("[%zu] %s\n", s, (*tok)->decode(out[s], /*skip_special=*/true).c_str());
    std::printf("KV cells used: %lld of %lld\n", static_cast<long long>((*ctx)->kv_cells_used()), static_cast<long long>((*ctx)->kv_cells_total()));
    return 0;
}
