#pragma once
// External benchmarks: `realizar bench --url URL --api realizar|openai|llama-cpp|ollama` drives a running
// server with the same prompts over streaming requests, one thread per concurrent client, and measures
// per request the time to first token (TTFT), the gaps between streamed tokens (ITL), the request latency,
// and per concurrency level the aggregate tokens/s (all streamed tokens / wall time of the level).
//
// Request and stream formats (each API's documented streaming endpoint):
//   realizar  POST /stream/generate {"prompt","max_tokens"}         SSE "event: token" / "event: done" / "event: error"
//   openai    POST /v1/completions  {"model","prompt","max_tokens","stream":true}  SSE "data: {choices:[{text}]}", "data: [DONE]"
//   llama-cpp POST /completion      {"prompt","n_predict","stream":true}          SSE "data: {"content","stop":false}"
//   ollama    POST /api/generate    {"model","prompt","stream":true,"options":{"num_predict"}}  NDJSON {"response","done"}
// One streamed event = one token for the token timing (servers stream one token per event); the token count
// of a request is the server's own count when the final event carries it (usage / tokens_predicted /
// eval_count), else the number of token events.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realizar/bench/report.h"

namespace rz::bench {

enum class Api { kRealizar, kOpenAI, kLlamaCpp, kOllama };
Result<Api> parse_api(std::string_view s);
const char* api_name(Api a);  // "realizar", "openai", "llama-cpp", "ollama"

struct StreamEvent {
    enum Kind { kToken, kDone, kError } kind = kToken;
    std::string text;                    // kToken: the text piece; kError: the message
    std::optional<int64_t> n_generated;  // kDone: the server's token count, when it sends one
};

// Incremental parser of one response stream: feed() the body bytes as they arrive (split anywhere),
// finish() at the end of the body. Malformed lines become kError events (never exceptions).
class StreamParser {
  public:
    explicit StreamParser(Api api) : api_(api) {}
    std::vector<StreamEvent> feed(std::string_view bytes);
    std::vector<StreamEvent> finish();

  private:
    void line(std::string_view l, std::vector<StreamEvent>& out);
    void data(std::string_view payload, std::vector<StreamEvent>& out);
    Api api_;
    std::string buf_;
    std::string event_;  // SSE "event:" of the event being read
    bool done_ = false;
    std::optional<int64_t> usage_;  // openai: usage.completion_tokens seen in a chunk
};

// Path and JSON body of one streaming request.
struct HttpRequestSpec {
    std::string path;
    std::string body;
};
// ignore_eos: ask the server to generate all max_tokens past end-of-text (realizar, openai-compatible servers such
// as vLLM and llama.cpp's, llama.cpp's /completion); the ollama API has no such option (run_http_bench refuses it).
HttpRequestSpec build_request(Api api, const std::string& model, const std::string& prompt, int max_tokens, bool ignore_eos = false);

// What one request measured.
struct RequestSample {
    bool ok = false;
    std::string error;
    double ttft_ms = 0.0;
    double latency_ms = 0.0;
    std::vector<double> itl_ms;  // gaps between consecutive token events
    int64_t tokens = 0;
};

struct HttpBenchOptions {
    std::string url;                       // http://host:port
    Api api = Api::kRealizar;
    std::string model;                     // model name sent to openai/ollama ("" -> "default")
    std::string runtime;                   // label in the report ("" -> the API name)
    std::vector<int> concurrency = {1};
    std::vector<std::string> prompts;      // used round-robin
    int max_tokens = 64;
    bool ignore_eos = false;               // every request generates max_tokens (throughput runs)
    int requests = 0;                      // per level; 0 = max(8, 2 * concurrency)
    int timeout_s = 60;                    // per request: no byte for this long (or a connect this slow) fails it (--timeout)
    // Before the first level, poll the API's readiness route (realizar and llama-cpp GET /health, openai
    // GET /v1/models, ollama GET /api/version) until it answers 200: servers bind their port before the
    // model is loaded and answer 503 meanwhile. 0 = no wait.
    double wait_ready_s = 60;
};

// Polls the readiness route; error when it has not answered 200 within `seconds`.
Status wait_until_ready(const HttpBenchOptions& o, double seconds);

// Runs one streaming request (blocking).
RequestSample run_request(const HttpBenchOptions& o, const std::string& prompt);

Result<Report> run_http_bench(const HttpBenchOptions& o);

// --prompts FILE: one prompt per line (blank lines skipped), or a JSON array of strings. At most 10000.
Result<std::vector<std::string>> load_prompts(const std::string& path);
std::vector<std::string> default_prompts();
Result<std::vector<int>> parse_int_list(const std::string& s, const char* what);  // "1,4,16"

}  // namespace rz::bench
