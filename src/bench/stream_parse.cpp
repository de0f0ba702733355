// Stream parsers and request bodies of the four server APIs `realizar bench --url` speaks.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "realizar/bench/http.h"

namespace rz::bench {

using nlohmann::json;

Result<Api> parse_api(std::string_view s) {
    if (s == "realizar") return Api::kRealizar;
    if (s == "openai") return Api::kOpenAI;
    if (s == "llama-cpp" || s == "llama.cpp" || s == "llamacpp") return Api::kLlamaCpp;
    if (s == "ollama") return Api::kOllama;
    return invalid_argument("--api: '" + std::string(s) + "' is not one of realizar, openai, llama-cpp, ollama");
}

const char* api_name(Api a) {
    switch (a) {
        case Api::kRealizar: return "realizar";
        case Api::kOpenAI: return "openai";
        case Api::kLlamaCpp: return "llama-cpp";
        case Api::kOllama: return "ollama";
    }
    return "?";
}

HttpRequestSpec build_request(Api api, const std::string& model, const std::string& prompt, int max_tokens, bool ignore_eos) {
    const std::string m = model.empty() ? "default" : model;
    HttpRequestSpec spec;
    json body;
    switch (api) {
        case Api::kRealizar:
            // cache_prompt off, as for llama.cpp: the round-robin prompts repeat, and every request pays its prompt.
            spec.path = "/stream/generate";
            body = {{"prompt", prompt}, {"max_tokens", max_tokens}, {"cache_prompt", false}};
            break;
        case Api::kOpenAI:
            spec.path = "/v1/completions";
            body = {{"model", m}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"stream", true}};
            break;
        case Api::kLlamaCpp:
            spec.path = "/completion";
            body = {{"prompt", prompt}, {"n_predict", max_tokens}, {"stream", true}, {"cache_prompt", false}};
            break;
        case Api::kOllama:
            spec.path = "/api/generate";
            body = {{"model", m}, {"prompt", prompt}, {"stream", true}, {"options", {{"num_predict", max_tokens}}}};
            break;
    }
    if (ignore_eos && api != Api::kOllama) body["ignore_eos"] = true;
    spec.body = body.dump();
    return spec;
}

static std::optional<int64_t> int_at(const json& j, const char* a, const char* b = nullptr) {
    if (!j.is_object() || !j.contains(a)) return std::nullopt;
    const json& v = b ? (j[a].is_object() && j[a].contains(b) ? j[a][b] : json()) : j[a];
    if (v.is_number_integer()) return v.get<int64_t>();
    return std::nullopt;
}

