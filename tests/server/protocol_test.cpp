// Request parsing and validation at the JSON edge, SSE framing and UTF-8 handling.
#include <gtest/gtest.h>

#include "realizar/server/protocol.h"
#include "realizar/server/sse.h"

namespace rz::server {
namespace {

ParseLimits limits() {
    ParseLimits l;
    l.max_tokens_cap = 100;
    l.default_max_tokens = 32;
    return l;
}

template <typename T>
ApiError err(const std::variant<T, ApiError>& v) {
    EXPECT_TRUE(std::holds_alternative<ApiError>(v));
    return std::holds_alternative<ApiError>(v) ? std::get<ApiError>(v) : ApiError{};
}

TEST(Protocol, GenerateDefaultsAndStrategies) {
    auto v = parse_generate(R"({"prompt":"Once upon a time","max_tokens":40,"unknown_field":{"x":1}})", limits());
    ASSERT_TRUE(std::holds_alternative<GenerateRequest>(v));
    const auto& r = std::get<GenerateRequest>(v);
    EXPECT_EQ(r.prompt, "Once upon a time");
    EXPECT_EQ(r.gen.max_tokens, 40);
    EXPECT_EQ(r.gen.sampling.strategy, Strategy::kGreedy);

    auto d = std::get<GenerateRequest>(parse_generate(R"({"prompt":"x"})", limits()));
    EXPECT_EQ(d.gen.max_tokens, 32);

    auto t = std::get<GenerateRequest>(parse_generate(R"({"prompt":"x","temperature":0.7,"seed":-5})", limits()));
    EXPECT_EQ(t.gen.sampling.strategy, Strategy::kTopP);
    EXPECT_FLOAT_EQ(t.gen.sampling.temperature, 0.7f);
    ASSERT_TRUE(t.gen.sampling.seed.has_value());

    auto k = std::get<GenerateRequest>(parse_generate(R"({"prompt":"x","strategy":"top_k","top_k":5})", limits()));
    EXPECT_EQ(k.gen.sampling.strategy, Strategy::kTopK);
    EXPECT_EQ(k.gen.sampling.top_k, 5);
    EXPECT_FLOAT_EQ(k.gen.sampling.temperature, 1.0f);
}

TEST(Protocol, GenerateErrorsNameTheField) {
    EXPECT_EQ(err(parse_generate(R"({"max_tokens":3})", limits())).param, "prompt");
    auto e = err(parse_generate(R"({"prompt":5})", limits()));
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(e.message.find("'prompt' must be a string"), std::string::npos) << e.message;
    e = err(parse_generate(R"({"prompt":"x","max_tokens":"ten"})", limits()));
    EXPECT_EQ(e.param, "max_tokens");
    e = err(parse_generate(R"({"prompt":"x","max_tokens":1000})", limits()));
    EXPECT_NE(e.message.find("limit of 100"), std::string::npos) << e.message;
    e = err(parse_generate(R"({"prompt":"x","max_tokens":1000000000000})", limits()));  // beyond int32: the same message
    EXPECT_NE(e.message.find("limit of 100"), std::string::npos) << e.message;
    e = err(parse_generate(R"({"prompt":"x","max_tokens":-1})", limits()));
    EXPECT_EQ(e.param, "max_tokens");
    e = err(parse_generate(R"({"prompt":"x","temperature":9})", limits()));
    EXPECT_EQ(e.param, "temperature");
    e = err(parse_generate(R"({"prompt":"x","strategy":"beam"})", limits()));
    EXPECT_EQ(e.param, "strategy");
    e = err(parse_generate(R"({"prompt":"x","stop":[1]})", limits()));
    EXPECT_EQ(e.param, "stop");
    e = err(parse_generate(R"({"prompt":"x","top_p":0})", limits()));
    EXPECT_EQ(e.param, "top_p");
}

TEST(Protocol, MalformedBodies) {
    EXPECT_EQ(err(parse_generate("", limits())).code, "invalid_json");
    auto e = err(parse_generate(R"({"prompt": "x",)", limits()));
    EXPECT_EQ(e.code, "invalid_json");
    EXPECT_NE(e.message.find("byte"), std::string::npos);
    EXPECT_EQ(err(parse_generate("[1,2]", limits())).code, "invalid_json");
    // A number beyond a double is invalid JSON (a 400), not an exception (it was a 500; found by fuzz_protocol).
    for (const char* body : {R"({"prompt":"x","max_tokens":1e999})", R"({"messages":[],"temperature":-1e400})", "[999e999"}) {
        e = err(parse_generate(body, limits()));
        EXPECT_EQ(e.code, "invalid_json") << body;
        EXPECT_NE(e.message.find("number overflow"), std::string::npos) << e.message;
        EXPECT_EQ(err(parse_chat(body, limits())).code, "invalid_json") << body;
    }
    EXPECT_EQ(err(parse_generate("{\"prompt\":\"\xff\xfe\"}", limits())).code, "invalid_utf8");
    // Overlong encoding and a lone surrogate are invalid too.
    EXPECT_EQ(err(parse_generate("{\"prompt\":\"\xc0\xaf\"}", limits())).code, "invalid_utf8");
    EXPECT_EQ(err(parse_generate("{\"prompt\":\"\xed\xa0\x80\"}", limits())).code, "invalid_utf8");
}

TEST(Protocol, ErrorJsonHasOpenAIShape) {
    ApiError e = ApiError::bad_request("bad thing", "field");
    auto j = json::parse(e.to_json());
    EXPECT_EQ(j["error"]["message"], "bad thing");
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    EXPECT_EQ(j["error"]["code"], "invalid_value");
    EXPECT_EQ(j["error"]["param"], "field");
    EXPECT_EQ(ApiError::from_status(resource_exhausted("q")).status, 503);
    EXPECT_EQ(ApiError::from_status(invalid_argument("q")).status, 400);
    EXPECT_EQ(ApiError::from_status(internal_error("q")).status, 500);
}

TEST(Protocol, Completions) {
    auto v = parse_completion(R"({"model":"m","prompt":["hi"],"max_tokens":7,"stream":true,
                                  "stream_options":{"include_usage":true},"logprobs":2,"stop":"\n"})", limits());
    ASSERT_TRUE(std::holds_alternative<CompletionRequest>(v));
    const auto& r = std::get<CompletionRequest>(v);
    EXPECT_EQ(std::get<std::string>(r.prompt), "hi");
    EXPECT_TRUE(r.stream);
    EXPECT_TRUE(r.include_usage);
    EXPECT_TRUE(r.gen.logprobs);
    EXPECT_EQ(r.gen.top_logprobs, 2);
    EXPECT_EQ(r.gen.stop, std::vector<std::string>{"\n"});
    EXPECT_EQ(r.gen.sampling.strategy, Strategy::kTopP);  // OpenAI default temperature 1

