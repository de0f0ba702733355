// /v1/predict and /v1/predict/batch for classical APR models (MLP, linear and logistic regression). The JSON
// request handling is the classical library's (predict_api.h); here: parsing, limits, errors, metrics.
#include <fmt/format.h>

#include "realizar/classical/predict_api.h"
#include "server/state.h"

namespace rz::server {

namespace {

// The request's shape, checked here so that the errors carry the codes and param of docs/api.md (missing_field,
// invalid_type); values (lengths, ranges, non-finite numbers) are the library's to judge (invalid_value).
std::optional<ApiError> shape_error(const json& body, bool batch) {
    const char* field = batch && !body.contains("features") ? "instances" : "features";
    const auto it = body.find(field);
    if (it == body.end() || it->is_null())
        return ApiError::bad_request(fmt::format("missing field '{}'{}", field, batch ? " (an array of feature arrays)" : ""), field,
                                     "missing_field");
    if (!it->is_array())
        return ApiError::bad_request(fmt::format("'{}' must be an array, got {}", field, json_type_name(*it)), field, "invalid_type");
    auto numbers = [&](const json& row, const std::string& name) -> std::optional<ApiError> {
        if (!row.is_array()) return ApiError::bad_request(fmt::format("'{}' must be an array of numbers, got {}", name, json_type_name(row)), field, "invalid_type");
        for (size_t i = 0; i < row.size(); ++i)
            if (!row[i].is_number())
                return ApiError::bad_request(fmt::format("'{}[{}]' must be a number, got {}", name, i, json_type_name(row[i])), field, "invalid_type");
        return std::nullopt;
    };
    if (!batch) return numbers(*it, field);
    for (size_t s = 0; s < it->size(); ++s)
        if (auto e = numbers((*it)[s], fmt::format("{}[{}]", field, s))) return e;
    return std::nullopt;
}

}  // namespace

void register_classical_routes(HttpServer& http, ServerState& st) {
    if (!st.classical) return;
    auto handler = [&st](bool batch) {
        return [&st, batch](const HttpRequest& req, HttpResponse& res) {
            auto parsed = parse_json_object(req.body);
            if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
            const json& body = std::get<json>(parsed);
            if (auto e = shape_error(body, batch)) return send_error(res, *e);
            auto out = batch ? classical::predict_batch_request(*st.classical, body)
                             : classical::predict_request(*st.classical, body);
            if (!out.ok()) return send_error(res, ApiError::from_status(out.status()));
            send_json(res, 200, *out);
        };
    };
    http.route("POST", "/v1/predict", handler(false));
    http.route("POST", "/v1/predict/batch", handler(true));
}

}  // namespace rz::server
