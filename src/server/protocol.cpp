// JSON request parsing and validation (see protocol.h). Every accessor checks the JSON type first, so the
// nlohmann accessors never throw here; messages name the field and say what was expected.
#include "realizar/server/protocol.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace rz::server {

// ---------------------------------------------------------------------------------------------- errors

ApiError ApiError::bad_request(std::string message, std::string param, std::string code) {
    ApiError e;
    e.status = 400;
    e.message = std::move(message);
    e.param = std::move(param);
    e.code = std::move(code);
    return e;
}

ApiError ApiError::from_status(const Status& st) {
    ApiError e;
    e.message = st.message();
    switch (st.code()) {
        case StatusCode::kInvalidArgument:
        case StatusCode::kOutOfRange:
            e.status = 400;
            e.code = "invalid_value";
            break;
        case StatusCode::kNotFound:
            e.status = 404;
            e.type = "not_found_error";
            e.code = "not_found";
            break;
        case StatusCode::kResourceExhausted:
            e.status = 503;
            e.type = "server_error";
            e.code = "overloaded";
            break;
        case StatusCode::kUnavailable:
            e.status = 503;
            e.type = "server_error";
            e.code = "unavailable";
            break;
        case StatusCode::kCancelled:
            e.status = 499;
            e.type = "server_error";
            e.code = "cancelled";
            break;
        case StatusCode::kUnsupported:
            e.status = 400;
            e.code = "unsupported";
            break;
        default:
            e.status = 500;
            e.type = "server_error";
            e.code = "internal_error";
            break;
    }
    return e;
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string ApiError::to_json() const {
    json err = {{"message", message}, {"type", type}};
    err["code"] = code.empty() ? json(nullptr) : json(code);
    err["param"] = param.empty() ? json(nullptr) : json(param);
    return dump_json(json{{"error", err}});
}

const char* strategy_name(Strategy s) {
    switch (s) {
        case Strategy::kGreedy: return "greedy";
        case Strategy::kTopK: return "top_k";
        case Strategy::kTopP: return "top_p";
    }
    return "?";
}

// ---------------------------------------------------------------------------------------------- UTF-8

bool is_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const unsigned c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        int len = 0;
        uint32_t cp = 0;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
        else return false;
        if (i + static_cast<size_t>(len) > n) return false;
        for (int k = 1; k < len; ++k) {
            const unsigned cc = p[i + static_cast<size_t>(k)];
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += static_cast<size_t>(len);
    }
    return true;
}

size_t utf8_complete_prefix(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    // Look back at most 3 bytes for the lead byte of a character that is still incomplete.
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const unsigned c = p[n - back];
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        size_t need = 1;
        if ((c & 0xE0) == 0xC0) need = 2;
        else if ((c & 0xF0) == 0xE0) need = 3;
        else if ((c & 0xF8) == 0xF0) need = 4;
        return need > back ? n - back : n;
    }
    return n;
}

// ---------------------------------------------------------------------------------------------- fields

const char* json_type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "an integer";
        case json::value_t::number_float: return "a number";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "an unsupported value";
    }
}

namespace {

using Err = std::optional<ApiError>;
const char* type_name(const json& v) { return json_type_name(v); }

ApiError type_error(const std::string& key, const char* want, const json& got) {
    return ApiError::bad_request(fmt::format("'{}' must be {}, got {}", key, want, type_name(got)), key, "invalid_type");
}

// A field absent or null is "not given" (OpenAI accepts null for optional fields).
const json* find(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

Err read_string(const json& obj, const char* key, std::string& out, bool required) {
    const json* v = find(obj, key);
    if (!v) return required ? Err(ApiError::bad_request(fmt::format("'{}' is required", key), key, "missing_field")) : Err{};
    if (!v->is_string()) return type_error(key, "a string", *v);
    out = v->get_ref<const std::string&>();
    return {};
}

Err read_bool(const json& obj, const char* key, bool& out) {
    const json* v = find(obj, key);
    if (!v) return {};
    if (!v->is_boolean()) return type_error(key, "a boolean", *v);
    out = v->get<bool>();
    return {};
}

Err read_int(const json& obj, const char* key, int64_t lo, int64_t hi, std::optional<int64_t>& out) {
    const json* v = find(obj, key);
    if (!v) return {};
    int64_t x = 0;
    if (v->is_number_unsigned()) {
        const uint64_t u = v->get<uint64_t>();
        x = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                              : static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
        x = v->get<int64_t>();
    } else {
        return type_error(key, "an integer", *v);
    }
    if (x < lo || x > hi)
        return ApiError::bad_request(fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x), key);
    out = x;
    return {};
}

Err read_float(const json& obj, const char* key, double lo, double hi, std::optional<double>& out) {
    const json* v = find(obj, key);
    if (!v) return {};
    if (!v->is_number()) return type_error(key, "a number", *v);
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
        return ApiError::bad_request(fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x), key);
    out = x;
    return {};
}

