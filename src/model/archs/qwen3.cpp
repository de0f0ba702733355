// Qwen3: the llama block with per-head RMSNorm of q and k (before RoPE), no q/k/v biases, an explicit
// head_dim that may differ from n_embd / n_head; NEOX RoPE.
#include "model/archs/archs.h"

namespace rz::model::archs {
namespace {

constexpr std::string_view kModelTypes[] = {"qwen3"};
constexpr std::string_view kArchitectures[] = {"Qwen3ForCausalLM"};

constexpr TensorName kTensors[] = {
    {Role::kTokenEmbd,  "token_embd.weight",             "model.embed_tokens.weight", true},
    {Role::kOutputNorm, "output_norm.weight",            "model.norm.weight", true},
    {Role::kOutput,     "output.weight",                 "lm_head.weight"},
    {Role::kAttnNorm,   "blk.%d.attn_norm.weight",       "model.layers.%d.input_layernorm.weight", true},
    {Role::kAttnQ,      "blk.%d.attn_q.weight",          "model.layers.%d.self_attn.q_proj.weight", true},
    {Role::kAttnK,      "blk.%d.attn_k.weight",          "model.layers.%d.self_attn.k_proj.weight", true},
    {Role::kAttnV,      "blk.%d.attn_v.weight",          "model.layers.%d.self_attn.v_proj.weight", true},
    {Role::kAttnQNorm,  "blk.%d.attn_q_norm.weight",     "model.layers.%d.self_attn.q_norm.weight", true},
    {Role::kAttnKNorm,  "blk.%d.attn_k_norm.weight",     "model.layers.%d.self_attn.k_norm.weight", true},
    {Role::kAttnOut,    "blk.%d.attn_output.weight",     "model.layers.%d.self_attn.o_proj.weight", true},
    {Role::kFfnNorm,    "blk.%d.ffn_norm.weight",        "model.layers.%d.post_attention_layernorm.weight", true},
    {Role::kFfnGate,    "blk.%d.ffn_gate.weight",        "model.layers.%d.mlp.gate_proj.weight", true},
    {Role::kFfnUp,      "blk.%d.ffn_up.weight",          "model.layers.%d.mlp.up_proj.weight", true},
    {Role::kFfnDown,    "blk.%d.ffn_down.weight",        "model.layers.%d.mlp.down_proj.weight", true},
};

constexpr ArchSpec kSpec{
    .arch = Arch::kQwen3,
    .name = "qwen3",
    .hf_model_types = kModelTypes,
    .hf_architectures = kArchitectures,
    .tensors = kTensors,
    .gguf_rope = RopeType::kNeox,
    .norm = NormType::kRms,
    .ffn = FfnType::kGated,
    .act = Activation::kSilu,
};

}  // namespace

const ArchSpec& qwen3() { return kSpec; }

}  // namespace rz::model::archs
