#pragma once
// What the host reads of the logits rows of a GPU decode: whole rows (Context::logits) or the k best entries
// of a row (Context::top_k, selected on the device by cuda::top_k_rows: k (id, logit) pairs come back instead
// of n_vocab floats).
//
// Lazy with a hint. A decode no longer copies its rows unconditionally; it queues, before the one stream
// synchronisation that ends the step, what the reader of the previous step's rows used: the rows (logits()),
// the top-k results for the largest k asked (top_k()), or both (the server's slots may differ). So the
// generation loop's step still synchronises once, whichever of the two its sampler reads, and a reader that
// asks for something else this step gets it by a copy (or a launch and a copy) of its own. The first step
// copies the rows, as before. Results are valid until the next decode.
#ifdef RZ_HAVE_CUDA
#include <span>
#include <vector>

#include "realizar/backend/cuda/cuda.h"
#include "realizar/runtime/top_k.h"

namespace rz::runtime {

class DeviceLogits {
public:
    DeviceLogits() = default;
    DeviceLogits(const DeviceLogits&) = delete;
    DeviceLogits& operator=(const DeviceLogits&) = delete;
    ~DeviceLogits();

    // Rows of n_vocab floats; pinned: page-locked host buffers for one-row steps and top-k results
    // (RZ_CUDA_PINNED); device: top-k on the device (RZ_CUDA_TOPK; off: top_k() reads the copied row).
    // Allocates the one-row buffers of device top-k (errors: out of memory).
    Status configure(int n_vocab, bool pinned, bool device);
    // A decode begins: the previous step's rows are gone, and what their reader used becomes the hint.
    void begin_step();
    // The step's forward pass is queued and leaves rows [n_rows, n_vocab] at dev (device memory, unchanged until
    // the next decode): queues what the hint asks for, then synchronises the stream (surfacing kernel errors).
    Status end_step(const float* dev, int n_rows);
    // Row r (< n_rows) on the host, copied on the first call of the step; empty if that copy fails.
    std::span<const float> row(int r);
    // The k best entries of row r (k in [1, min(kMaxTopK, n_vocab)]).
    Status top_k(int r, int k, std::vector<TokenLogit>& out);

private:
    Status queue_rows();    // copy of every row to the host (ready after the next sync)
    Status queue_top(int k);  // top-k launch over every row and the copy of its results
    Status grow_device(size_t entries);
    Status grow_host(size_t entries);

    int V_ = 0;
    bool pinned_ = true;
    bool device_ = true;
    const float* dev_ = nullptr;
    int rows_ = 0;
    // This step: host copies of the rows / of the top-k results (for top_k_ready_ entries per row).
    bool rows_ready_ = false;
    int top_k_ready_ = 0;
    const float* rows_src_ = nullptr;
    std::vector<float> rows_host_;    // pageable rows (several rows, or RZ_CUDA_PINNED=0)
    float* rows_pinned_ = nullptr;    // [n_vocab] page-locked: the one-token step's row
    cuda::TopKEntry* top_dev_ = nullptr;
    size_t top_dev_cap_ = 0;
    cuda::TopKEntry* top_pinned_ = nullptr;
    size_t top_pinned_cap_ = 0;
    std::vector<cuda::TopKEntry> top_host_;  // pageable results (RZ_CUDA_PINNED=0)
    const cuda::TopKEntry* top_src_ = nullptr;
    // What this step's reader used, and the hint taken from the last step whose rows were read.
    bool used_rows_ = false;
    int used_k_ = 0;
    bool want_rows_ = true;
    int want_k_ = 0;
};

}  // namespace rz::runtime
#endif  // RZ_HAVE_CUDA
