#pragma once
// Labelled tabular data for training and evaluating classical models (the Iris example and its test).
#include <cstdint>
#include <string>
#include <vector>

#include "realizar/core/status.h"

namespace rz::classical {

struct Dataset {
    int64_t n_features = 0;
    std::vector<float> x;                  // [n_samples, n_features] row-major
    std::vector<int32_t> y;                // [n_samples] class index
    std::vector<std::string> class_names;  // [n_classes]
    int64_t n_samples() const { return static_cast<int64_t>(y.size()); }
};

// scikit-learn's bundled-CSV layout (data/iris/iris.csv): a first line "n_samples,n_features,name0,name1,..",
// then n_samples lines of n_features numbers and a class index. Every count, number and class index is
// checked; errors name the file and line.
Result<Dataset> read_sklearn_csv(const std::string& path);

}  // namespace rz::classical
