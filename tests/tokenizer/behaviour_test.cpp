// Special tokens, BOS/EOS, end-of-generation ids, streaming decode, and the APR/metadata source.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <string>
#include <thread>
#include <vector>

#include "realizar/formats/model_file.h"
#include "realizar/tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using rz::tokenizer::StreamDecoder;
using rz::tokenizer::Tokenizer;

const std::string kTok = std::string(RZ_SHARED_DIR) + "/data/tokenizers/";

std::unique_ptr<Tokenizer> load(const std::string& path) {
    auto t = Tokenizer::from_path(path);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> enc(const Tokenizer& t, const std::string& s, bool add, bool special) {
    auto r = t.encode(s, add, special);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : std::vector<int32_t>{};
}

TEST(Special, ParsedOnlyWhenAsked) {
    auto t = load(kTok + "llama3-hf/tokenizer.json");
    ASSERT_TRUE(t);
    EXPECT_EQ(enc(*t, "<|begin_of_text|>Hello<|eot_id|>", false, true), (std::vector<int32_t>{128000, 9906, 128009}));
    const auto plain = enc(*t, "<|begin_of_text|>Hello<|eot_id|>", false, false);
    for (int32_t id : plain) EXPECT_LT(id, 128000) << "special token matched although parse_special is off";
    EXPECT_EQ(t->decode(plain, true), "<|begin_of_text|>Hello<|eot_id|>");
    EXPECT_TRUE(t->is_eog(128009));
    EXPECT_TRUE(t->is_special(128009));
    EXPECT_FALSE(t->is_eog(9906));
    EXPECT_EQ(t->token_to_piece(128009, false), "");
    EXPECT_EQ(t->token_to_piece(128009, true), "<|eot_id|>");
    EXPECT_EQ(t->token_id("<|eot_id|>"), 128009);
}

TEST(Special, NonSpecialAddedTokensAlwaysMatch) {
    // Qwen3's <think> is an added token with special=false: Hugging Face matches it whatever the flag.
    auto t = load(kTok + "qwen3-hf/tokenizer.json");
    ASSERT_TRUE(t);
    const int32_t think = t->token_id("<think>");
    ASSERT_GE(think, 0);
    EXPECT_EQ(enc(*t, "<think>", false, false), std::vector<int32_t>{think});
    const int32_t im_end = t->token_id("<|im_end|>");
    ASSERT_GE(im_end, 0);
    EXPECT_TRUE(t->is_eog(im_end));
    EXPECT_EQ(t->eos(), im_end);
    EXPECT_EQ(t->bos(), -1);
    EXPECT_FALSE(t->chat_template().empty());
}

TEST(AddSpecial, BosAsTheModelExpects) {
    auto spm = load(kTok + "llama2-spm/tokenizer.model");
    ASSERT_TRUE(spm);
    EXPECT_EQ(enc(*spm, "Hello", true, false), (std::vector<int32_t>{1, 15043}));
    EXPECT_EQ(enc(*spm, "Hello", false, false), (std::vector<int32_t>{15043}));
    EXPECT_EQ(spm->decode(std::vector<int32_t>{1, 15043}, true), "Hello");
    EXPECT_EQ(enc(*spm, "", true, false), std::vector<int32_t>{1});

    auto mistral = load(kTok + "mistral7b-hf");  // SentencePiece-style BPE tokenizer.json, TemplateProcessing <s>
    ASSERT_TRUE(mistral);
    EXPECT_EQ(enc(*mistral, "Hello", true, false), (std::vector<int32_t>{1, 22557}));

    auto gpt2 = load(kTok + "gpt2");
    ASSERT_TRUE(gpt2);
    EXPECT_EQ(enc(*gpt2, "Hello world", true, false), (std::vector<int32_t>{15496, 995}));
    EXPECT_TRUE(gpt2->is_eog(50256));
}

TEST(RoundTrip, SentencePieceStyleBpeJson) {
    auto t = load(kTok + "mistral7b-hf/tokenizer.json");
    ASSERT_TRUE(t);
    for (const char* s : {"Hello world", "  two  spaces ", "\n\ttabs\n", "ünïcödé 🦙 中文", "x<s>y"}) {
        const auto ids = enc(*t, s, false, false);
        EXPECT_EQ(t->decode(ids, false), s) << s;
    }
}

TEST(Stream, NeverSplitsACharacter) {
    auto t = load(kTok + "llama2-spm/tokenizer.model");
    ASSERT_TRUE(t);
    const std::string text = "Hello 🦙 world ñ 中文 😶‍🌫️!";
    const auto ids = enc(*t, text, true, false);
    StreamDecoder stream(*t);
    stream.set_strip_leading_space(true);
    std::string out;
    int partial_steps = 0;
    for (int32_t id : ids) {
        const std::string piece = stream.push(id);
        EXPECT_EQ(rz::tokenizer::detail::utf8_valid_prefix(piece), piece.size()) << "half a character emitted";
        if (piece.empty()) ++partial_steps;
        out += piece;
    }
    out += stream.flush();
    EXPECT_GT(partial_steps, 0) << "the text should need byte-fallback tokens";
    EXPECT_EQ(out, text);
    EXPECT_EQ(out, t->decode(ids, true));
}

TEST(Stream, InvalidBytesBecomeReplacementCharacters) {
    auto t = load(kTok + "llama2-spm/tokenizer.model");
    ASSERT_TRUE(t);
    const int32_t xff = t->token_id("<0xFF>");
    const int32_t xf0 = t->token_id("<0xF0>");
    ASSERT_GE(xff, 0);
    ASSERT_GE(xf0, 0);
    StreamDecoder stream(*t);
    EXPECT_EQ(stream.push(xff), "\xEF\xBF\xBD");  // can never start a character: replaced at once
    EXPECT_EQ(stream.push(xf0), "");              // may still be completed
    EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");
    // Control tokens are hidden unless asked for.
    StreamDecoder shown(*t, /*skip_special=*/false);
    EXPECT_EQ(shown.push(2), "</s>");
    StreamDecoder hidden(*t);
    EXPECT_EQ(hidden.push(2), "");
}

TEST(Threads, ConcurrentEncodesAgreeWithSerialOnes) {
    // One tokenizer shared by server slots: encode must be safe to call from several threads at once.
    for (const std::string& src : {kTok + "llama2-spm/tokenizer.model", kTok + "gpt2"}) {
        auto t = load(src);
        ASSERT_TRUE(t);
        std::vector<std::string> texts;
        for (int i = 0; i < 8; ++i)
            texts.push_back("Thread " + std::to_string(i) + ": the quick brown fox 🦊 jumps over " +
                            std::string(static_cast<size_t>(i) * 7, 'z') + " the lazy dog, 12345 times.");
        std::vector<std::vector<int32_t>> serial;
        for (const auto& s : texts) serial.push_back(enc(*t, s, true, true));
        std::vector<std::vector<int32_t>> parallel(texts.size());
        std::vector<std::thread> threads;
        for (size_t i = 0; i < texts.size(); ++i) {
            threads.emplace_back([&, i] {
                for (int rep = 0; rep < 50; ++rep) {
                    auto r = t->encode(texts[i], true, true);
                    if (r.ok()) parallel[i] = *r;
                }
            });
        }
        for (auto& th : threads) th.join();
        EXPECT_EQ(parallel, serial) << src;
    }
}

TEST(Metadata, AprStyleEmbeddedVocabulary) {
    // An APR model's embedded vocabulary: tokenizer.vocabulary / tokenizer.merges / tokenizer.model keys.
    using rz::formats::MetaType;
    using rz::formats::MetaValue;
    rz::formats::ModelFile f;
    f.format = rz::formats::Format::kApr;
    f.path = "memory.apr";
    std::vector<MetaValue> vocab, merges;
    for (const char* s : {"a", "b", "c", "ab", "abc", "<|endoftext|>"}) vocab.push_back(MetaValue::str(s));
    for (const char* s : {"a b", "ab c"}) merges.push_back(MetaValue::str(s));
    f.metadata.emplace_back("tokenizer.model", MetaValue::str("gpt2"));
    f.metadata.emplace_back("tokenizer.vocabulary", MetaValue::array(MetaType::kString, vocab));
    f.metadata.emplace_back("tokenizer.merges", MetaValue::array(MetaType::kString, merges));
    f.metadata.emplace_back("tokenizer.eos_token_id", MetaValue::u32(5));
    f.build_index();
    auto t = Tokenizer::from_model_file(f);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(enc(**t, "abcab", false, false), (std::vector<int32_t>{4, 3}));
    EXPECT_EQ((*t)->eos(), 5);
    EXPECT_EQ((*t)->n_vocab(), 6);

    f.metadata.emplace_back("tokenizer.bos_token_id", MetaValue::u32(99));  // outside the vocabulary
    f.build_index();
    auto bad = Tokenizer::from_model_file(f);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("bos_token_id"), std::string::npos) << bad.status().message();
}

