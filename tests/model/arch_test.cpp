// Architecture registry, hyper-parameters from every source, RoPE frequencies.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "realizar/formats/model_file.h"
#include "realizar/model/weights.h"

namespace rz::model {
namespace {

const std::string kShared = RZ_SHARED_DIR;

TEST(ArchTable, EveryArchIsRegisteredAndFindable) {
    const char* names[] = {"llama", "mistral", "qwen2", "qwen3", "phi2", "phi3", "gemma", "gpt2"};
    const char* hf[] = {"llama", "mistral", "qwen2", "qwen3", "phi", "phi3", "gemma", "gpt2"};
    ASSERT_EQ(all_archs().size(), 8u);
    for (size_t i = 0; i < 8; ++i) {
        const ArchSpec* s = find_arch_by_name(names[i]);
        ASSERT_NE(s, nullptr) << names[i];
        EXPECT_EQ(&arch_spec(s->arch), s);
        EXPECT_EQ(find_arch_by_hf(hf[i], {}), s) << hf[i];
    }
    EXPECT_EQ(find_arch_by_name("mamba"), nullptr);
    const std::string archs[] = {"Qwen3ForCausalLM"};
    EXPECT_EQ(find_arch_by_hf("", archs), find_arch_by_name("qwen3"));
}

TEST(ArchTable, TablesNameEachRoleOnceWithLayerPatterns) {
    for (const ArchSpec* s : all_archs()) {
        std::set<Role> seen;
        for (const TensorName& t : s->tensors) {
            EXPECT_TRUE(seen.insert(t.role).second) << s->name << " lists " << role_name(t.role) << " twice";
            for (const char* p : {t.gguf, t.hf}) {
                if (!p) continue;
                const bool has_layer = std::string(p).find("%d") != std::string::npos;
                EXPECT_EQ(has_layer, is_layer_role(t.role)) << s->name << ": " << p;
            }
        }
        EXPECT_TRUE(seen.count(Role::kTokenEmbd)) << s->name;
        EXPECT_TRUE(seen.count(Role::kAttnOut)) << s->name;
        EXPECT_TRUE(seen.count(Role::kFfnDown)) << s->name;
    }
}

Result<HParams> hparams_of(const std::string& path, Naming* naming = nullptr) {
    RZ_ASSIGN_OR_RETURN(auto f, formats::open_model_file(path));
    const ArchSpec* spec = nullptr;
    Naming n;
    auto r = read_hparams(f, spec, n);
    if (naming) *naming = n;
    return r;
}

TEST(HParams, GoldenConfigs) {
    auto llama = hparams_of(kShared + "/golden/llama_gqa");
    ASSERT_TRUE(llama.ok()) << llama.status().to_string();
    EXPECT_EQ(llama->arch, Arch::kLlama);
    EXPECT_EQ(llama->n_head, 8);
    EXPECT_EQ(llama->n_head_kv, 2);
    EXPECT_EQ(llama->head_dim, 8);
    EXPECT_EQ(llama->n_ff, 172);
    EXPECT_EQ(llama->rope_type, RopeType::kNeox);  // HF weights: rotate_half
    EXPECT_EQ(llama->n_rot, 8);
    EXPECT_EQ(llama->rope_freq_dtype, DType::F32);

    auto phi = hparams_of(kShared + "/golden/phi2");
    ASSERT_TRUE(phi.ok()) << phi.status().to_string();
    EXPECT_EQ(phi->arch, Arch::kPhi2);
    EXPECT_EQ(phi->n_rot, 8);  // head_dim 16 x partial_rotary_factor 0.5
    EXPECT_TRUE(phi->parallel_block);
    EXPECT_EQ(phi->norm, NormType::kLayer);
    EXPECT_EQ(phi->act, Activation::kGeluTanh);
    EXPECT_EQ(phi->ffn, FfnType::kPlain);

    auto gpt2 = hparams_of(kShared + "/golden/gpt2");
    ASSERT_TRUE(gpt2.ok()) << gpt2.status().to_string();
    EXPECT_EQ(gpt2->n_ff, 256);  // n_inner null -> 4 * n_embd
    EXPECT_EQ(gpt2->rope_type, RopeType::kNone);
    EXPECT_TRUE(gpt2->learned_pos);
    EXPECT_EQ(gpt2->n_ctx_train, 256);

    auto qwen = hparams_of(kShared + "/golden/qwen2/bf16");
    ASSERT_TRUE(qwen.ok()) << qwen.status().to_string();
    EXPECT_DOUBLE_EQ(qwen->rope_theta, 1e6);
    EXPECT_FLOAT_EQ(qwen->norm_eps, 1e-6f);
    EXPECT_TRUE(qwen->tied_output);
    EXPECT_EQ(qwen->n_swa, 0);  // use_sliding_window: false
    EXPECT_EQ(qwen->rope_freq_dtype, DType::BF16);
}

TEST(HParams, GgufAndLlama2cUseNormRope) {
    Naming n;
    auto g = hparams_of(kShared + "/data/tinystories-260K/stories260K-f32.gguf", &n);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    EXPECT_EQ(n, Naming::kGguf);
    EXPECT_EQ(g->rope_type, RopeType::kNorm);
    EXPECT_EQ(g->n_head_kv, 4);
    EXPECT_EQ(g->n_vocab, 512);
    auto l = hparams_of(kShared + "/data/tinystories-260K/stories260K.bin", &n);
    ASSERT_TRUE(l.ok()) << l.status().to_string();
    EXPECT_EQ(l->rope_type, RopeType::kNorm);
    EXPECT_EQ(l->n_ctx_train, 512);
}

TEST(RopeFreq, PlainLinearAndLlama3) {
    HParams hp;
    hp.n_rot = 128;
    hp.rope_theta = 500000.0;
    auto plain = rope_inv_freq(hp, nullptr, 0);
    ASSERT_EQ(plain.size(), 64u);
    EXPECT_DOUBLE_EQ(plain[0], 1.0);
    EXPECT_NEAR(plain[10], std::pow(500000.0, -20.0 / 128), 1e-15);

    hp.rope_scaling.kind = RopeScaling::Kind::kLinear;
    hp.rope_scaling.factor = 4.0;
    auto lin = rope_inv_freq(hp, nullptr, 0);
    EXPECT_NEAR(lin[10], plain[10] / 4.0, 1e-15);

    // Llama-3.1: factor 8, low 1, high 4, original context 8192.
    hp.rope_scaling = {RopeScaling::Kind::kLlama3, 8.0, 1.0, 4.0, 8192};
    auto l3 = rope_inv_freq(hp, nullptr, 0);
    constexpr double kTwoPi = 6.283185307179586;
    for (size_t i = 0; i < 64; ++i) {
        const double wavelen = kTwoPi / plain[i];
        if (wavelen < 8192.0 / 4.0) EXPECT_DOUBLE_EQ(l3[i], plain[i]) << i;           // high frequencies kept
        else if (wavelen > 8192.0) EXPECT_NEAR(l3[i], plain[i] / 8.0, 1e-18) << i;  // low ones divided
        else EXPECT_TRUE(l3[i] < plain[i] && l3[i] > plain[i] / 8.0) << i;        // smooth in between
    }
    // llama.cpp's rope_freqs tensor (divisors) overrides the formula.
    std::vector<float> divisors(64, 2.0f);
    auto tensor = rope_inv_freq(hp, divisors.data(), 64);
    EXPECT_NEAR(tensor[5], plain[5] / 2.0, 1e-15);
}

}  // namespace
}  // namespace rz::model
