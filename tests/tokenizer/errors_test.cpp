// Untrusted input: invalid UTF-8, enormous inputs, malformed or mismatching tokenizer files -> clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>
#include <string>

#include "realizar/tokenizer/tokenizer.h"
#include "tokenizer/engine.h"

namespace {

namespace fs = std::filesystem;
using rz::StatusCode;
using rz::tokenizer::Tokenizer;

const std::string kShared = RZ_SHARED_DIR;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class TempDir {
public:
    TempDir() {
        path_ = fs::temp_directory_path() / ("rz_tok_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    fs::path write(const std::string& name, const std::string& data) const {
        std::ofstream(path_ / name, std::ios::binary) << data;
        return path_ / name;
    }
    const fs::path& path() const { return path_; }

private:
    static inline int counter_ = 0;
    fs::path path_;
};

TEST(Errors, InvalidUtf8IsRejected) {
    auto t = Tokenizer::from_path(kShared + "/data/tokenizers/gpt2");
    ASSERT_TRUE(t.ok());
    for (const std::string& bad : {std::string("a\xff"), std::string("\xc0\x80"), std::string("\xed\xa0\x80"),
                                  std::string("x\xe2\x82"), std::string("\xf4\x90\x80\x80")}) {
        auto r = (*t)->encode(bad, false, false);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
        EXPECT_NE(r.status().message().find("UTF-8"), std::string::npos);
    }
}

TEST(Errors, EnormousInputIsRejected) {
    auto t = Tokenizer::from_path(kShared + "/data/tokenizers/gpt2");
    ASSERT_TRUE(t.ok());
    const std::string huge(rz::tokenizer::detail::kMaxEncodeBytes + 1, 'a');
    auto r = (*t)->encode(huge, false, false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

TEST(Errors, MissingSources) {
    auto r = Tokenizer::from_path("/nonexistent/tokenizer.json");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
    TempDir d;
    auto empty_dir = Tokenizer::from_path(d.path().string());
    EXPECT_FALSE(empty_dir.ok());
}

TEST(Errors, MalformedFiles) {
    TempDir d;
    const std::string model = slurp(kShared + "/data/tinystories-260K/tok512.model");
    ASSERT_GT(model.size(), 1000u);
    // Truncated and garbage SentencePiece models, tokenizer.json, tokenizer.bin, encoder.json.
    EXPECT_FALSE(Tokenizer::from_path(d.write("trunc.model", model.substr(0, model.size() / 2)).string()).ok());
    EXPECT_FALSE(Tokenizer::from_path(d.write("garbage.model", std::string(100, '\xff')).string()).ok());
    EXPECT_FALSE(Tokenizer::from_path(d.write("empty.model", "").string()).ok());
    EXPECT_FALSE(Tokenizer::from_path(d.write("bad.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": [1,2]}").string()).ok());
    EXPECT_FALSE(Tokenizer::from_path(d.write("notjson.json", "{{{").string()).ok());
    // A few entries numbered up to 15,000,000: refused (every table would be sized by that id: gigabytes), not
    // allocated (found by tests/fuzz/fuzz_tokenizer).
    auto sparse = Tokenizer::from_path(
        d.write("sparse.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 15000000}, "merges": []}})").string());
    ASSERT_FALSE(sparse.ok());
    EXPECT_NE(sparse.status().message().find("far from dense"), std::string::npos) << sparse.status().message();
    auto sparse_added = Tokenizer::from_path(d.write("sparse_added.json", R"({"added_tokens": [{"id": 9000000, "content": "<x>"}],
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})").string());
    EXPECT_FALSE(sparse_added.ok());
    auto holes = Tokenizer::from_path(d.write("holes.json", R"({"added_tokens": [{"id": 60000, "content": "<x>", "special": true}],
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})").string());
    EXPECT_TRUE(holes.ok()) << holes.status().message();  // a hole within 64 Ki is kept
    auto uni = Tokenizer::from_path(d.write("uni.json", R"({"model": {"type": "Unigram", "vocab": []}})").string());
    ASSERT_FALSE(uni.ok());
    EXPECT_EQ(uni.status().code(), StatusCode::kUnsupported);
    const std::string bin = slurp(kShared + "/data/tinystories-260K/tok512.bin");
    EXPECT_FALSE(Tokenizer::from_path(d.write("tok_trunc.bin", bin.substr(0, bin.size() - 3)).string()).ok());
    fs::create_directories(d.path() / "g");
    d.write("g/encoder.json", "{\"a\": 0, \"b\": 0}");
    d.write("g/vocab.bpe", "#version: 0.2\na b\n");
    EXPECT_FALSE(Tokenizer::from_path((d.path() / "g").string()).ok());
}

TEST(Errors, MutatedSentencePieceModelsNeverCrash) {
    const std::string model = slurp(kShared + "/data/tinystories-260K/tok512.model");
    std::mt19937 rng(1234);
    TempDir d;
    for (int i = 0; i < 200; ++i) {
        std::string m = model;
        for (int k = 0; k < 8; ++k) m[rng() % m.size()] = static_cast<char>(rng());
        auto t = Tokenizer::from_path(d.write("m.model", m).string());
        if (t.ok()) {
            auto r = (*t)->encode("Once upon a time, there was a llama 🦙.", true, true);
            if (r.ok()) (void)(*t)->decode(*r, false);
        }
    }
}

TEST(Llama2c, CheckpointFindsItsTokenizerAndChecksVocabSize) {
    const std::string ckpt = kShared + "/data/tinystories-260K/stories260K.bin";
    auto t = Tokenizer::from_path(ckpt);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ((*t)->n_vocab(), 512);
    auto ids = (*t)->encode("Once upon a time", true, false);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, (std::vector<int32_t>{1, 403, 407, 261, 378}));  // llama2.c reference prompt_tokens

    TempDir d;
    fs::copy_file(ckpt, d.path() / "model.bin");
    auto none = Tokenizer::from_path((d.path() / "model.bin").string());
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.status().message().find("tokenizer"), std::string::npos) << none.status().message();
    // A Llama-2 tokenizer (32000 pieces) beside a 512-token checkpoint is a mismatch, not a silent success.
    fs::copy_file(kShared + "/data/tokenizers/llama2-spm/tokenizer.model", d.path() / "tokenizer.model");
    auto mismatch = Tokenizer::from_path((d.path() / "model.bin").string());
    ASSERT_FALSE(mismatch.ok());
    EXPECT_NE(mismatch.status().message().find("512"), std::string::npos) << mismatch.status().message();
    // tok512.bin beside it is accepted.
    fs::copy_file(kShared + "/data/tinystories-260K/tok512.bin", d.path() / "tok512.bin");
    auto ok = Tokenizer::from_path((d.path() / "model.bin").string());
    ASSERT_TRUE(ok.ok()) << ok.status().to_string();
    EXPECT_EQ((*ok)->encode("Once upon a time", true, false).value(), (std::vector<int32_t>{1, 403, 407, 261, 378}));
}

}  // namespace
