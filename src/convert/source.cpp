// Any input model as one canonical form: llama.cpp's GGUF layout (tensor names, {arch}.* keys, NORM q/k pairs)
// plus tokenizer.ggml.* keys. Every output path starts from this form, so GGUF, APR and SafeTensors outputs
// agree with each other whatever the input was.
#include <cmath>
#include <string>
#include <set>

#include <fmt/format.h>

#include "convert/vocab_meta.h"
#include "realizar/convert/convert.h"
#include "realizar/model/gguf_layout.h"
#include "realizar/model/hparams.h"
#include "realizar/model/weights.h"

namespace rz::convert {

using formats::MetaType;
using formats::MetaValue;
using formats::ModelFile;

namespace {

bool is_tokenizer_key(const std::string& k) { return k.rfind("tokenizer.", 0) == 0; }

// general.* descriptive strings of the source (name, license, ...) that a converted file should keep.
void keep_general_strings(const ModelFile& src, ModelFile& out) {
    for (const auto& [k, v] : src.metadata) {
        if (k.rfind("general.", 0) != 0 || k == "general.architecture" || k == "general.alignment") continue;
        if (v.type != MetaType::kString || out.find_meta(k)) continue;
        out.metadata.emplace_back(k, v);
    }
}

}  // namespace

Result<ModelFile> open_as_gguf_layout(const std::string& input, const std::string& tokenizer_path) {
    RZ_ASSIGN_OR_RETURN(ModelFile src, formats::open_model_file(input));
    ModelFile out;
    if (src.format == formats::Format::kGguf) {
        out = src;  // already llama.cpp's layout: keep every key and tensor exactly
    } else if (src.format == formats::Format::kLlama2c) {
        out = src;  // the reader presents llama2.c checkpoints in GGUF layout (NORM pairs, llama.* keys)
        out.format = formats::Format::kGguf;
        out.version = 3;
    } else {
        RZ_ASSIGN_OR_RETURN(out, model::to_gguf_layout(src));
        keep_general_strings(src, out);
    }
    const bool has_vocab = out.find_meta("tokenizer.ggml.tokens") != nullptr;
    if (!has_vocab || !tokenizer_path.empty()) {
        RZ_ASSIGN_OR_RETURN(auto vocab, detail::find_vocab(src, tokenizer_path));
        if (vocab) {
            if (auto n = out.meta_int(out.meta_string("general.architecture").value_or("llama") + ".vocab_size");
                n && *n != vocab->n_tokens()) {
                if (*n < vocab->n_tokens())
                    return invalid_argument(fmt::format("{}: the tokenizer has {} tokens but the model's vocab_size is {}",
                                                        tokenizer_path.empty() ? input : tokenizer_path, vocab->n_tokens(), *n));
                // Embedding matrices padded past the tokenizer (Qwen, Phi-2): llama.cpp's converter fills the
                // rows with unused "[PAD{id}]" tokens.
                for (int64_t id = vocab->n_tokens(); id < *n; ++id) {
                    vocab->text.push_back(fmt::format("[PAD{}]", id));
                    if (!vocab->scores.empty()) vocab->scores.push_back(0.0f);
                    if (!vocab->attrs.empty()) vocab->attrs.push_back(tokenizer::detail::kAttrUnused);
                }
            }
            std::vector<std::pair<std::string, MetaValue>> kept;
            for (auto& kv : out.metadata)
                if (!is_tokenizer_key(kv.first)) kept.push_back(std::move(kv));
            out.metadata = std::move(kept);
            for (auto& kv : detail::vocab_gguf_keys(*vocab)) out.metadata.push_back(std::move(kv));
        }
    }
    out.path = input;
    out.build_index();
    return out;
}

Result<std::vector<std::pair<std::string, MetaValue>>> apr_metadata_from_gguf(const ModelFile& mf) {
    const model::ArchSpec* spec = nullptr;
    model::Naming naming{};
    RZ_ASSIGN_OR_RETURN(model::HParams hp, model::read_hparams(mf, spec, naming));
    std::vector<std::pair<std::string, MetaValue>> out;
    auto add = [&](std::string k, MetaValue v) { out.emplace_back(std::move(k), std::move(v)); };
    auto u = [](int64_t v) { return MetaValue::u64(static_cast<uint64_t>(v)); };
    // GGUF stores these as f32: write the shortest decimal of that f32 (1e-05, not 9.99999974e-06).
    auto f = [](double v) { return MetaValue::f64(std::stod(fmt::format("{}", static_cast<float>(v)))); };
    const std::string arch = mf.meta_string("general.architecture").value_or(std::string(spec->name));
    add("architecture", MetaValue::str(arch));
    add("model_type", MetaValue::str(arch));
    if (auto name = mf.meta_string("general.name")) add("name", MetaValue::str(*name));
    add("hidden_size", u(hp.n_embd));
    add("num_hidden_layers", u(hp.n_layer));
    add("num_attention_heads", u(hp.n_head));
    add("num_key_value_heads", u(hp.n_head_kv));
    add("head_dim", u(hp.head_dim));
    add("intermediate_size", u(hp.n_ff));
    add("max_position_embeddings", u(hp.n_ctx_train));
    add("vocab_size", u(hp.n_vocab));
    add(hp.norm == model::NormType::kRms ? "rms_norm_eps" : "layer_norm_eps", f(hp.norm_eps));
    if (hp.rope_type != model::RopeType::kNone) {
        add("rope_theta", f(hp.rope_theta));
        add("rope_type", u(hp.rope_type == model::RopeType::kNorm ? 0 : 2));
        if (hp.n_rot != hp.head_dim) add("partial_rotary_factor", MetaValue::f64(static_cast<double>(hp.n_rot) / hp.head_dim));
        if (hp.rope_scaling.kind == model::RopeScaling::Kind::kLinear) {
            add("rope_scaling.rope_type", MetaValue::str("linear"));
            add("rope_scaling.factor", MetaValue::f64(hp.rope_scaling.factor));
        }
    }
    if (hp.n_swa > 0) add("sliding_window", u(hp.n_swa));
    add("tie_word_embeddings", MetaValue::boolean(mf.find_tensor("output.weight") == nullptr));
    // general.* strings (provenance) travel unchanged.
    for (const auto& [k, v] : mf.metadata)
        if (k.rfind("general.", 0) == 0 && k != "general.alignment" && v.type == MetaType::kString) add(k, v);

    // Embedded vocabulary under APR's keys; the tokenizer.ggml.* flags APR has no name for keep theirs.
    static const std::set<std::string> kRenamed = {
        "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
        "tokenizer.ggml.model", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.chat_template"};
    if (const MetaValue* toks = mf.find_meta("tokenizer.ggml.tokens")) {
        add("tokenizer.vocabulary", *toks);
        if (const auto* a = toks->as_array()) add("tokenizer.vocab_size", u(static_cast<int64_t>(a->items.size())));
        if (const MetaValue* m = mf.find_meta("tokenizer.ggml.model")) add("tokenizer.model", *m);
        if (const MetaValue* m = mf.find_meta("tokenizer.ggml.scores")) add("tokenizer.scores", *m);
        if (const MetaValue* m = mf.find_meta("tokenizer.ggml.token_type")) add("tokenizer.token_type", *m);
        if (const MetaValue* m = mf.find_meta("tokenizer.ggml.merges")) add("tokenizer.merges", *m);
        if (auto x = mf.meta_int("tokenizer.ggml.bos_token_id")) add("tokenizer.bos_token_id", u(*x));
        if (auto x = mf.meta_int("tokenizer.ggml.eos_token_id")) add("tokenizer.eos_token_id", u(*x));
        if (auto x = mf.meta_int("tokenizer.ggml.unknown_token_id")) add("tokenizer.unk_token_id", u(*x));
        if (auto x = mf.meta_int("tokenizer.ggml.padding_token_id")) add("tokenizer.pad_token_id", u(*x));
        if (auto t = mf.meta_string("tokenizer.chat_template")) add("chat_template", MetaValue::str(*t));
        for (const auto& [k, v] : mf.metadata)
            if (k.rfind("tokenizer.ggml.", 0) == 0 && !kRenamed.count(k) && !v.as_array()) add(k, v);
    }
    return out;
}

}  // namespace rz::convert
