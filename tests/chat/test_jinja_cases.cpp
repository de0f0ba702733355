// Differential test against Python jinja2: tests/chat/jinja_cases.json holds ~120 small templates covering
// statements, expressions, tests, filters, methods, tojson, whitespace control and errors, rendered by
// jinja2 3.1.6 configured like Hugging Face's apply_chat_template (see gen_jinja_cases.py, which
// regenerates it). Every case must render byte-identical, or fail with jinja2's message where jinja2 fails.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "realizar/tokenizer/chat_template.h"

namespace {

struct JinjaCase {
    size_t index;
    nlohmann::ordered_json json;
};

const nlohmann::ordered_json& doc() {
    static const nlohmann::ordered_json d = [] {
        std::ifstream f(std::string(RZ_SOURCE_DIR) + "/tests/chat/jinja_cases.json", std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return nlohmann::ordered_json::parse(ss.str(), nullptr, false);
    }();
    return d;
}

std::vector<JinjaCase> cases() {
    std::vector<JinjaCase> out;
    if (!doc().is_object()) return out;
    size_t i = 0;
    for (const auto& c : doc()["cases"]) out.push_back({i++, c});
    return out;
}

class JinjaCases : public ::testing::TestWithParam<JinjaCase> {};

TEST_P(JinjaCases, MatchesJinja2) {
    const auto& c = GetParam().json;
    const std::string tmpl = c["template"].get<std::string>();
    rz::tokenizer::ChatTemplateOptions opts;
    opts.strftime_now = [](const std::string&) { return std::string("26 Nov 2026"); };
    auto r = rz::tokenizer::render_jinja(tmpl, doc()["context"], opts);
    if (c.contains("error")) {
        ASSERT_FALSE(r.ok()) << "template: " << tmpl << "\njinja2 fails with: " << c["error"].get<std::string>()
                             << "\nwe rendered: " << r.value();
        // jinja2's message (after "ExceptionType: ") must appear in ours; syntax errors may be worded differently
        // as long as they are errors.
        std::string err = c["error"].get<std::string>();
        std::string type = err.substr(0, err.find(':'));
        std::string msg = err.substr(err.find(": ") + 2);
        if (type != "TemplateSyntaxError") {
            EXPECT_NE(r.status().message().find(msg), std::string::npos)
                << "ours: " << r.status().message() << "\njinja2: " << msg;
        }
    } else {
        ASSERT_TRUE(r.ok()) << "template: " << tmpl << "\nerror: " << r.status().message();
        EXPECT_EQ(r.value(), c["expected"].get<std::string>()) << "template: " << tmpl;
    }
}

INSTANTIATE_TEST_SUITE_P(Jinja2, JinjaCases, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<JinjaCase>& p) { return "case" + std::to_string(p.param.index); });

TEST(JinjaCasesData, Loaded) { EXPECT_GE(cases().size(), 100u); }

}  // namespace