Err read_stop(const json& obj, const ParseLimits& limits, std::vector<std::string>& out) {
    const json* v = find(obj, "stop");
    if (!v) return {};
    auto add = [&](const json& s) -> Err {
        if (!s.is_string()) return type_error("stop", "a string or an array of strings", s);
        const auto& str = s.get_ref<const std::string&>();
        if (str.empty()) return ApiError::bad_request("'stop' strings must not be empty", "stop");
        out.push_back(str);
        return {};
    };
    if (v->is_string()) return add(*v);
    if (!v->is_array()) return type_error("stop", "a string or an array of strings", *v);
    if (v->size() > limits.max_stop_strings)
        return ApiError::bad_request(fmt::format("'stop' holds {} strings; at most {} are allowed", v->size(),
                                                 limits.max_stop_strings), "stop");
    for (const auto& s : *v)
        if (auto e = add(s)) return e;
    return {};
}

// Fields shared by every generating route. `max_keys` lists the accepted names for the token limit.
Err read_generation(const json& obj, const ParseLimits& limits, std::initializer_list<const char*> max_keys,
                    int default_max, GenerationSpec& gen) {
    gen.max_tokens = default_max;
    for (const char* key : max_keys) {
        std::optional<int64_t> mt;
        // Any non-negative integer reads; above the cap the message names the server's limit (--max-tokens), not int32's.
        if (auto e = read_int(obj, key, 0, std::numeric_limits<int64_t>::max(), mt)) return e;
        if (!mt) continue;
        if (*mt > limits.max_tokens_cap)
            return ApiError::bad_request(fmt::format("'{}' is {}, above this server's limit of {} (--max-tokens)", key,
                                                     *mt, limits.max_tokens_cap), key);
        gen.max_tokens = static_cast<int>(*mt);
    }
    gen.max_tokens = std::min(gen.max_tokens, limits.max_tokens_cap);

    std::optional<double> temperature, top_p, min_p, rp, pp, fp;
    std::optional<int64_t> top_k, seed;
    if (auto e = read_float(obj, "temperature", 0.0, 2.0, temperature)) return e;
    if (auto e = read_float(obj, "top_p", 0.0, 1.0, top_p)) return e;
    if (auto e = read_float(obj, "min_p", 0.0, 1.0, min_p)) return e;
    if (auto e = read_float(obj, "repeat_penalty", 0.0, 10.0, rp)) return e;
    if (auto e = read_float(obj, "presence_penalty", -2.0, 2.0, pp)) return e;
    if (auto e = read_float(obj, "frequency_penalty", -2.0, 2.0, fp)) return e;
    if (auto e = read_int(obj, "top_k", 0, 1 << 20, top_k)) return e;
    if (auto e = read_int(obj, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), seed))
        return e;
    if (top_p && *top_p <= 0.0) return ApiError::bad_request("'top_p' must be greater than 0", "top_p");
    auto& s = gen.sampling;
    if (temperature) s.temperature = static_cast<float>(*temperature);
    if (top_p) s.top_p = static_cast<float>(*top_p);
    if (min_p) s.min_p = static_cast<float>(*min_p);
    if (rp) s.repeat_penalty = static_cast<float>(*rp);
    if (pp) s.presence_penalty = static_cast<float>(*pp);
    if (fp) s.frequency_penalty = static_cast<float>(*fp);
    if (top_k) s.top_k = static_cast<int>(*top_k);
    // -1 asks for a random seed, as in llama.cpp (it used to be a fixed seed: 2^64 - 1 taken as a number).
    if (seed && *seed != -1) s.seed = static_cast<uint64_t>(*seed);
    // Temperature 0 is greedy everywhere; otherwise the route decides the default strategy.
    s.strategy = s.temperature <= 0.0f ? Strategy::kGreedy : Strategy::kTopP;
    if (auto e = read_stop(obj, limits, gen.stop)) return e;
    if (auto e = read_bool(obj, "cache_prompt", gen.cache_prompt)) return e;
    return read_bool(obj, "ignore_eos", gen.ignore_eos);
}

}  // namespace

