// End-to-end tests of `realizar serve` with the real stories260K model: every route over HTTP, SSE framing,
// error answers, disconnects, concurrency, auth, shutdown. Each test starts its own server process on a free
// loopback port and always kills it.
#include <atomic>
#include <cmath>
#include <set>
#include <thread>

#include "server/harness.h"

namespace rz::test {
namespace {

class ServerE2E : public ::testing::Test {
protected:
    void SetUp() override {
        srv_ = ServerProcess::start({"--model", stories_gguf(), "--parallel", "4", "--max-tokens", "512"});
        ASSERT_NE(srv_, nullptr);
    }
    json post_json(const std::string& path, const json& body, int expect_status = 200) {
        auto c = srv_->client();
        auto res = c.Post(path, body.dump(), "application/json");
        EXPECT_TRUE(res) << "no response from " << path;
        if (!res) return {};
        EXPECT_EQ(res->status, expect_status) << path << ": " << res->body;
        auto j = json::parse(res->body, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << res->body;
        return j;
    }
    std::string raw(const std::string& request) {
        RawConn c(srv_->port());
        EXPECT_TRUE(c.ok());
        c.send_all(request);
        return c.read_until("");
    }
    static int status_of(const std::string& response) {
        return response.size() > 12 ? std::atoi(response.c_str() + 9) : -1;
    }
    std::unique_ptr<ServerProcess> srv_;
};

// The continuation llama2.c prints for "Once upon a time" at temperature 0 (reference output).
std::string reference_continuation() {
    const std::string ref = read_file(std::string(RZ_SHARED_DIR) +
                                      "/data/tinystories-260K/reference/greedy_prompt_once_upon_a_time_n256.stdout.txt");
    const std::string prompt = "Once upon a time";
    EXPECT_EQ(ref.rfind(prompt, 0), 0u);
    return ref.substr(prompt.size());
}

TEST_F(ServerE2E, HealthAndModels) {
    auto c = srv_->client();
    auto res = c.Get("/health");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    auto j = json::parse(res->body);
    EXPECT_EQ(j["status"], "ok");
    EXPECT_EQ(j["model"], "stories260K");
    EXPECT_TRUE(j["version"].is_string());
    EXPECT_EQ(j["compute_mode"], "cpu");
    res = c.Get("/v1/models");
    ASSERT_TRUE(res);
    j = json::parse(res->body);
    EXPECT_EQ(j["object"], "list");
    EXPECT_EQ(j["data"][0]["id"], "stories260K");
    EXPECT_EQ(j["data"][0]["object"], "model");
}

TEST_F(ServerE2E, GenerateMatchesLlama2cReference) {
    json j = post_json("/generate", {{"prompt", "Once upon a time"}, {"max_tokens", 64}});
    const std::string text = j["text"];
    EXPECT_EQ(j["num_generated"], 64);
    EXPECT_EQ(j["token_ids"].size(), 64u);
    EXPECT_EQ(j["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
    EXPECT_EQ(j["usage"]["completion_tokens"], 64);
    EXPECT_EQ(j["usage"]["total_tokens"], 69);
    EXPECT_EQ(reference_continuation().rfind(text, 0), 0u) << "got: " << text;
    EXPECT_GT(text.size(), 150u);
}

TEST_F(ServerE2E, StreamGenerateSseFraming) {
    auto c = srv_->client();
    std::vector<std::string> chunks;
    std::string body;
    auto res = c.Post("/stream/generate", json{{"prompt", "Once upon a time"}, {"max_tokens", 30}}.dump(),
                      "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    auto events = parse_sse(res->body);
    ASSERT_TRUE(events.has_value()) << "bad SSE framing:\n" << res->body;
    ASSERT_EQ(events->size(), 31u);
    std::string concat;
    for (size_t i = 0; i + 1 < events->size(); ++i) {
        EXPECT_EQ((*events)[i].event, "token");
        auto t = json::parse((*events)[i].data);
        EXPECT_TRUE(t["token_id"].is_number_integer());
        concat += t["text"].get<std::string>();
    }
    EXPECT_EQ(events->back().event, "done");
    auto done = json::parse(events->back().data);
    EXPECT_EQ(done["text"], concat);
    EXPECT_EQ(done["num_generated"], 30);
    EXPECT_EQ(done["finish_reason"], "length");
    // Same tokens as the non-streamed route.
    json g = post_json("/generate", {{"prompt", "Once upon a time"}, {"max_tokens", 30}});
    EXPECT_EQ(g["text"], concat);
}

TEST_F(ServerE2E, BatchGenerate) {
    json j = post_json("/batch/generate", {{"prompts", {"Once upon a time", "The cat", "Lily"}}, {"max_tokens", 12}});
    ASSERT_EQ(j["results"].size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(j["results"][i]["num_generated"], 12);
        EXPECT_FALSE(j["results"][i]["text"].get<std::string>().empty());
    }
    json single = post_json("/generate", {{"prompt", "The cat"}, {"max_tokens", 12}});
    EXPECT_EQ(j["results"][1]["text"], single["text"]);
    EXPECT_EQ(j["usage"]["completion_tokens"], 36);
}

TEST_F(ServerE2E, TokenizeDetokenize) {
    json t = post_json("/tokenize", {{"text", "Once upon a time"}});
    ASSERT_TRUE(t["token_ids"].is_array());
    EXPECT_EQ(t["num_tokens"], t["token_ids"].size());
    EXPECT_EQ(t["token_ids"][0], 1);  // BOS
    json d = post_json("/detokenize", {{"token_ids", t["token_ids"]}});
    EXPECT_EQ(d["text"], "Once upon a time");
    json e = post_json("/detokenize", {{"token_ids", {1, 999999}}}, 400);
    EXPECT_EQ(e["error"]["param"], "token_ids");
}

TEST_F(ServerE2E, OpenAICompletions) {
    json j = post_json("/v1/completions", {{"model", "anything"}, {"prompt", "Once upon a time"}, {"max_tokens", 20},
                                           {"temperature", 0}, {"logprobs", 2}});
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["completion_tokens"], 20);
    EXPECT_EQ(reference_continuation().rfind(j["choices"][0]["text"].get<std::string>(), 0), 0u);
    const auto& lp = j["choices"][0]["logprobs"];
    ASSERT_EQ(lp["token_logprobs"].size(), 20u);
    EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
    for (const auto& x : lp["token_logprobs"]) EXPECT_LE(x.get<double>(), 0.0);

    // Stop string: the text ends right before it and finish_reason is "stop".
    j = post_json("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0},
                                      {"stop", {"Lily"}}});
    EXPECT_EQ(j["choices"][0]["text"], ", there was a little girl named ");
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");

    // Streaming with usage: chunks, then a usage chunk with no choices, then [DONE].
    auto c = srv_->client();
    auto res = c.Post("/v1/completions",
                      json{{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 0}, {"stream", true},
                           {"stream_options", {{"include_usage", true}}}}.dump(),
                      "application/json");
    ASSERT_TRUE(res);
    auto events = parse_sse(res->body);
    ASSERT_TRUE(events.has_value()) << res->body;
    ASSERT_GE(events->size(), 3u);
    EXPECT_EQ(events->back().data, "[DONE]");
    auto usage = json::parse((*events)[events->size() - 2].data);
    EXPECT_TRUE(usage["choices"].empty());
    EXPECT_EQ(usage["usage"]["completion_tokens"], 10);
    std::string text;
    std::string finish;
    for (size_t i = 0; i + 2 < events->size(); ++i) {
        auto ch = json::parse((*events)[i].data);
        EXPECT_EQ(ch["object"], "text_completion");
        text += ch["choices"][0]["text"].get<std::string>();
        if (!ch["choices"][0]["finish_reason"].is_null()) finish = ch["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(finish, "length");
    EXPECT_EQ(reference_continuation().rfind(text, 0), 0u) << text;
}

// A follow-up that resends the conversation, and then the same prompt again, start from the prompt a slot still holds
// in its KV cache (usage.prompt_tokens_details.cached_tokens) and give the text a full evaluation gives.
TEST_F(ServerE2E, PromptCacheGivesTheSameText) {
    const json first = post_json("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 0}});
    const std::string text = first["choices"][0]["text"];
    EXPECT_EQ(reference_continuation().rfind(text, 0), 0u) << text;
    EXPECT_EQ(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);

    const std::string follow = "Once upon a time" + text + " The next day,";
    json body = {{"prompt", follow}, {"max_tokens", 30}, {"temperature", 0}};
    const json cached = post_json("/v1/completions", body);
    EXPECT_GT(cached["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 30);  // most of the first turn
    const json again = post_json("/v1/completions", body);  // everything but the prompt's last token
    EXPECT_EQ(again["usage"]["prompt_tokens_details"]["cached_tokens"], again["usage"]["prompt_tokens"].get<int>() - 1);
    body["cache_prompt"] = false;
    const json full = post_json("/v1/completions", body);
    EXPECT_EQ(full["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    EXPECT_EQ(cached["choices"][0]["text"], full["choices"][0]["text"]);
    EXPECT_EQ(again["choices"][0]["text"], full["choices"][0]["text"]);
    EXPECT_GT(full["choices"][0]["text"].get<std::string>().size(), 20u);

    // /metrics counts the reused tokens apart from the evaluated ones.
    auto m = srv_->client().Get("/metrics");
    ASSERT_TRUE(m);
    const int reused = cached["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>() +
                       again["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>();
    EXPECT_NE(m->body.find("realizar_prompt_tokens_cached_total " + std::to_string(reused) + "\n"), std::string::npos) << m->body;
}

TEST_F(ServerE2E, OpenAIChat) {
    json msgs = json::array({{{"role", "system"}, {"content", "You tell stories."}},
                             {{"role", "user"}, {"content", "Tell me a story."}}});
    json j = post_json("/v1/chat/completions", {{"messages", msgs}, {"max_tokens", 16}, {"temperature", 0},
                                                {"logprobs", true}, {"top_logprobs", 3}});
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
    EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
    const std::string answer = j["choices"][0]["message"]["content"];
    EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 10);
    const auto& content = j["choices"][0]["logprobs"]["content"];
    ASSERT_FALSE(content.empty());
    EXPECT_EQ(content[0]["top_logprobs"].size(), 3u);
    EXPECT_TRUE(content[0]["bytes"].is_array());

    auto c = srv_->client();
    auto res = c.Post("/v1/chat/completions",
                      json{{"messages", msgs}, {"max_tokens", 16}, {"temperature", 0}, {"stream", true}}.dump(),
                      "application/json");
    ASSERT_TRUE(res);
    auto events = parse_sse(res->body);
    ASSERT_TRUE(events.has_value()) << res->body;
    EXPECT_EQ(events->back().data, "[DONE]");
    auto first = json::parse(events->front().data);
    EXPECT_EQ(first["object"], "chat.completion.chunk");
    EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
    std::string streamed, finish;
    for (size_t i = 0; i + 1 < events->size(); ++i) {
        auto ch = json::parse((*events)[i].data);
        EXPECT_FALSE(ch.contains("usage")) << "usage only with stream_options.include_usage";
        const auto& delta = ch["choices"][0]["delta"];
        if (delta.contains("content")) streamed += delta["content"].get<std::string>();
        if (!ch["choices"][0]["finish_reason"].is_null()) finish = ch["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(streamed, answer);
    EXPECT_EQ(finish, j["choices"][0]["finish_reason"]);
}

TEST_F(ServerE2E, BadRequestsGetClearErrors) {
    struct Case {
        std::string path, body;
        int status;
        std::string needle;
    };
    const std::vector<Case> cases = {
        {"/generate", "{\"prompt\": \"x\",", 400, "invalid JSON"},
        {"/generate", "[]", 400, "JSON object"},
        {"/generate", R"({"prompt": 42})", 400, "'prompt' must be a string"},
        {"/generate", R"({"prompt": "x", "max_tokens": "many"})", 400, "'max_tokens' must be an integer"},
        {"/generate", R"({"prompt": "x", "max_tokens": 100000})", 400, "limit of 512"},
        {"/generate", "{\"prompt\": \"\xff\xfe bad\"}", 400, "UTF-8"},
        {"/generate", R"({"prompt": "x", "temperature": -1})", 400, "'temperature'"},
        {"/v1/completions", R"({"prompt": "x", "n": 3})", 400, "n must be 1"},
        {"/v1/chat/completions", R"({"messages": [{"role": "robot", "content": "x"}]})", 400, "role"},
        {"/v1/chat/completions", R"({"messages": []})", 400, "'messages' must not be empty"},
        {"/tokenize", R"({"txt": "x"})", 400, "'text' is required"},
    };
    for (const auto& k : cases) {
        const std::string resp = raw(http_post(k.path, k.body));
        EXPECT_EQ(status_of(resp), k.status) << k.path << " " << k.body << "\n" << resp;
        const auto at = resp.find("\r\n\r\n");
        ASSERT_NE(at, std::string::npos) << resp;
        auto j = json::parse(resp.substr(at + 4), nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << resp;
        ASSERT_TRUE(j["error"].is_object()) << resp;
        EXPECT_TRUE(j["error"]["message"].is_string());
        EXPECT_EQ(j["error"]["type"], "invalid_request_error");
        EXPECT_NE(j["error"]["message"].get<std::string>().find(k.needle), std::string::npos)
            << k.body << " -> " << j["error"]["message"];
    }
    // Unknown fields are ignored, as OpenAI does.
    json ok = post_json("/generate", {{"prompt", "Once"}, {"max_tokens", 3}, {"frobnicate", {{"deep", true}}}});
    EXPECT_EQ(ok["num_generated"], 3);
    // Prompt longer than the context (512 tokens per slot).
    std::string long_prompt;
    for (int i = 0; i < 700; ++i) long_prompt += " once";
    json e = post_json("/generate", {{"prompt", long_prompt}, {"max_tokens", 3}}, 400);
    EXPECT_NE(e["error"]["message"].get<std::string>().find("context"), std::string::npos) << e;
    // Unknown route, wrong method, huge body.
    EXPECT_EQ(status_of(raw("GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")), 404);
    const std::string r405 = raw("GET /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_of(r405), 405);
    EXPECT_NE(r405.find("Allow: POST"), std::string::npos);
    const std::string big = raw(http_post("/generate", "{\"prompt\":\"" + std::string(3 << 20, 'a') + "\"}"));
    EXPECT_EQ(status_of(big), 413) << big.substr(0, 300);
    // Garbage instead of HTTP.
    const std::string garbage = raw("\x01\x02 this is not http\r\n\r\n");
    EXPECT_TRUE(garbage.empty() || status_of(garbage) == 400) << garbage;
    // Still healthy after all of that.
    auto res = srv_->client().Get("/health");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(ServerE2E, MidStreamDisconnectFreesTheSlot) {
    for (int round = 0; round < 6; ++round) {
        RawConn c(srv_->port());
        ASSERT_TRUE(c.ok());
        c.send_all(http_post("/stream/generate",
                             json{{"prompt", "Once upon a time"}, {"max_tokens", 500}, {"ignore_eos", true}}.dump()));
        const std::string got = c.read_until("event: token");
        EXPECT_NE(got.find("200 OK"), std::string::npos) << got;
        c.close();  // gone mid-stream
    }
    // All slots come back (bounded wait) and the server still answers.
    bool idle = false;
    for (int i = 0; i < 200 && !idle; ++i) {
        auto m = srv_->client().Get("/metrics");
        ASSERT_TRUE(m);
        idle = m->body.find("\nrealizar_slots_active 0\n") != std::string::npos;
        if (!idle) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(idle) << "slots still busy after the clients left";
    json j = post_json("/generate", {{"prompt", "Once upon a time"}, {"max_tokens", 8}});
    EXPECT_EQ(j["num_generated"], 8);
}

// /v1/completions with echo and logprobs returns the prompt tokens' log-probabilities too (lm-eval-harness scores
// a text with max_tokens 0, echo, logprobs): checked against llama2.c run.c's own logits for the same tokens.
TEST_F(ServerE2E, EchoLogprobsScoreThePromptLikeLlama2c) {
    const json ref = json::parse(read_file(std::string(RZ_SHARED_DIR) +
                                           "/data/tinystories-260K/reference/ref_prompt_once_upon_a_time_greedy64_logits.json"));
    std::vector<int32_t> ids = {1};  // BOS, then what run.c fed: the prompt teacher-forced, then its greedy tokens
    for (int t : ref["tokens_fed_then_greedy"]) ids.push_back(t);
    ids.resize(ref["logits"].size());  // run.c's logits cover positions 0..7
    const json j = post_json("/v1/completions", {{"prompt", ids}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 1}, {"temperature", 0}});
    const json& lp = j["choices"][0]["logprobs"];
    ASSERT_EQ(lp["token_logprobs"].size(), ids.size()) << lp.dump();
    EXPECT_TRUE(lp["token_logprobs"][0].is_null());
    EXPECT_TRUE(lp["top_logprobs"][0].is_null());
    EXPECT_EQ(lp["tokens"].size(), ids.size());
    EXPECT_EQ(lp["text_offset"].size(), ids.size());
    for (size_t k = 1; k < ids.size(); ++k) {
        const auto& row = ref["logits"][k - 1];  // logits after position k - 1 predict token k
        double mx = -1e300, sum = 0;
        for (const auto& v : row) mx = std::max(mx, v.get<double>());
        for (const auto& v : row) sum += std::exp(v.get<double>() - mx);
        const double want = row[static_cast<size_t>(ids[k])].get<double>() - mx - std::log(sum);
        EXPECT_NEAR(lp["token_logprobs"][k].get<double>(), want, 1e-4) << "position " << k;
        EXPECT_EQ(lp["top_logprobs"][k].size(), 1u);
    }
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["completion_tokens"], 0);
    // With tokens to generate: the prompt's entries, then the generated ones; a text prompt gets its BOS too.
    const json g = post_json("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 3}, {"echo", true}, {"logprobs", 0}, {"temperature", 0}});
    const json& gl = g["choices"][0]["logprobs"];
    ASSERT_EQ(gl["token_logprobs"].size(), 5u + 3u) << gl.dump();
    EXPECT_TRUE(gl["token_logprobs"][0].is_null());
    for (size_t k = 1; k < 8; ++k) EXPECT_TRUE(gl["token_logprobs"][k].is_number()) << k;
    EXPECT_EQ(g["choices"][0]["text"].get<std::string>().rfind("Once upon a time", 0), 0u);
    // Without echo nothing changes: the generated tokens only.
    const json n = post_json("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 3}, {"logprobs", 0}, {"temperature", 0}});
    EXPECT_EQ(n["choices"][0]["logprobs"]["token_logprobs"].size(), 3u);
}

// seed -1 asks for a random seed (llama.cpp's meaning); any other seed is fixed.
TEST_F(ServerE2E, SeedMinusOneIsRandom) {
    auto gen = [&](int64_t seed) {
        return post_json("/generate", {{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 1.5}, {"seed", seed}})["text"];
    };
    EXPECT_EQ(gen(7), gen(7));
    EXPECT_NE(gen(-1), gen(-1));  // two random 40-token samples at temperature 1.5 agree with negligible probability
}

// A POST with no Content-Length (curl -X POST url): an immediate 411, not a 30 s wait for a body that never comes
// while holding a connection thread (a hundred such requests stalled every other client).
TEST_F(ServerE2E, PostWithoutLengthIsAnsweredAtOnce) {
    for (const char* path : {"/generate", "/v1/chat/completions", "/health"}) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string got = raw(std::string("POST ") + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_EQ(status_of(got), 411) << got;
        EXPECT_NE(got.find("length_required"), std::string::npos) << got;
        EXPECT_NE(got.find("X-Request-Id"), std::string::npos) << got;
        EXPECT_LT(secs, 3.0) << path;
    }
    // With a length (or chunked) the body is read as before.
    EXPECT_EQ(status_of(raw(http_post("/generate", "{\"prompt\":\"Once\",\"max_tokens\":2}"))), 200);
}

// A non-streaming request whose client disconnects is cancelled within about half a second (the handler polls the
// connection while it waits) instead of generating to max_tokens for nobody while holding its slot.
TEST(ServerDisconnect, NonStreamingRequestStopsWhenTheClientLeaves) {
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--parallel", "1", "-c", "8192", "--max-tokens", "100000"});
    ASSERT_NE(srv, nullptr);
    auto metric = [&](const std::string& name) {
        auto m = srv->client().Get("/metrics");
        if (!m) return -1.0;
        const size_t at = m->body.find("\n" + name + " ");
        return at == std::string::npos ? -1.0 : std::atof(m->body.c_str() + at + name.size() + 2);
    };
    const double cancelled0 = metric("realizar_requests_cancelled_total");
    ASSERT_GE(cancelled0, 0.0);
    {
        RawConn c(srv->port());
        ASSERT_TRUE(c.ok());
        c.send_all(http_post("/generate", json{{"prompt", "Once upon a time"}, {"max_tokens", 8000}, {"ignore_eos", true}}.dump()));
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }  // closed long before 8000 tokens are generated
    bool freed = false;
    for (int i = 0; i < 100 && !freed; ++i) {  // at most 5 s
        freed = metric("realizar_requests_cancelled_total") > cancelled0 && metric("realizar_slots_active") == 0.0;
        if (!freed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(freed) << "the generation of a client that left was not cancelled";
    auto res = srv->client().Post("/generate", R"({"prompt":"Once upon a time","max_tokens":4})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
}

TEST_F(ServerE2E, MetricsPassPromtool) {
    post_json("/generate", {{"prompt", "Once"}, {"max_tokens", 4}});
    post_json("/generate", {{"prompt", 1}}, 400);
    // Counters are updated right after a response is sent, so poll briefly (bounded) until both requests' are: the
    // first request's update can land after the second's (each on its own handler thread; it once did in a run
    // beside a loaded CI build, where only the 400 was polled for).
    auto c = srv_->client();
    auto res = c.Get("/metrics");
    const auto counted = [](const std::string& b) {
        return b.find("realizar_requests_total{route=\"/generate\",code=\"400\"} 1") != std::string::npos &&
               b.find("realizar_requests_total{route=\"/generate\",code=\"200\"} 1") != std::string::npos &&
               b.find("realizar_time_to_first_token_seconds_count 1") != std::string::npos;
    };
    for (int i = 0; i < 100 && res; ++i) {
        if (counted(res->body)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        res = c.Get("/metrics");
    }
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_NE(res->get_header_value("Content-Type").find("text/plain; version=0.0.4"), std::string::npos);
    const std::string& m = res->body;
    EXPECT_NE(m.find("realizar_requests_total{route=\"/generate\",code=\"200\"} 1"), std::string::npos) << m;
    EXPECT_NE(m.find("realizar_requests_total{route=\"/generate\",code=\"400\"} 1"), std::string::npos);
    EXPECT_NE(m.find("realizar_generated_tokens_total 4"), std::string::npos);
    EXPECT_NE(m.find("realizar_kv_cells_capacity 2048"), std::string::npos);  // 4 slots x 512
    EXPECT_NE(m.find("realizar_time_to_first_token_seconds_count 1"), std::string::npos);
    EXPECT_NE(m.find("realizar_build_info{"), std::string::npos);
    if (run_shell("command -v promtool").first != 0) GTEST_SKIP() << "promtool not installed";
    const auto dir = make_temp_dir("prom");
    { std::ofstream(dir / "m.txt") << m; }
    auto [rc, out] = run_shell("promtool check metrics < " + (dir / "m.txt").string());
    EXPECT_EQ(rc, 0) << out;
    std::filesystem::remove_all(dir);
}

TEST(ServerAuth, BearerKeyOnEveryRouteButHealth) {
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--api-key", "s3cret-key"});
    ASSERT_NE(srv, nullptr);
    auto c = srv->client();
    auto res = c.Get("/health");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    for (const char* path : {"/v1/models", "/metrics"}) {
        res = c.Get(path);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 401) << path;
        auto j = json::parse(res->body);
        EXPECT_EQ(j["error"]["type"], "authentication_error");
        EXPECT_EQ(j["error"]["code"], "invalid_api_key");
    }
    res = c.Post("/generate", {{"Authorization", "Bearer wrong-key!"}}, R"({"prompt":"a","max_tokens":2})",
                 "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    res = c.Post("/generate", {{"Authorization", "Bearer s3cret-key"}}, R"({"prompt":"a","max_tokens":2})",
                 "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    httplib::Headers h = {{"Authorization", "Bearer s3cret-key"}};
    res = c.Get("/v1/models", h);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    // The scheme is case-insensitive (RFC 9110); the key is not.
    res = c.Get("/v1/models", {{"Authorization", "bearer s3cret-key"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    res = c.Get("/v1/models", {{"Authorization", "BEARER S3CRET-KEY"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    // A CORS preflight carries no key: OPTIONS is answered without one (204, Allow).
    res = c.Options("/v1/chat/completions");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 204);
    EXPECT_EQ(res->get_header_value("Allow"), "POST, OPTIONS");
}

// OPTIONS on a known path: 204 with Allow (and 405s list OPTIONS too); with --cors-origin every answer carries
// Access-Control-Allow-Origin and the preflight the methods and headers a browser may use. Unknown paths: 404.
TEST(ServerCors, OptionsAndOriginHeaders) {
    auto plain = ServerProcess::start({"--model", stories_gguf()});
    ASSERT_NE(plain, nullptr);
    auto res = plain->client().Options("/generate");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 204);
    EXPECT_EQ(res->get_header_value("Allow"), "POST, OPTIONS");
    EXPECT_FALSE(res->has_header("Access-Control-Allow-Origin"));
    EXPECT_EQ(plain->client().Options("/nowhere")->status, 404);
    res = plain->client().Get("/generate");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 405);
    EXPECT_EQ(res->get_header_value("Allow"), "POST, OPTIONS");

    auto srv = ServerProcess::start({"--model", stories_gguf(), "--cors-origin", "*", "--api-key", "k"});
    ASSERT_NE(srv, nullptr);
    res = srv->client().Options("/v1/chat/completions", {{"Origin", "http://example.com"}, {"Access-Control-Request-Method", "POST"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 204);
    EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "*");
    EXPECT_NE(res->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
    EXPECT_NE(res->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
    res = srv->client().Post("/generate", {{"Authorization", "Bearer k"}}, R"({"prompt":"a","max_tokens":2})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "*");
    res = srv->client().Get("/v1/models");  // errors carry it too, so that a page can read them
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "*");
}

TEST(ServerLifecycle, GracefulShutdownFinishesRunningStreams) {
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--parallel", "2", "--queue-size", "64"});
    ASSERT_NE(srv, nullptr);
    // More work than the slots can do at once, so requests are running and queued when SIGTERM arrives.
    constexpr int kClients = 24;
    std::vector<std::string> bodies(kClients);
    std::vector<int> status(kClients, -1);
    std::vector<std::thread> th;
    for (int i = 0; i < kClients; ++i) {
        th.emplace_back([&, i] {
            auto c = srv->client();
            auto res = c.Post("/stream/generate",
                              json{{"prompt", "Once upon a time"}, {"max_tokens", 500}, {"ignore_eos", true}}.dump(),
                              "application/json");
            if (res) {
                status[i] = res->status;
                bodies[i] = res->body;
            }
        });
    }
    bool busy = false;
    for (int i = 0; i < 400 && !busy; ++i) {
        auto m = srv->client().Get("/metrics");
        busy = m && m->body.find("\nrealizar_slots_active 2\n") != std::string::npos &&
               m->body.find("\nrealizar_requests_queued 0\n") == std::string::npos;
        if (!busy) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const int rc = srv->stop(SIGTERM, 30);
    for (auto& t : th) t.join();
    EXPECT_TRUE(busy) << "never saw running + queued requests";
    EXPECT_EQ(rc, 0) << srv->log();
    // Every request that was accepted before the signal ran to completion: its stream ends with `done`.
    int finished = 0;
    for (int i = 0; i < kClients; ++i) {
        if (status[i] != 200) continue;
        auto events = parse_sse(bodies[i]);
        ASSERT_TRUE(events.has_value()) << bodies[i].substr(0, 300);
        ASSERT_FALSE(events->empty());
        EXPECT_EQ(events->back().event, "done") << "stream " << i << " was cut";
        EXPECT_EQ(json::parse(events->back().data)["num_generated"], 500);
        ++finished;
    }
    EXPECT_GE(finished, 3);
    const std::string log = srv->log();
    EXPECT_NE(log.find("received SIGTERM"), std::string::npos);
    EXPECT_NE(log.find("server stopped"), std::string::npos);
}

TEST(ServerLifecycle, ShutdownDeadlineCancelsAndExitsZero) {
    // A 1 s deadline with a generation that takes longer: it is cancelled with an error event, exit code 0.
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--shutdown-timeout", "0", "--ctx-size", "512"});
    ASSERT_NE(srv, nullptr);
    RawConn c(srv->port());
    c.send_all(http_post("/stream/generate",
                         json{{"prompt", "Once upon a time"}, {"max_tokens", 500}, {"ignore_eos", true}}.dump()));
    std::string got = c.read_until("event: token");
    EXPECT_EQ(srv->stop(SIGINT, 30), 0) << srv->log();
    got += c.read_until("");
    EXPECT_TRUE(got.find("event: done") != std::string::npos || got.find("event: error") != std::string::npos)
        << got.substr(got.size() > 400 ? got.size() - 400 : 0);
}

TEST(ServerLifecycle, MissingModelFailsClearly) {
    auto [rc, out] = run_shell(std::string(RZ_REALIZAR_BIN) + " serve --model /nonexistent/model.gguf --port 0");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("/nonexistent/model.gguf"), std::string::npos) << out;
    auto [rc2, out2] = run_shell(std::string(RZ_REALIZAR_BIN) + " serve --port 0");
    EXPECT_NE(rc2, 0);
    EXPECT_NE(out2.find("--model"), std::string::npos) << out2;
}

TEST(ServerQueue, FullQueueAnswers503WithRetryAfter) {
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--parallel", "1", "--queue-size", "1"});
    ASSERT_NE(srv, nullptr);
    std::atomic<int> n503{0}, n200{0}, other{0};
    std::atomic<bool> retry_after{true};
    std::vector<std::thread> th;
    for (int i = 0; i < 12; ++i) {
        th.emplace_back([&] {
            auto c = srv->client();
            auto res = c.Post("/generate", json{{"prompt", "Once upon a time"}, {"max_tokens", 300},
                                               {"ignore_eos", true}}.dump(), "application/json");
            if (!res) return other.fetch_add(1), void();
            if (res->status == 200) n200.fetch_add(1);
            else if (res->status == 503) {
                n503.fetch_add(1);
                if (res->get_header_value("Retry-After").empty()) retry_after = false;
                if (json::parse(res->body)["error"]["code"] != "overloaded") retry_after = false;
            } else other.fetch_add(1);
        });
    }
    for (auto& t : th) t.join();
    EXPECT_EQ(other.load(), 0);
    EXPECT_GE(n200.load(), 1);
    EXPECT_GE(n503.load(), 1) << "12 concurrent requests on 1 slot + 1 queue place";
    EXPECT_TRUE(retry_after.load());
    // A batch larger than the slots and the whole queue can never run: a 400, not "busy, retry later".
    auto res = srv->client().Post("/batch/generate", R"({"prompts":["a","b","c"],"max_tokens":3})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_TRUE(res->get_header_value("Retry-After").empty());
    EXPECT_NE(res->body.find("--queue-size"), std::string::npos) << res->body;
    res = srv->client().Post("/batch/generate", R"({"prompts":["a","b"],"max_tokens":3})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
}

}  // namespace
}  // namespace rz::test

namespace rz::test {
namespace {

TEST(ServerDemo, EmbeddedModelTellsAStory) {
    // `realizar serve --demo`: the stories260K model embedded in the binary, no files needed.
    auto srv = ServerProcess::start({"--demo"});
    ASSERT_NE(srv, nullptr);
    auto res = srv->client().Post("/generate", R"({"prompt":"Once upon a time","max_tokens":40})", "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    auto j = json::parse(res->body);
    EXPECT_EQ(j["num_generated"], 40);
    EXPECT_EQ(reference_continuation().rfind(j["text"].get<std::string>(), 0), 0u) << j["text"];
    auto h = json::parse(srv->client().Get("/health")->body);
    EXPECT_EQ(h["model"], "stories260K (demo)");
}

}  // namespace
}  // namespace rz::test
