// Lazy host reads of a GPU decode's logits rows and device top-k (see device_logits.h).
#include "runtime/gpu/device_logits.h"

#ifdef RZ_HAVE_CUDA
#include <algorithm>
#include <cstddef>

namespace rz::runtime {

static_assert(sizeof(cuda::TopKEntry) == sizeof(TokenLogit) && offsetof(cuda::TopKEntry, logit) == offsetof(TokenLogit, logit));
static_assert(cuda::kTopKMax == kMaxTopK, "Context::top_k's cap is the device kernel's");

DeviceLogits::~DeviceLogits() {
    cuda::host_free(rows_pinned_);
    cuda::host_free(top_pinned_);
    cuda::free(top_dev_);
}

Status DeviceLogits::configure(int n_vocab, bool pinned, bool device) {
    V_ = n_vocab;
    pinned_ = pinned;
    device_ = device;
    if (!device_) return Status::Ok();
    // The one-token step's buffers up front: else the first steps that read top-k would allocate (device,
    // page-locked and kernel scratch memory: milliseconds) inside a decode.
    const int k = std::min(kMaxTopK, n_vocab);
    RZ_RETURN_IF_ERROR(grow_device(static_cast<size_t>(k)));
    RZ_RETURN_IF_ERROR(grow_host(static_cast<size_t>(k)));
    return cuda::top_k_reserve(1, n_vocab, k);
}

void DeviceLogits::begin_step() {
    // A step whose rows nobody read (a prompt chunk without logits, an abandoned request) keeps the old hint.
    if (used_rows_ || used_k_ > 0) {
        want_rows_ = used_rows_;
        want_k_ = used_k_;
    }
    used_rows_ = false;
    used_k_ = 0;
    dev_ = nullptr;
    rows_ = 0;
    rows_ready_ = false;
    top_k_ready_ = 0;
}

Status DeviceLogits::end_step(const float* dev, int n_rows) {
    dev_ = dev;
    rows_ = n_rows;
    if (n_rows > 0) {
        const bool top = device_ && want_k_ > 0;
        if (top) RZ_RETURN_IF_ERROR(queue_top(want_k_));
        if (want_rows_ || !top) RZ_RETURN_IF_ERROR(queue_rows());
    }
    return cuda::sync("decode");
}

Status DeviceLogits::queue_rows() {
    const size_t n = static_cast<size_t>(rows_) * static_cast<size_t>(V_);
    if (rows_ == 1 && pinned_ && !rows_pinned_) {
        auto h = cuda::host_alloc(n * sizeof(float));
        if (h.ok()) rows_pinned_ = static_cast<float*>(*h);
        else pinned_ = false;  // no page-locked memory: pageable copies
    }
    if (rows_ == 1 && pinned_) {  // stream-ordered DMA, completed by the step's synchronisation
        RZ_RETURN_IF_ERROR(cuda::copy_async(rows_pinned_, dev_, n * sizeof(float)));
        rows_src_ = rows_pinned_;
    } else {
        rows_host_.resize(n);
        RZ_RETURN_IF_ERROR(cuda::download(rows_host_.data(), dev_, n * sizeof(float)));
        rows_src_ = rows_host_.data();
    }
    rows_ready_ = true;
    return Status::Ok();
}

Status DeviceLogits::grow_device(size_t entries) {
    if (entries <= top_dev_cap_) return Status::Ok();
    cuda::free(top_dev_);
    top_dev_ = nullptr, top_dev_cap_ = 0;
    RZ_ASSIGN_OR_RETURN(void* p, cuda::alloc(entries * sizeof(cuda::TopKEntry), "top-k results"));
    top_dev_ = static_cast<cuda::TopKEntry*>(p);
    top_dev_cap_ = entries;
    return Status::Ok();
}

Status DeviceLogits::grow_host(size_t entries) {
    if (!pinned_ || entries <= top_pinned_cap_) return Status::Ok();
    cuda::host_free(top_pinned_);
    top_pinned_ = nullptr, top_pinned_cap_ = 0;
    auto h = cuda::host_alloc(entries * sizeof(cuda::TopKEntry));
    if (!h.ok()) {
        pinned_ = false;
        return Status::Ok();
    }
    top_pinned_ = static_cast<cuda::TopKEntry*>(*h);
    top_pinned_cap_ = entries;
    return Status::Ok();
}

Status DeviceLogits::queue_top(int k) {
    const size_t n = static_cast<size_t>(rows_) * static_cast<size_t>(k);
    RZ_RETURN_IF_ERROR(grow_device(n));
    RZ_RETURN_IF_ERROR(grow_host(n));
    RZ_RETURN_IF_ERROR(cuda::top_k_rows(dev_, rows_, V_, k, top_dev_));
    if (pinned_) {
        RZ_RETURN_IF_ERROR(cuda::copy_async(top_pinned_, top_dev_, n * sizeof(cuda::TopKEntry)));
        top_src_ = top_pinned_;
    } else {
        top_host_.resize(n);
        RZ_RETURN_IF_ERROR(cuda::download(top_host_.data(), top_dev_, n * sizeof(cuda::TopKEntry)));
        top_src_ = top_host_.data();
    }
    top_k_ready_ = k;
    return Status::Ok();
}

std::span<const float> DeviceLogits::row(int r) {
    if (r < 0 || r >= rows_) return {};
    used_rows_ = true;
    if (!rows_ready_) {
        Status st = queue_rows();
        if (st.ok()) st = cuda::sync("logits copy");
        if (!st.ok()) {
            rows_ready_ = false;
            return {};
        }
    }
    return {rows_src_ + static_cast<size_t>(r) * V_, static_cast<size_t>(V_)};
}

Status DeviceLogits::top_k(int r, int k, std::vector<TokenLogit>& out) {
    if (r < 0 || r >= rows_) return invalid_argument("top_k: no logits row");
    used_k_ = std::max(used_k_, k);
    if (top_k_ready_ < k) {
        if (rows_ready_ || !device_) {
            // The rows are on the host already (the hint asked for them) or device top-k is off: select there.
            if (!rows_ready_) {
                RZ_RETURN_IF_ERROR(queue_rows());
                RZ_RETURN_IF_ERROR(cuda::sync("logits copy"));
            }
            top_k_row({rows_src_ + static_cast<size_t>(r) * V_, static_cast<size_t>(V_)}, k, out);
            if (!device_) used_rows_ = true;  // the next steps copy the rows in their own synchronisation
            return Status::Ok();
        }
        RZ_RETURN_IF_ERROR(queue_top(k));
        if (Status st = cuda::sync("top-k"); !st.ok()) {
            top_k_ready_ = 0;
            return st;
        }
    }
    // The results hold top_k_ready_ >= k entries per row, best first: the k best are their prefix.
    const cuda::TopKEntry* e = top_src_ + static_cast<size_t>(r) * top_k_ready_;
    out.resize(static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) out[static_cast<size_t>(j)] = TokenLogit{e[j].id, e[j].logit};
    return Status::Ok();
}

}  // namespace rz::runtime
#endif  // RZ_HAVE_CUDA
