// `realizar run --chat` end to end on a pseudo-terminal (forkpty) and under tmux send-keys: history,
// /clear, Ctrl-C stopping an answer but not the program, Ctrl-C discarding a half-typed line, Ctrl-D quitting.
// stories260K has no chat template, so the REPL uses the builtin chatml one (what a user gets too).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "generation/process.h"

namespace rz::runtime {
namespace {

using testing::PtyProcess;

const std::string kModel = std::string(RZ_SHARED_DIR) + "/data/tinystories-260K/stories260K.bin";

// "[45 prompt tokens (45 new) ..." lines the REPL prints after each answer -> (prompt tokens, new).
std::vector<std::pair<int, int>> prompt_counts(const std::string& text) {
    std::vector<std::pair<int, int>> out;
    static const std::regex re(R"(\[(\d+) prompt tokens \((\d+) new\))");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
        out.emplace_back(std::stoi((*it)[1]), std::stoi((*it)[2]));
    }
    return out;
}

TEST(ChatPty, HistoryClearAndCtrlDQuit) {
    PtyProcess p({RZ_REALIZAR_BIN, "--log-level", "warn", "run", kModel, "--threads", "1", "--chat", "-n", "12",
                  "--temperature", "0"});
    ASSERT_TRUE(p.started());
    ASSERT_TRUE(p.wait_for("> ", 60)) << p.all();

    size_t mark = p.all().size();
    p.write("Tell me a story.\n");
    ASSERT_TRUE(p.wait_for("prompt tokens", 60, mark)) << p.all();
    ASSERT_TRUE(p.wait_for("> ", 10, mark + 1)) << p.all();

    mark = p.all().size();
    p.write("And then?\n");
    ASSERT_TRUE(p.wait_for("prompt tokens", 60, mark)) << p.all();
    ASSERT_TRUE(p.wait_for("> ", 10, mark + 1)) << p.all();

    mark = p.all().size();
    p.write("/clear\n");
    ASSERT_TRUE(p.wait_for("(conversation cleared)", 10, mark)) << p.all();

    mark = p.all().size();
    p.write("Tell me a story.\n");
    ASSERT_TRUE(p.wait_for("prompt tokens", 60, mark)) << p.all();
    ASSERT_TRUE(p.wait_for("> ", 10, mark + 1)) << p.all();

    const auto counts = prompt_counts(p.all());
    ASSERT_EQ(counts.size(), 3u) << p.all();
    // Turn 2 carries turn 1 (question + answer) in its prompt, and only the new part is evaluated.
    EXPECT_GT(counts[1].first, counts[0].first + 12);
    EXPECT_LT(counts[1].second, counts[1].first);
    // After /clear the same question is the same prompt as in turn 1.
    EXPECT_EQ(counts[2].first, counts[0].first);
    // Greedy: the first and third answers are the same text.

    p.write("\x04");  // Ctrl-D on an empty line: end of input
    EXPECT_EQ(p.wait_exit(20), 0) << p.all();
}

TEST(ChatPty, CtrlCStopsTheAnswerNotTheProgram) {
    // A long answer: no end-of-text stop and a big context, so Ctrl-C lands mid-answer.
    PtyProcess p({RZ_REALIZAR_BIN, "--log-level", "warn", "run", kModel, "--threads", "1", "--chat", "--ctx-size",
                  "4096", "-n", "4000", "--ignore-eos", "--temperature", "0"});
    ASSERT_TRUE(p.started());
    ASSERT_TRUE(p.wait_for("> ", 60)) << p.all();

    size_t mark = p.all().size();
    p.write("Once upon a time\n");
    ASSERT_TRUE(p.wait_for("Once upon a time\r\n", 10, mark)) << p.all();  // the terminal echo
    mark = p.all().size();
    ASSERT_TRUE(p.wait_for(" ", 30, mark)) << p.all();  // the answer has started
    p.write("\x03");
    ASSERT_TRUE(p.wait_for("(stopped)", 30, mark)) << p.all();
    ASSERT_TRUE(p.wait_for("> ", 10, p.all().find("(stopped)", mark))) << p.all();

    // Ctrl-C at the prompt throws away the half-typed line; the program keeps going.
    mark = p.all().size();
    p.write("half a line");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    p.write("\x03");
    ASSERT_TRUE(p.wait_for("> ", 10, mark + 1)) << p.all();

    mark = p.all().size();
    p.write("/exit\n");
    EXPECT_EQ(p.wait_exit(20), 0) << p.all();
    EXPECT_EQ(p.all().find("prompt tokens", mark), std::string::npos);  // the discarded line was not sent
}

TEST(RunPty, CtrlCEndsAPlainRunCleanly) {
    // Outside --chat, the first Ctrl-C stops generating; the timings line still comes and the exit code is 0.
    PtyProcess p({RZ_REALIZAR_BIN, "--log-level", "warn", "run", kModel, "--threads", "1", "Once upon a time",
                  "--ctx-size", "4096", "-n", "4000", "--ignore-eos", "--temperature", "0"});
    ASSERT_TRUE(p.started());
    ASSERT_TRUE(p.wait_for(", there was", 60)) << p.all();
    p.write("\x03");
    ASSERT_TRUE(p.wait_for("finish: cancelled", 30)) << p.all();
    EXPECT_EQ(p.wait_exit(20), 0) << p.all();
}

// tmux: keys arrive through a real terminal multiplexer, as a user's would.
std::string sh(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    pclose(f);
    return out;
}

bool wait_pane(const std::string& session, const std::string& needle, double timeout_s, std::string* pane) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
        *pane = sh("tmux capture-pane -p -S -200 -t " + session + " 2>/dev/null");
        if (pane->find(needle) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

TEST(ChatTmux, SendKeysConversation) {
    if (std::system("command -v tmux >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "tmux not installed (scripts/install-deps.sh installs it)";
    const std::string session   = "rzchat" + std::to_string(::getpid());
    const std::string done_file = ::testing::TempDir() + "/" + session + ".exit";
    std::remove(done_file.c_str());
    const std::string cmd = std::string(RZ_REALIZAR_BIN) + " --log-level warn run " + kModel +
                            " --threads 1 --chat -n 8 --temperature 0; echo $? > " + done_file;
    ASSERT_EQ(std::system(("tmux new-session -d -x 160 -y 50 -s " + session + " '" + cmd + "'").c_str()), 0);
    std::string pane;
    // capture-pane drops trailing blanks, so wait for the banner rather than the "> " prompt itself.
    EXPECT_TRUE(wait_pane(session, "stops an answer.", 60, &pane)) << pane;
    sh("tmux send-keys -t " + session + " 'Hello there' Enter");
    EXPECT_TRUE(wait_pane(session, "prompt tokens", 60, &pane)) << pane;
    sh("tmux send-keys -t " + session + " '/clear' Enter");
    EXPECT_TRUE(wait_pane(session, "(conversation cleared)", 20, &pane)) << pane;
    sh("tmux send-keys -t " + session + " C-d");
    bool exited = false;
    for (int i = 0; i < 200 && !exited; ++i) {
        exited = std::system(("test -s " + done_file).c_str()) == 0;
        if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    sh("tmux kill-session -t " + session + " 2>/dev/null");
    ASSERT_TRUE(exited) << pane;
    FILE* f  = std::fopen(done_file.c_str(), "r");
    int code = -1;
    if (f) {
        if (std::fscanf(f, "%d", &code) != 1) code = -1;
        std::fclose(f);
    }
    EXPECT_EQ(code, 0);
    std::remove(done_file.c_str());
}

}  // namespace
}  // namespace rz::runtime
