// The synthetic writer's qwen3, phi2, phi3, gemma and gpt2 blocks (model::write_synthetic_gguf; the `convert --synthetic
// qwen3-*` / `phi-2` shapes): they must load as their architectures (qwen3: q/k norms, explicit head_dim wider than
// n_embd / n_head, tied head with llama.cpp's output type; the others below) and run, since the GPU benchmarks and
// tests of those architectures rest on them.
#include <cmath>

#include "convert/convert_util.h"
#include "realizar/formats/model_file.h"
#include "realizar/model/synthetic.h"
#include "realizar/runtime/context.h"
#include "runtime/model_impl.h"

namespace rz::test {
namespace {

model::SyntheticSpec small_qwen3(const std::string& ftype) {
    model::SyntheticSpec sp;
    sp.arch    = "qwen3";
    sp.n_vocab = 512, sp.n_embd = 256, sp.n_layer = 2, sp.n_head = 8, sp.n_head_kv = 2, sp.head_dim = 64, sp.n_ff = 512,
    sp.n_ctx     = 128;
    sp.tied      = true;
    sp.ftype     = ftype;
    sp.pool_rows = 8;
    return sp;
}

// Writes sp to path and loads it back as a ModelImpl of architecture sp.arch; null (the test failed) otherwise.
std::shared_ptr<runtime::Model> write_and_load(const std::string& path, const model::SyntheticSpec& sp) {
    const Status st = model::write_synthetic_gguf(path, sp);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok()) return nullptr;
    auto m = runtime::Model::load(path);
    EXPECT_TRUE(m.ok()) << m.status().message();
    if (!m.ok() || dynamic_cast<const runtime::ModelImpl*>(m->get()) == nullptr) {
        ADD_FAILURE() << path << ": not loaded as a ModelImpl";
        return nullptr;
    }
    EXPECT_EQ((*m)->info().arch, sp.arch);
    return *m;
}

// Five tokens through the CPU give finite, non-zero logits (512-token vocabularies).
void expect_runs_on_cpu(const std::shared_ptr<runtime::Model>& m) {
    runtime::ContextOptions o;
    o.n_ctx     = 32;
    o.n_threads = 2;
    auto c      = runtime::Context::create(m, o);
    ASSERT_TRUE(c.ok()) << c.status().message();
    runtime::Batch b;
    for (int i = 0; i < 5; ++i) b.add(7 + 31 * i, i, 0, i == 4);
    ASSERT_TRUE((*c)->decode(b).ok());
    const auto l = (*c)->logits(4);
    ASSERT_EQ(l.size(), 512u);
    double ss = 0.0;
    for (float v : l) {
        ASSERT_TRUE(std::isfinite(v));
        ss += static_cast<double>(v) * v;
    }
    EXPECT_GT(ss, 0.0);
}

TEST(Synthetic, Qwen3BlocksLoadAsQwen3WithTiedHead) {
    ScratchDir dir;
    for (const char* ftype : {"Q4_K_M", "Q8_0"}) {
        SCOPED_TRACE(ftype);
        const std::string path = dir / (std::string(ftype) + ".gguf");
        auto m = write_and_load(path, small_qwen3(ftype));
        ASSERT_TRUE(m);
        const auto* mi = dynamic_cast<const runtime::ModelImpl*>(m.get());
        auto f = formats::open_model_file(path);
        ASSERT_TRUE(f.ok()) << f.status().message();
        EXPECT_EQ(f->find_tensor("output.weight"), nullptr) << "a tied model has no output matrix";
        EXPECT_EQ(mi->hp().head_dim, 64);
        EXPECT_EQ(mi->hp().n_embd_q(), 512);  // q wider than the residual stream
        EXPECT_EQ(mi->hp().rope_type, model::RopeType::kNeox);
        const auto& L0 = mi->weights().layers[0];
        ASSERT_TRUE(L0[model::Role::kAttnQNorm] && L0[model::Role::kAttnKNorm]);
        EXPECT_EQ(L0[model::Role::kAttnQNorm].n_cols, 64);
        EXPECT_EQ(L0[model::Role::kAttnOut].n_cols, 512);
        // llama.cpp's mixes give a tied token_embd the output's type: Q6_K in Q4_K_M, Q8_0 in Q8_0.
        const bool k = std::string(ftype) == "Q4_K_M";
        EXPECT_EQ(mi->weights().output().dtype, k ? DType::Q6_K : DType::Q8_0);
        EXPECT_EQ(L0[model::Role::kAttnQ].dtype, k ? DType::Q4_K : DType::Q8_0);
        expect_runs_on_cpu(m);
    }
}

// phi2 blocks (the `convert --synthetic phi-2` shape): LayerNorm with bias, parallel attention and plain GELU MLP, fused
// q|k|v with llama.cpp's Q4_K_M type for it (Q5_K), partial rotary, biases on every projection and the head.
TEST(Synthetic, Phi2BlocksLoadAsPhi2) {
    ScratchDir dir;
    model::SyntheticSpec sp;
    sp.arch    = "phi2";
    sp.n_vocab = 512, sp.n_embd = 256, sp.n_layer = 2, sp.n_head = 4, sp.n_head_kv = 4, sp.n_ff = 1024, sp.n_ctx = 128;
    sp.n_rot     = 16;
    sp.ftype     = "Q4_K_M";
    sp.pool_rows = 8;
    auto m = write_and_load(dir / "phi2.gguf", sp);
    ASSERT_TRUE(m);
    const auto* mi = dynamic_cast<const runtime::ModelImpl*>(m.get());
    const model::HParams& hp = mi->hp();
    EXPECT_TRUE(hp.parallel_block);
    EXPECT_EQ(hp.norm, model::NormType::kLayer);
    EXPECT_EQ(hp.ffn, model::FfnType::kPlain);
    EXPECT_EQ(hp.act, model::Activation::kGeluTanh);
    EXPECT_EQ(hp.n_rot, 16);
    EXPECT_EQ(hp.head_dim, 64);
    const auto& w  = mi->weights();
    const auto& L1 = w.layers[1];
    ASSERT_TRUE(L1[model::Role::kAttnQkv] && L1[model::Role::kAttnQkvB] && L1[model::Role::kAttnNormB] && L1[model::Role::kFfnUpB] &&
                L1[model::Role::kFfnDownB] && L1[model::Role::kAttnOutB]);
    EXPECT_FALSE(L1[model::Role::kFfnGate]);
    EXPECT_EQ(L1[model::Role::kAttnQkv].dtype, DType::Q5_K);
    EXPECT_EQ(L1[model::Role::kFfnUp].dtype, DType::Q4_K);
    EXPECT_TRUE(w[model::Role::kOutputB] && w[model::Role::kOutputNormB]);
    EXPECT_EQ(w.output().dtype, DType::Q6_K);
    expect_runs_on_cpu(m);
    sp.n_rot = 65;  // beyond head_dim
    EXPECT_EQ(model::write_synthetic_gguf(dir / "bad.gguf", sp).code(), StatusCode::kInvalidArgument);
}

// phi3 blocks (the `convert --synthetic phi-3-mini` shape): the llama block with llama.cpp's fused tensors, q|k|v
// (Q5_K in Q4_K_M, llama.cpp's rule for attn_qkv) and gate|up in one ffn_up of 2 n_ff rows, NEOX RoPE; n_ff comes
// from the metadata and matches half the fused rows.
TEST(Synthetic, Phi3BlocksLoadAsPhi3WithFusedTensors) {
    ScratchDir dir;
    model::SyntheticSpec sp;
    sp.arch    = "phi3";
    sp.n_vocab = 512, sp.n_embd = 256, sp.n_layer = 2, sp.n_head = 4, sp.n_head_kv = 4, sp.n_ff = 512, sp.n_ctx = 128;
    sp.ftype     = "Q4_K_M";
    sp.pool_rows = 8;
    auto m = write_and_load(dir / "phi3.gguf", sp);
    ASSERT_TRUE(m);
    const auto* mi = dynamic_cast<const runtime::ModelImpl*>(m.get());
    const model::HParams& hp = mi->hp();
    EXPECT_FALSE(hp.parallel_block);
    EXPECT_EQ(hp.norm, model::NormType::kRms);
    EXPECT_EQ(hp.ffn, model::FfnType::kGated);
    EXPECT_EQ(hp.rope_type, model::RopeType::kNeox);
    EXPECT_EQ(hp.n_ff, 512);
    const auto& L1 = mi->weights().layers[1];
    ASSERT_TRUE(L1[model::Role::kAttnQkv] && L1[model::Role::kFfnGateUp]);
    EXPECT_FALSE(L1[model::Role::kAttnQ] || L1[model::Role::kFfnGate] || L1[model::Role::kFfnUp]);
    EXPECT_EQ(L1[model::Role::kAttnQkv].n_rows, 3 * 256);
    EXPECT_EQ(L1[model::Role::kFfnGateUp].n_rows, 2 * 512);
    EXPECT_EQ(L1[model::Role::kAttnQkv].dtype, DType::Q5_K);
    EXPECT_EQ(L1[model::Role::kFfnGateUp].dtype, DType::Q4_K);
    EXPECT_EQ(mi->weights().output().dtype, DType::Q6_K);
    expect_runs_on_cpu(m);
}

// gemma blocks: llama's tensors, which the loader turns into gemma's block (embedding scale, GELU-gated FFN, NEOX).
TEST(Synthetic, GemmaBlocksLoadAsGemma) {
    ScratchDir dir;
    model::SyntheticSpec sp;
    sp.arch    = "gemma";
    sp.n_vocab = 512, sp.n_embd = 256, sp.n_layer = 2, sp.n_head = 4, sp.n_head_kv = 1, sp.head_dim = 128, sp.n_ff = 512, sp.n_ctx = 128;
    sp.tied      = true;
    sp.ftype     = "Q8_0";
    sp.pool_rows = 8;
    auto m = write_and_load(dir / "gemma.gguf", sp);
    ASSERT_TRUE(m);
    const auto* mi = dynamic_cast<const runtime::ModelImpl*>(m.get());
    EXPECT_EQ(mi->hp().act, model::Activation::kGeluTanh);
    EXPECT_EQ(mi->hp().ffn, model::FfnType::kGated);
    EXPECT_FLOAT_EQ(mi->hp().embd_scale, 16.0f);  // sqrt(256)
    EXPECT_EQ(mi->hp().head_dim, 128);
    EXPECT_EQ(mi->hp().rope_type, model::RopeType::kNeox);
    expect_runs_on_cpu(m);
}

// gpt2 blocks: learned positions, a LayerNorm (bias) before attention and before the plain GELU MLP, tied head.
TEST(Synthetic, Gpt2BlocksLoadAsGpt2) {
    ScratchDir dir;
    model::SyntheticSpec sp;
    sp.arch    = "gpt2";
    sp.n_vocab = 512, sp.n_embd = 256, sp.n_layer = 2, sp.n_head = 4, sp.n_head_kv = 4, sp.n_ff = 1024, sp.n_ctx = 64;
    sp.tied      = true;
    sp.ftype     = "Q4_K_M";
    sp.pool_rows = 8;
    auto m = write_and_load(dir / "gpt2.gguf", sp);
    ASSERT_TRUE(m);
    const auto* mi = dynamic_cast<const runtime::ModelImpl*>(m.get());
    const model::HParams& hp = mi->hp();
    EXPECT_FALSE(hp.parallel_block);
    EXPECT_EQ(hp.norm, model::NormType::kLayer);
    EXPECT_EQ(hp.ffn, model::FfnType::kPlain);
    EXPECT_EQ(hp.rope_type, model::RopeType::kNone);
    const auto& w = mi->weights();
    EXPECT_TRUE(w[model::Role::kPosEmbd]);
    EXPECT_TRUE(w.layers[1][model::Role::kFfnNormB] && w.layers[1][model::Role::kAttnQkvB]);
    EXPECT_EQ(w.output().dtype, DType::Q6_K);  // the tied token_embd with the output's type
    expect_runs_on_cpu(m);
}

// ModelInfo::decode_weight_bytes (the decode roofline's numerator, `bench --gpu`) against the file's own tensor
// list: every tensor as stored (the synthetic writer stores vectors as f32, as the loader holds them) but the
// token-embedding table, of which one row unless the head is tied to it, and one row of learned positions.
TEST(Synthetic, DecodeWeightBytesCountWhatAStepReads) {
    ScratchDir dir;
    auto qwen3 = small_qwen3("Q4_K_M");  // tied head
    model::SyntheticSpec phi2;            // separate head with a bias, fused q|k|v, biases everywhere
    phi2.arch = "phi2", phi2.n_vocab = 512, phi2.n_embd = 256, phi2.n_layer = 2, phi2.n_head = 4, phi2.n_head_kv = 4,
    phi2.n_ff = 1024, phi2.n_ctx = 128, phi2.ftype = "Q8_0", phi2.pool_rows = 8;
    model::SyntheticSpec gpt2 = phi2;  // learned positions, tied head
    gpt2.arch = "gpt2", gpt2.tied = true, gpt2.ftype = "Q4_K_M";
    for (const auto& sp : {qwen3, phi2, gpt2}) {
        SCOPED_TRACE(sp.arch);
        const std::string path = dir / (sp.arch + ".gguf");
        auto m = write_and_load(path, sp);
        ASSERT_TRUE(m);
        auto f = formats::open_model_file(path);
        ASSERT_TRUE(f.ok()) << f.status().message();
        uint64_t want = 0, embd = 0;
        for (const auto& t : f->tensors) {
            if (t.name == "token_embd.weight") {
                embd = t.n_bytes;
                want += sp.tied ? t.n_bytes : t.n_bytes / static_cast<uint64_t>(sp.n_vocab);
            } else if (t.name == "position_embd.weight") {
                want += t.n_bytes / static_cast<uint64_t>(sp.n_ctx);
            } else {
                want += t.n_bytes;
            }
        }
        ASSERT_GT(embd, 0u);
        EXPECT_EQ(m->info().decode_weight_bytes, want);
        EXPECT_LE(m->info().decode_weight_bytes, m->info().weight_bytes);
    }
}

TEST(Synthetic, RejectsUnknownArchitecturesAndInconsistentHeadDims) {
    ScratchDir dir;
    auto sp = small_qwen3("Q8_0");
    sp.arch = "gpt-5";
    EXPECT_EQ(model::write_synthetic_gguf(dir / "a.gguf", sp).code(), StatusCode::kInvalidArgument);
    sp          = small_qwen3("Q8_0");
    sp.head_dim = 0, sp.n_head = 7, sp.n_head_kv = 7;  // 256 is not a multiple of 7 and no head_dim is given
    EXPECT_EQ(model::write_synthetic_gguf(dir / "b.gguf", sp).code(), StatusCode::kInvalidArgument);
    sp.head_dim = -1;
    EXPECT_EQ(model::write_synthetic_gguf(dir / "c.gguf", sp).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rz::test
