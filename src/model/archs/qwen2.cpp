// Qwen2: the llama block plus q/k/v projection biases; NEOX RoPE in both GGUF and HF (llama.cpp does not
// permute qwen2 q/k); embeddings often tied.
#include "model/archs/archs.h"

namespace rz::model::archs {
namespace {

constexpr std::string_view kModelTypes[] = {"qwen2"};
constexpr std::string_view kArchitectures[] = {"Qwen2ForCausalLM"};

constexpr TensorName kTensors[] = {
    {Role::kTokenEmbd,  "token_embd.weight",             "model.embed_tokens.weight", true},
    {Role::kOutputNorm, "output_norm.weight",            "model.norm.weight", true},
    {Role::kOutput,     "output.weight",                 "lm_head.weight"},
    {Role::kAttnNorm,   "blk.%d.attn_norm.weight",       "model.layers.%d.input_layernorm.weight", true},
    {Role::kAttnQ,      "blk.%d.attn_q.weight",          "model.layers.%d.self_attn.q_proj.weight", true},
    {Role::kAttnK,      "blk.%d.attn_k.weight",          "model.layers.%d.self_attn.k_proj.weight", true},
    {Role::kAttnV,      "blk.%d.attn_v.weight",          "model.layers.%d.self_attn.v_proj.weight", true},
    {Role::kAttnQB,     "blk.%d.attn_q.bias",            "model.layers.%d.self_attn.q_proj.bias", true},
    {Role::kAttnKB,     "blk.%d.attn_k.bias",            "model.layers.%d.self_attn.k_proj.bias", true},
    {Role::kAttnVB,     "blk.%d.attn_v.bias",            "model.layers.%d.self_attn.v_proj.bias", true},
    {Role::kAttnOut,    "blk.%d.attn_output.weight",     "model.layers.%d.self_attn.o_proj.weight", true},
    {Role::kFfnNorm,    "blk.%d.ffn_norm.weight",        "model.layers.%d.post_attention_layernorm.weight", true},
    {Role::kFfnGate,    "blk.%d.ffn_gate.weight",        "model.layers.%d.mlp.gate_proj.weight", true},
    {Role::kFfnUp,      "blk.%d.ffn_up.weight",          "model.layers.%d.mlp.up_proj.weight", true},
    {Role::kFfnDown,    "blk.%d.ffn_down.weight",        "model.layers.%d.mlp.down_proj.weight", true},
};

constexpr ArchSpec kSpec{
    .arch = Arch::kQwen2,
    .name = "qwen2",
    .hf_model_types = kModelTypes,
    .hf_architectures = kArchitectures,
    .tensors = kTensors,
    .gguf_rope = RopeType::kNeox,
    .norm = NormType::kRms,
    .ffn = FfnType::kGated,
    .act = Activation::kSilu,
};

}  // namespace

const ArchSpec& qwen2() { return kSpec; }

}  // namespace rz::model::archs
