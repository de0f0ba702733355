// A template can never hang or exhaust memory: loop iterations, recursion depth, output and intermediate
// sizes, and parser nesting are bounded with clear errors; errors name the template line.
#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "realizar/tokenizer/chat_template.h"

namespace {

using rz::tokenizer::ChatTemplateOptions;
using rz::tokenizer::render_jinja;

rz::Result<std::string> render(const std::string& src, ChatTemplateOptions o = {}) {
    return render_jinja(src, nlohmann::ordered_json::object(), o);
}

std::string error_of(const std::string& src, ChatTemplateOptions o = {}) {
    auto r = render(src, o);
    EXPECT_FALSE(r.ok()) << "rendered: " << (r.ok() ? r.value().substr(0, 200) : "");
    return r.ok() ? "" : r.status().message();
}

TEST(ChatLimits, NestedLoopsHitIterationLimit) {
    // 100000^3 iterations would run for hours; the default limit (1M) stops it within about a second.
    auto start = std::chrono::steady_clock::now();
    std::string e = error_of(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}{% endfor %}{% endfor %}"
        "{% endfor %}");
    EXPECT_NE(e.find("loop iteration limit"), std::string::npos) << e;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
    ChatTemplateOptions small;
    small.limits.max_loop_iterations = 50;
    EXPECT_NE(error_of("{% for i in range(10) %}{% for j in range(10) %}{% endfor %}{% endfor %}", small)
                  .find("loop iteration limit exceeded (50 iterations)"),
              std::string::npos);
    EXPECT_TRUE(render("{% for i in range(5) %}{% for j in range(5) %}{% endfor %}{% endfor %}", small).ok());
}

TEST(ChatLimits, InfiniteRecursionHitsDepthLimit) {
    std::string e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
    EXPECT_NE(e.find("maximum recursion depth"), std::string::npos) << e;
    // Mutual recursion through a call block's caller as well.
    e = error_of("{% macro g() %}{% call g() %}x{% endcall %}{% endmacro %}{{ g() }}");
    EXPECT_NE(e.find("maximum recursion depth"), std::string::npos) << e;
    // Recursion through deeply nested expressions is bounded by total nesting (C++ stack), not only call depth.
    std::string nested = "{% macro f(n) %}{{ " + std::string(95, '[') + "f(n + 1)" + std::string(95, ']') +
                         " }}{% endmacro %}{{ f(0) }}";
    e = error_of(nested);
    EXPECT_NE(e.find("maximum recursion depth"), std::string::npos) << e;
    // Bounded recursion below the limit works.
    auto ok = render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}");
    ASSERT_TRUE(ok.ok()) << ok.status().message();
    EXPECT_EQ(*ok, "54321");
}

TEST(ChatLimits, HugeOutputsAndStringsAreRefused) {
    ChatTemplateOptions o;
    o.limits.max_output_bytes = 1 << 20;
    // Doubling a string 40 times would need a terabyte.
    std::string e = error_of("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                             "{% endfor %}{{ ns.s | length }}",
                             o);
    EXPECT_NE(e.find("output size limit"), std::string::npos) << e;
    EXPECT_NE(error_of("{{ 'x' * 1000000000000 }}", o).find("output size limit"), std::string::npos);
    EXPECT_NE(error_of("{{ [1, 2] * 1000000000000 }}", o).find("output size limit"), std::string::npos);
    EXPECT_NE(error_of("{% for i in range(100000) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}", o)
                  .find("output size limit"),
              std::string::npos);
    EXPECT_NE(error_of("{{ 'ab' | replace('', 'x' * 600000) }}", o).find("output size limit"), std::string::npos);
    // The sandbox's range cap, as in jinja2.
    EXPECT_NE(error_of("{{ range(1000000000) | length }}").find("Range too big"), std::string::npos);
}

TEST(ChatLimits, DeepNestingIsASyntaxErrorNotAStackOverflow) {
    std::string deep(100000, '(');
    EXPECT_NE(error_of("{{ " + deep + "1" + std::string(100000, ')') + " }}").find("nesting too deep"), std::string::npos);
    EXPECT_FALSE(render("{{ " + deep + "1 }}").ok());  // unbalanced: an error too
    EXPECT_NE(error_of("{{ " + std::string(100000, '[') + std::string(100000, ']') + " }}").find("nesting too deep"),
              std::string::npos);
    std::string deep_if;
    for (int i = 0; i < 5000; ++i) deep_if += "{% if true %}";
    EXPECT_NE(error_of(deep_if).find("nesting too deep"), std::string::npos);
    std::string nots;
    for (int i = 0; i < 100000; ++i) nots += "not ";
    EXPECT_NE(error_of("{{ " + nots + "x }}").find("nesting too deep"), std::string::npos);
}

