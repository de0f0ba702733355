#pragma once
// `realizar run MODEL --tokens 5,17,42 --logits-out FILE`: feeds exactly those token ids from position 0
// (no BOS added) through the model in one batched prefill and writes the logits of every position as raw
// little-endian float32, row-major [T, V]. Owned by the runtime; cmd_run.cpp calls it.
#include <cstdint>
#include <string>
#include <vector>

#include "realizar/core/status.h"

namespace rz::cli {

struct RunLogitsOptions {
    std::string cache_type = "f16";  // --cache-type f16|f32
    int ctx_size = 0;                // --ctx-size (0 = max(T, min(n_ctx_train, 4096)))
    int threads = 0;                 // --threads (0 = physical cores)
};

// "5,17,42" -> {5, 17, 42}; spaces allowed around ids; errors name the offending entry.
Result<std::vector<int32_t>> parse_token_list(const std::string& csv);

// Refuses a logits_out that is the model itself or an existing file inside the model's folder (the dump would
// replace it): the user's model is never overwritten by a typo.
Status check_logits_out(const std::string& model_path, const std::string& logits_out);

// Loads model_path (file or Hugging Face folder), runs the tokens, writes logits_out atomically.
// Returns the process exit code: 0 on success, 1 on any error (printed to stderr, naming the problem).
int run_logits(const std::string& model_path, const std::vector<int32_t>& tokens, const std::string& logits_out,
               const RunLogitsOptions& opts = {});

// Same, computing into memory (tests and tools): logits [T * V] row-major.
Result<std::vector<float>> compute_logits(const std::string& model_path, const std::vector<int32_t>& tokens,
                                          const RunLogitsOptions& opts = {});

}  // namespace rz::cli
