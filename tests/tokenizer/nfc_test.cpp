// NFC normaliser (tokenizer.json "NFC", used by Qwen): expected values from Python's unicodedata.
#include <gtest/gtest.h>

#include <string>

#include "realizar/tokenizer/tokenizer.h"
#include "tokenizer/nfc.h"

namespace {

using rz::tokenizer::detail::nfc;
using rz::tokenizer::detail::nfc_quick_yes;

TEST(Nfc, ComposesReordersAndExcludes) {
    EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");                                   // e + U+0301 -> é
    EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");     // Hangul L V T -> U+AC01
    EXPECT_EQ(nfc("a\xCC\x81\xCC\xA8"), "\xC4\x85\xCC\x81");                    // reorder ogonek first -> U+0105 U+0301
    EXPECT_EQ(nfc("Cu\xCC\x9Bo\xCC\x9B\xCC\x81" "a"), "C\xC6\xB0\xE1\xBB\x9B" "a");  // -> C U+01B0 U+1EDB a
    EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");                                 // U+212B singleton -> U+00C5
    EXPECT_EQ(nfc("A\xCC\x8A\xCC\x81"), "\xC7\xBA");                            // -> U+01FA
    EXPECT_EQ(nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");                 // U+0958 excluded -> U+0915 U+093C
    EXPECT_EQ(nfc("q\xCC\x87\xCC\xA3"), "q\xCC\xA3\xCC\x87");                   // reorder, nothing composes
    EXPECT_EQ(nfc("plain ascii"), "plain ascii");
    // Only the stretches that change are rewritten; the rest is copied.
    EXPECT_EQ(nfc("x e\xCC\x81 y\xE2\x84\xAB z"), "x \xC3\xA9 y\xC3\x85 z");
    EXPECT_EQ(nfc("\xCE\xB1\xCC\x81\xE1\x84\x80\xE1\x85\xA1!"), "\xCE\xAC\xEA\xB0\x80!");  // ά 가
}

TEST(Nfc, QuickCheck) {
    EXPECT_TRUE(nfc_quick_yes("Hello, world! \xC3\xA9 \xE4\xB8\xAD"));
    EXPECT_FALSE(nfc_quick_yes("e\xCC\x81"));
    EXPECT_FALSE(nfc_quick_yes("\xE2\x84\xAB"));
}

TEST(Nfc, QwenTokenizesDecomposedTextLikeComposedText) {
    auto t = rz::tokenizer::Tokenizer::from_path(std::string(RZ_SHARED_DIR) + "/data/tokenizers/qwen3-hf/tokenizer.json");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    const auto composed = (*t)->encode("C\xE1\xBB\xAD" "a Vi\xE1\xBB\x87t", false, false);          // "Cửa Việt"
    const auto decomposed = (*t)->encode("Cu\xCC\x9B\xCC\x89" "a Vie\xCC\xA3\xCC\x82t", false, false);
    ASSERT_TRUE(composed.ok());
    ASSERT_TRUE(decomposed.ok());
    EXPECT_EQ(*composed, *decomposed);
    // The Llama-3 tokenizer.json has no normaliser: there the two spellings differ.
    auto l3 = rz::tokenizer::Tokenizer::from_path(std::string(RZ_SHARED_DIR) + "/data/tokenizers/llama3-hf/tokenizer.json");
    ASSERT_TRUE(l3.ok());
    EXPECT_NE((*l3)->encode("C\xE1\xBB\xAD" "a", false, false).value(), (*l3)->encode("Cu\xCC\x9B\xCC\x89" "a", false, false).value());
}

}  // namespace
