// Readers on the real files in ../shared: llama.cpp vocab GGUFs, the stories260K GGUF, the golden Hugging
// Face folders (f32 and bf16) and the stories260K HF export. Expected values come from outside the reader:
// known vocab sizes, config.json, and cross-format comparisons of the same weights.
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "formats/test_util.h"
#include "realizar/core/fp16.h"
#include "realizar/core/mapped_file.h"
#include "realizar/formats/gguf.h"
#include "realizar/formats/model_file.h"
#include "realizar/formats/safetensors.h"

namespace rz::formats {
namespace {

using test::shared;
using Shape = std::vector<int64_t>;

struct VocabCase {
    const char* file;
    size_t n_tokens;
    const char* model;
    const char* arch;
    const char* token0;
    size_t n_merges;
};

class VocabGguf : public ::testing::TestWithParam<VocabCase> {};

TEST_P(VocabGguf, ReadsTokenizerMetadata) {
    const VocabCase& c = GetParam();
    auto mf = open_model_file(shared(std::string("data/llama.cpp-vocab/") + c.file));
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->format, Format::kGguf);
    EXPECT_EQ(mf->version, 3u);
    EXPECT_TRUE(mf->tensors.empty());
    EXPECT_EQ(mf->meta_string("tokenizer.ggml.model"), c.model);
    EXPECT_EQ(mf->meta_string("general.architecture"), c.arch);
    const MetaValue* tokens = mf->find_meta("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    ASSERT_NE(tokens->as_array(), nullptr);
    EXPECT_EQ(tokens->as_array()->elem_type, MetaType::kString);
    ASSERT_EQ(tokens->as_array()->items.size(), c.n_tokens);
    EXPECT_EQ(*tokens->as_array()->items[0].as_string(), c.token0);
    const MetaValue* merges = mf->find_meta("tokenizer.ggml.merges");
    EXPECT_EQ(merges ? merges->as_array()->items.size() : 0u, c.n_merges);
    // Every token has a type, and for SentencePiece vocabs a score.
    const MetaValue* types = mf->find_meta("tokenizer.ggml.token_type");
    ASSERT_NE(types, nullptr);
    EXPECT_EQ(types->as_array()->items.size(), c.n_tokens);
    EXPECT_EQ(types->as_array()->elem_type, MetaType::kI32);
}

INSTANTIATE_TEST_SUITE_P(
    LlamaCpp, VocabGguf,
    ::testing::Values(VocabCase{"ggml-vocab-baichuan.gguf", 64000, "llama", "baichuan", "<unk>", 0},
                      VocabCase{"ggml-vocab-bert-bge.gguf", 30522, "bert", "bert", "[PAD]", 0},
                      VocabCase{"ggml-vocab-deepseek-coder.gguf", 32256, "gpt2", "llama", "!", 31757},
                      VocabCase{"ggml-vocab-deepseek-llm.gguf", 102400, "gpt2", "llama", "!", 99757},
                      VocabCase{"ggml-vocab-falcon.gguf", 65024, "gpt2", "falcon", ">>TITLE<<", 64784},
                      VocabCase{"ggml-vocab-gpt-2.gguf", 50257, "gpt2", "gpt2", "!", 50000},
                      VocabCase{"ggml-vocab-gpt-neox.gguf", 50432, "gpt2", "gptneox", "<|endoftext|>", 50009},
                      VocabCase{"ggml-vocab-llama-spm.gguf", 32000, "llama", "llama", "<unk>", 0},
                      VocabCase{"ggml-vocab-mpt.gguf", 50432, "gpt2", "mpt", "<|endoftext|>", 50009},
                      VocabCase{"ggml-vocab-phi-3.gguf", 32064, "llama", "phi3", "<unk>", 0},
                      VocabCase{"ggml-vocab-refact.gguf", 49216, "gpt2", "refact", "<|endoftext|>", 48891},
                      VocabCase{"ggml-vocab-starcoder.gguf", 49152, "gpt2", "starcoder2", "<|endoftext|>", 48872}),
    [](const auto& tp) {
        std::string n = tp.param.file;
        n = n.substr(11, n.size() - 16);  // strip "ggml-vocab-" and ".gguf"
        for (char& ch : n) {
            if (ch == '-' || ch == '.') ch = '_';
        }
        return n;
    });

TEST(Gguf, Stories260kTensorsAndHparams) {
    auto mf = open_gguf(shared("data/tinystories-260K/stories260K-f32.gguf"));
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->version, 3u);
    ASSERT_EQ(mf->tensors.size(), 48u);  // 2 + 5 layers x 9 + output
    EXPECT_EQ(mf->meta_string("general.architecture"), "llama");
    EXPECT_EQ(mf->meta_int("llama.embedding_length"), 64);
    EXPECT_EQ(mf->meta_int("llama.block_count"), 5);
    EXPECT_EQ(mf->meta_int("llama.feed_forward_length"), 172);
    EXPECT_EQ(mf->meta_int("llama.attention.head_count"), 8);
    EXPECT_EQ(mf->meta_int("llama.attention.head_count_kv"), 4);
    EXPECT_EQ(mf->find_meta("tokenizer.ggml.tokens")->as_array()->items.size(), 512u);
    const std::map<std::string, Shape> expect = {
        {"token_embd.weight", {512, 64}},     {"output_norm.weight", {64}},
        {"blk.0.attn_q.weight", {64, 64}},    {"blk.4.attn_k.weight", {32, 64}},
        {"blk.2.attn_v.weight", {32, 64}},    {"blk.1.attn_output.weight", {64, 64}},
        {"blk.3.ffn_gate.weight", {172, 64}}, {"blk.3.ffn_down.weight", {64, 172}},
        {"blk.3.ffn_up.weight", {172, 64}},   {"blk.0.attn_norm.weight", {64}},
    };
    for (const auto& [name, shape] : expect) {
        const TensorInfo* t = mf->find_tensor(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_EQ(t->shape, shape) << name;
        EXPECT_EQ(t->dtype, DType::F32);
        EXPECT_EQ(t->n_bytes, t->n_elements() * 4);
        EXPECT_EQ(t->offset % mf->alignment, 0u);
        // Zero-copy: the data lives inside the mapped file at the recorded offset.
        EXPECT_EQ(t->data, mf->files.at(0)->data() + t->offset);
    }
    // Cross-format check: the GGUF's token embedding equals the llama2.c checkpoint's first weights
    // (7 int32 header fields, then token_embedding[512][64] f32).
    auto bin = MappedFile::open(shared("data/tinystories-260K/stories260K.bin"));
    ASSERT_TRUE(bin.ok());
    const TensorInfo* emb = mf->find_tensor("token_embd.weight");
    EXPECT_EQ(std::memcmp(emb->data, bin->data() + 28, emb->n_bytes), 0);
}

TEST(Gguf, OpenModelBytesIsZeroCopy) {
    auto map = MappedFile::open(shared("data/tinystories-260K/stories260K-f32.gguf"));
    ASSERT_TRUE(map.ok());
    auto mf = open_model_bytes(map->bytes(), "embedded.gguf");
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->path, "embedded.gguf");
    EXPECT_TRUE(mf->files.empty());
    const TensorInfo* t = mf->find_tensor("output.weight");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->data, map->data() + t->offset);
    EXPECT_FALSE(open_model_bytes(std::span<const uint8_t>(), "empty").ok());
}

