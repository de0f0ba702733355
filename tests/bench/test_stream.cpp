// Stream parsers of the four server APIs against recorded streams of their documented formats
// (tests/bench/data: llama.cpp server /completion SSE, Ollama /api/generate NDJSON, OpenAI completions SSE,
// realizar /stream/generate SSE), fed whole and split at every byte.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "realizar/bench/http.h"

using namespace rz::bench;

namespace {

std::string read_data(const std::string& name) {
    std::ifstream in(std::string(RZ_SOURCE_DIR) + "/tests/bench/data/" + name, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Parsed {
    std::vector<std::string> tokens;
    int done = 0;
    std::optional<int64_t> n;
    std::vector<std::string> errors;
};

Parsed parse(Api api, const std::string& stream, size_t chunk) {
    StreamParser p(api);
    Parsed out;
    auto take = [&](const std::vector<StreamEvent>& evs) {
        for (const auto& e : evs) {
            if (e.kind == StreamEvent::kToken) out.tokens.push_back(e.text);
            else if (e.kind == StreamEvent::kDone) ++out.done, out.n = e.n_generated;
            else out.errors.push_back(e.text);
        }
    };
    for (size_t i = 0; i < stream.size(); i += chunk) take(p.feed(std::string_view(stream).substr(i, chunk)));
    if (out.done == 0) take(p.finish());
    return out;
}

void expect_all_splits(Api api, const std::string& stream, const std::vector<std::string>& tokens, int64_t n) {
    ASSERT_FALSE(stream.empty());
    for (size_t chunk : {stream.size(), size_t{1}, size_t{7}, size_t{64}}) {
        Parsed p = parse(api, stream, chunk);
        EXPECT_EQ(p.tokens, tokens) << "chunk " << chunk;
        EXPECT_EQ(p.done, 1);
        EXPECT_EQ(p.n, n);
        EXPECT_TRUE(p.errors.empty()) << p.errors.front();
    }
}

}  // namespace

TEST(BenchStream, LlamaCppCompletion) {
    expect_all_splits(Api::kLlamaCpp, read_data("llama_cpp_completion.sse"), {"Once", " upon", " a"}, 3);
}

TEST(BenchStream, OllamaGenerate) {
    expect_all_splits(Api::kOllama, read_data("ollama_generate.ndjson"), {"Once", " upon", " a"}, 3);
}

TEST(BenchStream, OpenAICompletionsUsesUsageAndSkipsTheFinishChunk) {
    expect_all_splits(Api::kOpenAI, read_data("openai_completions.sse"), {"Once", " upon"}, 2);
}

TEST(BenchStream, RealizarSseWithCrlfAndComments) {
    // An empty text piece is still one token (text that is not yet safe to show).
    expect_all_splits(Api::kRealizar, read_data("realizar_stream.sse"), {",", " there", ""}, 3);
}

TEST(BenchStream, OpenAIChatDeltas) {
    const std::string s =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":null}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";
    Parsed p = parse(Api::kOpenAI, s, 5);
    EXPECT_EQ(p.tokens, (std::vector<std::string>{"Hi", " there"}));
    EXPECT_EQ(p.done, 1);
    EXPECT_FALSE(p.n.has_value());
}

TEST(BenchStream, TruncatedAndMalformedStreamsAreErrors) {
    std::string s = read_data("ollama_generate.ndjson");
    s.resize(s.rfind("{\"model\""));  // drop the final done:true line
    Parsed p = parse(Api::kOllama, s, 1000);
    EXPECT_EQ(p.done, 0);
    ASSERT_EQ(p.errors.size(), 1u);
    EXPECT_NE(p.errors[0].find("without its final event"), std::string::npos);

    Parsed bad = parse(Api::kLlamaCpp, "data: {not json\n\n", 1000);
    ASSERT_FALSE(bad.errors.empty());
    EXPECT_NE(bad.errors[0].find("malformed"), std::string::npos);

    Parsed err = parse(Api::kRealizar, "event: error\ndata: {\"message\":\"context overflow\"}\n\n", 3);
    ASSERT_FALSE(err.errors.empty());
    EXPECT_EQ(err.errors[0], "context overflow");

    Parsed oerr = parse(Api::kOllama, "{\"error\":\"model 'x' not found\"}\n", 1000);
    ASSERT_FALSE(oerr.errors.empty());
    EXPECT_EQ(oerr.errors[0], "model 'x' not found");
}

TEST(BenchStream, RequestBodiesFollowEachApi) {
    using nlohmann::json;
    auto r = build_request(Api::kLlamaCpp, "", "Hi", 16);
    EXPECT_EQ(r.path, "/completion");
    json j = json::parse(r.body);
    EXPECT_EQ(j["n_predict"], 16);
    EXPECT_EQ(j["stream"], true);
    r = build_request(Api::kOllama, "tinyllama", "Hi", 16);
    EXPECT_EQ(r.path, "/api/generate");
    j = json::parse(r.body);
    EXPECT_EQ(j["model"], "tinyllama");
    EXPECT_EQ(j["options"]["num_predict"], 16);
    r = build_request(Api::kOpenAI, "", "Hi", 16);
    EXPECT_EQ(r.path, "/v1/completions");
    EXPECT_EQ(json::parse(r.body)["max_tokens"], 16);
    r = build_request(Api::kRealizar, "", "Hi", 16);
    EXPECT_EQ(r.path, "/stream/generate");
    EXPECT_FALSE(json::parse(r.body).contains("ignore_eos"));
    EXPECT_EQ(json::parse(r.body)["cache_prompt"], false);  // repeated prompts pay their prompt, as on llama.cpp
    // --ignore-eos: the field every API but ollama's understands.
    for (Api api : {Api::kRealizar, Api::kOpenAI, Api::kLlamaCpp})
        EXPECT_EQ(json::parse(build_request(api, "", "Hi", 16, true).body)["ignore_eos"], true) << api_name(api);
    EXPECT_FALSE(json::parse(build_request(Api::kOllama, "m", "Hi", 16, true).body).contains("ignore_eos"));
    EXPECT_FALSE(parse_api("vllm").ok());
    EXPECT_EQ(*parse_api("llama.cpp"), Api::kLlamaCpp);
}

TEST(BenchStream, IntListsAndPromptFiles) {
    EXPECT_EQ(*parse_int_list("1,4,16", "--concurrency"), (std::vector<int>{1, 4, 16}));
    EXPECT_FALSE(parse_int_list("1,,4", "x").ok());
    EXPECT_FALSE(parse_int_list("0", "x").ok());
    EXPECT_FALSE(parse_int_list("4096", "x").ok());
    EXPECT_FALSE(load_prompts("/nonexistent/prompts.txt").ok());
}
