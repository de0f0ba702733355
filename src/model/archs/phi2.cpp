// Phi-2: one LayerNorm (with bias) feeds attention and the MLP in parallel: x + attn(ln(x)) + mlp(ln(x));
// partial rotary (NEOX over the first n_rot dims of each head), biases on every projection and on the
// output head, gelu_new MLP. Older checkpoints fuse q;k;v (attn_qkv); either form loads.
#include "model/archs/archs.h"

namespace rz::model::archs {
namespace {

constexpr std::string_view kModelTypes[] = {"phi"};
constexpr std::string_view kArchitectures[] = {"PhiForCausalLM"};

constexpr TensorName kTensors[] = {
    {Role::kTokenEmbd,   "token_embd.weight",         "model.embed_tokens.weight", true},
    {Role::kOutputNorm,  "output_norm.weight",        "model.final_layernorm.weight", true},
    {Role::kOutputNormB, "output_norm.bias",          "model.final_layernorm.bias", true},
    {Role::kOutput,      "output.weight",             "lm_head.weight"},
    {Role::kOutputB,     "output.bias",               "lm_head.bias"},
    {Role::kAttnNorm,    "blk.%d.attn_norm.weight",   "model.layers.%d.input_layernorm.weight", true},
    {Role::kAttnNormB,   "blk.%d.attn_norm.bias",     "model.layers.%d.input_layernorm.bias", true},
    {Role::kAttnQ,       "blk.%d.attn_q.weight",      "model.layers.%d.self_attn.q_proj.weight"},
    {Role::kAttnK,       "blk.%d.attn_k.weight",      "model.layers.%d.self_attn.k_proj.weight"},
    {Role::kAttnV,       "blk.%d.attn_v.weight",      "model.layers.%d.self_attn.v_proj.weight"},
    {Role::kAttnQB,      "blk.%d.attn_q.bias",        "model.layers.%d.self_attn.q_proj.bias"},
    {Role::kAttnKB,      "blk.%d.attn_k.bias",        "model.layers.%d.self_attn.k_proj.bias"},
    {Role::kAttnVB,      "blk.%d.attn_v.bias",        "model.layers.%d.self_attn.v_proj.bias"},
    {Role::kAttnQkv,     "blk.%d.attn_qkv.weight",    "model.layers.%d.self_attn.query_key_value.weight"},
    {Role::kAttnQkvB,    "blk.%d.attn_qkv.bias",      "model.layers.%d.self_attn.query_key_value.bias"},
    {Role::kAttnOut,     "blk.%d.attn_output.weight", "model.layers.%d.self_attn.dense.weight", true},
    {Role::kAttnOutB,    "blk.%d.attn_output.bias",   "model.layers.%d.self_attn.dense.bias"},
    {Role::kFfnUp,       "blk.%d.ffn_up.weight",      "model.layers.%d.mlp.fc1.weight", true},
    {Role::kFfnUpB,      "blk.%d.ffn_up.bias",        "model.layers.%d.mlp.fc1.bias"},
    {Role::kFfnDown,     "blk.%d.ffn_down.weight",    "model.layers.%d.mlp.fc2.weight", true},
    {Role::kFfnDownB,    "blk.%d.ffn_down.bias",      "model.layers.%d.mlp.fc2.bias"},
};

constexpr ArchSpec kSpec{
    .arch = Arch::kPhi2,
    .name = "phi2",
    .hf_model_types = kModelTypes,
    .hf_architectures = kArchitectures,
    .tensors = kTensors,
    .gguf_rope = RopeType::kNeox,
    .norm = NormType::kLayer,
    .ffn = FfnType::kPlain,
    .act = Activation::kGeluTanh,
    .parallel_block = true,
};

}  // namespace

const ArchSpec& phi2() { return kSpec; }

}  // namespace rz::model::archs
