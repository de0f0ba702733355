// docs/api.md is executable: every example marked `<!-- replay: METHOD PATH STATUS [iris] -->` (or replay-sse,
// replay-contains) is sent to a live server and its answer compared with the documented one, field by field.
#include <regex>

#include "server/harness.h"

namespace rz::test {
namespace {

struct Example {
    std::string kind;  // replay, replay-sse, replay-contains
    std::string method, path, model;
    int status = 200;
    std::string request, expected;
    int line = 0;
};

std::vector<Example> load_examples() {
    const std::string doc = read_file(std::string(RZ_SOURCE_DIR) + "/docs/api.md");
    std::istringstream in(doc);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    const std::regex marker(R"(<!-- (replay|replay-sse|replay-contains): (GET|POST) (\S+) (\d+)(?: (\w+))? -->)");
    auto next_block = [&](size_t& i) {
        while (i < lines.size() && lines[i].rfind("```", 0) != 0) ++i;
        std::string block;
        for (++i; i < lines.size() && lines[i] != "```"; ++i) block += lines[i] + "\n";
        ++i;
        return block;
    };
    std::vector<Example> out;
    for (size_t i = 0; i < lines.size(); ++i) {
        std::smatch m;
        if (!std::regex_search(lines[i], m, marker)) continue;
        Example e;
        e.kind = m[1];
        e.method = m[2];
        e.path = m[3];
        e.status = std::stoi(m[4]);
        e.model = m[5].matched ? std::string(m[5]) : "stories";
        e.line = static_cast<int>(i + 1);
        size_t j = i + 1;
        if (e.method == "POST") e.request = next_block(j);
        e.expected = next_block(j);
        out.push_back(e);
        i = j - 1;
    }
    return out;
}

// Documented vs actual JSON: same keys, same values; `id`, `created` and `latency_ms` only by type; numbers
// within 1e-3 (relative) so other CPUs' rounding does not break the docs.
void compare(const json& exp, const json& act, const std::string& where, std::vector<std::string>& diffs) {
    if (exp.is_number() && act.is_number()) {
        const double a = exp.get<double>(), b = act.get<double>();
        if (std::abs(a - b) > 1e-3 * std::max(1.0, std::abs(a))) diffs.push_back(where + ": " + exp.dump() + " vs " + act.dump());
        return;
    }
    if (exp.type() != act.type()) {
        diffs.push_back(where + ": documented " + exp.dump() + ", got " + act.dump());
        return;
    }
    if (exp.is_object()) {
        for (auto it = exp.begin(); it != exp.end(); ++it) {
            if (!act.contains(it.key())) {
                diffs.push_back(where + "." + it.key() + ": missing");
                continue;
            }
            if (it.key() == "id" || it.key() == "created" || it.key() == "latency_ms") continue;
            compare(it.value(), act[it.key()], where + "." + it.key(), diffs);
        }
        for (auto it = act.begin(); it != act.end(); ++it)
            if (!exp.contains(it.key())) diffs.push_back(where + "." + it.key() + ": not documented");
        return;
    }
    if (exp.is_array()) {
        if (exp.size() != act.size()) {
            diffs.push_back(where + ": " + std::to_string(exp.size()) + " items documented, got " + std::to_string(act.size()));
            return;
        }
        for (size_t i = 0; i < exp.size(); ++i) compare(exp[i], act[i], where + "[" + std::to_string(i) + "]", diffs);
        return;
    }
    if (exp != act) diffs.push_back(where + ": documented " + exp.dump() + ", got " + act.dump());
}

TEST(ApiDoc, EveryExampleReplays) {
    const auto examples = load_examples();
    ASSERT_GE(examples.size(), 18u) << "docs/api.md lost its examples";
    std::set<std::string> routes;
    std::map<std::string, std::unique_ptr<ServerProcess>> servers;
    for (const auto& e : examples) {
        SCOPED_TRACE("docs/api.md:" + std::to_string(e.line) + " " + e.method + " " + e.path);
        auto& srv = servers[e.model];
        if (!srv) {
            const std::string model = e.model == "iris" ? std::string(RZ_SOURCE_DIR) + "/data/iris-model/iris.apr"
                                                        : stories_gguf();
            srv = ServerProcess::start({"--model", model, "--parallel", "4"});
            ASSERT_NE(srv, nullptr);
        }
        routes.insert(e.path);
        auto c = srv->client();
        auto res = e.method == "GET" ? c.Get(e.path) : c.Post(e.path, e.request, "application/json");
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, e.status) << res->body;
        std::vector<std::string> diffs;
        if (e.kind == "replay") {
            auto exp = json::parse(e.expected, nullptr, false);
            auto act = json::parse(res->body, nullptr, false);
            ASSERT_FALSE(exp.is_discarded()) << "documented answer is not JSON:\n" << e.expected;
            ASSERT_FALSE(act.is_discarded()) << res->body;
            compare(exp, act, "$", diffs);
        } else if (e.kind == "replay-sse") {
            auto exp = parse_sse(e.expected);
            auto act = parse_sse(res->body);
            ASSERT_TRUE(exp.has_value()) << "documented stream is not SSE:\n" << e.expected;
            ASSERT_TRUE(act.has_value()) << res->body;
            ASSERT_EQ(exp->size(), act->size()) << res->body;
            for (size_t i = 0; i < exp->size(); ++i) {
                EXPECT_EQ((*exp)[i].event, (*act)[i].event);
                if ((*exp)[i].data == "[DONE]") {
                    EXPECT_EQ((*act)[i].data, "[DONE]");
                    continue;
                }
                compare(json::parse((*exp)[i].data), json::parse((*act)[i].data), "event" + std::to_string(i), diffs);
            }
        } else {
            std::istringstream in(e.expected);
            for (std::string l; std::getline(in, l);)
                if (!l.empty() && res->body.find(l) == std::string::npos) diffs.push_back("missing line: " + l);
        }
        for (const auto& d : diffs) ADD_FAILURE() << d;
    }
    // Every route is documented with at least one replayed example.
    for (const char* r : {"/health", "/metrics", "/generate", "/stream/generate", "/batch/generate", "/tokenize",
                          "/detokenize", "/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/predict",
                          "/v1/predict/batch"})
        EXPECT_TRUE(routes.count(r)) << r << " has no replayed example in docs/api.md";
}

}  // namespace
}  // namespace rz::test
