#pragma once
// Helpers shared by the test_cuda files: the ../shared path (RZ_SHARED_DIR in the environment overrides the
// build-time path: the GPU machine gets a carried copy), whether a device is present, ':'-separated model lists
// from the environment, and the logits error every GPU-vs-reference test reports.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/cuda.h"
#endif

namespace rz::test {

inline const std::string& cuda_shared_dir() {
    static const std::string d = std::getenv("RZ_SHARED_DIR") ? std::getenv("RZ_SHARED_DIR") : RZ_SHARED_DIR;
    return d;
}

inline bool cuda_device_present() {
#ifdef RZ_HAVE_CUDA
    return cuda::device_count() > 0;
#else
    return false;
#endif
}

inline std::vector<std::string> env_list(const char* name) {
    std::vector<std::string> out;
    const char* v = std::getenv(name);
    if (!v) return out;
    std::stringstream ss(v);
    std::string s;
    while (std::getline(ss, s, ':'))
        if (!s.empty()) out.push_back(s);
    return out;
}

// max |got - ref| / std(ref) over one logits row (mean and variance in double).
inline double row_error(std::span<const float> got, std::span<const float> ref) {
    double mean = 0.0, var = 0.0, md = 0.0;
    for (float v : ref) mean += v;
    mean /= static_cast<double>(ref.size());
    for (float v : ref) var += (v - mean) * (v - mean);
    for (size_t j = 0; j < ref.size(); ++j) md = std::max(md, std::fabs(static_cast<double>(got[j]) - ref[j]));
    return md / std::sqrt(var / static_cast<double>(ref.size()));
}

// The worst row_error over rows of V of two [rows, V] buffers; 1e9 when the sizes differ or ref is empty.
inline double rows_error(const std::vector<float>& got, const std::vector<float>& ref, size_t V) {
    if (got.size() != ref.size() || ref.empty()) return 1e9;
    double w = 0.0;
    for (size_t r = 0; r < ref.size() / V; ++r)
        w = std::max(w, row_error(std::span<const float>(got).subspan(r * V, V), std::span<const float>(ref).subspan(r * V, V)));
    return w;
}

}  // namespace rz::test
