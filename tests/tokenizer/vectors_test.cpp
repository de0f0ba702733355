// llama.cpp test-tokenizer-0 vectors (add_special=false, parse_special=false) against every vocabulary in
// ../shared that has them, plus the substitutes named in ../shared/data/MANIFEST.md, and the round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "realizar/tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using rz::tokenizer::Tokenizer;

const std::string kShared = RZ_SHARED_DIR;
const std::string kVocabDir = kShared + "/data/llama.cpp-vocab/";

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Case {
    std::string text;
    std::vector<int32_t> ids;
};

std::vector<Case> read_cases(const std::string& inp, const std::string& out) {
    const std::string sep = "\n__ggml_vocab_test__\n";
    const std::string in = slurp(inp);
    std::vector<std::string> texts;
    size_t pos = 0;
    while (true) {
        const size_t hit = in.find(sep, pos);
        if (hit == std::string::npos) break;
        texts.push_back(in.substr(pos, hit - pos));
        pos = hit + sep.size();
    }
    std::istringstream lines(slurp(out));
    std::vector<Case> cases;
    std::string line;
    for (const std::string& t : texts) {
        if (!std::getline(lines, line)) break;
        Case c{t, {}};
        std::istringstream ids(line);
        int32_t id;
        while (ids >> id) c.ids.push_back(id);
        cases.push_back(std::move(c));
    }
    EXPECT_EQ(cases.size(), texts.size()) << out;
    return cases;
}

enum class RoundTrip { kExact, kCollapseSpaces, kNone };

struct VectorSpec {
    const char* name;
    std::string source;  // tokenizer path
    std::string vectors;  // path prefix of .inp/.out
    RoundTrip round_trip = RoundTrip::kExact;
};

std::string collapse_spaces(const std::string& s) {
    // SentencePiece remove_extra_whitespaces: trim and collapse runs of ' '.
    std::string out;
    for (char c : s) {
        if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
        out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::string show(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) {
        s += ' ';
        s += std::to_string(id);
    }
    return s;
}

class Vectors : public ::testing::TestWithParam<VectorSpec> {};

TEST_P(Vectors, MatchReferenceAndRoundTrip) {
    const VectorSpec& spec = GetParam();
    ASSERT_TRUE(fs::exists(spec.source)) << spec.source;
    auto tok = Tokenizer::from_path(spec.source);
    ASSERT_TRUE(tok.ok()) << tok.status().to_string();
    const auto cases = read_cases(spec.vectors + ".inp", spec.vectors + ".out");
    ASSERT_GT(cases.size(), 10u);
    size_t failures = 0;
    for (const Case& c : cases) {
        auto ids = (*tok)->encode(c.text, /*add_special=*/false, /*parse_special=*/false);
        ASSERT_TRUE(ids.ok()) << ids.status().to_string();
        if (*ids != c.ids) {
            ++failures;
            ADD_FAILURE() << spec.name << ": '" << c.text << "'\n  expected:" << show(c.ids) << "\n  got:     " << show(*ids);
            continue;
        }
        const std::string back = (*tok)->decode(*ids, /*skip_special=*/false);
        switch (spec.round_trip) {
            case RoundTrip::kExact: EXPECT_EQ(back, c.text) << spec.name; break;
            case RoundTrip::kCollapseSpaces: EXPECT_EQ(back, collapse_spaces(c.text)) << spec.name; break;
            case RoundTrip::kNone: break;
        }
    }
    EXPECT_EQ(failures, 0u) << spec.name << ": " << failures << " of " << cases.size() << " vectors differ";
}

std::vector<VectorSpec> specs() {
    const std::string tk = kShared + "/data/tokenizers/";
    const std::string ts = kShared + "/data/tinystories-260K/";
    std::vector<VectorSpec> v = {
        // GGUF vocabularies with their own vectors.
        {"gguf_llama_spm", kVocabDir + "ggml-vocab-llama-spm.gguf", kVocabDir + "ggml-vocab-llama-spm.gguf"},
        {"gguf_phi_3", kVocabDir + "ggml-vocab-phi-3.gguf", kVocabDir + "ggml-vocab-phi-3.gguf"},
        {"gguf_gpt_2", kVocabDir + "ggml-vocab-gpt-2.gguf", kVocabDir + "ggml-vocab-gpt-2.gguf"},
        {"gguf_falcon", kVocabDir + "ggml-vocab-falcon.gguf", kVocabDir + "ggml-vocab-falcon.gguf"},
        {"gguf_mpt", kVocabDir + "ggml-vocab-mpt.gguf", kVocabDir + "ggml-vocab-mpt.gguf"},
        {"gguf_starcoder", kVocabDir + "ggml-vocab-starcoder.gguf", kVocabDir + "ggml-vocab-starcoder.gguf"},
        {"gguf_refact", kVocabDir + "ggml-vocab-refact.gguf", kVocabDir + "ggml-vocab-refact.gguf"},
        {"gguf_deepseek_llm", kVocabDir + "ggml-vocab-deepseek-llm.gguf", kVocabDir + "ggml-vocab-deepseek-llm.gguf"},
        {"gguf_deepseek_coder", kVocabDir + "ggml-vocab-deepseek-coder.gguf", kVocabDir + "ggml-vocab-deepseek-coder.gguf"},
        // WordPiece lowercases, strips accents and drops whitespace: no exact round trip.
        {"gguf_bert_bge", kVocabDir + "ggml-vocab-bert-bge.gguf", kVocabDir + "ggml-vocab-bert-bge.gguf", RoundTrip::kNone},
        // Substitute sources (MANIFEST.md): same vectors through tokenizer.json / tokenizer.model / GPT-2 files.
        {"json_llama3", tk + "llama3-hf/tokenizer.json", kVocabDir + "ggml-vocab-llama-bpe.gguf"},
        {"json_qwen3", tk + "qwen3-hf/tokenizer.json", kVocabDir + "ggml-vocab-qwen2.gguf"},
        {"spm_llama2_model", tk + "llama2-spm/tokenizer.model", kVocabDir + "ggml-vocab-llama-spm.gguf"},
        {"llama2c_llama2_bin", tk + "llama2-spm/tokenizer.bin", kVocabDir + "ggml-vocab-llama-spm.gguf"},
        {"gpt2_folder", tk + "gpt2", kVocabDir + "ggml-vocab-gpt-2.gguf"},
        {"gpt2_encoder_json", tk + "gpt2/encoder.json", kVocabDir + "ggml-vocab-gpt-2.gguf"},
        {"hf_folder_llama3", tk + "llama3-hf", kVocabDir + "ggml-vocab-llama-bpe.gguf"},
        // tok512 (sentencepiece normaliser collapses spaces).
        {"tok512_model", ts + "tok512.model", ts + "reference/tok512", RoundTrip::kCollapseSpaces},
        {"tok512_hf_folder", ts + "hf", ts + "reference/tok512", RoundTrip::kCollapseSpaces},
    };
    return v;
}

INSTANTIATE_TEST_SUITE_P(Shared, Vectors, ::testing::ValuesIn(specs()),
                         [](const ::testing::TestParamInfo<VectorSpec>& spec) { return std::string(spec.param.name); });

}  // namespace