// Expected HF tensor shapes from config.json alone.
std::map<std::string, Shape> hf_expected_shapes(const nlohmann::json& c) {
    std::map<std::string, Shape> m;
    const std::string type = c["model_type"];
    if (type == "gpt2") {
        const int64_t e = c["n_embd"], v = c["vocab_size"], p = c["n_positions"];
        m["transformer.wte.weight"] = {v, e};
        m["transformer.wpe.weight"] = {p, e};
        m["transformer.ln_f.weight"] = {e};
        for (int il = 0; il < c["n_layer"].get<int>(); ++il) {
            const std::string b = "transformer.h." + std::to_string(il) + ".";
            m[b + "attn.c_attn.weight"] = {e, 3 * e};  // Conv1D: [in, out]
            m[b + "attn.c_attn.bias"] = {3 * e};
            m[b + "attn.c_proj.weight"] = {e, e};
            m[b + "mlp.c_fc.weight"] = {e, 4 * e};
            m[b + "mlp.c_proj.weight"] = {4 * e, e};
            m[b + "ln_1.bias"] = {e};
        }
        return m;
    }
    const int64_t h = c["hidden_size"], v = c["vocab_size"], ff = c["intermediate_size"];
    const int64_t nh = c["num_attention_heads"], nkv = c["num_key_value_heads"];
    const int64_t hd = c.contains("head_dim") ? c["head_dim"].get<int64_t>() : h / nh;
    m["model.embed_tokens.weight"] = {v, h};
    if (!c["tie_word_embeddings"].get<bool>()) m["lm_head.weight"] = {v, h};
    for (int il = 0; il < c["num_hidden_layers"].get<int>(); ++il) {
        const std::string b = "model.layers." + std::to_string(il) + ".";
        m[b + "self_attn.q_proj.weight"] = {nh * hd, h};
        m[b + "self_attn.k_proj.weight"] = {nkv * hd, h};
        m[b + "self_attn.v_proj.weight"] = {nkv * hd, h};
        if (type == "phi") {
            m[b + "self_attn.dense.weight"] = {h, nh * hd};
            m[b + "mlp.fc1.weight"] = {ff, h};
            m[b + "mlp.fc2.weight"] = {h, ff};
            m[b + "input_layernorm.bias"] = {h};
        } else {
            m[b + "self_attn.o_proj.weight"] = {h, nh * hd};
            m[b + "mlp.gate_proj.weight"] = {ff, h};
            m[b + "mlp.up_proj.weight"] = {ff, h};
            m[b + "mlp.down_proj.weight"] = {h, ff};
            m[b + "post_attention_layernorm.weight"] = {h};
        }
        if (type == "qwen2") m[b + "self_attn.q_proj.bias"] = {nh * hd};
    }
    return m;
}

