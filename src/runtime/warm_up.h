#pragma once
// The warm-up passes behind Context::warm_up(): each context chooses how much to run (a short prompt on the CPU;
// on the GPU every path a request can take first, so that its captures happen at load).
#include <vector>

#include "realizar/runtime/context.h"

namespace rz::runtime {

struct WarmUpPlan {
    std::vector<int> prompts = {2};  // throwaway prompts on sequence 0, each followed by a step (capped by the context)
    int max_step_seqs = 1;     // decode steps of k = max_step_seqs .. 2 sequences, one token each (largest first)
    int step_repeats = 1;      // steps of each k, at positions 0, 1, ... (a GPU context captures a shape's graph when it recurs)
    bool every_sequence = false;  // a one-token step with logits on every sequence (per-sequence graphs)
};

// Runs the plan's passes with ordinary decode() calls, reads the logits and the top-k of one step (the host copies
// and the device selection), and clears every sequence it used. Errors: a sequence that is not empty, or what
// decode() returns.
Status run_warm_up(Context& ctx, const WarmUpPlan& plan);

}  // namespace rz::runtime
