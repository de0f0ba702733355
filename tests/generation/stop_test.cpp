// StopMatcher: EOG tokens, stop strings across token boundaries (never shown), limits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "generation/fake_tokenizer.h"
#include "realizar/runtime/stop.h"

namespace rz::runtime {
namespace {

// Feeds pieces one by one; returns everything shown (including finish()).
std::string feed(StopMatcher& m, const std::vector<std::string>& pieces, std::vector<std::string>* shown = nullptr) {
    std::string all;
    for (const std::string& p : pieces) {
        std::string out = m.on_text(p);
        if (shown) shown->push_back(out);
        all += out;
        if (m.done()) break;
    }
    all += m.finish();
    return all;
}

TEST(StopMatcher, StopStringAcrossTokenBoundariesIsNeverShown) {
    StopMatcher m({.stop = {"world"}}, nullptr);
    std::vector<std::string> shown;
    EXPECT_EQ(feed(m, {"Hello", " wor", "ld!", " more"}, &shown), "Hello ");
    EXPECT_EQ(m.reason(), FinishReason::kStopString);
    EXPECT_EQ(m.matched_stop(), "world");
    ASSERT_EQ(shown.size(), 3u);
    EXPECT_EQ(shown[0], "Hello");
    EXPECT_EQ(shown[1], " ");  // "wor" held back: it may start "world"
    EXPECT_EQ(shown[2], "");
}

TEST(StopMatcher, HeldBackTextIsReleasedWhenItIsNotAStop) {
    StopMatcher m({.stop = {"STOP"}}, nullptr);
    std::vector<std::string> shown;
    EXPECT_EQ(feed(m, {"ab", "ST", "x", "S"}, &shown), "abSTxS");
    EXPECT_EQ(shown[0], "ab");
    EXPECT_EQ(shown[1], "");
    EXPECT_EQ(shown[2], "STx");
    EXPECT_EQ(shown[3], "");  // "S" held until finish()
    EXPECT_EQ(m.reason(), FinishReason::kNone);
}

TEST(StopMatcher, StopInsideOnePieceCutsTheRest) {
    StopMatcher m({.stop = {"\n\n", "END"}}, nullptr);
    EXPECT_EQ(feed(m, {"one\n", "two END three\n\n"}), "one\ntwo ");
    EXPECT_EQ(m.matched_stop(), "END");
}

TEST(StopMatcher, EarliestStopWins) {
    StopMatcher m({.stop = {"cd", "bc"}}, nullptr);
    EXPECT_EQ(feed(m, {"abcd"}), "a");
    EXPECT_EQ(m.matched_stop(), "bc");
}

TEST(StopMatcher, MultiByteStopStrings) {
    StopMatcher m({.stop = {"\xC3\xA9t\xC3\xA9"}}, nullptr);  // "été"
    EXPECT_EQ(feed(m, {"un ", "\xC3\xA9", "t", "\xC3\xA9", " chaud"}), "un ");
    EXPECT_EQ(m.reason(), FinishReason::kStopString);
}

TEST(StopMatcher, NoStopsPassesTextThrough) {
    StopMatcher m({}, nullptr);
    EXPECT_EQ(m.on_text("abc"), "abc");
    EXPECT_EQ(m.held_back(), 0u);
}

TEST(StopMatcher, PartialSuffix) {
    const std::vector<std::string> stops{"</s>", "###"};
    EXPECT_EQ(StopMatcher::partial_stop_suffix("hello </", stops), 2u);
    EXPECT_EQ(StopMatcher::partial_stop_suffix("hello ##", stops), 2u);
    EXPECT_EQ(StopMatcher::partial_stop_suffix("hello", stops), 0u);
    EXPECT_EQ(StopMatcher::partial_stop_suffix("<", stops), 1u);
    EXPECT_EQ(StopMatcher::partial_stop_suffix("", stops), 0u);
}

TEST(StopMatcher, EogAndBosTokensEndGeneration) {
    testing::FakeTokenizer tok;  // bos 1, eos 2, eot 3
    StopMatcher m({}, &tok);
    EXPECT_EQ(m.on_token(10), FinishReason::kNone);
    EXPECT_EQ(m.on_token(3), FinishReason::kEog);
    EXPECT_EQ(m.n_generated(), 2);

    StopMatcher b({}, &tok);
    EXPECT_EQ(b.on_token(1), FinishReason::kEog);

    StopMatcher nb({.stop_on_bos = false}, &tok);
    EXPECT_EQ(nb.on_token(1), FinishReason::kNone);

    StopMatcher ig({.ignore_eog = true}, &tok);
    EXPECT_EQ(ig.on_token(2), FinishReason::kNone);

    StopMatcher extra({.stop_tokens = {7}}, &tok);
    EXPECT_EQ(extra.on_token(7), FinishReason::kEog);
}

TEST(StopMatcher, MaxTokensAndContextFull) {
    StopMatcher m({.max_tokens = 2}, nullptr);
    m.on_token(5);
    EXPECT_EQ(m.limit_reached(), FinishReason::kNone);
    m.on_token(6);
    EXPECT_EQ(m.limit_reached(), FinishReason::kMaxTokens);
    EXPECT_STREQ(finish_reason_name(m.reason()), "length");

    StopMatcher z({.max_tokens = 0}, nullptr);
    EXPECT_EQ(z.limit_reached(), FinishReason::kMaxTokens);

    StopMatcher c({}, nullptr);
    EXPECT_EQ(c.context_full(99, 100), FinishReason::kNone);
    EXPECT_EQ(c.context_full(100, 100), FinishReason::kContextFull);
    EXPECT_STREQ(finish_reason_detail(c.reason()), "context_full");
    c.set_reason(FinishReason::kCancelled);  // first reason sticks
    EXPECT_EQ(c.reason(), FinishReason::kContextFull);
}

TEST(StopMatcher, ReasonNames) {
    EXPECT_STREQ(finish_reason_name(FinishReason::kEog), "stop");
    EXPECT_STREQ(finish_reason_name(FinishReason::kStopString), "stop");
    EXPECT_STREQ(finish_reason_name(FinishReason::kContextFull), "length");
    EXPECT_STREQ(finish_reason_name(FinishReason::kCancelled), "cancelled");
}

}  // namespace
}  // namespace rz::runtime