std::variant<json, ApiError> parse_json_object(std::string_view body) {
    if (body.empty()) return ApiError::bad_request("request body is empty; expected a JSON object", "", "invalid_json");
    if (!is_valid_utf8(body))
        return ApiError::bad_request("request body is not valid UTF-8", "", "invalid_utf8");
    json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        // Re-run with exceptions only to get the position: this path is taken for bad input only.
        std::string why = "invalid JSON";
        try {
            const json again = json::parse(body.begin(), body.end());
            (void)again;
        } catch (const json::parse_error& e) {
            why = fmt::format("invalid JSON at byte {}", e.byte);
        } catch (const json::exception& e) {  // out_of_range: a number too large for a double (1e999)
            const std::string_view what = e.what();
            const size_t cut = what.find("] ");
            why = fmt::format("invalid JSON: {}", cut == std::string_view::npos ? what : what.substr(cut + 2));
        }
        return ApiError::bad_request(why, "", "invalid_json");
    }
    if (!j.is_object())
        return ApiError::bad_request(fmt::format("request body must be a JSON object, got {}", type_name(j)), "",
                                     "invalid_json");
    return j;
}

#define RZ_PARSE_OBJECT(var, body)               \
    auto parsed_ = parse_json_object(body);      \
    if (auto* e = std::get_if<ApiError>(&parsed_)) return *e; \
    const json& var = std::get<json>(parsed_)

// realizar's own API: strategy "greedy" | "top_k" | "top_p"; default greedy unless a temperature > 0 is given.
static Err read_realizar_generation(const json& o, const ParseLimits& limits, GenerationSpec& gen) {
    if (auto e = read_generation(o, limits, {"max_tokens"}, limits.default_max_tokens, gen)) return e;
    const bool has_temp = find(o, "temperature") != nullptr;
    if (!has_temp) gen.sampling.strategy = Strategy::kGreedy;
    std::string strategy;
    if (auto e = read_string(o, "strategy", strategy, false)) return e;
    if (!strategy.empty()) {
        if (strategy == "greedy") gen.sampling.strategy = Strategy::kGreedy;
        else if (strategy == "top_k") gen.sampling.strategy = Strategy::kTopK;
        else if (strategy == "top_p") gen.sampling.strategy = Strategy::kTopP;
        else
            return ApiError::bad_request(fmt::format("'strategy' must be \"greedy\", \"top_k\" or \"top_p\", got \"{}\"",
                                                     strategy), "strategy");
        if (gen.sampling.strategy != Strategy::kGreedy && !has_temp) gen.sampling.temperature = 1.0f;
    }
    return {};
}

std::variant<GenerateRequest, ApiError> parse_generate(std::string_view body, const ParseLimits& limits) {
    RZ_PARSE_OBJECT(o, body);
    GenerateRequest r;
    if (auto e = read_string(o, "prompt", r.prompt, true)) return *e;
    if (auto e = read_realizar_generation(o, limits, r.gen)) return *e;
    return r;
}

