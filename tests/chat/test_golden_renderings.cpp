// Every case of ../shared/golden/chat/renderings.json (rendered by Python jinja2 3.1.6 the way Hugging Face's
// apply_chat_template does) must render byte-identical with our interpreter, or fail where the golden fails.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "realizar/tokenizer/chat_template.h"

namespace {

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

const std::string kShared = RZ_SHARED_DIR;

struct GoldenCase {
    std::string name;
    nlohmann::ordered_json json;
};

std::vector<GoldenCase> load_cases() {
    std::string text = read_file(kShared + "/golden/chat/renderings.json");
    std::vector<GoldenCase> out;
    if (text.empty()) return out;
    auto doc = nlohmann::ordered_json::parse(text);
    for (const auto& c : doc["cases"]) {
        std::string name = c["template"].get<std::string>() + "/" + c["conversation"].get<std::string>();
        out.push_back({name, c});
    }
    return out;
}

class GoldenChat : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenChat, RendersLikeJinja2) {
    const auto& c = GetParam().json;
    std::string tmpl = read_file(kShared + "/data/chat-templates/" + c["template"].get<std::string>());
    ASSERT_FALSE(tmpl.empty()) << "missing template " << c["template"];
    rz::tokenizer::ChatTemplateOptions opts;
    opts.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    opts.bos_token = "<s>";
    opts.eos_token = "</s>";
    opts.strftime_now = [](const std::string&) { return std::string("26 Nov 2026"); };  // as the golden's renderer
    auto r = rz::tokenizer::render_chat_template(tmpl, c["messages"], opts);
    if (c.contains("error")) {
        ASSERT_FALSE(r.ok()) << "expected error '" << c["error"].get<std::string>() << "', got: " << r.value();
        EXPECT_NE(r.status().message().find(c["error"].get<std::string>()), std::string::npos) << r.status().message();
    } else {
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(r.value(), c["expected"].get<std::string>());
    }
}

INSTANTIATE_TEST_SUITE_P(Shared, GoldenChat, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<GoldenCase>& p) {
                             std::string n;
                             for (char ch : p.param.name) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                             return n;
                         });

TEST(GoldenChatData, AllCasesPresent) {
    // Guards against a silently empty suite if ../shared moved.
    EXPECT_GE(load_cases().size(), 40u);
}

}  // namespace