    auto d = std::get<CompletionRequest>(parse_completion(R"({"prompt":[1,2,3]})", limits()));
    EXPECT_EQ(std::get<std::vector<int32_t>>(d.prompt), (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(d.gen.max_tokens, 16);

    auto e = err(parse_completion(R"({"prompt":"x","n":2})", limits()));
    EXPECT_EQ(e.param, "n");
    EXPECT_NE(e.message.find("n must be 1"), std::string::npos);
    EXPECT_EQ(err(parse_completion(R"({"prompt":["a","b"]})", limits())).param, "prompt");
    EXPECT_EQ(err(parse_completion(R"({"prompt":"x","stream":"yes"})", limits())).param, "stream");
}

TEST(Protocol, Chat) {
    auto v = parse_chat(R"({"messages":[{"role":"developer","content":"be brief"},
                                        {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],
                            "max_completion_tokens":9,"temperature":0,"logprobs":true,"top_logprobs":3})", limits());
    ASSERT_TRUE(std::holds_alternative<ChatRequest>(v));
    const auto& r = std::get<ChatRequest>(v);
    ASSERT_EQ(r.messages.size(), 2u);
    EXPECT_EQ(r.messages[0].role, "system");
    EXPECT_EQ(r.messages[1].content, "hi there");
    EXPECT_EQ(r.gen.max_tokens, 9);
    EXPECT_EQ(r.gen.sampling.strategy, Strategy::kGreedy);
    EXPECT_EQ(r.gen.top_logprobs, 3);

    EXPECT_EQ(err(parse_chat(R"({"messages":[]})", limits())).param, "messages");
    EXPECT_EQ(err(parse_chat(R"({"messages":"hi"})", limits())).param, "messages");
    EXPECT_EQ(err(parse_chat(R"({"messages":[{"role":"wizard","content":"x"}]})", limits())).param, "messages");
    EXPECT_EQ(err(parse_chat(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", limits())).param,
              "messages");
    EXPECT_EQ(err(parse_chat(R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", limits())).param,
              "top_logprobs");
}

TEST(Protocol, TokenizeDetokenize) {
    auto t = std::get<TokenizeRequest>(parse_tokenize(R"({"text":"abc","add_special":false})"));
    EXPECT_EQ(t.text, "abc");
    EXPECT_FALSE(t.add_special);
    auto d = std::get<DetokenizeRequest>(parse_detokenize(R"({"token_ids":[1,2]})"));
    EXPECT_EQ(d.token_ids.size(), 2u);
    EXPECT_EQ(err(parse_detokenize(R"({"token_ids":[1,-2]})")).param, "token_ids");
    EXPECT_EQ(err(parse_detokenize(R"({"token_ids":[1.5]})")).param, "token_ids");
}

TEST(Utf8, Validation) {
    EXPECT_TRUE(is_valid_utf8("plain ascii"));
    EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(is_valid_utf8("\x80"));
    EXPECT_FALSE(is_valid_utf8("\xe2\x82"));
    EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

TEST(Utf8, AccumulatorNeverSplitsACharacter) {
    const std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";  // a é € 😀 z
    // Feed one byte at a time: every piece handed out must be valid UTF-8 on its own.
    Utf8Accumulator acc;
    std::string out;
    for (char c : text) {
        const std::string piece = acc.push(std::string(1, c));
        EXPECT_TRUE(is_valid_utf8(piece)) << "split inside a character";
        out += piece;
    }
    out += acc.flush();
    EXPECT_EQ(out, text);
    EXPECT_EQ(utf8_complete_prefix("ab\xf0\x9f"), 2u);
    EXPECT_EQ(utf8_complete_prefix("ab\xf0\x9f\x98\x80"), 6u);
}

TEST(Sse, Framing) {
    EXPECT_EQ(sse_event("token", R"({"a":1})"), "event: token\ndata: {\"a\":1}\n\n");
    EXPECT_EQ(sse_data("[1]"), "data: [1]\n\n");
    EXPECT_EQ(std::string(kSseDone), "data: [DONE]\n\n");
    // JSON with newlines in strings stays on one data line.
    EXPECT_EQ(dump_json(json{{"t", "a\nb"}}).find('\n'), std::string::npos);
}

}  // namespace
}  // namespace rz::server
