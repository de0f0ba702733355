#include "cli/run_logits.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "realizar/core/mapped_file.h"
#include "realizar/runtime/context.h"

namespace rz::cli {

Result<std::vector<int32_t>> parse_token_list(const std::string& csv) {
    std::vector<int32_t> out;
    size_t i = 0, idx = 0;
    while (i <= csv.size()) {
        size_t j = csv.find(',', i);
        if (j == std::string::npos) j = csv.size();
        std::string item = csv.substr(i, j - i);
        const size_t b = item.find_first_not_of(" \t");
        const size_t e = item.find_last_not_of(" \t");
        item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
        if (item.empty()) return invalid_argument(fmt::format("--tokens: entry {} is empty", idx));
        int64_t v = 0;
        for (char c : item) {
            if (c < '0' || c > '9') return invalid_argument(fmt::format("--tokens: entry {} ('{}') is not a non-negative integer", idx, item));
            v = v * 10 + (c - '0');
            if (v > INT32_MAX) return invalid_argument(fmt::format("--tokens: entry {} ('{}') is too large", idx, item));
        }
        out.push_back(static_cast<int32_t>(v));
        ++idx;
        i = j + 1;
    }
    return out;
}

Result<std::vector<float>> compute_logits(const std::string& model_path, const std::vector<int32_t>& tokens, const RunLogitsOptions& opts) {
    if (tokens.empty()) return invalid_argument("--tokens: no token ids given");
    runtime::ContextOptions co;
    if (opts.cache_type == "f16") co.cache_type = DType::F16;
    else if (opts.cache_type == "f32") co.cache_type = DType::F32;
    else return invalid_argument(fmt::format("--cache-type '{}' is not supported (f16, f32)", opts.cache_type));
    if (opts.ctx_size < 0) return invalid_argument(fmt::format("--ctx-size {} is negative", opts.ctx_size));
    if (opts.threads < 0) return invalid_argument(fmt::format("--threads {} is negative", opts.threads));
    co.n_threads = opts.threads;
    co.n_seq_max = 1;
    RZ_ASSIGN_OR_RETURN(auto model, runtime::Model::load(model_path));
    const int T = static_cast<int>(tokens.size());
    co.n_ctx = opts.ctx_size > 0 ? opts.ctx_size : std::max(T, std::min(model->info().n_ctx_train, 4096));
    co.n_batch = std::min(T, 512);
    RZ_ASSIGN_OR_RETURN(auto ctx, runtime::Context::create(model, co));
    runtime::Batch batch;
    for (int t = 0; t < T; ++t) batch.add(tokens[static_cast<size_t>(t)], t, 0, true);
    RZ_RETURN_IF_ERROR(ctx->decode(batch));
    const size_t V = static_cast<size_t>(model->info().n_vocab);
    std::vector<float> out(static_cast<size_t>(T) * V);
    for (int t = 0; t < T; ++t) {
        auto l = ctx->logits(static_cast<size_t>(t));
        RZ_ASSERT(l.size() == V);
        std::memcpy(out.data() + static_cast<size_t>(t) * V, l.data(), V * sizeof(float));
    }
    return out;
}

Status check_logits_out(const std::string& model_path, const std::string& logits_out) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(logits_out, ec)) return Status::Ok();
    if (fs::equivalent(logits_out, model_path, ec))
        return invalid_argument(fmt::format("--logits-out {} is the MODEL: refusing to overwrite it", logits_out));
    // A file inside a model folder (its weights, config or tokenizer) is the model too.
    if (fs::is_directory(model_path, ec) && path_within(logits_out, model_path))
        return invalid_argument(fmt::format("--logits-out {} is a file of the MODEL folder {}: refusing to overwrite it", logits_out, model_path));
    return Status::Ok();
}

int run_logits(const std::string& model_path, const std::vector<int32_t>& tokens, const std::string& logits_out,
               const RunLogitsOptions& opts) {
    if (Status st = check_logits_out(model_path, logits_out); !st.ok()) {
        std::fprintf(stderr, "realizar run: error: %s\n", st.message().c_str());
        return 1;
    }
    auto r = compute_logits(model_path, tokens, opts);
    if (!r.ok()) {
        std::fprintf(stderr, "realizar run: error: %s\n", r.status().to_string().c_str());
        return 1;
    }
    static_assert(std::endian::native == std::endian::little, "logits are written as little-endian float32");
    const auto& v = *r;
    Status st = write_file_atomic(logits_out, {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)});
    if (!st.ok()) {
        std::fprintf(stderr, "realizar run: error: %s\n", st.to_string().c_str());
        return 1;
    }
    return 0;
}

}  // namespace rz::cli
