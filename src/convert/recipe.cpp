// Which storage type each tensor gets: llama.cpp's llama-quantize rules (src/llama-quant.cpp,
// llama_tensor_get_type for dense models, no importance matrix), restated:
//  - only tensors of >= 2 dims whose name ends in "weight" and is not a norm are converted; others keep
//    their type (1-D tensors stay F32);
//  - output.weight (or token_embd.weight when the output is tied to it) gets Q6_K, or Q8_0 when the ftype
//    is Q8_0 or its row length is not a multiple of the ftype's block;
//  - _M / _S mixes give attn_v, ffn_down and attn_output more bits in some layers (use_more_bits: the
//    first and last eighth of the layers and every third layer in between);
//  - Q3_K_L gives attn_v, ffn_down and attn_output Q5_K and a fused q|k|v Q4_K; Q2_K_S gives attn_v Q4_K where 4 or
//    more query heads share a KV head and the first eighth of the layers' ffn_down Q4_K;
//  - IQ4_XS / IQ4_NL give attn_v Q5_K where 4 or more query heads share a KV head, and the first eighth of the
//    layers' ffn_down Q5_K (llama.cpp: without an importance matrix);
//  - a row length the chosen type's block does not divide falls back to a 32-block type
//    (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, IQ4_XS -> IQ4_NL), and to F16 when 32 does not
//    divide it.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include <fmt/format.h>

#include "realizar/convert/convert.h"

