// The built-in fallback templates (chatml, llama2, llama3, mistral, phi3, gemma, zephyr) produce each format
// as publicly described. Expected strings were cross-checked by rendering the same sources with Python jinja2.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "realizar/tokenizer/chat_template.h"

namespace {

using rz::tokenizer::builtin_chat_template;
using rz::tokenizer::ChatTemplateOptions;
using rz::tokenizer::render_chat_template;

const nlohmann::json kChat = nlohmann::json::parse(R"([
    {"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Tell me a joke."}])");

std::string render(const std::string& name, bool add_generation_prompt, bool with_system = true) {
    auto src = builtin_chat_template(name);
    EXPECT_TRUE(src.ok()) << name;
    if (!src.ok()) return "";
    ChatTemplateOptions o;
    o.add_generation_prompt = add_generation_prompt;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    nlohmann::json msgs = kChat;
    if (!with_system) msgs.erase(msgs.begin());
    auto r = render_chat_template(*src, msgs, o);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().message();
    return r.ok() ? *r : "";
}

TEST(BuiltinTemplates, Names) {
    EXPECT_EQ(rz::tokenizer::builtin_chat_template_names().size(), 7u);
    for (const auto& n : rz::tokenizer::builtin_chat_template_names()) {
        EXPECT_TRUE(rz::tokenizer::is_builtin_chat_template_name(n));
        EXPECT_TRUE(rz::tokenizer::validate_chat_template(*builtin_chat_template(n)).ok()) << n;
    }
    EXPECT_FALSE(rz::tokenizer::is_builtin_chat_template_name("vicuna"));
    auto missing = builtin_chat_template("vicuna");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.status().message().find("chatml"), std::string::npos);
}

TEST(BuiltinTemplates, ChatML) {
    EXPECT_EQ(render("chatml", true),
              "<|im_start|>system\nBe nice.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How "
              "can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(render("chatml", false, false),
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\n"
              "Tell me a joke.<|im_end|>\n");
}

TEST(BuiltinTemplates, Llama2) {
    EXPECT_EQ(render("llama2", true),
              "<s>[INST] <<SYS>>\nBe nice.\n<</SYS>>\n\nHi [/INST] Hello! How can I help? </s><s>[INST] Tell me a joke. "
              "[/INST]");
    EXPECT_EQ(render("llama2", true, false),
              "<s>[INST] Hi [/INST] Hello! How can I help? </s><s>[INST] Tell me a joke. [/INST]");
}

TEST(BuiltinTemplates, Llama3) {
    EXPECT_EQ(render("llama3", true),
              "<s><|start_header_id|>system<|end_header_id|>\n\nBe nice.<|eot_id|><|start_header_id|>user<|end_header_id|>"
              "\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|><|start_header_id|>assistant"
              "<|end_header_id|>\n\n");
    EXPECT_EQ(render("llama3", false, false),
              "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
              "Hello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>");
}

TEST(BuiltinTemplates, Mistral) {
    EXPECT_EQ(render("mistral", true),
              "<s>[INST] Be nice.\n\nHi [/INST]Hello! How can I help?</s>[INST] Tell me a joke. [/INST]");
    EXPECT_EQ(render("mistral", true, false), "<s>[INST] Hi [/INST]Hello! How can I help?</s>[INST] Tell me a joke. [/INST]");
}

TEST(BuiltinTemplates, Phi3) {
    EXPECT_EQ(render("phi3", true),
              "<|system|>\nBe nice.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello! How can I help?<|end|>\n<|user|>\n"
              "Tell me a joke.<|end|>\n<|assistant|>\n");
    EXPECT_EQ(render("phi3", false, false),
              "<|user|>\nHi<|end|>\n<|assistant|>\nHello! How can I help?<|end|>\n<|user|>\nTell me a joke.<|end|>\n</s>");
}

TEST(BuiltinTemplates, Gemma) {
    EXPECT_EQ(render("gemma", true),
              "<s><start_of_turn>user\nBe nice.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello! How can I help?"
              "<end_of_turn>\n<start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n");
    EXPECT_EQ(render("gemma", false, false),
              "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello! How can I help?<end_of_turn>\n"
              "<start_of_turn>user\nTell me a joke.<end_of_turn>\n");
}

TEST(BuiltinTemplates, Zephyr) {
    EXPECT_EQ(render("zephyr", true),
              "<|system|>\nBe nice.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello! How can I help?</s>\n<|user|>\n"
              "Tell me a joke.</s>\n<|assistant|>\n");
}

TEST(BuiltinTemplates, AlternationIsEnforced) {
    nlohmann::json bad = nlohmann::json::parse(R"([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])");
    for (const char* name : {"llama2", "mistral", "gemma"}) {
        auto r = render_chat_template(*builtin_chat_template(name), bad, ChatTemplateOptions{});
        ASSERT_FALSE(r.ok()) << name;
        EXPECT_NE(r.status().message().find("alternate"), std::string::npos) << r.status().message();
    }
}

}  // namespace