std::variant<BatchGenerateRequest, ApiError> parse_batch_generate(std::string_view body, const ParseLimits& limits) {
    RZ_PARSE_OBJECT(o, body);
    BatchGenerateRequest r;
    const json* p = find(o, "prompts");
    if (!p) return ApiError::bad_request("'prompts' is required", "prompts", "missing_field");
    if (!p->is_array()) return type_error("prompts", "an array of strings", *p);
    if (p->empty()) return ApiError::bad_request("'prompts' must not be empty", "prompts");
    if (p->size() > limits.max_batch_prompts)
        return ApiError::bad_request(fmt::format("'prompts' holds {} prompts; at most {} are allowed", p->size(),
                                                 limits.max_batch_prompts), "prompts");
    for (const auto& s : *p) {
        if (!s.is_string()) return type_error("prompts", "an array of strings", s);
        r.prompts.push_back(s.get<std::string>());
    }
    if (auto e = read_realizar_generation(o, limits, r.gen)) return *e;
    return r;
}

std::variant<TokenizeRequest, ApiError> parse_tokenize(std::string_view body) {
    RZ_PARSE_OBJECT(o, body);
    TokenizeRequest r;
    if (auto e = read_string(o, "text", r.text, true)) return *e;
    if (auto e = read_bool(o, "add_special", r.add_special)) return *e;
    if (auto e = read_bool(o, "parse_special", r.parse_special)) return *e;
    return r;
}

static Err read_token_ids(const json& o, const char* key, std::vector<int32_t>& out) {
    const json* v = find(o, key);
    if (!v) return ApiError::bad_request(fmt::format("'{}' is required", key), key, "missing_field");
    if (!v->is_array()) return type_error(key, "an array of integers", *v);
    out.reserve(v->size());
    for (const auto& t : *v) {
        if (!t.is_number_integer()) return type_error(key, "an array of integers", t);
        const int64_t x = t.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(t.get<uint64_t>(), 1ull << 40))
                                                 : t.get<int64_t>();
        if (x < 0 || x > std::numeric_limits<int32_t>::max())
            return ApiError::bad_request(fmt::format("'{}' holds {}, not a token id", key, x), key);
        out.push_back(static_cast<int32_t>(x));
    }
    return {};
}

std::variant<DetokenizeRequest, ApiError> parse_detokenize(std::string_view body) {
    RZ_PARSE_OBJECT(o, body);
    DetokenizeRequest r;
    if (auto e = read_token_ids(o, "token_ids", r.token_ids)) return *e;
    if (auto e = read_bool(o, "skip_special", r.skip_special)) return *e;
    return r;
}

// n, best_of and streams: only what a single sequence per request can honour.
static Err read_openai_common(const json& o, std::string& model, bool& stream, bool& include_usage) {
    if (auto e = read_string(o, "model", model, false)) return e;
    std::optional<int64_t> n;
    if (auto e = read_int(o, "n", 1, 128, n)) return e;
    if (n && *n != 1)
        return ApiError::bad_request(fmt::format("'n' is {}; this server returns one choice per request (n must be 1)",
                                                 *n), "n", "unsupported_value");
    std::optional<int64_t> best_of;
    if (auto e = read_int(o, "best_of", 1, 128, best_of)) return e;
    if (best_of && *best_of != 1)
        return ApiError::bad_request("'best_of' must be 1 on this server", "best_of", "unsupported_value");
    if (auto e = read_bool(o, "stream", stream)) return e;
    if (const json* so = find(o, "stream_options")) {
        if (!so->is_object()) return type_error("stream_options", "an object", *so);
        if (auto e = read_bool(*so, "include_usage", include_usage)) return e;
    }
    return {};
}

