// /v1/predict and /v1/predict/batch for classical APR models (MLP, linear and logistic regression). The JSON
// request handling is the classical library's (predict_api.h); here: parsing, limits, errors, metrics.
#include "realizar/classical/predict_api.h"
#include "server/state.h"

namespace rz::server {

void register_classical_routes(HttpServer& http, ServerState& st) {
    if (!st.classical) return;
    auto handler = [&st](bool batch) {
        return [&st, batch](const HttpRequest& req, HttpResponse& res) {
            auto parsed = parse_json_object(req.body);
            if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
            const json& body = std::get<json>(parsed);
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
