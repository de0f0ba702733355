// GPT-2: learned absolute positions, pre-LayerNorm with biases, fused q;k;v projection, gelu_new MLP, tied
// output. Hugging Face stores its projections as Conv1D, [n_in, n_out]; the loader transposes those (HF
// naming only: llama.cpp's converter already wrote them [n_out, n_in]).
#include "model/archs/archs.h"
#include "realizar/model/hparams.h"

namespace rz::model::archs {
namespace {

constexpr std::string_view kModelTypes[] = {"gpt2"};
constexpr std::string_view kArchitectures[] = {"GPT2LMHeadModel"};

constexpr TensorName kTensors[] = {
    {Role::kTokenEmbd,   "token_embd.weight",         "transformer.wte.weight|wte.weight", true},
    {Role::kPosEmbd,     "position_embd.weight",      "transformer.wpe.weight|wpe.weight", true},
    {Role::kOutputNorm,  "output_norm.weight",        "transformer.ln_f.weight|ln_f.weight", true},
    {Role::kOutputNormB, "output_norm.bias",          "transformer.ln_f.bias|ln_f.bias", true},
    {Role::kOutput,      "output.weight",             "lm_head.weight"},
    {Role::kAttnNorm,    "blk.%d.attn_norm.weight",   "transformer.h.%d.ln_1.weight|h.%d.ln_1.weight", true},
    {Role::kAttnNormB,   "blk.%d.attn_norm.bias",     "transformer.h.%d.ln_1.bias|h.%d.ln_1.bias", true},
    {Role::kAttnQkv,     "blk.%d.attn_qkv.weight",    "transformer.h.%d.attn.c_attn.weight|h.%d.attn.c_attn.weight", true},
    {Role::kAttnQkvB,    "blk.%d.attn_qkv.bias",      "transformer.h.%d.attn.c_attn.bias|h.%d.attn.c_attn.bias", true},
    {Role::kAttnOut,     "blk.%d.attn_output.weight", "transformer.h.%d.attn.c_proj.weight|h.%d.attn.c_proj.weight", true},
    {Role::kAttnOutB,    "blk.%d.attn_output.bias",   "transformer.h.%d.attn.c_proj.bias|h.%d.attn.c_proj.bias", true},
    {Role::kFfnNorm,     "blk.%d.ffn_norm.weight",    "transformer.h.%d.ln_2.weight|h.%d.ln_2.weight", true},
    {Role::kFfnNormB,    "blk.%d.ffn_norm.bias",      "transformer.h.%d.ln_2.bias|h.%d.ln_2.bias", true},
    {Role::kFfnUp,       "blk.%d.ffn_up.weight",      "transformer.h.%d.mlp.c_fc.weight|h.%d.mlp.c_fc.weight", true},
    {Role::kFfnUpB,      "blk.%d.ffn_up.bias",        "transformer.h.%d.mlp.c_fc.bias|h.%d.mlp.c_fc.bias", true},
    {Role::kFfnDown,     "blk.%d.ffn_down.weight",    "transformer.h.%d.mlp.c_proj.weight|h.%d.mlp.c_proj.weight", true},
    {Role::kFfnDownB,    "blk.%d.ffn_down.bias",      "transformer.h.%d.mlp.c_proj.bias|h.%d.mlp.c_proj.bias", true},
};

Status finish(HParams& hp, const ConfigView& cfg) {
    if (hp.n_ff == 0) hp.n_ff = 4 * hp.n_embd;  // config n_inner: null means 4 * n_embd
    hp.n_rot = 0;
    hp.rope_type = RopeType::kNone;
    (void)cfg;
    return Status::Ok();
}

constexpr ArchSpec kSpec{
    .arch = Arch::kGpt2,
    .name = "gpt2",
    .hf_model_types = kModelTypes,
    .hf_architectures = kArchitectures,
    .tensors = kTensors,
    .gguf_rope = RopeType::kNone,
    .norm = NormType::kLayer,
    .ffn = FfnType::kPlain,
    .act = Activation::kGeluTanh,
    .learned_pos = true,
    .hf_conv1d = true,
    .finish_hparams = finish,
};

}  // namespace

const ArchSpec& gpt2() { return kSpec; }

}  // namespace rz::model::archs