TEST(ChatErrors, SyntaxErrorsNameTheLine) {
    std::string e = error_of("line 1\nline 2\n{% if x %}\nno end");
    EXPECT_NE(e.find("line 4"), std::string::npos) << e;
    EXPECT_NE(e.find("'endif'"), std::string::npos) << e;
    e = error_of("ok\n{{ 1 + }}");
    EXPECT_NE(e.find("line 2"), std::string::npos) << e;
    e = error_of("a\nb\nc {{ x | no_such_filter }}");
    EXPECT_NE(e.find("line 3"), std::string::npos) << e;
    EXPECT_NE(e.find("No filter named 'no_such_filter'"), std::string::npos) << e;
    e = error_of("{% frobnicate %}");
    EXPECT_NE(e.find("unknown tag 'frobnicate'"), std::string::npos) << e;
    EXPECT_NE(error_of("{{ 'unterminated }}").find("line 1"), std::string::npos);
    EXPECT_NE(error_of("{# never closed").find("comment"), std::string::npos);
    EXPECT_NE(error_of("{% for x in y %}{% endif %}").find("endfor"), std::string::npos);
    EXPECT_NE(error_of("{% break %}").find("outside loop"), std::string::npos);
    EXPECT_TRUE(rz::tokenizer::validate_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}").ok());
    EXPECT_FALSE(rz::tokenizer::validate_chat_template("{% for m in messages %}").ok());
}

TEST(ChatErrors, RuntimeErrorsNameTheLine) {
    std::string e = error_of("a\n\n{{ raise_exception('Only user and assistant roles are supported!') }}");
    EXPECT_NE(e.find("line 3: Only user and assistant roles are supported!"), std::string::npos) << e;
    e = error_of("x\n{{ undefined_function(1) }}");
    EXPECT_NE(e.find("line 2"), std::string::npos) << e;
    EXPECT_NE(e.find("'undefined_function' is undefined"), std::string::npos) << e;
    e = error_of("{% macro m() %}\n\n{{ 1 // 0 }}{% endmacro %}\n{{ m() }}");
    EXPECT_NE(e.find("line 3"), std::string::npos) << e;
}

TEST(ChatErrors, BadInputsAreStatusesNotCrashes) {
    using rz::tokenizer::render_chat_template;
    EXPECT_FALSE(render_chat_template("{{ 1 }}", nlohmann::json::object(), {}).ok());  // messages must be an array
    EXPECT_FALSE(render_chat_template("{{ 1 }}", nlohmann::json::parse("[1, 2]"), {}).ok());
    EXPECT_FALSE(render_jinja("{{ 1 }}", nlohmann::ordered_json::array()).ok());
    // Hostile nesting in request JSON is refused, not a stack overflow.
    nlohmann::json deep = nlohmann::json::array();
    for (int i = 0; i < 100000; ++i) deep = nlohmann::json::array({std::move(deep)});
    nlohmann::json msgs = nlohmann::json::array({nlohmann::json{{"role", "user"}, {"content", std::move(deep)}}});
    auto d = render_chat_template("{{ messages | length }}", msgs, {});
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find("nested deeper"), std::string::npos) << d.status().message();
    // Invalid UTF-8 in a template or message passes through byte-exactly (Python would have decoded it
    // with surrogateescape; we never crash on it).
    auto r = render_chat_template("{{ messages[0].content }}|{{ '\xff' }}",
                                  nlohmann::json::parse(R"([{"role": "user", "content": "ok"}])"), {});
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(*r, "ok|\xff");
}

TEST(ChatTemplate, ReferenceCyclesDoNotBreakRendering) {
    // A namespace holding itself and a macro stored in the frame it closes over are shared_ptr cycles; render()
    // breaks them when it ends (LeakSanitizer in the asan preset checks nothing is left behind).
    auto r = render("{% set ns = namespace() %}{% set ns.self = ns %}{% set ns.v = 1 %}{{ ns.self.self.v }}"
                    "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{% endif %}.{% endmacro %}{{ m(3) }}");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(*r, "1....");
}

TEST(ChatTemplate, StrftimeNowUsesTheClockByDefault) {
    auto r = render("{{ strftime_now('%Y') }}");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), 4u);
    EXPECT_GE(std::stoi(*r), 2024);
    ChatTemplateOptions o;
    o.strftime_now = [](const std::string& fmt) { return "fixed:" + fmt; };
    EXPECT_EQ(*render("{{ strftime_now('%d %b') }}", o), "fixed:%d %b");
}

TEST(ChatTemplate, ExtraContextAndOptions) {
    ChatTemplateOptions o;
    o.add_generation_prompt = false;
    o.bos_token = "<B>";
    o.extra_context["enable_thinking"] = false;
    o.extra_context["tools"] = nlohmann::ordered_json::parse(R"([{"z": 1, "a": 2}])");
    auto r = rz::tokenizer::render_chat_template(
        "{{ bos_token }}{{ add_generation_prompt }}{{ enable_thinking is false }}{{ tools | tojson }}{{ messages | length }}",
        nlohmann::json::parse(R"([{"role": "user", "content": "x"}])"), o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(*r, "<B>FalseTrue[{\"z\": 1, \"a\": 2}]1");
}

}  // namespace
