#pragma once
// JSON request handling for the server's classical-model routes (the server engineer wires the routes;
// JSON stays at the edge, this is the edge for classical models).
//
// POST /v1/predict        {"features": [5.1, 3.5, 1.4, 0.2], "top_k": 3}
//   -> {"prediction": 0, "label": "setosa", "confidence": 0.98,
//       "probabilities": [..], "top_k_predictions": [{"class": 0, "label": "setosa", "probability": 0.98}, ..],
//       "latency_ms": 0.0004}
//   Regression models: {"prediction": 12.5 (or an array for several outputs), "latency_ms": ..}.
//   "label"/"labels" appear only when the model has labels; top_k defaults to min(5, n_classes).
// POST /v1/predict/batch  {"instances": [[..], [..]], "top_k": 1}   ("features" is accepted as an alias)
//   -> {"predictions": [<one object as above without latency_ms>, ..], "count": n, "latency_ms": ..}
//
// Errors are kInvalidArgument naming the field ("features[2] is not a number", "expected 4 features,
// got 3", "instances: 2000 samples exceed the limit of 1024"); the server maps them to HTTP 400.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "realizar/classical/model.h"
#include "realizar/core/status.h"

namespace rz::classical {

struct PredictLimits {
    int64_t max_batch = 1024;  // samples per /v1/predict/batch request
};

// `ws` must come from model.make_workspace() (one per thread); the overloads without it allocate one.
Result<nlohmann::json> predict_request(const ClassicalModel& model, const nlohmann::json& request, Workspace& ws);
Result<nlohmann::json> predict_request(const ClassicalModel& model, const nlohmann::json& request);
Result<nlohmann::json> predict_batch_request(const ClassicalModel& model, const nlohmann::json& request, Workspace& ws,
                                             const PredictLimits& limits = {});
Result<nlohmann::json> predict_batch_request(const ClassicalModel& model, const nlohmann::json& request,
                                             const PredictLimits& limits = {});

// One Prediction as the JSON object above (without latency_ms); top_k <= 0 means the default.
nlohmann::json prediction_to_json(const ClassicalModel& model, const Prediction& p, int64_t top_k);

// A short description for GET /v1/models or `realizar inspect`: type, shapes, labels, parameters, isa.
nlohmann::json model_info_json(const ClassicalModel& model);

}  // namespace rz::classical
