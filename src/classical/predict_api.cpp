// JSON <-> classical predictions for the server routes (see predict_api.h for the wire format).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include <fmt/format.h>

#include "realizar/classical/predict_api.h"

namespace rz::classical {
namespace {

using json = nlohmann::json;

// A float as the double with the shortest decimal form that round-trips the float: 0.98 rather than
// 0.98000001907348633 in the JSON.
double tidy(float v) { return std::strtod(fmt::format("{}", v).c_str(), nullptr); }

json tidy_array(const std::vector<float>& v) {
    json a = json::array();
    for (float x : v) a.push_back(tidy(x));
    return a;
}

double elapsed_ms(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Appends one sample's features from a JSON array to `out`, naming the field on error.
Status parse_features(const json& arr, const std::string& field, int64_t n_inputs, std::vector<float>& out) {
    if (!arr.is_array()) return invalid_argument(fmt::format("{} must be an array of numbers", field));
    if (static_cast<int64_t>(arr.size()) != n_inputs) {
        return invalid_argument(fmt::format("{}: expected {} features, got {}", field, n_inputs, arr.size()));
    }
    for (size_t i = 0; i < arr.size(); ++i) {
        if (!arr[i].is_number()) return invalid_argument(fmt::format("{}[{}] is not a number", field, i));
        const double d = arr[i].get<double>();
        const float v = static_cast<float>(d);
        if (!std::isfinite(v)) {
            return invalid_argument(fmt::format("{}[{}] = {} is not a finite 32-bit float", field, i, d));
        }
        out.push_back(v);
    }
    return Status::Ok();
}

Result<int64_t> parse_top_k(const ClassicalModel& model, const json& request) {
    if (!request.contains("top_k") || request["top_k"].is_null()) return int64_t{0};
    const json& k = request["top_k"];
    if (!k.is_number_integer() || k.get<int64_t>() < 1) return invalid_argument("top_k must be a positive integer");
    if (!model.is_classifier()) return invalid_argument("top_k applies to classifiers; this model is a regression");
    return k.get<int64_t>();
}

}  // namespace

json prediction_to_json(const ClassicalModel& model, const Prediction& p, int64_t top_k) {
    json j = json::object();
    if (!p.is_classifier) {
        if (p.values.size() == 1) {
            j["prediction"] = tidy(p.values[0]);
        } else {
            j["prediction"] = tidy_array(p.values);
        }
        if (!model.spec().labels.empty()) j["labels"] = model.spec().labels;
        return j;
    }
    j["prediction"] = p.class_index;
    if (!p.label.empty()) j["label"] = p.label;
    j["confidence"] = tidy(p.confidence);
    j["probabilities"] = tidy_array(p.probabilities);
    const int64_t n_classes = static_cast<int64_t>(p.probabilities.size());
    const int64_t k = std::min(n_classes, top_k > 0 ? top_k : std::min<int64_t>(5, n_classes));
    std::vector<int64_t> order(static_cast<size_t>(n_classes));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
        const float pa = p.probabilities[static_cast<size_t>(a)];
        const float pb = p.probabilities[static_cast<size_t>(b)];
        return pa > pb || (pa == pb && a < b);
    });
    json top = json::array();
    for (int64_t r = 0; r < k; ++r) {
        const auto c = static_cast<size_t>(order[static_cast<size_t>(r)]);
        json e = {{"class", order[static_cast<size_t>(r)]}, {"probability", tidy(p.probabilities[c])}};
        if (!model.spec().labels.empty()) e["label"] = model.spec().labels[c];
        top.push_back(std::move(e));
    }
    j["top_k_predictions"] = std::move(top);
    return j;
}

Result<json> predict_request(const ClassicalModel& model, const json& request, Workspace& ws) {
    if (!request.is_object()) return invalid_argument("request body must be a JSON object");
    if (!request.contains("features")) return invalid_argument("missing field 'features'");
    RZ_ASSIGN_OR_RETURN(const int64_t top_k, parse_top_k(model, request));
    std::vector<float> x;
    x.reserve(static_cast<size_t>(model.n_inputs()));
    RZ_RETURN_IF_ERROR(parse_features(request["features"], "features", model.n_inputs(), x));
    std::vector<float> out(static_cast<size_t>(model.n_outputs()));
    const auto t0 = std::chrono::steady_clock::now();
    RZ_RETURN_IF_ERROR(model.predict(x, out, ws));
    const double ms = elapsed_ms(t0);
    json j = prediction_to_json(model, model.interpret(out), top_k);
    j["latency_ms"] = ms;
    return j;
}

Result<json> predict_request(const ClassicalModel& model, const json& request) {
    Workspace ws = model.make_workspace();
    return predict_request(model, request, ws);
}

Result<json> predict_batch_request(const ClassicalModel& model, const json& request, Workspace& ws,
                                   const PredictLimits& limits) {
    if (!request.is_object()) return invalid_argument("request body must be a JSON object");
    const char* field = request.contains("instances") ? "instances" : "features";
    if (!request.contains(field)) return invalid_argument("missing field 'instances' (an array of feature arrays)");
    const json& rows = request[field];
    if (!rows.is_array()) return invalid_argument(fmt::format("{} must be an array of feature arrays", field));
    if (rows.empty()) return invalid_argument(fmt::format("{} is empty", field));
    if (static_cast<int64_t>(rows.size()) > limits.max_batch) {
        return invalid_argument(fmt::format("{}: {} samples exceed the limit of {}", field, rows.size(), limits.max_batch));
    }
    RZ_ASSIGN_OR_RETURN(const int64_t top_k, parse_top_k(model, request));
    const int64_t n = static_cast<int64_t>(rows.size());
    std::vector<float> x;
    x.reserve(static_cast<size_t>(n * model.n_inputs()));
    for (int64_t s = 0; s < n; ++s) {
        RZ_RETURN_IF_ERROR(parse_features(rows[static_cast<size_t>(s)], fmt::format("{}[{}]", field, s), model.n_inputs(), x));
    }
    std::vector<float> out(static_cast<size_t>(n * model.n_outputs()));
    const auto t0 = std::chrono::steady_clock::now();
    RZ_RETURN_IF_ERROR(model.predict_batch(x, n, out, ws));
    const double ms = elapsed_ms(t0);
    json preds = json::array();
    const auto n_out = static_cast<size_t>(model.n_outputs());
    for (int64_t s = 0; s < n; ++s) {
        const std::span<const float> row(out.data() + static_cast<size_t>(s) * n_out, n_out);
        preds.push_back(prediction_to_json(model, model.interpret(row), top_k));
    }
    return json{{"predictions", std::move(preds)}, {"count", n}, {"latency_ms", ms}};
}

Result<json> predict_batch_request(const ClassicalModel& model, const json& request, const PredictLimits& limits) {
    Workspace ws = model.make_workspace();
    return predict_batch_request(model, request, ws, limits);
}

json model_info_json(const ClassicalModel& model) {
    const ModelSpec& s = model.spec();
    json layers = json::array();
    for (const auto& l : s.layers) layers.push_back({l.n_out, l.n_in});
    json j = {{"model_type", model_type_name(s.type)},
              {"n_inputs", model.n_inputs()},
              {"n_outputs", model.n_outputs()},
              {"layers", std::move(layers)},
              {"activation", activation_name(s.activation)},
              {"output", output_transform_name(s.output)},
              {"n_parameters", model.n_parameters()},
              {"isa", isa_name(model.isa())}};
    if (!s.name.empty()) j["name"] = s.name;
    if (!s.labels.empty()) j["labels"] = s.labels;
    return j;
}

}  // namespace rz::classical
