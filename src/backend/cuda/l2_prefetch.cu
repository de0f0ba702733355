// Cross-kernel L2 prefetch of the fused decode layer (cuda.h, "Cross-kernel L2 prefetch"): the pending
// ranges of the next launch, the RZ_CUDA_L2PF switches and the window planner (host code only; the device
// side is l2pf_issue in common.cuh).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>

#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/cuda.h"
#include "realizar/core/status.h"

namespace rz::cuda {

namespace {
detail::L2Pf g_pending{};  // the backend is used from one host thread (one stream), like the rest of rz_cuda
}  // namespace

namespace detail {
L2Pf take_l2pf() {
    const L2Pf p = g_pending;
    g_pending = L2Pf{};
    return p;
}
}  // namespace detail

int l2_prefetch_mode() {
    static const int m = std::clamp(detail::env_int("RZ_CUDA_L2PF", 0), 0, 2);
    return m;
}

size_t l2_prefetch_window() {
    static const size_t w = [] {
        const int l2 = detail::device_attr(cudaDevAttrL2CacheSize, 0);
        const size_t want = static_cast<size_t>(std::max(0, detail::env_int("RZ_CUDA_L2PF_MB", 24))) << 20;
        // More than 3/4 of the L2 ahead would evict what the running kernels still read.
        return l2 > 0 ? std::min(want, static_cast<size_t>(l2) * 3 / 4) : want;
    }();
    return w;
}

void set_l2_prefetch(const ByteRange* r, int n) {
    detail::L2Pf p{};
    p.mode = l2_prefetch_mode();
    if (p.mode != 0) {
        for (int i = 0; i < n && p.cnt < detail::kPfMax; ++i) {
            if (!r[i].p || r[i].bytes == 0) continue;
            p.p[p.cnt] = static_cast<const uint8_t*>(r[i].p);
            p.n[p.cnt] = r[i].bytes;
            ++p.cnt;
        }
    }
    g_pending = p;
}

std::vector<std::vector<ByteRange>> plan_l2_prefetch(const std::vector<std::vector<ByteRange>>& launches, size_t window) {
    // The stream: every launch's ranges in order, adjacent ones merged; own[i] = stream offset of launch i's
    // first byte (launches without ranges: the next launch's), need[i] = end of launch i's own bytes.
    std::vector<ByteRange> stream;
    std::vector<size_t> own(launches.size()), need(launches.size());
    size_t total = 0;
    for (size_t i = 0; i < launches.size(); ++i) {
        own[i] = total;
        for (const ByteRange& r : launches[i]) {
            if (!r.p || r.bytes == 0) continue;
            ByteRange* last = stream.empty() ? nullptr : &stream.back();
            if (last && static_cast<const uint8_t*>(last->p) + last->bytes == r.p)
                last->bytes += r.bytes;
            else
                stream.push_back(r);
            total += r.bytes;
        }
        need[i] = total;
    }
    std::vector<std::vector<ByteRange>> out(launches.size());
    size_t cur = 0, si = 0, so = 0;  // requested so far; position in the stream (range si, offset so)
    for (size_t i = 0; i < launches.size(); ++i) {
        // Up to own + window, and always at least this launch's own bytes.
        size_t target = std::min(total, std::max(own[i] + window, need[i]));
        auto& o = out[i];
        while (cur < target && si < stream.size()) {
            const size_t take = std::min(stream[si].bytes - so, target - cur);
            const uint8_t* p = static_cast<const uint8_t*>(stream[si].p) + so;
            if (o.size() == static_cast<size_t>(detail::kPfMax)) break;  // the rest falls to the next launch
            o.push_back(ByteRange{p, take});
            cur += take, so += take;
            if (so == stream[si].bytes) ++si, so = 0;
        }
        RZ_ASSERT(cur >= need[i] || o.size() == static_cast<size_t>(detail::kPfMax), "plan_l2_prefetch: own bytes not requested");
    }
    return out;
}

}  // namespace rz::cuda
