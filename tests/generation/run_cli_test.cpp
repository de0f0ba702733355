// `realizar run` end to end on the real stories260K model against llama2.c's reference outputs, plus the
// CLI contract (json output, stop strings, seeds, --tokens, errors).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "generation/process.h"

namespace rz::runtime {
namespace {

using testing::ProcessResult;
using testing::run_process;

const std::string kData = std::string(RZ_SHARED_DIR) + "/data/tinystories-260K";
const std::string kBin  = kData + "/stories260K.bin";
const std::string kGguf = kData + "/stories260K-f32.gguf";
const std::string kHf   = kData + "/hf";

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

ProcessResult realizar(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {RZ_REALIZAR_BIN, "--log-level", "warn"});
    // One thread: a 64-wide model gains nothing from more, and on a loaded CI machine a multi-threaded
    // barrier per layer can cost 100x (measured: 80 tokens 7 s with the default threads vs 0.05 s).
    if (args.size() > 3 && args[3] == "run") args.insert(args.begin() + 4, {"--threads", "1"});
    return run_process(args, input);
}

nlohmann::json run_json(std::vector<std::string> args) {
    args.push_back("--format");
    args.push_back("json");
    ProcessResult r = realizar(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
}

// llama2.c `run stories260K.bin -t 0 -n 256 -i "Once upon a time"`. llama2.c's -n counts positions
// including the prompt (5 tokens with BOS), so its 256 steps print 252 generated tokens; realizar's -n is
// the number of generated tokens (llama.cpp's meaning). With --echo, stdout is byte for byte llama2.c's.
class StoriesGreedy : public ::testing::TestWithParam<std::string> {};

TEST_P(StoriesGreedy, MatchesLlama2cByteForByte) {
    const std::string ref = slurp(kData + "/reference/greedy_prompt_once_upon_a_time_n256.stdout.txt");
    ASSERT_FALSE(ref.empty());
    ProcessResult r = realizar({"run", GetParam(), "Once upon a time", "-n", "252", "--temperature", "0", "--echo"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ref);
}

TEST_P(StoriesGreedy, DoneCommandPrintsTheContinuation) {
    // The command, -n 256: the reference continuation (without the echoed prompt), then the 4 more
    // tokens that -n 256 asks for beyond llama2.c's 252.
    const std::string ref    = slurp(kData + "/reference/greedy_prompt_once_upon_a_time_n256.stdout.txt");
    const std::string prompt = "Once upon a time";
    ASSERT_EQ(ref.rfind(prompt, 0), 0u);
    const std::string continuation = ref.substr(prompt.size(), ref.size() - prompt.size() - 1);  // minus final \n
    ProcessResult r                = realizar({"run", GetParam(), prompt, "-n", "256", "--temperature", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.substr(0, continuation.size()), continuation);
    EXPECT_GT(r.out.size(), continuation.size());
    // The stderr timings line is there and stdout holds nothing else.
    EXPECT_NE(r.err.find("generation: 256 tokens"), std::string::npos) << r.err;
}

std::string format_name(const ::testing::TestParamInfo<std::string>& p) {
    static const char* kNames[] = {"llama2c", "gguf", "hf"};
    return kNames[p.index];
}
INSTANTIATE_TEST_SUITE_P(Formats, StoriesGreedy, ::testing::Values(kBin, kGguf, kHf), format_name);

TEST(RunCli, AprModelMatchesLlama2c) {
    // MODEL may be an APR file: convert the llama2.c checkpoint (f32, lossless) and run it.
    const std::string apr = ::testing::TempDir() + "/rz_run_stories260K.apr";
    std::filesystem::remove(apr);
    ProcessResult c = run_process({RZ_REALIZAR_BIN, "convert", kBin, "-o", apr, "-q"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    ProcessResult r = realizar({"run", apr, "Once upon a time", "-n", "252", "--temperature", "0", "--echo"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, slurp(kData + "/reference/greedy_prompt_once_upon_a_time_n256.stdout.txt"));
    std::filesystem::remove(apr);
}

// llama.cpp's spelling, -m MODEL -p PROMPT, gives the positionals' output (llama2.c's reference).
TEST(RunCli, ModelAndPromptAsOptions) {
    ProcessResult r = realizar({"run", "-m", kGguf, "-p", "Once upon a time", "-n", "252", "--temperature", "0", "--echo"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, slurp(kData + "/reference/greedy_prompt_once_upon_a_time_n256.stdout.txt"));
}

// --demo runs the model embedded in the binary (stories260K, as serve --demo): its one positional is the prompt,
// and its greedy text is llama2.c's. A MODEL next to --demo, or no model at all, is an error.
TEST(RunCli, DemoModelMatchesLlama2c) {
    ProcessResult r = realizar({"run", "--demo", "Once upon a time", "-n", "252", "--temperature", "0", "--echo"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, slurp(kData + "/reference/greedy_prompt_once_upon_a_time_n256.stdout.txt"));
    r = realizar({"run", "--demo", kGguf, "Once upon a time", "-n", "4"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("--demo"), std::string::npos) << r.err;
    r = realizar({"run", "-n", "4"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("give a MODEL"), std::string::npos) << r.err;
}

TEST(RunCli, BosOnlyPromptMatchesLlama2c) {
    // llama2.c -t 0 -n 200 with no prompt: BOS, then 200 greedy tokens (steps - prompt + 1). Its text (no
    // leading space: the dummy-prefix space is dropped at the start of a text) and token ids.
    // Without the warm-up passes (this run) and with them (the JSON run below): the same reference output.
    ProcessResult r = realizar({"run", kBin, "", "-n", "200", "--temperature", "0", "--no-timings", "--no-warmup"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, slurp(kData + "/reference/greedy_bos_n200.stdout.txt"));

    std::vector<int32_t> ref_ids;
    std::ifstream ids(kData + "/reference/greedy_bos_n200.token_ids.txt");
    for (int32_t id; ids >> id;) ref_ids.push_back(id);
    nlohmann::json j = run_json({"run", kGguf, "", "-n", std::to_string(ref_ids.size()), "--temperature", "0"});
    EXPECT_EQ(j["token_ids"].get<std::vector<int32_t>>(), ref_ids);
}

TEST(RunCli, JsonOutputFields) {
    nlohmann::json j = run_json({"run", kBin, "Once upon a time", "-n", "12", "--temperature", "0"});
    EXPECT_EQ(j["finish_reason"], "length");
    EXPECT_EQ(j["token_ids"].size(), 12u);
    EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
    EXPECT_EQ(j["usage"]["completion_tokens"], 12);
    EXPECT_EQ(j["usage"]["total_tokens"], 17);
    EXPECT_EQ(j["text"].get<std::string>().rfind(", there was a little girl", 0), 0u) << j["text"];
    for (const char* k : {"prompt_ms", "prompt_tokens_per_s", "generation_tokens_per_s", "ttft_ms", "load_ms", "warmup_ms"}) {
        ASSERT_TRUE(j["timings"].contains(k)) << k;
        EXPECT_GE(j["timings"][k].get<double>(), 0.0) << k;
    }
}

TEST(RunCli, StopStringEndsGenerationAndIsNotPrinted) {
    nlohmann::json j = run_json(
        {"run", kBin, "Once upon a time", "-n", "100", "--temperature", "0", "--stop", "named", "--stop", "zzz"});
    EXPECT_EQ(j["text"], ", there was a little girl ");
    EXPECT_EQ(j["finish_reason"], "stop");
    EXPECT_EQ(j["stop"], "named");

    ProcessResult r = realizar({"run", kBin, "Once upon a time", "-n", "100", "--temperature", "0", "--stop", "Lily"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ", there was a little girl named \n");
}

TEST(RunCli, SeedReproducesTheSameText) {
    auto sample = [](const std::string& seed) {
        return run_json({"run", kBin, "Once upon a time", "-n", "80", "--temperature", "1.5", "--top-k", "0", "--top-p",
                         "1", "--min-p", "0", "--seed", seed});
    };
    const nlohmann::json a = sample("1234"), b = sample("1234"), c = sample("99");
    EXPECT_EQ(a["token_ids"], b["token_ids"]);
    EXPECT_EQ(a["text"], b["text"]);
    EXPECT_EQ(a["seed"], 1234);
    EXPECT_NE(a["token_ids"], c["token_ids"]);
    // Any seed a random run prints (0 .. 2^64 - 2) reproduces it: above 2^63 too (it was clamped to 2^63 - 1).
    const nlohmann::json h = sample("15772926675742225128"), h2 = sample("15772926675742225128");
    EXPECT_EQ(h["seed"].get<uint64_t>(), 15772926675742225128ull);
    EXPECT_EQ(h["token_ids"], h2["token_ids"]);
    EXPECT_NE(h["token_ids"], a["token_ids"]);
    const nlohmann::json rnd = run_json({"run", kBin, "Once upon a time", "-n", "40", "--temperature", "1.5", "--top-k", "0"});
    EXPECT_EQ(rnd["token_ids"], run_json({"run", kBin, "Once upon a time", "-n", "40", "--temperature", "1.5", "--top-k", "0", "--seed",
                                          std::to_string(rnd["seed"].get<uint64_t>())})["token_ids"]);
    for (const char* bad : {"18446744073709551615", "18446744073709551616", "-2", "12x"})
        EXPECT_EQ(realizar({"run", kBin, "hi", "--seed", bad}).exit_code, 1) << bad;
    // Sampling at 1.5 really leaves the greedy path (else this test would prove nothing).
    const nlohmann::json g = run_json({"run", kBin, "Once upon a time", "-n", "80", "--temperature", "0"});
    EXPECT_NE(a["token_ids"], g["token_ids"]);
}

// --chat-template takes a file too (as `realizar template` does): the same text as the template given inline.
TEST(RunCli, ChatTemplateFromAFile) {
    const std::string tpl = "{% for m in messages %}<<{{ m['content'] }}>>{% endfor %}";
    const std::string path = ::testing::TempDir() + "/rz_tpl.jinja";
    {
        std::ofstream f(path);
        f << tpl;
    }
    const nlohmann::json a = run_json({"run", kBin, "Once", "--chat-template", path, "--echo", "-n", "2", "--temperature", "0"});
    const nlohmann::json b = run_json({"run", kBin, "Once", "--chat-template", tpl, "--echo", "-n", "2", "--temperature", "0"});
    EXPECT_EQ(a["prompt"], "<<Once>>");
    EXPECT_EQ(a["token_ids"], b["token_ids"]);
    std::filesystem::remove(path);
}

// --echo shows what the model was fed: without a chat template, the --system text, a blank line, then the prompt.
TEST(RunCli, EchoShowsTheSystemTextOfARawPrompt) {
    const nlohmann::json j = run_json({"run", kBin, "Once", "--system", "You are", "--echo", "-n", "4", "--temperature", "0"});
    EXPECT_EQ(j["prompt"], "You are\n\nOnce");
    ProcessResult r = realizar({"run", kBin, "Once", "--system", "You are", "--echo", "-n", "4", "--temperature", "0", "--no-timings"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("You are\n\nOnce", 0), 0u) << r.out;
}

TEST(RunCli, TokensInsteadOfText) {
    // The ids llama2.c's tokenizer gives "Once upon a time" (with BOS): same continuation as the text prompt.
    nlohmann::json t = run_json({"run", kBin, "--tokens", "1,403,407,261,378", "-n", "20", "--temperature", "0"});
    nlohmann::json p = run_json({"run", kBin, "Once upon a time", "-n", "20", "--temperature", "0"});
    EXPECT_EQ(t["token_ids"], p["token_ids"]);
    EXPECT_EQ(t["usage"]["prompt_tokens"], 5);
}

TEST(RunCli, TokensWithLogitsOutWritesTheLogits) {
    const std::string out = ::testing::TempDir() + "/rz_run_logits.f32";
    std::filesystem::remove(out);
    ProcessResult r = realizar({"run", kGguf, "--tokens", "1,403,407", "--logits-out", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(std::filesystem::file_size(out), 3u * 512u * sizeof(float));
    std::filesystem::remove(out);
}

TEST(RunCli, PromptFromFileStdinAndFlag) {
    const std::string path = ::testing::TempDir() + "/rz_prompt.txt";
    {
        std::ofstream f(path);
        f << "Once upon a time";
    }
    nlohmann::json a = run_json({"run", kBin, "-f", path, "-n", "10", "--temperature", "0"});
    nlohmann::json b = run_json({"run", kBin, "Once upon a time", "-n", "10", "--temperature", "0"});
    EXPECT_EQ(a["token_ids"], b["token_ids"]);
    // llama.cpp's -p / --prompt spelling gives the same completion.
    nlohmann::json c = run_json({"run", kBin, "-p", "Once upon a time", "-n", "10", "--temperature", "0"});
    EXPECT_EQ(c["token_ids"], b["token_ids"]);
    ProcessResult s =
        realizar({"run", kBin, "-f", "-", "-n", "10", "--temperature", "0", "--no-timings"}, "Once upon a time");
    ASSERT_EQ(s.exit_code, 0) << s.err;
    EXPECT_EQ(s.out.rfind(", there was", 0), 0u) << s.out;
    std::filesystem::remove(path);
}

TEST(RunCli, ErrorsAreOneLineWithNonZeroExit) {
    auto expect_error = [](std::vector<std::string> args, const std::string& needle) {
        ProcessResult r = realizar(std::move(args));
        EXPECT_NE(r.exit_code, 0);
        EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
        // One line (a trailing newline only).
        EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    };
    expect_error({"run", "/nonexistent/model.gguf", "hi"}, "/nonexistent/model.gguf");
    expect_error({"run", kData + "/tok512.vocab", "hi"}, "tok512.vocab");
    expect_error({"run", kBin, "hi", "--top-p", "3"}, "top_p");
    expect_error({"run", kBin, "hi", "--cache-type", "q9"}, "--cache-type");
    expect_error({"run", kBin}, "no prompt");
    expect_error({"run", kBin, "hi", "-p", "there"}, "once");
    expect_error({"run", kBin, "hi", "-f", kData + "/tok512.vocab"}, "once");  // PROMPT and --prompt-file
    expect_error({"run", kBin, "hi", "--tokens", "1,403"}, "--tokens");        // PROMPT and --tokens
    expect_error({"run", kBin, "-f", kData}, "is a folder");
    expect_error({"run", kGguf, "--features", "1,2,3"}, "not a classical APR model");  // it said "corrupt"
    expect_error({"run", kBin, "--chat", "--raw"}, "--chat");
    expect_error({"run", kBin, "--chat", "--echo"}, "--chat");
    expect_error({"run", kBin, "hi", "--chat-template", "/nonexistent/t.jinja"}, "cannot read");
    // a template that fails on every turn (here: it raises on a system message) stops before the first one
    expect_error({"run", kBin, "--chat", "--system", "be brief", "--chat-template",
                  "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}{{ m['content'] }}{% endfor %}"},
                 "no system role");
    expect_error({"run", kBin, "--tokens", "1,x,3"}, "x");
    expect_error({"run", kBin, "--tokens", "1,99999"}, "99999");
    expect_error({"run", kBin, "hi", "--chat-template", "nonsense"}, "nonsense");
    // A tokenizer with more tokens than the model's vocabulary.
    expect_error({"run", kBin, "hi", "--tokenizer", std::string(RZ_SHARED_DIR) + "/data/tokenizers/gpt2"}, "mismatch");
}

TEST(RunCli, ContextFullIsALengthFinish) {
    nlohmann::json j =
        run_json({"run", kBin, "Once upon a time", "--ctx-size", "16", "--temperature", "0", "--ignore-eos"});
    EXPECT_EQ(j["finish_reason"], "length");
    EXPECT_EQ(j["finish_detail"], "context_full");
    EXPECT_EQ(j["usage"]["total_tokens"], 17);  // 16 positions + the last sampled token
}

}  // namespace
}  // namespace rz::runtime
