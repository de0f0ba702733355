// Host top-k of a logits row and Context::top_k's default (see include/realizar/runtime/top_k.h).
#include "realizar/runtime/top_k.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "realizar/runtime/context.h"
#include "realizar/runtime/sampler.h"

namespace rz::runtime {

namespace {

inline float clean(float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; }

// The sampler's total order (sampler.cpp `better`) on cleaned logits.
inline bool better(const TokenLogit& a, const TokenLogit& b) {
    if (a.logit != b.logit) return a.logit > b.logit;
    return a.id < b.id;
}

}  // namespace

Status check_top_k(int k, int n_vocab) {
    const int cap = std::min(kMaxTopK, n_vocab);
    if (k < 1 || k > cap)
        return invalid_argument(
            fmt::format("top_k: k must be in [1, {}] and at most the vocabulary size ({}), got {}", kMaxTopK, n_vocab, k));
    return Status::Ok();
}

void top_k_row(std::span<const float> logits, int k, std::vector<TokenLogit>& out) {
    RZ_ASSERT(k >= 1 && static_cast<size_t>(k) <= logits.size(), "top_k_row: k out of range");
    out.clear();
    if (k == 1) {
        const int32_t id = argmax(logits);
        out.push_back({id, clean(logits[static_cast<size_t>(id)])});
        return;
    }
    // One pass keeping the k best in a heap whose front is the worst of them: most entries of a row lose to
    // that front in one comparison, so this is O(V) for the small k a sampler asks for.
    out.reserve(static_cast<size_t>(k));
    const auto n = static_cast<int32_t>(logits.size());
    for (int32_t id = 0; id < n; ++id) {
        const TokenLogit t{id, clean(logits[static_cast<size_t>(id)])};
        if (out.size() < static_cast<size_t>(k)) {
            out.push_back(t);
            std::push_heap(out.begin(), out.end(), better);
        } else if (better(t, out.front())) {
            std::pop_heap(out.begin(), out.end(), better);
            out.back() = t;
            std::push_heap(out.begin(), out.end(), better);
        }
    }
    std::sort_heap(out.begin(), out.end(), better);  // best first
}

Status Context::top_k(size_t i, int k, std::vector<TokenLogit>& out) const {
    RZ_RETURN_IF_ERROR(check_top_k(k, model().info().n_vocab));
    const std::span<const float> row = logits(i);
    if (row.empty()) return invalid_argument(fmt::format("top_k: batch entry {} of the last decode has no logits", i));
    if (static_cast<size_t>(k) > row.size())
        return invalid_argument(fmt::format("top_k: k {} exceeds the logits row of {} entries", k, row.size()));
    top_k_row(row, k, out);
    return Status::Ok();
}

}  // namespace rz::runtime
