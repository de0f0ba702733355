// Quantized outputs against llama.cpp's own llama-quantize (../shared/golden/quant: source-f32.gguf
// quantized with --pure): `realizar convert --type T --pure` must give the same bytes, tensor by tensor.
// Plus the type-mix rules (llama.cpp's _S/_M recipes) and the block-size fallback.
#include "convert/convert_util.h"
#include "realizar/formats/gguf.h"

namespace rz::test {
namespace {

std::string quant_dir() { return shared_dir() + "/golden/quant"; }

class PureQuant : public testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(PureQuant, BytesEqualLlamaQuantize) {
    const auto& [type, ref_name] = GetParam();
    ScratchDir dir;
    Status st = convert(quant_dir() + "/source-f32.gguf", dir / "q.gguf", type, /*pure=*/true);
    ASSERT_TRUE(st.ok()) << st.to_string();
    auto ours = formats::open_gguf(dir / "q.gguf");
    auto ref = formats::open_gguf(quant_dir() + "/" + ref_name);
    ASSERT_TRUE(ours.ok()) << ours.status().to_string();
    ASSERT_TRUE(ref.ok()) << ref.status().to_string();
    ASSERT_EQ(ours->tensors.size(), ref->tensors.size());
    for (const auto& rt : ref->tensors) {
        const auto* t = ours->find_tensor(rt.name);
        ASSERT_NE(t, nullptr) << rt.name;
        EXPECT_EQ(t->dtype, rt.dtype) << rt.name;
        EXPECT_EQ(t->shape, rt.shape) << rt.name;
        ASSERT_EQ(t->n_bytes, rt.n_bytes) << rt.name;
        EXPECT_EQ(std::memcmp(t->data, rt.data, rt.n_bytes), 0) << type << ": " << rt.name << " differs from llama-quantize";
    }
    // The tokenizer travels: same vocabulary as the source.
    ASSERT_NE(ours->find_meta("tokenizer.ggml.tokens"), nullptr);
    EXPECT_TRUE(*ours->find_meta("tokenizer.ggml.tokens") == *ref->find_meta("tokenizer.ggml.tokens"));
}

INSTANTIATE_TEST_SUITE_P(Types, PureQuant,
                         testing::Values(std::pair{"q4_0", "q-Q4_0.gguf"}, std::pair{"q4_1", "q-Q4_1.gguf"},
                                         std::pair{"q5_0", "q-Q5_0.gguf"}, std::pair{"q5_1", "q-Q5_1.gguf"},
                                         std::pair{"q8_0", "q-Q8_0.gguf"}, std::pair{"q2_k", "q-Q2_K.gguf"},
                                         std::pair{"q3_k_m", "q-Q3_K_M.gguf"}, std::pair{"q4_k_m", "q-Q4_K_M.gguf"},
                                         std::pair{"q5_k_m", "q-Q5_K_M.gguf"}, std::pair{"q6_k", "q-Q6_K.gguf"},
                                         std::pair{"f16", "q-F16.gguf"}, std::pair{"bf16", "q-BF16.gguf"},
                                         std::pair{"iq4_nl", "q-IQ4_NL.gguf"}, std::pair{"iq4_xs", "q-IQ4_XS.gguf"}),
                         [](const auto& i) { return i.param.first; });

DType mix(const std::string& ftype, const std::string& name, int layer, int n_layer, int n_gqa = 1, bool tied = false) {
    auto t = convert::mix_tensor_type(ftype, name, layer, n_layer, n_gqa, tied, false);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return t.ok() ? *t : DType::F32;
}

TEST(QuantMix, LlamaCppRecipes) {
    // Q4_K_M on a 22-layer model (TinyLlama): use_more_bits layers are 0, 1, 4, 7, ..., 19, 20, 21.
    EXPECT_EQ(mix("q4_k_m", "output.weight", -1, 22), DType::Q6_K);
    EXPECT_EQ(mix("q4_k_m", "token_embd.weight", -1, 22), DType::Q4_K);
    EXPECT_EQ(mix("q4_k_m", "token_embd.weight", -1, 22, 1, /*tied=*/true), DType::Q6_K);
    EXPECT_EQ(mix("q4_k_m", "blk.0.attn_v.weight", 0, 22), DType::Q6_K);
    EXPECT_EQ(mix("q4_k_m", "blk.2.attn_v.weight", 2, 22), DType::Q4_K);
    EXPECT_EQ(mix("q4_k_m", "blk.4.ffn_down.weight", 4, 22), DType::Q6_K);
    EXPECT_EQ(mix("q4_k_m", "blk.5.ffn_down.weight", 5, 22), DType::Q4_K);
    EXPECT_EQ(mix("q4_k_m", "blk.21.ffn_down.weight", 21, 22), DType::Q6_K);
    EXPECT_EQ(mix("q4_k_m", "blk.3.attn_q.weight", 3, 22), DType::Q4_K);
    EXPECT_EQ(mix("q4_k_s", "blk.3.attn_v.weight", 3, 22), DType::Q5_K);
    EXPECT_EQ(mix("q4_k_s", "blk.4.attn_v.weight", 4, 22), DType::Q4_K);
    EXPECT_EQ(mix("q4_k_s", "blk.2.ffn_down.weight", 2, 22), DType::Q4_K);
    EXPECT_EQ(mix("q4_k_s", "blk.1.ffn_down.weight", 1, 22), DType::Q5_K);
    EXPECT_EQ(mix("q3_k_m", "blk.1.attn_v.weight", 1, 22), DType::Q5_K);
    EXPECT_EQ(mix("q3_k_m", "blk.2.attn_v.weight", 2, 22), DType::Q4_K);
    EXPECT_EQ(mix("q3_k_m", "blk.0.ffn_down.weight", 0, 22), DType::Q5_K);
    EXPECT_EQ(mix("q3_k_m", "blk.9.ffn_down.weight", 9, 22), DType::Q4_K);
    EXPECT_EQ(mix("q3_k_m", "blk.9.attn_output.weight", 9, 22), DType::Q4_K);
    EXPECT_EQ(mix("q3_k_m", "blk.9.ffn_up.weight", 9, 22), DType::Q3_K);
    EXPECT_EQ(mix("q2_k", "blk.9.attn_v.weight", 9, 22, 8), DType::Q4_K);
    EXPECT_EQ(mix("q2_k", "blk.9.attn_v.weight", 9, 22, 2), DType::Q3_K);
    EXPECT_EQ(mix("q2_k", "blk.9.ffn_down.weight", 9, 22), DType::Q3_K);
    EXPECT_EQ(mix("q2_k", "blk.9.attn_output.weight", 9, 22), DType::Q3_K);
    // A fused q|k|v (phi2) has its own rule in llama.cpp, not attn_v's: one step up in Q3_K_M / Q4_K_M / Q5_K_M on every layer.
    EXPECT_EQ(mix("q4_k_m", "blk.0.attn_qkv.weight", 0, 32), DType::Q5_K);
    EXPECT_EQ(mix("q4_k_m", "blk.5.attn_qkv.weight", 5, 32), DType::Q5_K);
    EXPECT_EQ(mix("q5_k_m", "blk.5.attn_qkv.weight", 5, 32), DType::Q6_K);
    EXPECT_EQ(mix("q3_k_m", "blk.0.attn_qkv.weight", 0, 32), DType::Q4_K);
    EXPECT_EQ(mix("q4_k_s", "blk.0.attn_qkv.weight", 0, 32), DType::Q4_K);
    // IQ4_XS / IQ4_NL: attn_v Q5_K with 4+ query heads a KV head (TinyLlama's 8), ffn_down Q5_K in the first eighth.
    // Q3_K_L: attn_v, ffn_down, attn_output Q5_K, a fused q|k|v Q4_K; Q2_K_S: attn_v Q4_K with 4+ query heads a KV
    // head, ffn_down Q4_K in the first eighth; Q3_K_S and Q5_K_S: the base type but for the output head.
    struct Case {
        const char* ftype;
        const char* tensor;
        int layer, n_layer, n_gqa;
        DType want;
    };
    const Case cases[] = {
        {"iq4_xs", "blk.9.attn_v.weight", 9, 22, 8, DType::Q5_K},    {"iq4_xs", "blk.9.attn_v.weight", 9, 22, 2, DType::IQ4_XS},
        {"iq4_xs", "blk.1.ffn_down.weight", 1, 22, 1, DType::Q5_K},  {"iq4_xs", "blk.2.ffn_down.weight", 2, 22, 1, DType::IQ4_XS},
        {"iq4_xs", "blk.2.attn_output.weight", 2, 22, 1, DType::IQ4_XS}, {"iq4_xs", "token_embd.weight", -1, 22, 1, DType::IQ4_XS},
        {"iq4_xs", "output.weight", -1, 22, 1, DType::Q6_K},         {"iq4_nl", "blk.0.ffn_down.weight", 0, 22, 1, DType::Q5_K},
        {"iq4_nl", "blk.5.ffn_up.weight", 5, 22, 1, DType::IQ4_NL},  {"q3_k_l", "blk.9.attn_v.weight", 9, 22, 1, DType::Q5_K},
        {"q3_k_l", "blk.9.ffn_down.weight", 9, 22, 1, DType::Q5_K},  {"q3_k_l", "blk.9.attn_output.weight", 9, 22, 1, DType::Q5_K},
        {"q3_k_l", "blk.9.attn_qkv.weight", 9, 32, 1, DType::Q4_K},  {"q3_k_l", "blk.9.ffn_up.weight", 9, 22, 1, DType::Q3_K},
        {"q2_k_s", "blk.9.attn_v.weight", 9, 22, 8, DType::Q4_K},    {"q2_k_s", "blk.9.attn_v.weight", 9, 22, 2, DType::Q2_K},
        {"q2_k_s", "blk.1.ffn_down.weight", 1, 22, 1, DType::Q4_K},  {"q2_k_s", "blk.9.ffn_down.weight", 9, 22, 1, DType::Q2_K},
        {"q2_k_s", "blk.9.attn_output.weight", 9, 22, 1, DType::Q2_K},
    };
    for (const Case& c : cases)
        EXPECT_EQ(mix(c.ftype, c.tensor, c.layer, c.n_layer, c.n_gqa), c.want) << c.ftype << " " << c.tensor << " gqa " << c.n_gqa;
    for (const char* t : {"q3_k_s", "q5_k_s"}) {
        const DType base = std::string(t) == "q3_k_s" ? DType::Q3_K : DType::Q5_K;
        for (const char* n : {"blk.0.attn_v.weight", "blk.0.ffn_down.weight", "blk.0.attn_output.weight", "token_embd.weight"})
            EXPECT_EQ(mix(t, n, 0, 22, 8), base) << t << " " << n;
        EXPECT_EQ(mix(t, "output.weight", -1, 22), DType::Q6_K) << t;
    }
    EXPECT_EQ(mix("q8_0", "output.weight", -1, 22), DType::Q8_0);
    EXPECT_EQ(mix("q4_0", "output.weight", -1, 22), DType::Q6_K);
    EXPECT_EQ(mix("f16", "output.weight", -1, 22), DType::F16);
    EXPECT_FALSE(convert::mix_tensor_type("q7_x", "output.weight", -1, 1, 1, false, false).ok());
}

TEST(QuantMix, RowLengthFallback) {
    EXPECT_EQ(convert::fallback_type(DType::Q4_K, 64), DType::Q5_0);
    EXPECT_EQ(convert::fallback_type(DType::Q5_K, 64), DType::Q5_1);
    EXPECT_EQ(convert::fallback_type(DType::Q6_K, 64), DType::Q8_0);
    EXPECT_EQ(convert::fallback_type(DType::Q3_K, 64), DType::Q4_0);
    EXPECT_EQ(convert::fallback_type(DType::IQ4_XS, 896), DType::IQ4_NL);
    EXPECT_EQ(convert::fallback_type(DType::Q4_K, 172), DType::F16);
    EXPECT_EQ(convert::fallback_type(DType::Q4_K, 512), DType::Q4_K);
    // stories260K (n_embd 64, n_ff 172) as Q4_K_M: every matrix falls back, and the result still runs.
    auto mf = convert::open_as_gguf_layout(stories_dir() + "/stories260K.bin");
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    auto plan = convert::plan_types(*mf, "q4_k_m", false);
    ASSERT_TRUE(plan.ok());
    for (const auto& p : *plan) {
        if (p.name == "blk.0.attn_q.weight") {
            EXPECT_EQ(p.dst_type, DType::Q5_0);
        }
        if (p.name == "token_embd.weight") {
            EXPECT_EQ(p.dst_type, DType::Q8_0);
        }  // tied output: Q6_K -> Q8_0
        if (p.name == "blk.0.ffn_down.weight") {
            EXPECT_EQ(p.dst_type, DType::F16);
        }  // rows of 172
        if (p.name == "blk.0.attn_norm.weight") {
            EXPECT_EQ(p.dst_type, DType::F32);
        }
        if (p.dst_type != DType::F32) {
            EXPECT_FALSE(p.fallback.empty()) << p.name;
        }
    }
    ScratchDir dir;
    ASSERT_TRUE(convert(stories_dir() + "/stories260K.bin", dir / "q.gguf", "q4_k_m").ok());
    runtime::ModelOptions mo;
    mo.n_threads = 1;
    auto m = runtime::Model::load(dir / "q.gguf", mo);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
}

}  // namespace
}  // namespace rz::test
