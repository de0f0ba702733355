// The explicit architecture registry and the small name tables of arch.h.
#include <algorithm>
#include <array>

#include "model/archs/archs.h"
#include "realizar/model/arch.h"

namespace rz::model {

std::span<const ArchSpec* const> all_archs() {
    static const std::array<const ArchSpec*, 8> kAll = {
        &archs::llama(), &archs::mistral(), &archs::qwen2(), &archs::qwen3(),
        &archs::phi2(),  &archs::phi3(),    &archs::gemma(), &archs::gpt2(),
    };
    return kAll;
}

const ArchSpec& arch_spec(Arch a) {
    for (const ArchSpec* s : all_archs())
        if (s->arch == a) return *s;
    RZ_ASSERT(false, "architecture missing from the registry");
    return archs::llama();
}

const ArchSpec* find_arch_by_name(std::string_view name) {
    for (const ArchSpec* s : all_archs())
        if (s->name == name) return s;
    return nullptr;
}

const ArchSpec* find_arch_by_hf(std::string_view model_type, std::span<const std::string> architectures) {
    for (const ArchSpec* s : all_archs()) {
        if (!model_type.empty() &&
            std::find(s->hf_model_types.begin(), s->hf_model_types.end(), model_type) != s->hf_model_types.end())
            return s;
    }
    for (const std::string& a : architectures)
        for (const ArchSpec* s : all_archs())
            if (std::find(s->hf_architectures.begin(), s->hf_architectures.end(), a) != s->hf_architectures.end())
                return s;
    return nullptr;
}

std::string_view rope_type_name(RopeType t) {
    switch (t) {
        case RopeType::kNone: return "none";
        case RopeType::kNorm: return "norm";
        case RopeType::kNeox: return "neox";
    }
    return "?";
}

std::string_view activation_name(Activation a) {
    switch (a) {
        case Activation::kSilu: return "silu";
        case Activation::kGeluTanh: return "gelu_tanh";
        case Activation::kGeluErf: return "gelu";
        case Activation::kRelu: return "relu";
    }
    return "?";
}

std::optional<Activation> activation_from_hf(std::string_view s) {
    if (s == "silu" || s == "swish") return Activation::kSilu;
    if (s == "gelu_new" || s == "gelu_pytorch_tanh" || s == "gelu_fast" || s == "gelu_tanh") return Activation::kGeluTanh;
    if (s == "gelu") return Activation::kGeluErf;
    if (s == "relu") return Activation::kRelu;
    return std::nullopt;
}

std::string_view role_name(Role r) {
    static constexpr std::array<std::string_view, kRoleCount> kNames = {
        "token_embd", "position_embd", "output_norm", "output_norm.bias", "output", "output.bias", "rope_freqs",
        "attn_norm", "attn_norm.bias", "attn_q", "attn_q.bias", "attn_k", "attn_k.bias", "attn_v", "attn_v.bias",
        "attn_qkv", "attn_qkv.bias", "attn_output", "attn_output.bias", "attn_q_norm", "attn_k_norm",
        "ffn_norm", "ffn_norm.bias", "ffn_gate", "ffn_up", "ffn_up.bias", "ffn_gate_up", "ffn_down", "ffn_down.bias",
    };
    const auto i = static_cast<size_t>(r);
    return i < kNames.size() ? kNames[i] : "?";
}

}  // namespace rz::model
