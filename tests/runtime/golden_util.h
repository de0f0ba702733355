#pragma once
// Helpers for tests against ../shared/golden (HF transformers logits in float64) and the stories260K
// llama2.c references.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "realizar/runtime/context.h"

namespace rz::test {

inline std::string shared_dir() { return RZ_SHARED_DIR; }
inline std::string golden_dir(const std::string& model) { return shared_dir() + "/golden/" + model; }

inline nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) return nlohmann::json();
    return nlohmann::json::parse(in, nullptr, false);
}

inline std::vector<float> read_f32(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<float> out(bytes.size() / 4);
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}

inline double stddev(const std::vector<float>& v) {
    double m = 0.0;
    for (float x : v) m += x;
    m /= static_cast<double>(v.size());
    double s = 0.0;
    for (float x : v) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(v.size()));
}

// Runs tokens from position 0 of sequence `seq` as one batch; returns logits [T * V].
inline Result<std::vector<float>> prefill_logits(runtime::Context& ctx, const std::vector<int32_t>& tokens, int32_t seq = 0) {
    runtime::Batch b;
    const int32_t p0 = ctx.seq_len(seq);
    for (size_t t = 0; t < tokens.size(); ++t) b.add(tokens[t], p0 + static_cast<int32_t>(t), seq, true);
    RZ_RETURN_IF_ERROR(ctx.decode(b));
    std::vector<float> out;
    for (size_t t = 0; t < tokens.size(); ++t) {
        auto l = ctx.logits(t);
        out.insert(out.end(), l.begin(), l.end());
    }
    return out;
}

// Largest |a - b| over all elements divided by `scale`.
inline double max_rel(const std::vector<float>& a, const std::vector<float>& b, double scale) {
    double m = 0.0;
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
    return a.size() == b.size() ? m / scale : INFINITY;
}

inline int argmax(std::span<const float> v) {
    int best = 0;
    for (size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int>(i);
    return best;
}

}  // namespace rz::test
