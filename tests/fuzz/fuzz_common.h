#pragma once
// Shared body of the parser fuzzers: parse, and on success walk every tensor's bytes (ASan flags any
// pointer outside the input) and render the inspect reports (JSON escaping of arbitrary strings).
#include <cstddef>
#include <cstdint>

#include "realizar/formats/inspect.h"
#include "realizar/formats/model_file.h"

namespace rz::formats::fuzz {

inline void exercise(const Result<ModelFile>& r) {
    if (!r.ok()) {
        volatile size_t n = r.status().message().size();  // error text must be well-formed
        (void)n;
        return;
    }
    uint64_t sum = 0;
    for (const TensorInfo& t : r->tensors) {
        if (t.n_bytes > 0) sum += t.data[0] + t.data[t.n_bytes - 1];
        (void)t.n_elements();
    }
    volatile uint64_t sink = sum;
    (void)sink;
    InspectOptions o;
    volatile size_t a = inspect_text(*r, o).size();
    volatile size_t b = inspect_json(*r, -1).size();
    (void)a;
    (void)b;
}

}  // namespace rz::formats::fuzz
