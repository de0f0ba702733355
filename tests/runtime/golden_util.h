#pragma once
// Helpers for tests against ../shared/golden (HF transformers logits in float64) and the stories260K
// llama2.c references.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
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

// stories260K: llama2.c run.c's greedy ids from BOS (-t 0 -n 200, BOS itself not included), at most `max` of them.
inline std::vector<int32_t> stories_greedy_reference(size_t max = SIZE_MAX) {
    std::ifstream in(shared_dir() + "/data/tinystories-260K/reference/greedy_bos_n200.token_ids.txt");
    std::vector<int32_t> ids;
    for (int32_t id; ids.size() < max && in >> id;) ids.push_back(id);
    return ids;
}

// Greedy generation from BOS (id 1) on sequence `seq` of an empty context, as run.c does: each step feeds the
// previous argmax; stops after n tokens or when BOS comes again. A failed decode is a test failure (and ends it).
inline std::vector<int32_t> greedy_from_bos(runtime::Context& ctx, size_t n, int32_t seq = 0) {
    std::vector<int32_t> got;
    runtime::Batch b;
    int32_t tok = 1;
    for (int32_t pos = 0; got.size() < n; ++pos) {
        b.clear();
        b.add(tok, pos, seq, true);
        const Status st = ctx.decode(b);
        if (!st.ok()) {
            ADD_FAILURE() << "greedy_from_bos: " << st.to_string();
            break;
        }
        tok = argmax(ctx.logits(0));
        if (tok == 1) break;
        got.push_back(tok);
    }
    return got;
}

}  // namespace rz::test
