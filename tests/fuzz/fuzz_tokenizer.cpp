// libFuzzer target: the tokenizer file loaders on arbitrary bytes, and encode / decode with whatever vocabulary
// loads. The first byte picks the loader: SentencePiece tokenizer.model (protobuf), Hugging Face tokenizer.json,
// or llama2.c tokenizer.bin. Any malformed file must come back as a Status.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/engine.h"
#include "tokenizer/loaders.h"

namespace {

rz::Result<rz::tokenizer::detail::Vocab> load(uint8_t kind, std::string_view bytes) {
    using namespace rz::tokenizer::detail;
    switch (kind % 3) {
        case 0: return load_spm_model(bytes, "fuzz.model");
        case 1: return load_hf_json(bytes, "", "fuzz.json");
        default: return load_llama2c_bin(bytes, "fuzz.bin", 0);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto v = load(data[0], bytes);
    volatile size_t sink = 0;
    if (!v.ok()) {
        sink = v.status().message().size();
        return 0;
    }
    auto t = rz::tokenizer::detail::make_tokenizer(std::move(*v));
    if (!t.ok()) {
        sink = t.status().message().size();
        return 0;
    }
    const rz::tokenizer::Tokenizer& tok = **t;
    for (const bool special : {false, true}) {
        const auto ids = tok.encode("Hello world, <s> \xc3\xa9t\xc3\xa9 123 \xe4\xbd\xa0\xe5\xa5\xbd  \n\t<|im_end|>", special, special);
        if (!ids.ok()) continue;
        sink = tok.decode(*ids, !special).size();
        for (const int32_t id : *ids) sink = tok.token_to_piece(id, special).size() + tok.token_text(id).size();
    }
    const std::vector<int32_t> edge = {0, tok.n_vocab() - 1, tok.bos(), tok.eos()};
    for (const int32_t id : edge)
        if (id >= 0 && id < tok.n_vocab()) sink = tok.token_to_piece(id, true).size();
    (void)sink;
    return 0;
}
