// Gemma: the llama block with embeddings scaled by sqrt(n_embd), RMSNorm computing x * (1 + w) (llama.cpp's
// converter stores 1 + w, so GGUF norms are used as they are), GeGLU with the tanh GELU, tied output,
// head_dim 256 independent of n_embd / n_head. NEOX RoPE.
#include <cmath>

#include "model/archs/archs.h"
#include "realizar/model/hparams.h"

namespace rz::model::archs {
namespace {

constexpr std::string_view kModelTypes[] = {"gemma"};
constexpr std::string_view kArchitectures[] = {"GemmaForCausalLM"};

constexpr TensorName kTensors[] = {
    {Role::kTokenEmbd,  "token_embd.weight",             "model.embed_tokens.weight", true},
    {Role::kOutputNorm, "output_norm.weight",            "model.norm.weight", true},
    {Role::kOutput,     "output.weight",                 "lm_head.weight"},
    {Role::kAttnNorm,   "blk.%d.attn_norm.weight",       "model.layers.%d.input_layernorm.weight", true},
    {Role::kAttnQ,      "blk.%d.attn_q.weight",          "model.layers.%d.self_attn.q_proj.weight", true},
    {Role::kAttnK,      "blk.%d.attn_k.weight",          "model.layers.%d.self_attn.k_proj.weight", true},
    {Role::kAttnV,      "blk.%d.attn_v.weight",          "model.layers.%d.self_attn.v_proj.weight", true},
    {Role::kAttnOut,    "blk.%d.attn_output.weight",     "model.layers.%d.self_attn.o_proj.weight", true},
    {Role::kFfnNorm,    "blk.%d.ffn_norm.weight",        "model.layers.%d.post_attention_layernorm.weight", true},
    {Role::kFfnGate,    "blk.%d.ffn_gate.weight",        "model.layers.%d.mlp.gate_proj.weight", true},
    {Role::kFfnUp,      "blk.%d.ffn_up.weight",          "model.layers.%d.mlp.up_proj.weight", true},
    {Role::kFfnDown,    "blk.%d.ffn_down.weight",        "model.layers.%d.mlp.down_proj.weight", true},
};

Status finish(HParams& hp, const ConfigView& cfg) {
    hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
    // transformers' Gemma MLP reads hidden_activation and ignores the legacy hidden_act ("gelu"), falling
    // back to the tanh approximation; GGUF gemma always uses ggml_gelu (tanh approximation).
    hp.act = Activation::kGeluTanh;
    if (!cfg.is_gguf()) {
        if (auto s = cfg.get_string("hidden_activation")) {
            auto a = activation_from_hf(*s);
            if (!a) return unsupported("gemma: unknown hidden_activation '" + *s + "' in " + std::string(cfg.source()));
            hp.act = *a;
        }
    }
    return Status::Ok();
}

constexpr ArchSpec kSpec{
    .arch = Arch::kGemma,
    .name = "gemma",
    .hf_model_types = kModelTypes,
    .hf_architectures = kArchitectures,
    .tensors = kTensors,
    .gguf_rope = RopeType::kNeox,
    .norm = NormType::kRms,
    .ffn = FfnType::kGated,
    .act = Activation::kGeluTanh,
    .embd_scale_sqrt = true,
    .hf_norm_plus_one = true,
    .finish_hparams = finish,
};

}  // namespace

const ArchSpec& gemma() { return kSpec; }

}  // namespace rz::model::archs