namespace rz::convert {

namespace {

enum class Mix { kNone, kQ2K, kQ2KS, kQ3KM, kQ3KL, kQ4KS, kQ4KM, kQ5KM, kQ6K, kIQ4 };

struct FtypeInfo {
    const char* name;
    DType base;
    Mix mix;
};

constexpr FtypeInfo kFtypes[] = {
    {"f32", DType::F32, Mix::kNone},     {"f16", DType::F16, Mix::kNone},     {"bf16", DType::BF16, Mix::kNone},
    {"q8_0", DType::Q8_0, Mix::kNone},   {"q4_0", DType::Q4_0, Mix::kNone},   {"q4_1", DType::Q4_1, Mix::kNone},
    {"q5_0", DType::Q5_0, Mix::kNone},   {"q5_1", DType::Q5_1, Mix::kNone},   {"q2_k", DType::Q2_K, Mix::kQ2K},
    {"q3_k_m", DType::Q3_K, Mix::kQ3KM}, {"q3_k", DType::Q3_K, Mix::kQ3KM},   {"q4_k_s", DType::Q4_K, Mix::kQ4KS},
    {"q4_k_m", DType::Q4_K, Mix::kQ4KM}, {"q4_k", DType::Q4_K, Mix::kQ4KM},   {"q5_k_m", DType::Q5_K, Mix::kQ5KM},
    {"q5_k", DType::Q5_K, Mix::kQ5KM},   {"q6_k", DType::Q6_K, Mix::kQ6K},   {"iq4_xs", DType::IQ4_XS, Mix::kIQ4},
    {"iq4_nl", DType::IQ4_NL, Mix::kIQ4},
    // The other _S / _L mixes of llama-quantize (Q3_K_S and Q5_K_S change nothing but the output head).
    {"q2_k_s", DType::Q2_K, Mix::kQ2KS}, {"q3_k_s", DType::Q3_K, Mix::kNone},  {"q3_k_l", DType::Q3_K, Mix::kQ3KL},
    {"q5_k_s", DType::Q5_K, Mix::kNone},
};

Result<FtypeInfo> find_ftype(const std::string& s) {
    std::string l = s;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const FtypeInfo& f : kFtypes)
        if (l == f.name) return f;
    return invalid_argument(fmt::format(
        "--type '{}' is not supported (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q2_k_s, q3_k_s, q3_k_m, q3_k_l, q4_k_s, "
        "q4_k_m, q5_k_s, q5_k_m, q6_k, iq4_xs, iq4_nl)",
        s));
}

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

bool ends_with(const std::string& s, const char* suffix) {
    const std::string x(suffix);
    return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

bool allows_conversion(const std::string& name, size_t n_dims) {
    if (n_dims < 2 || !ends_with(name, "weight")) return false;
    if (name.find("_norm.weight") != std::string::npos) return false;
    if (name.find("ffn_gate_inp.weight") != std::string::npos) return false;
    return true;
}

uint32_t block_of(DType t) {
    const DTypeInfo* i = dtype_info(t);
    return i ? i->block_size : 1;
}

}  // namespace

DType fallback_type(DType t, int64_t row_len) {
    if (row_len % block_of(t) == 0) return t;
    DType f = DType::F16;
    switch (t) {
        case DType::Q2_K:
        case DType::Q3_K: f = DType::Q4_0; break;
        case DType::Q4_K: f = DType::Q5_0; break;
        case DType::Q5_K: f = DType::Q5_1; break;
        case DType::Q6_K: f = DType::Q8_0; break;
        case DType::IQ4_XS: f = DType::IQ4_NL; break;
        default: f = DType::F16; break;
    }
    if (row_len % block_of(f) != 0) f = DType::F16;
    return f;
}

Result<DType> mix_tensor_type(const std::string& ftype, const std::string& name, int layer, int n_layer, int n_gqa, bool tied,
                              bool pure) {
    RZ_ASSIGN_OR_RETURN(FtypeInfo f, find_ftype(ftype));
    const DType base = f.base;
    if (pure || (f.mix == Mix::kNone && !dtype_info(base)->is_quantized)) return base;
    const bool is_output = name == "output.weight" || (tied && name == "token_embd.weight");
    if (is_output) return base == DType::Q8_0 ? DType::Q8_0 : DType::Q6_K;  // row fallback applied by the caller
    auto has = [&](const char* part) { return name.find(part) != std::string::npos; };
    const int i = layer, n = n_layer;
    if (has(".attn_qkv.")) {  // llama.cpp's rule for a fused q|k|v (phi2, ...), not attn_v's
        switch (f.mix) {
            case Mix::kQ3KM:
            case Mix::kQ3KL: return DType::Q4_K;
            case Mix::kQ4KM: return DType::Q5_K;
            case Mix::kQ5KM: return DType::Q6_K;
            default: return base;
        }
    }
    if (has(".attn_v.")) {
        switch (f.mix) {
            case Mix::kQ2K: return n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
            case Mix::kQ2KS: return n_gqa >= 4 ? DType::Q4_K : base;
            case Mix::kQ3KM: return i < 2 ? DType::Q5_K : DType::Q4_K;
            case Mix::kQ3KL: return DType::Q5_K;
            case Mix::kQ4KM:
            case Mix::kQ5KM: return use_more_bits(i, n) ? DType::Q6_K : base;
            case Mix::kQ4KS: return i < 4 ? DType::Q5_K : base;
            case Mix::kIQ4: return n_gqa >= 4 ? DType::Q5_K : base;
            default: return base;
        }
    }
    if (has(".ffn_down.")) {
        switch (f.mix) {
            case Mix::kQ2K: return DType::Q3_K;
            case Mix::kQ2KS: return i < n / 8 ? DType::Q4_K : base;
            case Mix::kQ3KM: return i < n / 16 ? DType::Q5_K : DType::Q4_K;
            case Mix::kQ3KL: return DType::Q5_K;
            case Mix::kQ4KM:
            case Mix::kQ5KM: return use_more_bits(i, n) ? DType::Q6_K : base;
            case Mix::kQ4KS:
            case Mix::kIQ4: return i < n / 8 ? DType::Q5_K : base;
            default: return base;
        }
    }
    if (has(".attn_output.")) {
        if (f.mix == Mix::kQ2K) return DType::Q3_K;
        if (f.mix == Mix::kQ3KM) return DType::Q4_K;
        if (f.mix == Mix::kQ3KL) return DType::Q5_K;
    }
    return base;
}

Result<std::vector<PlannedTensor>> plan_types(const formats::ModelFile& mf, const std::string& type, bool pure) {
    std::vector<PlannedTensor> plan;
    const std::string arch = mf.meta_string("general.architecture").value_or("llama");
    const int n_layer = static_cast<int>(mf.meta_int(arch + ".block_count").value_or(0));
    const int64_t n_head = mf.meta_int(arch + ".attention.head_count").value_or(1);
    const int64_t n_head_kv = mf.meta_int(arch + ".attention.head_count_kv").value_or(n_head);
    const int n_gqa = n_head_kv > 0 ? static_cast<int>(n_head / n_head_kv) : 1;
    const bool tied = mf.find_tensor("output.weight") == nullptr;
    std::optional<FtypeInfo> ft;
    if (!type.empty()) {
        RZ_ASSIGN_OR_RETURN(FtypeInfo f, find_ftype(type));
        ft = f;
    }
    for (const formats::TensorInfo& t : mf.tensors) {
        PlannedTensor p;
        p.name = t.name;
        p.shape = t.shape;
        p.src_type = t.dtype;
        p.dst_type = t.dtype;
        const int64_t row = t.shape.empty() ? 1 : t.shape.back();
        if (static_cast<uint32_t>(t.dtype) >= 128) p.dst_type = DType::F32;  // APR-native blocks: no GGUF id
        if (ft && allows_conversion(t.name, t.shape.size())) {
            int layer = -1;
            if (std::sscanf(t.name.c_str(), "blk.%d.", &layer) != 1) layer = -1;
            RZ_ASSIGN_OR_RETURN(DType want, mix_tensor_type(type, t.name, layer, n_layer, n_gqa, tied, pure));
            p.dst_type = fallback_type(want, row);
            if (p.dst_type != want)
                p.fallback = fmt::format("row length {} is not a multiple of {}'s block of {}: {} instead", row, dtype_name(want),
                                         block_of(want), dtype_name(p.dst_type));
        }
        plan.push_back(std::move(p));
    }
    return plan;
}

}  // namespace rz::convert
