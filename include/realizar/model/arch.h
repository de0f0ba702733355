#pragma once
// Architectures as data: each supported architecture is one ArchSpec (src/model/archs/<arch>.cpp) that maps
// tensor roles to GGUF names (llama.cpp's) and Hugging Face names, and states the few structural choices
// the shared forward pass needs (norm kind, FFN kind, parallel block, positions). Registration is an
// explicit table (arch_table.cpp), not static self-registration, which the linker drops in static libraries.
//
// Conventions easy to get wrong (docs/conventions.md): shapes are row-major [n_out, n_in]; RoPE NORM
// rotates adjacent pairs (x[2i], x[2i+1]), NEOX rotates (x[i], x[i + n_rot/2]); Hugging Face llama-family
// q/k weights are laid out for NEOX ("rotate_half"), llama.cpp's GGUF llama weights are permuted to NORM.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "realizar/core/status.h"

namespace rz::model {

enum class Arch : uint8_t { kLlama, kMistral, kQwen2, kQwen3, kPhi2, kPhi3, kGemma, kGpt2 };

enum class RopeType : uint8_t { kNone, kNorm, kNeox };
enum class NormType : uint8_t { kRms, kLayer };
enum class FfnType : uint8_t {
    kGated,  // down(act(gate(x)) * up(x))          (llama, qwen, gemma, phi3 with fused gate_up)
    kPlain,  // down(act(up(x) + b_up)) + b_down    (gpt2, phi2)
};
enum class Activation : uint8_t { kSilu, kGeluTanh, kGeluErf, kRelu };

std::string_view rope_type_name(RopeType t);
std::string_view activation_name(Activation a);
// Hugging Face hidden_act / activation_function spellings ("silu", "gelu_new", "gelu_pytorch_tanh", ...).
std::optional<Activation> activation_from_hf(std::string_view s);

// Tensor roles. Global roles come first, then per-layer roles (kFirstLayerRole ..). A "B" suffix is a bias.
enum class Role : uint8_t {
    kTokenEmbd,    // [n_vocab, n_embd]
    kPosEmbd,      // [n_ctx_train, n_embd] learned absolute positions (gpt2)
    kOutputNorm,   // [n_embd]
    kOutputNormB,  // [n_embd]
    kOutput,       // [n_vocab, n_embd] (absent when tied to kTokenEmbd)
    kOutputB,      // [n_vocab]
    kRopeFreqs,    // [n_rot/2] llama.cpp's per-frequency divisors (Llama-3 scaling baked into GGUF)
    kAttnNorm,     // [n_embd]
    kAttnNormB,    // [n_embd]
    kAttnQ,        // [n_head*head_dim, n_embd]
    kAttnQB,       // [n_head*head_dim]
    kAttnK,        // [n_head_kv*head_dim, n_embd]
    kAttnKB,       // [n_head_kv*head_dim]
    kAttnV,        // [n_head_kv*head_dim, n_embd]
    kAttnVB,       // [n_head_kv*head_dim]
    kAttnQkv,      // [(n_head + 2*n_head_kv)*head_dim, n_embd]   fused q;k;v rows
    kAttnQkvB,     // [(n_head + 2*n_head_kv)*head_dim]
    kAttnOut,      // [n_embd, n_head*head_dim]
    kAttnOutB,     // [n_embd]
    kAttnQNorm,    // [head_dim]  per-head RMSNorm of q (qwen3)
    kAttnKNorm,    // [head_dim]
    kFfnNorm,      // [n_embd]
    kFfnNormB,     // [n_embd]
    kFfnGate,      // [n_ff, n_embd]
    kFfnUp,        // [n_ff, n_embd]
    kFfnUpB,       // [n_ff]
    kFfnGateUp,    // [2*n_ff, n_embd]  fused gate;up rows (phi3)
    kFfnDown,      // [n_embd, n_ff]
    kFfnDownB,     // [n_embd]
    kCount
};
constexpr int kRoleCount = static_cast<int>(Role::kCount);
constexpr int kFirstLayerRole = static_cast<int>(Role::kAttnNorm);
constexpr bool is_layer_role(Role r) { return static_cast<int>(r) >= kFirstLayerRole; }
std::string_view role_name(Role r);  // "attn_q", ...

// One row of an architecture's tensor table. Patterns take the layer index as %d. `hf` may list
// alternatives separated by '|' (checkpoints with and without a "transformer." prefix, ...).
struct TensorName {
    Role role;
    const char* gguf;       // nullptr: no GGUF spelling
    const char* hf;         // nullptr: no Hugging Face spelling
    bool required = false;  // load fails naming the tensor when absent (alternatives such as fused
                            // q;k;v vs separate q/k/v are checked by the loader instead)
};

struct HParams;
class ConfigView;

struct ArchSpec {
    Arch arch;
    std::string_view name;                               // our name == GGUF general.architecture
    std::span<const std::string_view> hf_model_types;   // config.json "model_type" values
    std::span<const std::string_view> hf_architectures;  // config.json "architectures" values
    std::span<const TensorName> tensors;
    RopeType gguf_rope = RopeType::kNeox;  // pairing of GGUF-named q/k weights (llama.cpp's rope type)
    NormType norm = NormType::kRms;
    FfnType ffn = FfnType::kGated;
    Activation act = Activation::kSilu;  // default; config may override
    bool parallel_block = false;         // x + attn(norm(x)) + ffn(norm(x)) with one norm (phi2)
    bool learned_pos = false;            // gpt2
    bool embd_scale_sqrt = false;        // embeddings * sqrt(n_embd) (gemma)
    bool hf_norm_plus_one = false;       // HF RMSNorm computes x * (1 + w) (gemma); llama.cpp's GGUF stores 1+w
    bool hf_conv1d = false;              // HF weights stored [n_in, n_out] (gpt2 Conv1D)
    // Arch-specific hyper-parameter fix-ups after the generic readers ran (defaults, partial rotary, ...).
    Status (*finish_hparams)(HParams& hp, const ConfigView& cfg) = nullptr;
};

// Explicit registry (arch_table.cpp).
std::span<const ArchSpec* const> all_archs();
const ArchSpec& arch_spec(Arch a);
const ArchSpec* find_arch_by_name(std::string_view gguf_or_our_name);
const ArchSpec* find_arch_by_hf(std::string_view model_type, std::span<const std::string> architectures);

}  // namespace rz::model
