// Warm-up passes (warm_up.h).
#include "runtime/warm_up.h"

#include <algorithm>

#include <fmt/format.h>

namespace rz::runtime {

Status Context::warm_up() { return run_warm_up(*this, WarmUpPlan{}); }

Status run_warm_up(Context& ctx, const WarmUpPlan& plan) {
    const int n_seq = ctx.n_seq_max(), n_ctx = ctx.n_ctx(), n_vocab = ctx.model().info().n_vocab;
    for (int s = 0; s < n_seq; ++s)
        if (ctx.seq_len(s) != 0)
            return invalid_argument(fmt::format("warm-up: sequence {} holds {} positions; warm up a fresh context", s, ctx.seq_len(s)));
    if (n_vocab < 1 || n_ctx < 2) return Status::Ok();
    const auto tok = [n_vocab](int i) { return static_cast<int32_t>((1 + 7 * static_cast<int64_t>(i)) % n_vocab); };
    std::vector<TokenLogit> top;
    const int k_top = std::min(40, std::min(kMaxTopK, n_vocab));
    // Decodes b (then empties it); with `read` reads its last entry's outputs the two ways the sampler does (top-k,
    // the row). Clears the sequences [lo, hi) after a failure, or always when !keep.
    Batch b;
    const auto pass = [&](int lo, int hi, bool read, bool keep) -> Status {
        Status st = ctx.decode(b);
        if (st.ok() && read) {
            const size_t last = b.size() - 1;
            st = ctx.top_k(last, k_top, top);
            if (st.ok() && ctx.logits(last).empty()) st = internal_error("warm-up: the step returned no logits");
        }
        if (!st.ok() || !keep)
            for (int s = lo; s < hi; ++s) ctx.seq_clear(s);
        b.clear();
        return st.with_context("warm-up");
    };
    // Steps of several sequences first, largest first: the GPU context sizes its logits buffer for the widest step
    // once, and graphs captured after that keep pointing at it.
    const int repeats = std::clamp(plan.step_repeats, 1, n_ctx);
    for (int k = std::min(plan.max_step_seqs, n_seq); k >= 2; --k)
        for (int r = 0; r < repeats; ++r) {
            for (int s = 0; s < k; ++s) b.add(tok(s + r), r, s, true);
            RZ_RETURN_IF_ERROR(pass(0, k, r + 1 == repeats, r + 1 < repeats));
        }
    // Prompts, each with a generation step, on sequence 0 (sizes the context cuts to the same length run once).
    int last_n = 0;
    for (int len : plan.prompts) {
        const int n = std::min(len, n_ctx - 1);
        if (n < 1 || n == last_n) continue;
        last_n = n;
        for (int i = 0; i < n; ++i) b.add(tok(i), i, 0, i == n - 1);
        RZ_RETURN_IF_ERROR(pass(0, 1, false, true));
        b.add(tok(n), n, 0, true);
        RZ_RETURN_IF_ERROR(pass(0, 1, true, false));
    }
    if (plan.every_sequence)
        for (int s = 1; s < n_seq; ++s) {
            b.add(tok(s), 0, s, true);
            RZ_RETURN_IF_ERROR(pass(s, s + 1, true, false));
        }
    return Status::Ok();
}

}  // namespace rz::runtime
