// Hyper-parameters from every metadata source (GGUF keys, config.json, APR aliases) into one HParams.
#include "realizar/model/hparams.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "model/config_view.h"
#include "realizar/core/fp16.h"
#include "realizar/core/mapped_file.h"
#include "realizar/model/weights.h"

namespace rz::model {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 20;     // n_embd, n_ff, head_dim
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxCtx = int64_t{1} << 24;

Status check_range(std::string_view what, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) return invalid_argument(fmt::format("hyper-parameter {} = {} is out of range [{}, {}]", what, v, lo, hi));
    return Status::Ok();
}

std::string supported_archs() {
    std::string s;
    for (const ArchSpec* a : all_archs()) s += (s.empty() ? "" : ", ") + std::string(a->name);
    return s;
}

Status set_int(int& dst, std::optional<int64_t> v, std::string_view what, int64_t hi) {
    if (!v) return Status::Ok();
    RZ_RETURN_IF_ERROR(check_range(what, *v, 0, hi));
    dst = static_cast<int>(*v);
    return Status::Ok();
}

// config.json / APR style keys (with the aliases APR.md lists).
Status read_hf_style(const ConfigView& c, const ArchSpec& spec, HParams& hp) {
    RZ_RETURN_IF_ERROR(set_int(hp.n_embd, c.int_of({"hidden_size", "n_embd", "d_model", "hidden_dim"}), "n_embd", kMaxDim));
    RZ_RETURN_IF_ERROR(set_int(hp.n_layer, c.int_of({"num_hidden_layers", "n_layer", "num_layers"}), "n_layer", kMaxLayers));
    RZ_RETURN_IF_ERROR(set_int(hp.n_head, c.int_of({"num_attention_heads", "n_head", "num_heads"}), "n_head", kMaxHeads));
    RZ_RETURN_IF_ERROR(set_int(hp.n_head_kv, c.int_of({"num_key_value_heads", "num_kv_heads", "n_head_kv"}), "n_head_kv", kMaxHeads));
    RZ_RETURN_IF_ERROR(set_int(hp.n_ff, c.int_of({"intermediate_size", "n_inner", "intermediate_dim", "ffn_dim"}), "n_ff", kMaxDim));
    RZ_RETURN_IF_ERROR(set_int(hp.n_ctx_train, c.int_of({"max_position_embeddings", "n_positions", "context_length", "max_seq_len"}), "n_ctx_train", kMaxCtx));
    RZ_RETURN_IF_ERROR(set_int(hp.n_vocab, c.int_of({"vocab_size"}), "n_vocab", kMaxVocab));
    RZ_RETURN_IF_ERROR(set_int(hp.head_dim, c.int_of({"head_dim"}), "head_dim", kMaxDim));
    if (hp.n_head_kv == 0) hp.n_head_kv = hp.n_head;
    if (hp.head_dim == 0 && hp.n_head > 0) hp.head_dim = hp.n_embd / hp.n_head;
    if (auto eps = c.float_of({"rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "eps", "norm_eps"})) hp.norm_eps = static_cast<float>(*eps);
    hp.rope_theta = c.float_of({"rope_parameters.rope_theta", "rope_theta", "rope_scaling.rope_theta"}).value_or(10000.0);
    const double partial = c.float_of({"rope_parameters.partial_rotary_factor", "partial_rotary_factor"}).value_or(1.0);
    if (!(partial > 0.0 && partial <= 1.0)) return invalid_argument(fmt::format("partial_rotary_factor {} in {} is not in (0, 1]", partial, c.source()));
    hp.n_rot = static_cast<int>(hp.head_dim * partial);

    auto type = c.string_of({"rope_parameters.rope_type", "rope_scaling.rope_type", "rope_scaling.type"});
    if (type && *type != "default") {
        auto factor = c.float_of({"rope_parameters.factor", "rope_scaling.factor"});
        if (!factor || !(*factor > 0.0)) return invalid_argument(fmt::format("rope scaling '{}' without a positive factor in {}", *type, c.source()));
        hp.rope_scaling.factor = *factor;
        if (*type == "linear") {
            hp.rope_scaling.kind = RopeScaling::Kind::kLinear;
        } else if (*type == "llama3") {
            hp.rope_scaling.kind = RopeScaling::Kind::kLlama3;
            hp.rope_scaling.low_freq_factor = c.float_of({"rope_parameters.low_freq_factor", "rope_scaling.low_freq_factor"}).value_or(1.0);
            hp.rope_scaling.high_freq_factor = c.float_of({"rope_parameters.high_freq_factor", "rope_scaling.high_freq_factor"}).value_or(4.0);
            hp.rope_scaling.orig_ctx = c.int_of({"rope_parameters.original_max_position_embeddings", "rope_scaling.original_max_position_embeddings"}).value_or(8192);
            if (!(hp.rope_scaling.high_freq_factor > hp.rope_scaling.low_freq_factor) || hp.rope_scaling.orig_ctx <= 0)
                return invalid_argument(fmt::format("llama3 rope scaling in {} needs high_freq_factor > low_freq_factor and original_max_position_embeddings > 0", c.source()));
        } else {
            return unsupported(fmt::format("rope scaling type '{}' in {} is not supported (default, linear, llama3)", *type, c.source()));
        }
    }
    hp.act = spec.act;
    if (auto a = c.string_of({"hidden_act", "activation_function", "activation"})) {
        auto act = activation_from_hf(*a);
        if (!act) return unsupported(fmt::format("activation '{}' in {} is not supported", *a, c.source()));
        hp.act = *act;
    }
    if (auto dt = c.string_of({"dtype", "torch_dtype"})) {
        if (*dt == "bfloat16") hp.rope_freq_dtype = DType::BF16;
        else if (*dt == "float16") hp.rope_freq_dtype = DType::F16;
    }
    const bool swa_on = c.int_of({"use_sliding_window"}).value_or(1) != 0;
    if (swa_on) RZ_RETURN_IF_ERROR(set_int(hp.n_swa, c.int_of({"sliding_window"}), "sliding_window", kMaxCtx));
    hp.tied_output = c.int_of({"tie_word_embeddings"}).value_or(0) != 0;
    hp.bos_token = static_cast<int32_t>(c.int_of({"bos_token_id", "tokenizer.bos_token_id"}).value_or(-1));
    hp.eos_token = static_cast<int32_t>(c.int_of({"eos_token_id", "tokenizer.eos_token_id"}).value_or(-1));
    return Status::Ok();
}

// GGUF ({arch}.* keys, llama.cpp spelling); llama2.c headers are presented the same way by the reader.
Status read_gguf_style(const ConfigView& c, const formats::ModelFile& f, const ArchSpec& spec, HParams& hp) {
    auto need = [&](std::string_view key, int& dst, int64_t hi) -> Status {
        auto v = c.get_int(key);
        if (!v) return not_found(fmt::format("{}: missing metadata key '{}{}'", f.path, spec.name, key));
        return set_int(dst, v, key.substr(1), hi);
    };
    RZ_RETURN_IF_ERROR(need(".embedding_length", hp.n_embd, kMaxDim));
    RZ_RETURN_IF_ERROR(need(".block_count", hp.n_layer, kMaxLayers));
    RZ_RETURN_IF_ERROR(need(".attention.head_count", hp.n_head, kMaxHeads));
    RZ_RETURN_IF_ERROR(set_int(hp.n_head_kv, c.get_int(".attention.head_count_kv"), "n_head_kv", kMaxHeads));
    RZ_RETURN_IF_ERROR(set_int(hp.n_ff, c.get_int(".feed_forward_length"), "n_ff", kMaxDim));
    RZ_RETURN_IF_ERROR(set_int(hp.n_ctx_train, c.get_int(".context_length"), "n_ctx_train", kMaxCtx));
    RZ_RETURN_IF_ERROR(set_int(hp.n_vocab, c.get_int(".vocab_size"), "n_vocab", kMaxVocab));
    if (hp.n_vocab == 0) {
        if (const auto* tv = f.find_meta("tokenizer.ggml.tokens"); tv && tv->as_array())
            RZ_RETURN_IF_ERROR(set_int(hp.n_vocab, static_cast<int64_t>(tv->as_array()->items.size()), "n_vocab", kMaxVocab));
    }
    RZ_RETURN_IF_ERROR(set_int(hp.head_dim, c.get_int(".attention.key_length"), "head_dim", kMaxDim));
    if (hp.n_head_kv == 0) hp.n_head_kv = hp.n_head;
    if (hp.head_dim == 0 && hp.n_head > 0) hp.head_dim = hp.n_embd / hp.n_head;
    const char* eps_key = spec.norm == NormType::kRms ? ".attention.layer_norm_rms_epsilon" : ".attention.layer_norm_epsilon";
    if (auto eps = c.get_float(eps_key)) hp.norm_eps = static_cast<float>(*eps);
    hp.rope_theta = c.get_float(".rope.freq_base").value_or(10000.0);
    hp.n_rot = hp.head_dim;
    RZ_RETURN_IF_ERROR(set_int(hp.n_rot, c.get_int(".rope.dimension_count"), "n_rot", kMaxDim));
    auto stype = c.get_string(".rope.scaling.type");
    if (stype && *stype != "none") {
        if (*stype != "linear") return unsupported(fmt::format("{}: rope scaling type '{}' is not supported (none, linear)", f.path, *stype));
        auto factor = c.get_float(".rope.scaling.factor");
        if (!factor || !(*factor > 0.0)) return invalid_argument(fmt::format("{}: rope scaling without a positive factor", f.path));
        hp.rope_scaling.kind = RopeScaling::Kind::kLinear;
        hp.rope_scaling.factor = *factor;
    } else if (auto lin = c.get_float(".rope.scale_linear"); lin && *lin != 1.0) {
        if (!(*lin > 0.0)) return invalid_argument(fmt::format("{}: rope.scale_linear must be positive", f.path));
        hp.rope_scaling.kind = RopeScaling::Kind::kLinear;
        hp.rope_scaling.factor = *lin;
    }
    RZ_RETURN_IF_ERROR(set_int(hp.n_swa, c.get_int(".attention.sliding_window"), "sliding_window", kMaxCtx));
    hp.act = spec.act;
    hp.bos_token = static_cast<int32_t>(c.get_int("tokenizer.ggml.bos_token_id").value_or(-1));
    hp.eos_token = static_cast<int32_t>(c.get_int("tokenizer.ggml.eos_token_id").value_or(-1));
    return Status::Ok();
}

Result<nlohmann::json> hf_config(const formats::ModelFile& f) {
    std::string text;
    if (auto s = f.meta_string("hf.config_json")) {  // the HF folder reader keeps config.json's text here
        text = *s;
    } else if (auto s2 = f.meta_string("config.json")) {
        text = *s2;
    } else {
        // A lone .safetensors file: look for config.json beside it.
        std::filesystem::path p(f.path);
        std::filesystem::path cfg = std::filesystem::is_directory(p) ? p / "config.json" : p.parent_path() / "config.json";
        auto r = read_file(cfg.string(), size_t{16} << 20);
        if (!r.ok()) return not_found(fmt::format("{}: no config.json (needed for a SafeTensors model's hyper-parameters)", f.path));
        text = std::move(*r);
    }
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return corrupt(fmt::format("{}: config.json is not a JSON object", f.path));
    return j;
}

}  // namespace

float HParams::softmax_scale() const {
    return attn_scale > 0.0f ? attn_scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
}

Status HParams::validate() const {
    RZ_RETURN_IF_ERROR(check_range("n_embd", n_embd, 1, kMaxDim));
    RZ_RETURN_IF_ERROR(check_range("n_layer", n_layer, 1, kMaxLayers));
    RZ_RETURN_IF_ERROR(check_range("n_head", n_head, 1, kMaxHeads));
    RZ_RETURN_IF_ERROR(check_range("n_head_kv", n_head_kv, 1, n_head));
    if (n_head % n_head_kv != 0) return invalid_argument(fmt::format("hyper-parameters: n_head {} is not a multiple of n_head_kv {}", n_head, n_head_kv));
    RZ_RETURN_IF_ERROR(check_range("head_dim", head_dim, 1, kMaxDim));
    RZ_RETURN_IF_ERROR(check_range("n_ff", n_ff, 1, kMaxDim));
    RZ_RETURN_IF_ERROR(check_range("n_vocab", n_vocab, 1, kMaxVocab));
    RZ_RETURN_IF_ERROR(check_range("n_ctx_train", n_ctx_train, 1, kMaxCtx));
    if (rope_type != RopeType::kNone) {
        RZ_RETURN_IF_ERROR(check_range("n_rot", n_rot, 2, head_dim));
        if (n_rot % 2 != 0) return invalid_argument(fmt::format("hyper-parameters: n_rot {} is odd", n_rot));
        if (!(rope_theta > 0.0) || !std::isfinite(rope_theta)) return invalid_argument(fmt::format("hyper-parameters: rope_theta {} is not positive", rope_theta));
    }
    if (!(norm_eps > 0.0f) || !std::isfinite(norm_eps)) return invalid_argument(fmt::format("hyper-parameters: norm eps {} is not positive", norm_eps));
    return Status::Ok();
}

std::string HParams::describe() const {
    return fmt::format("{}: n_vocab {} n_ctx_train {} n_embd {} n_layer {} n_head {} n_head_kv {} head_dim {} n_ff {} rope {} n_rot {} theta {} eps {} act {}",
                       arch_spec(arch).name, n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff,
                       rope_type_name(rope_type), n_rot, rope_theta, norm_eps, activation_name(act));
}

std::vector<double> rope_inv_freq(const HParams& hp, const float* rope_freqs, int64_t n_rope_freqs) {
    const int n = hp.n_rot / 2;
    std::vector<double> inv(static_cast<size_t>(n));
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    for (int i = 0; i < n; ++i) {
        double f = std::pow(hp.rope_theta, -2.0 * i / hp.n_rot);
        if (rope_freqs && i < n_rope_freqs) {
            f /= rope_freqs[i];
        } else if (hp.rope_scaling.kind == RopeScaling::Kind::kLinear) {
            f /= hp.rope_scaling.factor;
        } else if (hp.rope_scaling.kind == RopeScaling::Kind::kLlama3) {
            // transformers' _compute_llama3_parameters: keep high frequencies, divide low ones by factor,
            // interpolate smoothly in between.
            const RopeScaling& s = hp.rope_scaling;
            const double old_ctx = static_cast<double>(s.orig_ctx);
            const double low_wavelen = old_ctx / s.low_freq_factor;
            const double high_wavelen = old_ctx / s.high_freq_factor;
            const double wavelen = kTwoPi / f;
            if (wavelen > low_wavelen) {
                f /= s.factor;
            } else if (wavelen >= high_wavelen) {
                const double smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                f = (1.0 - smooth) * f / s.factor + smooth * f;
            }
        }
        if (hp.rope_freq_dtype == DType::BF16) f = bf16_to_fp32(fp32_to_bf16(static_cast<float>(f)));
        else if (hp.rope_freq_dtype == DType::F16) f = fp16_to_fp32(fp32_to_fp16(static_cast<float>(f)));
        inv[static_cast<size_t>(i)] = f;
    }
    return inv;
}

Result<HParams> read_hparams(const formats::ModelFile& f, const ArchSpec*& spec_out, Naming& naming_out) {
    HParams hp;
    const ArchSpec* spec = nullptr;
    std::optional<int64_t> apr_rope;
    if (f.format == formats::Format::kGguf || f.format == formats::Format::kLlama2c) {
        std::string arch = f.meta_string("general.architecture").value_or(f.format == formats::Format::kLlama2c ? "llama" : "");
        if (arch.empty()) return not_found(fmt::format("{}: missing metadata key 'general.architecture'", f.path));
        spec = find_arch_by_name(arch);
        if (!spec) return unsupported(fmt::format("{}: unknown architecture '{}' (supported: {})", f.path, arch, supported_archs()));
        MetaConfigView view(f, arch, true, "gguf metadata");
        RZ_RETURN_IF_ERROR(read_gguf_style(view, f, *spec, hp).with_context(f.path));
        naming_out = Naming::kGguf;
        hp.rope_type = spec->gguf_rope;
        hp.arch = spec->arch;
        if (spec->finish_hparams) RZ_RETURN_IF_ERROR(spec->finish_hparams(hp, view).with_context(f.path));
    } else if (f.format == formats::Format::kSafeTensors || f.format == formats::Format::kHfFolder) {
        RZ_ASSIGN_OR_RETURN(nlohmann::json cfg, hf_config(f));
        JsonConfigView view(cfg, "config.json");
        std::vector<std::string> archs;
        if (auto it = cfg.find("architectures"); it != cfg.end() && it->is_array())
            for (const auto& a : *it)
                if (a.is_string()) archs.push_back(a.get<std::string>());
        const std::string model_type = view.get_string("model_type").value_or("");
        spec = find_arch_by_hf(model_type, archs);
        if (!spec)
            return unsupported(fmt::format("{}: unknown architecture (config.json model_type '{}'{}; supported: {})", f.path, model_type,
                                           archs.empty() ? "" : ", architectures '" + archs[0] + "'", supported_archs()));
        RZ_RETURN_IF_ERROR(read_hf_style(view, *spec, hp).with_context(f.path));
        naming_out = Naming::kHf;
        hp.rope_type = RopeType::kNeox;  // every HF rotary model applies rotate_half
        hp.arch = spec->arch;
        if (spec->finish_hparams) RZ_RETURN_IF_ERROR(spec->finish_hparams(hp, view).with_context(f.path));
    } else {  // APR: its metadata JSON read like config.json (nested objects, arrays), with APR.md's aliases
        nlohmann::json apr_json = nlohmann::json::object();
        if (auto text = f.meta_string("apr.metadata_json")) {
            apr_json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
            if (apr_json.is_discarded() || !apr_json.is_object()) return corrupt(fmt::format("{}: APR metadata is not a JSON object", f.path));
        }
        MetaConfigView meta_view(f, "", false, "apr metadata");
        JsonConfigView json_view(apr_json, "apr metadata");
        const ConfigView& view = f.find_meta("apr.metadata_json") ? static_cast<const ConfigView&>(json_view) : meta_view;
        const std::string arch = view.string_of({"model_type", "architecture", "general.architecture"}).value_or("");
        spec = find_arch_by_name(arch);
        if (!spec) {
            const std::string archs[] = {arch};
            spec = find_arch_by_hf(arch, archs);
        }
        if (!spec) return unsupported(fmt::format("{}: unknown architecture '{}' (supported: {})", f.path, arch, supported_archs()));
        RZ_RETURN_IF_ERROR(read_hf_style(view, *spec, hp).with_context(f.path));
        naming_out = f.find_tensor("token_embd.weight") ? Naming::kGguf : Naming::kHf;
        hp.rope_type = naming_out == Naming::kGguf ? spec->gguf_rope : RopeType::kNeox;
        apr_rope = view.get_int("rope_type");
        if (apr_rope) {
            if (*apr_rope == 0) hp.rope_type = RopeType::kNorm;
            else if (*apr_rope == 2) hp.rope_type = RopeType::kNeox;
            else return invalid_argument(fmt::format("{}: rope_type {} (expected 0 = NORM or 2 = NEOX)", f.path, *apr_rope));
        }
        hp.arch = spec->arch;
        if (spec->finish_hparams) RZ_RETURN_IF_ERROR(spec->finish_hparams(hp, view).with_context(f.path));
    }
    hp.norm = spec->norm;
    hp.ffn = spec->ffn;
    hp.parallel_block = spec->parallel_block;
    hp.learned_pos = spec->learned_pos;
    if (spec->embd_scale_sqrt) hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
    if (spec->gguf_rope == RopeType::kNone) hp.rope_type = RopeType::kNone;
    if (hp.rope_type == RopeType::kNone) hp.n_rot = 0;
    spec_out = spec;
    return hp;
}

}  // namespace rz::model
