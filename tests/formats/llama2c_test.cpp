// llama2.c checkpoints: the real stories260K.bin must present exactly the tensors and hparams of the
// llama.cpp-style GGUF converted from it (same names, shapes and bytes), and a version 1 file built from
// the same weights must read identically.
#include <cstring>

#include <gtest/gtest.h>

#include "formats/test_util.h"
#include "realizar/formats/gguf.h"
#include "realizar/formats/llama2c.h"
#include "realizar/formats/model_file.h"

namespace rz::formats {
namespace {

using test::shared;

void expect_same_as_gguf(const ModelFile& l2, const ModelFile& gguf) {
    for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                            "llama.attention.head_count", "llama.attention.head_count_kv", "llama.context_length"}) {
        EXPECT_EQ(l2.meta_int(key), gguf.meta_int(key)) << key;
    }
    EXPECT_EQ(l2.meta_string("general.architecture"), "llama");
    EXPECT_FLOAT_EQ(*l2.meta_float("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
    EXPECT_FLOAT_EQ(*l2.meta_float("llama.rope.freq_base"), 10000.0f);
    // stories260K shares its classifier with the embedding; the GGUF conversion wrote an explicit copy.
    EXPECT_EQ(l2.find_tensor("output.weight"), nullptr);
    EXPECT_EQ(l2.tensors.size(), gguf.tensors.size() - 1);
    for (const TensorInfo& t : l2.tensors) {
        const TensorInfo* g = gguf.find_tensor(t.name);
        ASSERT_NE(g, nullptr) << t.name;
        EXPECT_EQ(t.shape, g->shape) << t.name;
        EXPECT_EQ(t.dtype, DType::F32);
        ASSERT_EQ(t.n_bytes, g->n_bytes) << t.name;
        EXPECT_EQ(std::memcmp(t.data, g->data, t.n_bytes), 0) << t.name;
    }
    const TensorInfo* out = gguf.find_tensor("output.weight");
    EXPECT_EQ(std::memcmp(out->data, l2.find_tensor("token_embd.weight")->data, out->n_bytes), 0);
}

TEST(Llama2c, Stories260kMatchesConvertedGguf) {
    auto l2 = open_model_file(shared("data/tinystories-260K/stories260K.bin"));
    ASSERT_TRUE(l2.ok()) << l2.status().to_string();
    EXPECT_EQ(l2->format, Format::kLlama2c);
    EXPECT_EQ(l2->version, 0u);
    EXPECT_EQ(l2->meta_int("llama.embedding_length"), 64);
    EXPECT_EQ(l2->meta_int("llama.attention.head_count_kv"), 4);
    EXPECT_EQ(l2->meta_int("llama.vocab_size"), 512);
    EXPECT_EQ(l2->tensors.front().name, "token_embd.weight");
    EXPECT_EQ(l2->find_tensor("blk.4.attn_k.weight")->shape, (std::vector<int64_t>{32, 64}));
    EXPECT_EQ(l2->find_tensor("blk.0.ffn_down.weight")->shape, (std::vector<int64_t>{64, 172}));
    const TensorInfo* emb = l2->find_tensor("token_embd.weight");
    EXPECT_EQ(emb->data, l2->files.at(0)->data() + 28);  // zero-copy, right after the header
    auto gguf = open_gguf(shared("data/tinystories-260K/stories260K-f32.gguf"));
    ASSERT_TRUE(gguf.ok());
    expect_same_as_gguf(*l2, *gguf);
}

TEST(Llama2c, Version1HeaderReadsTheSameWeights) {
    auto v0 = open_llama2c(shared("data/tinystories-260K/stories260K.bin"));
    ASSERT_TRUE(v0.ok()) << v0.status().to_string();
    // Re-export stories260K in the version 1 layout (what llama2.c export.py --version 1 writes).
    const std::vector<uint8_t> src = test::read_bytes(shared("data/tinystories-260K/stories260K.bin"));
    test::Bytes b;
    b.put<uint32_t>(kLlama2cMagic).put<int32_t>(1);
    b.b.insert(b.b.end(), src.begin(), src.begin() + 28);
    b.put<uint8_t>(1).zeros(256 - b.b.size());
    auto append = [&](const std::string& n) {
        const TensorInfo* t = v0->find_tensor(n);
        ASSERT_NE(t, nullptr) << n;
        b.b.insert(b.b.end(), t->data, t->data + t->n_bytes);
    };
    const int L = 5;
    for (int il = 0; il < L; ++il) append("blk." + std::to_string(il) + ".attn_norm.weight");
    for (int il = 0; il < L; ++il) append("blk." + std::to_string(il) + ".ffn_norm.weight");
    append("output_norm.weight");
    append("token_embd.weight");
    for (const char* w : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"}) {
        for (int il = 0; il < L; ++il) append("blk." + std::to_string(il) + "." + w + ".weight");
    }
    test::TempDir dir("l2v1");
    test::write_bytes(dir.file("v1.bin"), b.b);
    auto v1 = open_model_file(dir.file("v1.bin"));
    ASSERT_TRUE(v1.ok()) << v1.status().to_string();
    EXPECT_EQ(v1->version, 1u);
    auto gguf = open_gguf(shared("data/tinystories-260K/stories260K-f32.gguf"));
    ASSERT_TRUE(gguf.ok());
    expect_same_as_gguf(*v1, *gguf);

    // One byte too many or too few: the sizes no longer add up.
    b.b.push_back(0);
    EXPECT_FALSE(read_llama2c(b.b, "v1+1.bin").ok());
    b.b.resize(b.b.size() - 2);
    auto r = read_llama2c(b.b, "v1-1.bin");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("v1-1.bin"), std::string::npos);
}

TEST(Llama2c, RejectsInconsistentHeaders) {
    const std::vector<uint8_t> src = test::read_bytes(shared("data/tinystories-260K/stories260K.bin"));
    auto patched = [&](int field, int32_t v) {
        std::vector<uint8_t> b = src;
        std::memcpy(b.data() + 4 * field, &v, 4);
        return read_llama2c(b, "patched.bin");
    };
    EXPECT_FALSE(patched(0, 0).ok());           // dim 0
    EXPECT_FALSE(patched(3, 7).ok());           // n_heads does not divide dim
    EXPECT_FALSE(patched(4, 3).ok());           // n_kv_heads does not divide n_heads
    EXPECT_FALSE(patched(2, 0x7fffffff).ok());  // absurd layer count
    EXPECT_FALSE(patched(5, -512).ok());        // unshared classifier: file too short
    EXPECT_FALSE(patched(1, 0x7fffffff).ok());  // hidden_dim: sizes do not add up
    auto r = patched(0, 0);
    EXPECT_NE(r.status().message().find("dim"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace rz::formats
