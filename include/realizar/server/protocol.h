#pragma once
// The JSON edge of the server: request bodies are parsed and validated here into native structs (JSON
// never reaches the engine), and errors are written in OpenAI's shape {"error": {message, type, code}}.
// Validation is strict about what it reads (types, ranges, UTF-8) and ignores unknown fields, as OpenAI does.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "realizar/core/status.h"

namespace rz::server {

using json = nlohmann::json;

// An error answered to the client: HTTP status plus the OpenAI error object.
struct ApiError {
    int status = 400;
    std::string message;
    std::string type = "invalid_request_error";
    std::string code;   // machine-readable; "" -> null
    std::string param;  // offending field; "" -> null

    static ApiError bad_request(std::string message, std::string param = {}, std::string code = "invalid_value");
    static ApiError from_status(const Status& st);  // maps StatusCode to HTTP status + type
    std::string to_json() const;
};

// "an integer", "a string", ... for error messages about a JSON value of the wrong type.
const char* json_type_name(const nlohmann::json& v);

// Dumps JSON for a response; invalid UTF-8 (never expected: text is cut at character boundaries) is
// replaced rather than throwing.
std::string dump_json(const json& j);

enum class Strategy { kGreedy, kTopK, kTopP };
const char* strategy_name(Strategy s);

struct SamplingSpec {
    Strategy strategy = Strategy::kGreedy;
    float temperature = 1.0f;
    int top_k = 40;
    float top_p = 1.0f;
    float min_p = 0.0f;
    float repeat_penalty = 1.0f;
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    std::optional<uint64_t> seed;  // none: a fresh random seed per request
};

struct GenerationSpec {
    int max_tokens = 16;
    SamplingSpec sampling;
    std::vector<std::string> stop;  // stop strings (never part of the output)
    bool logprobs = false;          // return the sampled token's log-probability
    int top_logprobs = 0;           // and this many alternatives per position
    // Also the log-probability of every prompt token after the first (completions with echo and logprobs: how
    // lm-eval-harness scores a text). The prompt is then evaluated whole (no cached prefix has logits).
    bool prompt_logprobs = false;
    bool ignore_eos = false;
    // Start from the longest prefix of this prompt a slot still holds in its KV cache (llama.cpp's
    // `cache_prompt`, default on there too). false: evaluate the whole prompt.
    bool cache_prompt = true;
};

// Server-wide limits applied while parsing.
struct ParseLimits {
    int max_tokens_cap = 2048;      // --max-tokens: a request asking for more gets 400
    int default_max_tokens = 256;   // when the request names none (realizar API and chat)
    size_t max_batch_prompts = 64;
    size_t max_stop_strings = 16;
};

// Prompt given as text or as token ids (OpenAI completions accept both).
using Prompt = std::variant<std::string, std::vector<int32_t>>;

struct GenerateRequest {  // POST /generate, /stream/generate
    std::string prompt;
    GenerationSpec gen;
};

struct BatchGenerateRequest {  // POST /batch/generate
    std::vector<std::string> prompts;
    GenerationSpec gen;
};

struct TokenizeRequest {  // POST /tokenize
    std::string text;
    bool add_special = true;
    bool parse_special = false;
};

struct DetokenizeRequest {  // POST /detokenize
    std::vector<int32_t> token_ids;
    bool skip_special = true;
};

struct CompletionRequest {  // POST /v1/completions
    std::string model;
    Prompt prompt;
    GenerationSpec gen;
    bool stream = false;
    bool include_usage = false;
    bool echo = false;
};

struct ChatMessage {
    std::string role;  // system, user, assistant (developer is read as system)
    std::string content;
};

struct ChatRequest {  // POST /v1/chat/completions
    std::string model;
    std::vector<ChatMessage> messages;
    GenerationSpec gen;
    bool stream = false;
    bool include_usage = false;
};

// Each parser checks that the body is a JSON object, then reads its fields.
std::variant<GenerateRequest, ApiError> parse_generate(std::string_view body, const ParseLimits& limits);
std::variant<BatchGenerateRequest, ApiError> parse_batch_generate(std::string_view body, const ParseLimits& limits);
std::variant<TokenizeRequest, ApiError> parse_tokenize(std::string_view body);
std::variant<DetokenizeRequest, ApiError> parse_detokenize(std::string_view body);
std::variant<CompletionRequest, ApiError> parse_completion(std::string_view body, const ParseLimits& limits);
std::variant<ChatRequest, ApiError> parse_chat(std::string_view body, const ParseLimits& limits);

// Parses a body into a JSON object: 400 for invalid JSON (with the position), invalid UTF-8, or a non-object.
std::variant<json, ApiError> parse_json_object(std::string_view body);

// True when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);
// Length of the longest prefix of s that does not end inside a multi-byte UTF-8 character. Bytes that can
// never become valid are counted as complete (they are passed on, then replaced when dumped).
size_t utf8_complete_prefix(std::string_view s);

}  // namespace rz::server
