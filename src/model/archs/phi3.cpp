// Phi-3: the llama block with fused projections: qkv_proj rows are q;k;v and gate_up_proj rows are gate;up
// (llama.cpp keeps both fused: attn_qkv, and ffn_up holding [2*n_ff, n_embd]). NEOX RoPE.
#include "model/archs/archs.h"

namespace rz::model::archs {
namespace {

constexpr std::string_view kModelTypes[] = {"phi3"};
constexpr std::string_view kArchitectures[] = {"Phi3ForCausalLM"};

constexpr TensorName kTensors[] = {
    {Role::kTokenEmbd,  "token_embd.weight",         "model.embed_tokens.weight", true},
    {Role::kOutputNorm, "output_norm.weight",        "model.norm.weight", true},
    {Role::kOutput,     "output.weight",             "lm_head.weight"},
    {Role::kAttnNorm,   "blk.%d.attn_norm.weight",   "model.layers.%d.input_layernorm.weight", true},
    {Role::kAttnQkv,    "blk.%d.attn_qkv.weight",    "model.layers.%d.self_attn.qkv_proj.weight"},
    {Role::kAttnQ,      "blk.%d.attn_q.weight",      nullptr},
    {Role::kAttnK,      "blk.%d.attn_k.weight",      nullptr},
    {Role::kAttnV,      "blk.%d.attn_v.weight",      nullptr},
    {Role::kAttnOut,    "blk.%d.attn_output.weight", "model.layers.%d.self_attn.o_proj.weight", true},
    {Role::kFfnNorm,    "blk.%d.ffn_norm.weight",    "model.layers.%d.post_attention_layernorm.weight", true},
    {Role::kFfnGateUp,  "blk.%d.ffn_up.weight",      "model.layers.%d.mlp.gate_up_proj.weight", true},
    {Role::kFfnDown,    "blk.%d.ffn_down.weight",    "model.layers.%d.mlp.down_proj.weight", true},
};

constexpr ArchSpec kSpec{
    .arch = Arch::kPhi3,
    .name = "phi3",
    .hf_model_types = kModelTypes,
    .hf_architectures = kArchitectures,
    .tensors = kTensors,
    .gguf_rope = RopeType::kNeox,
    .norm = NormType::kRms,
    .ffn = FfnType::kGated,
    .act = Activation::kSilu,
};

}  // namespace

const ArchSpec& phi3() { return kSpec; }

}  // namespace rz::model::archs
