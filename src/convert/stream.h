#pragma once
// Streams the tensors of a plan into a writer, converting types row chunk by row chunk (internal).
#include <functional>
#include <span>
#include <vector>

#include "realizar/convert/convert.h"
#include "realizar/core/thread_pool.h"

namespace rz::convert::detail {

using Sink = std::function<Status(std::span<const uint8_t>)>;

// Any storage type realizar can decode -> f32, reading F16/BF16 sources that may be only byte-aligned (a
// SafeTensors data section starts wherever its header ends). The other direction is quant::quantize_row (the
// reference quantizers, bit-exact with llama.cpp), whose destinations are our own aligned buffers.
Status to_f32(DType t, const uint8_t* src, float* dst, int64_t n);

// Drops the resident pages of [p, p + n) when they belong to one of mf's file mappings (bounded RSS).
void release_pages(const formats::ModelFile& mf, const uint8_t* p, uint64_t n);

class TensorStreamer {
public:
    // Output row r of a tensor is source row row_map(t, r) (identity when unset); used to undo llama.cpp's
    // q/k pair permutation for Hugging Face output. Setting it routes every tensor through f32.
    using RowMap = std::function<int64_t(const formats::TensorInfo& t, int64_t row)>;
    // Applied to each row in f32 after decoding (e.g. Gemma's stored 1 + w). Also routes through f32.
    using Transform = std::function<void(const formats::TensorInfo& t, int64_t row, float* data, int64_t n)>;

    explicit TensorStreamer(const ConvertOptions& o) : opts_(o) {}
    void set_transform(Transform t) { transform_ = std::move(t); }
    void set_row_map(RowMap m) { row_map_ = std::move(m); }
    // Tensors to write transposed ([a, b] -> [b, a], e.g. GPT-2's Conv1D): held whole in f32 (one tensor's
    // worth of memory), unlike the row-chunked path.
    void set_transpose(std::function<bool(const formats::TensorInfo&)> f) { transpose_ = std::move(f); }
    // Writes every planned tensor (found by name in mf) in plan order through sink.
    Status run(const formats::ModelFile& mf, const std::vector<PlannedTensor>& plan, const Sink& sink);

private:
    Status one(const formats::ModelFile& mf, const formats::TensorInfo& t, const PlannedTensor& p, const Sink& sink,
               ThreadPool& pool, Progress& pr);
    const ConvertOptions& opts_;
    Transform transform_;
    RowMap row_map_;
    std::function<bool(const formats::TensorInfo&)> transpose_;
};

}  // namespace rz::convert::detail
