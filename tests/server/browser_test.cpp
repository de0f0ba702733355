// The chat page at GET / in headless Chromium: a question typed, the streamed answer shown, a screenshot
// taken (tests/server/js/chat_page.mjs drives the browser over the DevTools protocol).
#include "server/harness.h"

namespace rz::test {
namespace {

TEST(ChatPage, ServedSelfContained) {
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--api-key", "page-key"});
    ASSERT_NE(srv, nullptr);
    auto res = srv->client().Get("/");  // open without the key: the page asks for it when the API answers 401
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_NE(res->get_header_value("Content-Type").find("text/html"), std::string::npos);
    EXPECT_NE(res->body.find("/v1/chat/completions"), std::string::npos);
    // No external assets.
    for (const char* needle : {"src=\"http", "href=\"http", "@import", "cdn", "googleapis"})
        EXPECT_EQ(res->body.find(needle), std::string::npos) << needle;
}

TEST(ChatPage, QuestionTypedAnswerStreamedInChromium) {
    const char* chromium = std::getenv("RZ_CHROMIUM") ? std::getenv("RZ_CHROMIUM") : "/usr/bin/chromium";
    if (!std::filesystem::exists(chromium)) GTEST_SKIP() << chromium << " missing: scripts/install-deps.sh --test";
    if (run_shell("node --no-warnings --experimental-websocket -e "
                  "'process.exit(typeof WebSocket === \"function\" ? 0 : 1)'").first != 0)
        GTEST_SKIP() << "this node has no WebSocket client";
    auto srv = ServerProcess::start({"--model", stories_gguf(), "--parallel", "2"});
    ASSERT_NE(srv, nullptr);
    const auto dir = make_temp_dir("chromium");
    const auto shot = std::filesystem::path(RZ_BINARY_DIR) / "chat_page.png";
    std::filesystem::remove(shot);
    const std::string script = std::string(RZ_SOURCE_DIR) + "/tests/server/js/chat_page.mjs";
    auto [rc, out] = run_shell("timeout 90 node --no-warnings --experimental-websocket " + script + " http://127.0.0.1:" +
                               std::to_string(srv->port()) + "/ " + shot.string() + " " + (dir / "profile").string());
    EXPECT_EQ(rc, 0) << out << "\nserver log:\n" << srv->log();
    EXPECT_NE(out.find("chat page: ok"), std::string::npos) << out;
    ASSERT_TRUE(std::filesystem::exists(shot));
    const std::string png = read_file(shot);
    EXPECT_GT(png.size(), 2000u);
    EXPECT_EQ(png.substr(1, 3), "PNG");
    // The page really used the streaming chat API.
    EXPECT_NE(srv->log().find("route=/v1/chat/completions"), std::string::npos);
    remove_tree_retrying(dir);  // Chromium's helpers may still be closing the profile
}

}  // namespace
}  // namespace rz::test