std::variant<CompletionRequest, ApiError> parse_completion(std::string_view body, const ParseLimits& limits) {
    RZ_PARSE_OBJECT(o, body);
    CompletionRequest r;
    if (auto e = read_openai_common(o, r.model, r.stream, r.include_usage)) return *e;
    const json* p = find(o, "prompt");
    if (!p) return ApiError::bad_request("'prompt' is required", "prompt", "missing_field");
    if (p->is_string()) {
        r.prompt = p->get<std::string>();
    } else if (p->is_array()) {
        if (p->empty()) return ApiError::bad_request("'prompt' must not be an empty array", "prompt");
        if ((*p)[0].is_string()) {
            if (p->size() != 1)
                return ApiError::bad_request(fmt::format("'prompt' holds {} prompts; this server takes one per request",
                                                         p->size()), "prompt", "unsupported_value");
            r.prompt = (*p)[0].get<std::string>();
        } else if ((*p)[0].is_array()) {
            return ApiError::bad_request("'prompt' as an array of token arrays is not supported; send one prompt",
                                         "prompt", "unsupported_value");
        } else {
            std::vector<int32_t> ids;
            if (auto e = read_token_ids(o, "prompt", ids)) return *e;
            r.prompt = std::move(ids);
        }
    } else {
        return type_error("prompt", "a string, an array of one string, or an array of token ids", *p);
    }
    if (auto e = read_generation(o, limits, {"max_tokens"}, 16, r.gen)) return *e;  // OpenAI's default: 16
    if (auto e = read_bool(o, "echo", r.echo)) return *e;
    std::optional<int64_t> lp;
    if (auto e = read_int(o, "logprobs", 0, 20, lp)) return *e;
    if (lp) {
        r.gen.logprobs = true;
        r.gen.top_logprobs = static_cast<int>(*lp);
    }
    return r;
}

std::variant<ChatRequest, ApiError> parse_chat(std::string_view body, const ParseLimits& limits) {
    RZ_PARSE_OBJECT(o, body);
    ChatRequest r;
    if (auto e = read_openai_common(o, r.model, r.stream, r.include_usage)) return *e;
    const json* m = find(o, "messages");
    if (!m) return ApiError::bad_request("'messages' is required", "messages", "missing_field");
    if (!m->is_array()) return type_error("messages", "an array of message objects", *m);
    if (m->empty()) return ApiError::bad_request("'messages' must not be empty", "messages");
    for (size_t i = 0; i < m->size(); ++i) {
        const json& msg = (*m)[i];
        const std::string where = fmt::format("messages[{}]", i);
        if (!msg.is_object()) return type_error(where, "an object", msg);
        ChatMessage cm;
        if (auto e = read_string(msg, "role", cm.role, true)) {
            e->message = where + ": " + e->message;
            return *e;
        }
        if (cm.role == "developer") cm.role = "system";
        if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
            return ApiError::bad_request(fmt::format("{}.role must be system, user, assistant or developer, got \"{}\"",
                                                     where, cm.role), "messages");
        const json* c = find(msg, "content");
        if (!c) {
            if (cm.role != "assistant")
                return ApiError::bad_request(where + ".content is required", "messages", "missing_field");
        } else if (c->is_string()) {
            cm.content = c->get<std::string>();
        } else if (c->is_array()) {
            // Content parts: only text parts carry meaning for a text model.
            for (const auto& part : *c) {
                if (!part.is_object()) return type_error(where + ".content[]", "an object", part);
                std::string type, text;
                if (auto e = read_string(part, "type", type, true)) return *e;
                if (type != "text")
                    return ApiError::bad_request(fmt::format("{}: content part type \"{}\" is not supported (text only)",
                                                             where, type), "messages", "unsupported_value");
                if (auto e = read_string(part, "text", text, true)) return *e;
                cm.content += text;
            }
        } else {
            return type_error(where + ".content", "a string or an array of content parts", *c);
        }
        r.messages.push_back(std::move(cm));
    }
    if (auto e = read_generation(o, limits, {"max_tokens", "max_completion_tokens"}, limits.default_max_tokens, r.gen))
        return *e;
    if (auto e = read_bool(o, "logprobs", r.gen.logprobs)) return *e;
    std::optional<int64_t> top;
    if (auto e = read_int(o, "top_logprobs", 0, 20, top)) return *e;
    if (top) {
        if (!r.gen.logprobs)
            return ApiError::bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
        r.gen.top_logprobs = static_cast<int>(*top);
    }
    return r;
}

}  // namespace rz::server
