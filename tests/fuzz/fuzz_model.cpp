// libFuzzer target: a whole model file (GGUF or APR bytes) through everything a user's load runs on the CPU:
// the tokenizer in its metadata (encode / decode), the hyper-parameters and tensor roles of its architecture, the
// loader, a context, and two decode steps. Corrupt metadata, shapes that disagree with the tensors, or absurd
// sizes must come back as a Status (or give finite work), never a crash, an overflow or a huge allocation.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "realizar/formats/model_file.h"
#include "realizar/runtime/context.h"
#include "realizar/tokenizer/tokenizer.h"

using namespace rz;

namespace {

void touch(const Status& st) {
    volatile size_t n = st.message().size();  // the error text must be well-formed
    (void)n;
}

void tokenize(const formats::ModelFile& file) {
    auto tok = tokenizer::Tokenizer::from_model_file(file);
    if (!tok.ok()) return touch(tok.status());
    auto ids = (*tok)->encode("Once upon a time, <s>caf\xc3\xa9 \xe2\x80\x94 12345\n\t!", true, true);
    if (!ids.ok()) return touch(ids.status());
    volatile size_t n = (*tok)->decode(*ids, false).size();
    (void)n;
}

void run(formats::ModelFile file) {
    runtime::ModelOptions mo;
    mo.n_threads = 1;
    auto model = runtime::Model::from_model_file(std::move(file), mo);
    if (!model.ok()) return touch(model.status());
    runtime::ContextOptions co;
    co.n_ctx = 8;
    co.n_batch = 8;
    co.n_threads = 1;
    auto ctx = runtime::Context::create(*model, co);
    if (!ctx.ok()) return touch(ctx.status());
    const int n_vocab = (*model)->info().n_vocab;
    runtime::Batch b;
    b.add(0, 0, 0, false);
    b.add(std::min(1, n_vocab - 1), 1, 0, true);
    if (Status st = (*ctx)->decode(b); !st.ok()) return touch(st);
    runtime::Batch next;
    next.add(n_vocab - 1, 2, 0, true);
    if (Status st = (*ctx)->decode(next); !st.ok()) return touch(st);
    const std::span<const float> logits = (*ctx)->logits(0);
    float sum = 0.0f;
    for (float x : logits) sum += x;  // every logit is read (NaN from random weights is fine, garbage memory is not)
    volatile float sink = sum;
    (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto file = formats::open_model_bytes(std::span<const uint8_t>(data, size), "fuzz.gguf");
    if (!file.ok()) {
        touch(file.status());
        return 0;
    }
    tokenize(*file);
    run(std::move(*file));
    return 0;
}
