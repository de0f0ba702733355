// `realizar template` end to end on real model files from ../shared: a GGUF (template + BOS/EOS texts from
// its metadata), Hugging Face folders (tokenizer_config.json), template files, overrides and errors. The
// expected prompts were rendered by Python jinja2 3.1.6 with Hugging Face's settings.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "realizar/tokenizer/chat_template.h"

namespace {

const std::string kShared = RZ_SHARED_DIR;
const std::string kData = kShared + "/data";

struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

class TemplateCli : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("rz_chat_cli_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
        messages_ = (dir_ / "messages.json").string();
        std::ofstream(messages_) << R"([{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Tell me a joke."}])";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    RunResult run(const std::string& args) {
        std::string out = (dir_ / "out.txt").string(), err = (dir_ / "err.txt").string();
        std::string cmd = std::string(RZ_REALIZAR_BIN) + " template " + args + " >" + out + " 2>" + err;
        int status = std::system(cmd.c_str());
        RunResult r;
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        r.out = slurp(out);
        r.err = slurp(err);
        return r;
    }

    std::filesystem::path dir_;
    std::string messages_;
};

TEST_F(TemplateCli, GgufTemplateAndBosFromMetadata) {
    auto r = run(kData + "/llama.cpp-vocab/ggml-vocab-phi-3.gguf --messages " + messages_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out,
              "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello! How can I help?<|end|>\n<|user|>\nTell me a joke.<|end|>\n"
              "<|assistant|>\n");
}

TEST_F(TemplateCli, HfFolderQwen3) {
    auto r = run(kData + "/tokenizers/qwen3-hf --messages " + messages_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out,
              "<|im_start|>system\nBe nice.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How "
              "can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n");
}

TEST_F(TemplateCli, HfFolderLlama3NoGenerationPromptAndBosOverride) {
    const std::string body =
        "<|start_header_id|>system<|end_header_id|>\n\nBe nice.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi"
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>"
        "user<|end_header_id|>\n\nTell me a joke.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    auto r = run(kData + "/tokenizers/llama3-hf --no-generation-prompt --messages " + messages_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "<|begin_of_text|>" + body);
    auto r2 = run(kData + "/tokenizers/llama3-hf --no-generation-prompt --bos-token '[BOS]' --messages " + messages_);
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    EXPECT_EQ(r2.out, "[BOS]" + body);
}

TEST_F(TemplateCli, TemplateFileErrorExitsNonZeroWithMessage) {
    auto r = run(kData + "/chat-templates/google-gemma-2-2b-it.jinja --messages " + messages_);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(r.out.empty());
    EXPECT_NE(r.err.find("System role not supported"), std::string::npos) << r.err;
}

TEST_F(TemplateCli, NoTemplateNeedsChatTemplateOption) {
    auto r = run(kData + "/tokenizers/mistral7b-hf --messages " + messages_);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("--chat-template"), std::string::npos) << r.err;
    auto r2 = run(kData + "/tokenizers/mistral7b-hf --chat-template mistral --messages " + messages_);
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    EXPECT_EQ(r2.out, "<s>[INST] Be nice.\n\nHi [/INST]Hello! How can I help?</s>[INST] Tell me a joke. [/INST]");
    auto r3 = run(kData + "/tokenizers/mistral7b-hf --chat-template " + kData +
                  "/chat-templates/microsoft-Phi-3.5-mini-instruct.jinja --no-generation-prompt --messages " + messages_);
    ASSERT_EQ(r3.exit_code, 0) << r3.err;
    EXPECT_EQ(r3.out,
              "<|system|>\nBe nice.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello! How can I help?<|end|>\n<|user|>\n"
              "Tell me a joke.<|end|>\n</s>");
    auto r4 = run(kData + "/tokenizers/mistral7b-hf --chat-template no-such-template --messages " + messages_);
    EXPECT_NE(r4.exit_code, 0);
    EXPECT_NE(r4.err.find("chatml"), std::string::npos) << r4.err;  // lists the built-in names
}

TEST_F(TemplateCli, MessagesObjectWithToolsAndBadFiles) {
    std::string with_tools = (dir_ / "with_tools.json").string();
    std::ofstream(with_tools) << R"({"messages": [{"role": "user", "content": "Weather?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]})";
    auto r = run(kData + "/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja --messages " + with_tools);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Key order of the tool as written in the file (json.dumps of a Python dict keeps it).
    EXPECT_NE(r.out.find(R"({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}})"),
              std::string::npos)
        << r.out;
    std::string bad = (dir_ / "bad.json").string();
    std::ofstream(bad) << "[{\"role\": ";
    auto r2 = run(kData + "/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja --messages " + bad);
    EXPECT_NE(r2.exit_code, 0);
    EXPECT_NE(r2.err.find("not valid JSON"), std::string::npos) << r2.err;
    auto r3 = run(kData + "/no/such/model.gguf --messages " + messages_);
    EXPECT_NE(r3.exit_code, 0);
    std::string syntax = (dir_ / "broken.jinja").string();
    std::ofstream(syntax) << "line one\n{% for m in messages %}{{ m.content }}\n";
    auto r4 = run(syntax + " --messages " + messages_);
    EXPECT_NE(r4.exit_code, 0);
    EXPECT_NE(r4.err.find("line 2"), std::string::npos) << r4.err;
    EXPECT_NE(r4.err.find("endfor"), std::string::npos) << r4.err;
}

TEST(ModelTemplate, LoadsFromRealFiles) {
    auto g = rz::tokenizer::load_chat_template(kData + "/llama.cpp-vocab/ggml-vocab-phi-3.gguf");
    ASSERT_TRUE(g.ok()) << g.status().message();
    EXPECT_EQ(g->bos_token, "<s>");
    EXPECT_EQ(g->eos_token, "<|endoftext|>");
    EXPECT_NE(g->source.find("<|assistant|>"), std::string::npos);
    auto q = rz::tokenizer::load_chat_template(kData + "/tokenizers/qwen3-hf");
    ASSERT_TRUE(q.ok()) << q.status().message();
    EXPECT_EQ(q->bos_token, "");
    EXPECT_EQ(q->eos_token, "<|im_end|>");
    EXPECT_NE(q->source.find("<|im_start|>"), std::string::npos);
    auto m = rz::tokenizer::load_chat_template(kData + "/tokenizers/mistral7b-hf/tokenizer_config.json");
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_EQ(m->source, "");
    EXPECT_EQ(m->bos_token, "<s>");
    auto missing = rz::tokenizer::load_chat_template(kData + "/nope.gguf");
    EXPECT_FALSE(missing.ok());
}

}  // namespace
