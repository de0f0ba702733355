// The real templates of ../shared/data/chat-templates with conversations the golden file does not cover
// (tools, tool calls given as objects and as strings, tool results, reasoning history, enable_thinking):
// expected prompts rendered by Python jinja2 like Hugging Face (tests/chat/template_cases.json, written by
// gen_jinja_cases.py). Output must be byte-identical; where jinja2 fails, we must fail with its message.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "realizar/tokenizer/chat_template.h"

namespace {

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

const nlohmann::ordered_json& doc() {
    static const nlohmann::ordered_json d =
        nlohmann::ordered_json::parse(slurp(std::string(RZ_SOURCE_DIR) + "/tests/chat/template_cases.json"), nullptr, false);
    return d;
}

struct TemplateCase {
    std::string name;
    nlohmann::ordered_json json;
};

std::vector<TemplateCase> cases() {
    std::vector<TemplateCase> out;
    if (!doc().is_object()) return out;
    for (const auto& c : doc()["cases"]) {
        std::string n = c["template"].get<std::string>() + "_" + c["conversation"].get<std::string>() +
                        (c["add_generation_prompt"].get<bool>() ? "_gen" : "_nogen");
        std::string clean;
        for (char ch : n) clean += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
        out.push_back({clean, c});
    }
    return out;
}

class TemplateCases : public ::testing::TestWithParam<TemplateCase> {};

TEST_P(TemplateCases, MatchesJinja2) {
    const auto& c = GetParam().json;
    std::string tmpl = slurp(std::string(RZ_SHARED_DIR) + "/data/chat-templates/" + c["template"].get<std::string>());
    ASSERT_FALSE(tmpl.empty());
    const auto& conv = doc()["conversations"][c["conversation"].get<std::string>()];
    rz::tokenizer::ChatTemplateOptions o;
    o.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.strftime_now = [](const std::string&) { return std::string("26 Nov 2026"); };
    for (auto it = conv.begin(); it != conv.end(); ++it)
        if (it.key() != "messages") o.extra_context[it.key()] = it.value();
    auto r = rz::tokenizer::render_chat_template(tmpl, conv["messages"], o);
    if (c.contains("error")) {
        ASSERT_FALSE(r.ok()) << "jinja2 fails with " << c["error"].get<std::string>() << "; we rendered:\n" << r.value();
        std::string err = c["error"].get<std::string>();
        std::string type = err.substr(0, err.find(':'));
        std::string msg = err.substr(err.find(": ") + 2);
        // Python's own recursion limit vs ours: both stop the runaway macro; the wording differs.
        if (type == "RecursionError") msg = "maximum recursion depth";
        EXPECT_NE(r.status().message().find(msg), std::string::npos) << r.status().message() << "\njinja2: " << err;
    } else {
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(r.value(), c["expected"].get<std::string>());
    }
}

INSTANTIATE_TEST_SUITE_P(Shared, TemplateCases, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<TemplateCase>& p) { return p.param.name; });

TEST(TemplateCasesData, Loaded) { EXPECT_GE(cases().size(), 100u); }

}  // namespace
