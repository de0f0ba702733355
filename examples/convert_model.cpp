// Converts a model with the library API (what `realizar convert` does), printing progress, then loads the
// result and greedily continues a prompt.
//   convert_model INPUT OUTPUT [TYPE]
//   convert_model ../shared/data/tinystories-260K/stories260K.bin /tmp/stories.gguf q8_0
#include <cstdio>
#include <string>

#include "realizar/convert/convert.h"
#include "realizar/runtime/context.h"
#include "realizar/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s INPUT OUTPUT [TYPE]\n", argv[0]);
        return 2;
    }
    rz::convert::ConvertOptions o;
    o.input = argv[1];
    o.output = argv[2];
    o.type = argc > 3 ? argv[3] : "";
    o.progress = [](const rz::convert::Progress& p) {
        if (p.bytes_done == p.bytes_total) std::printf("wrote %zu tensors, %llu bytes\n", p.n_tensors, static_cast<unsigned long long>(p.bytes_total));
    };
    if (rz::Status st = rz::convert::convert_model(o); !st.ok()) {
        std::fprintf(stderr, "convert: %s\n", st.to_string().c_str());
        return 1;
    }

    auto model = rz::runtime::Model::load(o.output);
    if (!model.ok()) {
        std::fprintf(stderr, "load: %s\n", model.status().to_string().c_str());
        return 1;
    }
    auto tok = rz::tokenizer::Tokenizer::from_model_file((*model)->file());
    if (!tok.ok()) {
        std::fprintf(stderr, "tokenizer: %s\n", tok.status().to_string().c_str());
        return 1;
    }
    auto ctx = rz::runtime::Context::create(*model, {});
    if (!ctx.ok()) return 1;
    auto ids = (*tok)->encode("Once upon a time", true, false);
    if (!ids.ok()) return 1;
    rz::runtime::Batch b;
    for (size_t i = 0; i < ids->size(); ++i) b.add((*ids)[i], static_cast<int32_t>(i), 0, i + 1 == ids->size());
    std::string text = "Once upon a time";
    int32_t pos = static_cast<int32_t>(ids->size());
    for (int step = 0; step < 40; ++step) {
        if (!(*ctx)->decode(b).ok()) return 1;
        auto logits = (*ctx)->logits(b.size() - 1);
        int32_t best = 0;
        for (size_t v = 1; v < logits.size(); ++v)
            if (logits[v] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(v);
        if ((*tok)->is_eog(best)) break;
        text += (*tok)->token_to_piece(best, false);
        b.clear();
        b.add(best, pos++, 0, true);
    }
    std::printf("%s\n", text.c_str());
    return 0;
}