TEST(Metaspace, SplitAndPrependFirst) {
    // A SentencePiece-style BPE tokenizer.json with a Metaspace pre-tokenizer (split, prepend "first"):
    // every `▁` starts a word, and the dummy `▁` goes only before the start of the input.
    const std::string dir = ::testing::TempDir() + "/rz_metaspace";
    std::filesystem::create_directories(dir);
    {
        std::ofstream f(dir + "/tokenizer.json");
        f << R"({"added_tokens": [{"id": 7, "content": "<s>", "special": true}],
                "normalizer": null,
                "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
                "model": {"type": "BPE", "byte_fallback": false, "unk_token": null,
                          "vocab": {"▁": 0, "a": 1, "b": 2, "▁a": 3, "▁b": 4, "▁▁": 5, "ab": 6},
                          "merges": ["▁ a", "▁ b", "▁ ▁", "a b"]}})";
    }
    auto t = Tokenizer::from_path(dir + "/tokenizer.json");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    // "a  b": "▁a", "▁", "▁b" (split at every ▁, so no "▁▁"); after <s> no dummy prefix: "b".
    EXPECT_EQ(enc(**t, "a  b<s>b", false, true), (std::vector<int32_t>{3, 0, 4, 7, 2}));
    EXPECT_EQ(enc(**t, "ab", false, false), (std::vector<int32_t>{3, 2}));
}

}  // namespace
