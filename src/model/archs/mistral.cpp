// Mistral: the llama block with sliding-window attention (config sliding_window). llama.cpp writes Mistral
// GGUF files as arch "llama", so this spec only matters for Hugging Face folders and our own files.
#include "model/archs/archs.h"

namespace rz::model::archs {
namespace {

constexpr std::string_view kModelTypes[] = {"mistral"};
constexpr std::string_view kArchitectures[] = {"MistralForCausalLM"};

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

constexpr ArchSpec kSpec{
    .arch = Arch::kMistral,
    .name = "mistral",
    .hf_model_types = kModelTypes,
    .hf_architectures = kArchitectures,
    .tensors = kTensors,
    .gguf_rope = RopeType::kNorm,  // same converter permutation as llama
    .norm = NormType::kRms,
    .ffn = FfnType::kGated,
    .act = Activation::kSilu,
};

}  // namespace

const ArchSpec& mistral() { return kSpec; }

}  // namespace rz::model::archs
