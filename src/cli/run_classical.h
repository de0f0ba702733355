#pragma once
// `realizar run` for classical APR models (mlp, linear_regression, logistic_regression).
// cmd_run.cpp (owned by the generation engineer) checks is_classical_model(path) first and, when it
// returns true, hands the request to run_classical(); everything else goes down the LLM path.
#include <cstdio>
#include <string>

namespace rz::cli {

// True when `path` opens as an APR file whose metadata `model_type` is one of the classical types.
// Never throws; any error (missing file, other format) gives false.
bool is_classical_model(const std::string& path);

struct ClassicalRunOptions {
    std::string model_path;     // MODEL.apr
    std::string features;       // "--features 5.1,3.5,1.4,0.2": comma-separated floats, one sample
    std::string features_file;  // "--features-file F.csv": one sample per line (comma-separated);
                                // a first line that is not numeric is taken as a header and skipped
    std::string format = "text";  // "text" or "json"
};

// Loads the model, predicts every sample and prints one result per sample on stdout:
//   text: "prediction: 0 (setosa)  confidence: 0.981" (regression: "prediction: 12.5")
//   json: {"prediction": 0, "label": "setosa", "probabilities": [..]} (one JSON object per line for a
//         features file; "label" only when the model has labels, "probabilities" only for classifiers).
// Errors (bad model file, wrong feature count, NaN/Inf, unparsable numbers) go to stderr naming the
// file/line/field; the return value is the process exit code (0 ok, 1 error, 2 bad usage).
int run_classical(const ClassicalRunOptions& options);
// Same, writing to the given streams (tests).
int run_classical(const ClassicalRunOptions& options, std::FILE* out, std::FILE* err);

}  // namespace rz::cli
