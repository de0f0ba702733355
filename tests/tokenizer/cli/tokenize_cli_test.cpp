// `realizar tokenize` end to end: output formats, flags and errors.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

const std::string kBin = RZ_REALIZAR_BIN;
const std::string kShared = RZ_SHARED_DIR;

struct CliResult {
    int rc;
    std::string out;
};

CliResult run(const std::string& args) {
    const std::string cmd = kBin + " tokenize " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return {-1, ""};
    std::string out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    const int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(TokenizeCli, JsonIsExactlyIdsAndPieces) {
    const CliResult r = run(kShared + "/data/tokenizers/gpt2 --json 'Hello world'");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out, "{\"token_ids\":[15496,995],\"pieces\":[\"Hello\",\" world\"]}\n");
}

TEST(TokenizeCli, IdsOnlyBosAndNoBos) {
    const std::string spm = kShared + "/data/tokenizers/llama2-spm/tokenizer.model";
    CliResult r = run(spm + " --ids-only 'Hello world'");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out, "1 15043 3186\n");
    r = run(spm + " --ids-only --no-bos 'Hello world'");
    EXPECT_EQ(r.out, "15043 3186\n");
}

// llama-tokenize's spelling: -m SOURCE and -p TEXT (or the text as the positional after -m); the same ids.
TEST(TokenizeCli, ModelAndPromptAsOptions) {
    const std::string spm = kShared + "/data/tokenizers/llama2-spm/tokenizer.model";
    CliResult r = run("-m " + spm + " -p 'Hello world' --ids-only");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out, "1 15043 3186\n");
    r = run("--ids-only --model " + spm + " 'Hello world'");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out, "1 15043 3186\n");
    r = run("-m " + spm + " -p 'Hello' --file /dev/null");  // -p and --file exclude each other
    EXPECT_NE(r.rc, 0) << r.out;
}

TEST(TokenizeCli, ParseSpecialFlag) {
    const std::string json = kShared + "/data/tokenizers/qwen3-hf/tokenizer.json";
    CliResult r = run(json + " --ids-only --parse-special '<|im_start|>user'");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out.rfind("151644 ", 0), 0u) << r.out;
    r = run(json + " --ids-only '<|im_start|>user'");
    EXPECT_EQ(r.out.find("151644"), std::string::npos) << r.out;
}

TEST(TokenizeCli, FileInputAndGgufSource) {
    const CliResult r = run(kShared + "/data/llama.cpp-vocab/ggml-vocab-llama-spm.gguf --ids-only --no-bos --file " + kShared +
                      "/data/tinystories-260K/reference/greedy_bos_n200.stdout.txt");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_GT(r.out.size(), 100u);
}

TEST(TokenizeCli, ErrorsExitNonZeroWithAMessage) {
    CliResult r = run("/nonexistent/tokenizer.json 'x'");
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("no such file"), std::string::npos) << r.out;
    const std::string bad = ::testing::TempDir() + "/rz_bad_utf8.txt";
    if (FILE* f = std::fopen(bad.c_str(), "wb")) {
        std::fputs("a\xff", f);
        std::fclose(f);
    }
    r = run(kShared + "/data/tokenizers/gpt2 --file " + bad);
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("UTF-8"), std::string::npos) << r.out;
    r = run(kShared + "/data/tokenizers/gpt2");
    EXPECT_NE(r.rc, 0);
    r = run(kShared + "/data/tokenizers/gpt2 --file " + ::testing::TempDir());  // a folder is not an empty text
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("is a folder"), std::string::npos) << r.out;
}

}  // namespace
