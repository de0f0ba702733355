// prepare_prompt with real tokenizers and their own chat templates: special tokens parsed as single ids,
// BOS not doubled when the template prints it, raw mode, template overrides.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "realizar/runtime/generate.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::runtime {
namespace {

const std::string kTok = std::string(RZ_SHARED_DIR) + "/data/tokenizers";

std::unique_ptr<tokenizer::Tokenizer> load(const std::string& name) {
    auto t = tokenizer::Tokenizer::from_path(kTok + "/" + name);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return t.ok() ? std::move(*t) : nullptr;
}

int count(const std::vector<int32_t>& v, int32_t id) {
    return static_cast<int>(std::count(v.begin(), v.end(), id));
}

TEST(PreparePromptReal, Llama3TemplateSingleBosAndHeaderTokens) {
    auto tok = load("llama3-hf");
    ASSERT_TRUE(tok);
    ASSERT_FALSE(tok->chat_template().empty());
    auto p = prepare_prompt(*tok, {{"system", "Be brief."}, {"user", "Hi!"}}, {});
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_TRUE(p->templated);
    // The template prints <|begin_of_text|> and the tokenizer adds it too: exactly one remains.
    ASSERT_GE(p->tokens.size(), 10u);
    EXPECT_EQ(p->tokens[0], 128000);
    EXPECT_EQ(count(p->tokens, 128000), 1);
    // <|start_header_id|> system / user / assistant, each a single special token.
    EXPECT_EQ(count(p->tokens, 128006), 3);
    EXPECT_EQ(count(p->tokens, 128009), 2);  // <|eot_id|> after system and user
    EXPECT_NE(p->text.find("<|start_header_id|>assistant<|end_header_id|>\n\n"), std::string::npos);
    EXPECT_EQ(p->text.rfind("<|start_header_id|>assistant<|end_header_id|>\n\n"),
              p->text.size() - std::string("<|start_header_id|>assistant<|end_header_id|>\n\n").size());
    EXPECT_TRUE(tok->is_eog(128009));  // so the answer ends at <|eot_id|>
}

TEST(PreparePromptReal, Qwen3TemplateImStart) {
    auto tok = load("qwen3-hf");
    ASSERT_TRUE(tok);
    auto p = prepare_prompt(*tok, {{"user", "Hello"}}, {});
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_TRUE(p->templated);
    EXPECT_EQ(p->tokens.front(), 151644);    // <|im_start|>, no BOS for Qwen
    EXPECT_EQ(count(p->tokens, 151644), 2);  // user, assistant
    EXPECT_EQ(count(p->tokens, 151645), 1);  // <|im_end|> after the user turn
    EXPECT_NE(p->text.find("<|im_start|>assistant\n"), std::string::npos);
}

TEST(PreparePromptReal, RawModeKeepsSpecialTextAsText) {
    auto tok = load("qwen3-hf");
    ASSERT_TRUE(tok);
    auto p = prepare_prompt(*tok, {{"user", "<|im_start|>hi"}}, {.raw = true});
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->templated);
    EXPECT_EQ(p->text, "<|im_start|>hi");
    EXPECT_EQ(count(p->tokens, 151644), 0);  // typed text never becomes a control token in raw mode
}

TEST(PreparePromptReal, BuiltinTemplateOverride) {
    auto tok = load("llama2-spm");  // SentencePiece model: no template of its own
    ASSERT_TRUE(tok);
    EXPECT_TRUE(tok->chat_template().empty());
    auto raw = prepare_prompt(*tok, {{"user", "Hello"}}, {});
    ASSERT_TRUE(raw.ok());
    EXPECT_FALSE(raw->templated);
    EXPECT_EQ(raw->tokens.front(), tok->bos());

    auto p = prepare_prompt(*tok, {{"user", "Hello"}}, {.chat_template = "llama2"});
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_TRUE(p->templated);
    EXPECT_NE(p->text.find("[INST]"), std::string::npos);
    EXPECT_EQ(count(p->tokens, tok->bos()), 1);
}

}  // namespace
}  // namespace rz::runtime
