// The official OpenAI Node SDK (npm `openai`, installed by scripts/install-test-extras.sh into
// tests/server/js/node_modules) drives chat and completions, streamed and not (tests/server/js/openai_sdk.mjs).
#include "server/harness.h"

namespace rz::test {
namespace {

TEST(OpenAISdk, ChatAndCompletionsStreamedAndNot) {
    const std::filesystem::path js = std::filesystem::path(RZ_SOURCE_DIR) / "tests/server/js";
    if (!std::filesystem::exists(js / "node_modules/openai/package.json"))
        GTEST_SKIP() << "npm package openai missing: run scripts/install-test-extras.sh";
    if (run_shell("command -v node").first != 0) GTEST_SKIP() << "node missing: scripts/install-deps.sh --test";
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--parallel", "2"});
    ASSERT_NE(srv, nullptr);
    auto [rc, out] = run_shell("timeout 120 node " + (js / "openai_sdk.mjs").string() + " http://127.0.0.1:" +
                               std::to_string(srv->port()) + "/v1");
    EXPECT_EQ(rc, 0) << out << "\nserver log:\n" << srv->log();
    EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
}

TEST(OpenAISdk, ApiKeyIsSentAsBearer) {
    const std::filesystem::path js = std::filesystem::path(RZ_SOURCE_DIR) / "tests/server/js";
    if (!std::filesystem::exists(js / "node_modules/openai/package.json"))
        GTEST_SKIP() << "npm package openai missing: run scripts/install-test-extras.sh";
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--api-key", "k-123"});
    ASSERT_NE(srv, nullptr);
    auto [rc, out] = run_shell("RZ_API_KEY=k-123 timeout 120 node " + (js / "openai_sdk.mjs").string() +
                               " http://127.0.0.1:" + std::to_string(srv->port()) + "/v1");
    EXPECT_EQ(rc, 0) << out;
    auto [rc2, out2] = run_shell("RZ_API_KEY=wrong timeout 120 node " + (js / "openai_sdk.mjs").string() +
                                 " http://127.0.0.1:" + std::to_string(srv->port()) + "/v1");
    EXPECT_NE(rc2, 0);
    EXPECT_NE(out2.find("401"), std::string::npos) << out2;
}

}  // namespace
}  // namespace rz::test