class GoldenFolder : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenFolder, SafetensorsShapesMatchConfig) {
    const std::string dir = shared(std::string("golden/") + GetParam());
    auto text = read_file(dir + "/config.json");
    ASSERT_TRUE(text.ok());
    const auto config = nlohmann::json::parse(*text);
    const auto expect = hf_expected_shapes(config);

    auto f32 = open_model_file(dir + "/model.safetensors");
    ASSERT_TRUE(f32.ok()) << f32.status().to_string();
    EXPECT_EQ(f32->format, Format::kSafeTensors);
    EXPECT_EQ(f32->meta_string("format"), "pt");  // __metadata__
    for (const auto& [name, shape] : expect) {
        const TensorInfo* t = f32->find_tensor(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_EQ(t->shape, shape) << name;
        EXPECT_EQ(t->dtype, DType::F32) << name;
    }
    // File order is data order, and the tensors tile the data section.
    for (size_t i = 1; i < f32->tensors.size(); ++i) {
        EXPECT_EQ(f32->tensors[i - 1].offset + f32->tensors[i - 1].n_bytes, f32->tensors[i].offset);
    }

    // The folder, opened as a whole: config.json is exposed as metadata.
    auto folder = open_model_file(dir);
    ASSERT_TRUE(folder.ok()) << folder.status().to_string();
    EXPECT_EQ(folder->format, Format::kHfFolder);
    EXPECT_EQ(folder->path, dir);
    EXPECT_EQ(folder->meta_string("hf.config_json"), *text);
    EXPECT_EQ(folder->meta_string("hf.config.model_type"), config["model_type"].get<std::string>());
    EXPECT_EQ(folder->meta_int("hf.config.vocab_size"), config["vocab_size"].get<int64_t>());
    EXPECT_EQ(folder->find_meta("hf.config.tie_word_embeddings")->as_bool(), config["tie_word_embeddings"].get<bool>());
    EXPECT_EQ(folder->tensors.size(), f32->tensors.size());

    // bf16/: same tensors, each value the f32 weight rounded to nearest-even bfloat16.
    auto bf16 = open_model_file(dir + "/bf16");
    ASSERT_TRUE(bf16.ok()) << bf16.status().to_string();
    EXPECT_EQ(bf16->format, Format::kHfFolder);
    ASSERT_EQ(bf16->tensors.size(), f32->tensors.size());
    for (const TensorInfo& t : f32->tensors) {
        const TensorInfo* b = bf16->find_tensor(t.name);
        ASSERT_NE(b, nullptr) << t.name;
        EXPECT_EQ(b->dtype, DType::BF16);
        EXPECT_EQ(b->shape, t.shape);
        EXPECT_EQ(b->n_bytes * 2, t.n_bytes);
        size_t mismatches = 0;
        for (uint64_t i = 0; i < t.n_elements(); ++i) {
            float x;
            uint16_t h;
            std::memcpy(&x, t.data + 4 * i, 4);
            std::memcpy(&h, b->data + 2 * i, 2);
            mismatches += fp32_to_bf16(x) != h;
        }
        EXPECT_EQ(mismatches, 0u) << t.name;
    }
}

INSTANTIATE_TEST_SUITE_P(Hf, GoldenFolder, ::testing::Values("gpt2", "llama_gqa", "phi2", "qwen2"));

TEST(HfFolder, Stories260kExportMatchesGgufWeights) {
    auto hf = open_model_file(shared("data/tinystories-260K/hf"));
    ASSERT_TRUE(hf.ok()) << hf.status().to_string();
    EXPECT_EQ(hf->meta_int("hf.config.hidden_size"), 64);
    EXPECT_EQ(hf->meta_int("hf.config.num_hidden_layers"), 5);
    EXPECT_EQ(hf->find_tensor("lm_head.weight"), nullptr);  // tied
    auto gguf = open_model_file(shared("data/tinystories-260K/stories260K-f32.gguf"));
    ASSERT_TRUE(gguf.ok());
    // Unpermuted tensors are byte-identical across the two exports.
    const std::pair<const char*, const char*> same[] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight"},
        {"model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight"},
        {"model.norm.weight", "output_norm.weight"},
    };
    for (const auto& [hn, gn] : same) {
        const TensorInfo* a = hf->find_tensor(hn);
        const TensorInfo* b = gguf->find_tensor(gn);
        ASSERT_TRUE(a && b) << hn;
        EXPECT_EQ(a->shape, b->shape) << hn;
        ASSERT_EQ(a->n_bytes, b->n_bytes);
        EXPECT_EQ(std::memcmp(a->data, b->data, a->n_bytes), 0) << hn;
    }
}

TEST(Gguf, QuantizedGoldenFilesValidate) {
    // llama.cpp-quantized tensors of many ggml types: every one must parse with consistent sizes.
    size_t n_files = 0;
    std::set<DType> seen;
    for (const auto& e : std::filesystem::directory_iterator(shared("golden/quant"))) {
        if (e.path().extension() != ".gguf") continue;
        auto mf = open_gguf(e.path().string());
        ASSERT_TRUE(mf.ok()) << mf.status().to_string();
        ++n_files;
        for (const TensorInfo& t : mf->tensors) {
            EXPECT_EQ(*dtype_bytes(t.dtype, t.n_elements()), t.n_bytes);
            seen.insert(t.dtype);
        }
    }
    EXPECT_GE(n_files, 20u);
    for (DType d : {DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::IQ4_XS, DType::BF16, DType::F16}) {
        EXPECT_TRUE(seen.count(d)) << dtype_name(d);
    }
}

}  // namespace
}  // namespace rz::formats