std::vector<StreamEvent> StreamParser::feed(std::string_view bytes) {
    std::vector<StreamEvent> out;
    buf_.append(bytes);
    size_t start = 0;
    for (size_t nl; (nl = buf_.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view l(buf_.data() + start, nl - start);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        line(l, out);
    }
    buf_.erase(0, start);
    if (buf_.size() > (size_t{16} << 20)) {  // a 16 MiB line is not a token stream
        buf_.clear();
        out.push_back({StreamEvent::kError, "stream line longer than 16 MiB", std::nullopt});
    }
    return out;
}

std::vector<StreamEvent> StreamParser::finish() {
    std::vector<StreamEvent> out;
    if (!buf_.empty()) {
        std::string rest = std::move(buf_);
        buf_.clear();
        line(rest, out);
    }
    if (!done_) out.push_back({StreamEvent::kError, std::string("stream of ") + api_name(api_) + " ended without its final event", std::nullopt});
    return out;
}

void StreamParser::line(std::string_view l, std::vector<StreamEvent>& out) {
    if (done_) return;
    if (api_ == Api::kOllama) {  // NDJSON: every non-empty line is one JSON object
        if (!l.empty()) data(l, out);
        return;
    }
    if (l.empty()) {  // SSE: a blank line ends the event
        event_.clear();
        return;
    }
    if (l.front() == ':') return;  // SSE comment (keep-alive)
    auto field = [&](std::string_view name) -> std::optional<std::string_view> {
        if (l.substr(0, name.size()) != name) return std::nullopt;
        std::string_view v = l.substr(name.size());
        if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        return v;
    };
    if (auto ev = field("event:")) {
        event_ = std::string(*ev);
        return;
    }
    if (auto d = field("data:")) data(*d, out);
    // Other SSE fields (id:, retry:) carry nothing we measure.
}

void StreamParser::data(std::string_view payload, std::vector<StreamEvent>& out) {
    if (api_ == Api::kOpenAI && payload == "[DONE]") {
        done_ = true;
        out.push_back({StreamEvent::kDone, "", usage_});
        return;
    }
    json j = json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        out.push_back({StreamEvent::kError, "malformed stream data: " + std::string(payload.substr(0, 200)), std::nullopt});
        return;
    }
    if (j.contains("error")) {
        const json& e = j["error"];
        std::string msg = e.is_string() ? e.get<std::string>() : (e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : e.dump());
        done_ = true;
        out.push_back({StreamEvent::kError, msg, std::nullopt});
        return;
    }
    auto str = [&](const json& o, const char* k) { return o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : std::string(); };
    switch (api_) {
        case Api::kRealizar:
            if (event_ == "done") {
                done_ = true;
                out.push_back({StreamEvent::kDone, "", int_at(j, "num_generated")});
            } else if (event_ == "error") {
                done_ = true;
                out.push_back({StreamEvent::kError, str(j, "message").empty() ? j.dump() : str(j, "message"), std::nullopt});
            } else {
                out.push_back({StreamEvent::kToken, str(j, "text"), std::nullopt});
            }
            return;
        case Api::kOpenAI: {
            // Completion chunks carry choices[0].text, chat chunks choices[0].delta.content; a chunk with only
            // a finish_reason (or only usage) is not a token.
            if (auto n = int_at(j, "usage", "completion_tokens")) usage_ = n;
            if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return;
            const json& c = j["choices"][0];
            std::string text = str(c, "text");
            bool has_text = c.contains("text") && c["text"].is_string();
            if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content") && c["delta"]["content"].is_string()) {
                text = c["delta"]["content"].get<std::string>();
                has_text = true;
            }
            const bool finished = c.contains("finish_reason") && !c["finish_reason"].is_null();
            if (has_text && (!text.empty() || !finished)) out.push_back({StreamEvent::kToken, text, std::nullopt});
            return;
        }
        case Api::kLlamaCpp: {
            const bool stop = j.value("stop", false);
            const std::string text = str(j, "content");
            if (!stop || !text.empty()) out.push_back({StreamEvent::kToken, text, std::nullopt});
            if (stop) {
                done_ = true;
                out.push_back({StreamEvent::kDone, "", int_at(j, "tokens_predicted")});
            }
            return;
        }
        case Api::kOllama: {
            const bool done = j.value("done", false);
            const std::string text = str(j, "response");
            if (!done || !text.empty()) out.push_back({StreamEvent::kToken, text, std::nullopt});
            if (done) {
                done_ = true;
                out.push_back({StreamEvent::kDone, "", int_at(j, "eval_count")});
            }
            return;
        }
    }
}

Result<std::vector<std::string>> load_prompts(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return not_found("--prompts " + path + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    if (text.size() > (size_t{64} << 20)) return invalid_argument("--prompts " + path + ": larger than 64 MiB");
    std::vector<std::string> out;
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '[') {
        json j = json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_array()) return corrupt("--prompts " + path + ": not a JSON array of strings");
        for (const auto& p : j) {
            if (!p.is_string()) return corrupt("--prompts " + path + ": an entry is not a string");
            out.push_back(p.get<std::string>());
        }
    } else {
        std::istringstream ls(text);
        for (std::string l; std::getline(ls, l);) {
            if (!l.empty() && l.back() == '\r') l.pop_back();
            if (l.find_first_not_of(" \t") != std::string::npos) out.push_back(l);
        }
    }
    if (out.empty()) return invalid_argument("--prompts " + path + ": no prompts");
    if (out.size() > 10000) return invalid_argument("--prompts " + path + ": more than 10000 prompts");
    return out;
}

std::vector<std::string> default_prompts() {
    return {"Once upon a time", "The little dog", "Tell me a story about a cat who", "One day, a girl named Lily",
            "The sun was shining and", "Tom wanted to play with his ball but", "In a small house near the forest",
            "The teacher asked the children"};
}

Result<std::vector<int>> parse_int_list(const std::string& s, const char* what) {
    std::vector<int> out;
    std::istringstream in(s);
    for (std::string part; std::getline(in, part, ',');) {
        char* end = nullptr;
        const long v = std::strtol(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || v < 1 || v > 1024)
            return invalid_argument(std::string(what) + ": '" + part + "' is not an integer in 1..1024");
        out.push_back(static_cast<int>(v));
    }
    if (out.empty()) return invalid_argument(std::string(what) + ": empty list");
    return out;
}

}  // namespace rz::bench
