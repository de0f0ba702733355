// The tokenizer keys the converter writes (tokenizer.ggml.*, from tokenizer.json / SentencePiece .model /
// GPT-2 files) describe the same tokenizer: a tokenizer loaded from those keys encodes like the original files.
#include "convert/convert_util.h"
#include "convert/tokenizer_out.h"
#include "convert/vocab_meta.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::test {
namespace {

class VocabKeys : public testing::TestWithParam<std::string> {};

TEST_P(VocabKeys, EncodeLikeTheSourceFiles) {
    const std::string path = shared_dir() + "/data/tokenizers/" + GetParam();
    formats::ModelFile none;
    none.path = "none";
    auto v = convert::detail::find_vocab(none, path);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    ASSERT_TRUE(v->has_value());
    formats::ModelFile mf;
    mf.path = "converted";
    mf.metadata = convert::detail::vocab_gguf_keys(**v);
    mf.build_index();
    auto ours = tokenizer::Tokenizer::from_model_file(mf);
    ASSERT_TRUE(ours.ok()) << ours.status().to_string();
    auto ref = tokenizer::Tokenizer::from_path(path);
    ASSERT_TRUE(ref.ok()) << ref.status().to_string();
    EXPECT_EQ((*ours)->n_vocab(), (*ref)->n_vocab());
    EXPECT_EQ((*ours)->bos(), (*ref)->bos());
    EXPECT_EQ((*ours)->eos(), (*ref)->eos());
    for (const char* text : {"Hello world", "Once upon a time, there was a little girl named Lily.",
                             "  leading spaces and\ttabs\nnew lines 12345 67", "Ünïcödé — 日本語のテキスト 🙂",
                             "don't I'll we've", "x = a_b + 3.14159;"}) {
        auto a = (*ours)->encode(text, true, false);
        auto b = (*ref)->encode(text, true, false);
        ASSERT_TRUE(a.ok() && b.ok()) << text;
        EXPECT_EQ(*a, *b) << GetParam() << ": " << text;
    }
    // The Hugging Face tokenizer files written from those keys load as the same tokenizer again.
    ScratchDir dir;
    Status st = convert::detail::write_tokenizer_files(mf, dir.path());
    ASSERT_TRUE(st.ok()) << st.to_string();
    auto back = tokenizer::Tokenizer::from_path(dir.path().string());
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ((*back)->n_vocab(), (*ref)->n_vocab());
    EXPECT_EQ((*back)->bos(), (*ref)->bos());
    EXPECT_EQ((*back)->eos(), (*ref)->eos());
    for (const char* text : {"Hello world", "  leading spaces and\ttabs\nnew lines 12345 67", "Ünïcödé — 日本語のテキスト 🙂",
                             "don't I'll we've <|endoftext|>"}) {
        auto a = (*back)->encode(text, true, false);
        auto b = (*ref)->encode(text, true, false);
        ASSERT_TRUE(a.ok() && b.ok()) << text;
        EXPECT_EQ(*a, *b) << GetParam() << " (written tokenizer files): " << text;
    }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, VocabKeys,
                         testing::Values("llama2-spm/tokenizer.model", "llama3-hf", "qwen3-hf", "mistral7b-hf", "gpt2"),
                         [](const testing::TestParamInfo<std::string>& i) {
                             std::string n = i.param.substr(0, i.param.find('/'));
                             for (char& c : n)
                                 if (c == '-') c = '_';
                             return n;
                         });

}  // namespace
}  // namespace rz::test
