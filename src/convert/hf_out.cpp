// GGUF layout -> Hugging Face folder: config.json, model.safetensors (HF tensor names, q/k rows back in
// rotate_half order, Conv1D matrices transposed back, Gemma norms back to w), tokenizer files.
#include "convert/hf_out.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "convert/stream.h"
#include "convert/tokenizer_out.h"
#include "realizar/core/mapped_file.h"
#include "realizar/formats/safetensors.h"
#include "realizar/model/hparams.h"
#include "realizar/model/weights.h"

namespace rz::convert::detail {

namespace fs = std::filesystem;
using formats::ModelFile;

namespace {

// HF name for a GGUF tensor name through the architecture table ("" when the table has none).
std::string hf_name_of(const model::ArchSpec& spec, const std::string& gguf, model::Role* role) {
    int layer = -1;
    for (const model::TensorName& row : spec.tensors) {
        if (!row.gguf || !row.hf) continue;
        std::string pat = row.gguf;
        const size_t at = pat.find("%d");
        std::string cand = pat;
        if (at != std::string::npos) {
            if (gguf.compare(0, at, pat, 0, at) != 0) continue;
            size_t end = at;
            while (end < gguf.size() && std::isdigit(static_cast<unsigned char>(gguf[end]))) ++end;
            if (end == at) continue;
            layer = std::stoi(gguf.substr(at, end - at));
            cand = pat.substr(0, at) + std::to_string(layer) + pat.substr(at + 2);
        }
        if (cand != gguf) continue;
        std::string hf = row.hf;
        if (const size_t bar = hf.find('|'); bar != std::string::npos) hf.resize(bar);  // first spelling
        if (const size_t d = hf.find("%d"); d != std::string::npos) hf.replace(d, 2, std::to_string(layer));
        *role = row.role;
        return hf;
    }
    return "";
}

// config.json for a model that did not come from one.
nlohmann::json make_config(const ModelFile& mf, const model::ArchSpec& spec, const model::HParams& hp) {
    nlohmann::json c;
    c["architectures"] = {spec.hf_architectures.empty() ? std::string(spec.name) : std::string(spec.hf_architectures[0])};
    c["model_type"] = spec.hf_model_types.empty() ? std::string(spec.name) : std::string(spec.hf_model_types[0]);
    c["hidden_size"] = hp.n_embd;
    c["num_hidden_layers"] = hp.n_layer;
    c["num_attention_heads"] = hp.n_head;
    c["num_key_value_heads"] = hp.n_head_kv;
    c["head_dim"] = hp.head_dim;
    c["intermediate_size"] = hp.n_ff;
    c["max_position_embeddings"] = hp.n_ctx_train;
    c["vocab_size"] = hp.n_vocab;
    c[hp.norm == model::NormType::kRms ? "rms_norm_eps" : "layer_norm_eps"] = hp.norm_eps;
    if (hp.rope_type != model::RopeType::kNone) {
        c["rope_theta"] = hp.rope_theta;
        if (hp.n_rot != hp.head_dim) c["partial_rotary_factor"] = static_cast<double>(hp.n_rot) / hp.head_dim;
        if (hp.rope_scaling.kind == model::RopeScaling::Kind::kLinear)
            c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", hp.rope_scaling.factor}};
    }
    if (hp.n_swa > 0) c["sliding_window"] = hp.n_swa;
    c["hidden_act"] = std::string(model::activation_name(hp.act)) == "silu" ? "silu" : "gelu_new";
    c["tie_word_embeddings"] = mf.find_tensor("output.weight") == nullptr;
    if (hp.bos_token >= 0) c["bos_token_id"] = hp.bos_token;
    if (hp.eos_token >= 0) c["eos_token_id"] = hp.eos_token;
    c["torch_dtype"] = "float32";
    return c;
}

Status write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return io_error(p.string() + ": cannot write");
    return Status::Ok();
}

}  // namespace

Status check_folder_output(const std::string& input, const std::string& output) {
    std::error_code ec;
    const fs::path dir(output);
    if (!fs::exists(dir, ec)) {  // a new folder in an existing one, as a file OUTPUT must be (no parents made up)
        const fs::path parent = dir.parent_path();
        if (!parent.empty() && !fs::is_directory(parent, ec))
            return not_found(fmt::format("{}: the folder {} does not exist", output, parent.string()));
        return Status::Ok();
    }
    if (!fs::is_directory(dir, ec))
        return invalid_argument(output + " exists and is not a folder (SafeTensors output is a Hugging Face folder)");
    if (!input.empty() && path_within(input, output))
        return invalid_argument(fmt::format("{} holds the INPUT ({}): write the folder somewhere else", output, input));
    // What write_hf_folder writes (model.safetensors, config.json, tokenizer_out.cpp's files).
    static const std::set<std::string> ours = {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model"};
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!it->is_regular_file(ec) || ours.count(name) == 0)
            return invalid_argument(fmt::format(
                "{} exists and holds '{}', which this conversion would not write; the folder is replaced whole, so give a new or "
                "empty folder (or remove it first)",
                output, name));
    }
    if (ec) return io_error(output + ": " + ec.message());
    return Status::Ok();
}

Status write_hf_folder(const ConvertOptions& o, const ModelFile& mf, const std::vector<PlannedTensor>& plan_in) {
    const model::ArchSpec* spec = nullptr;
    model::Naming naming{};
    RZ_ASSIGN_OR_RETURN(model::HParams hp, model::read_hparams(mf, spec, naming));
    if (mf.find_tensor("rope_freqs.weight"))
        return unsupported("Llama-3 rope_freqs cannot be expressed in a Hugging Face folder yet (convert to GGUF or APR)");
    for (const PlannedTensor& p : plan_in)
        if (dtype_info(p.dst_type)->is_quantized)
            return unsupported(fmt::format("SafeTensors output holds f32/f16/bf16 only ('{}' would be {})", p.name, dtype_name(p.dst_type)));
    const bool unpermute = spec->gguf_rope == model::RopeType::kNorm && hp.rope_type == model::RopeType::kNorm;

    // The folder is built under a temporary name and renamed at the end: a failed run leaves nothing.
    const fs::path final_dir(o.output);
    std::error_code ec;
    RZ_RETURN_IF_ERROR(check_folder_output(o.input, o.output));
    const fs::path tmp_dir = final_dir.string() + fmt::format(".rz-tmp-{}", ::getpid());
    fs::remove_all(tmp_dir, ec);
    if (!fs::create_directories(tmp_dir, ec) && ec) return io_error(tmp_dir.string() + ": " + ec.message());
    struct Cleanup {
        fs::path dir;
        bool keep = false;
        ~Cleanup() {
            std::error_code e;
            if (!keep) fs::remove_all(dir, e);
        }
    } cleanup{tmp_dir};

    std::vector<PlannedTensor> plan;
    std::vector<std::string> hf_names;
    std::map<std::string, model::Role> roles;
    std::set<std::string> transposed;
    for (const PlannedTensor& p : plan_in) {
        model::Role role{};
        std::string hf = hf_name_of(*spec, p.name, &role);
        if (hf.empty()) return unsupported(fmt::format("tensor '{}' has no Hugging Face name in the {} table", p.name, spec->name));
        PlannedTensor q = p;
        const bool transpose = spec->hf_conv1d && q.shape.size() == 2 && model::is_layer_role(role) &&
                               (role == model::Role::kAttnQkv || role == model::Role::kAttnOut || role == model::Role::kFfnUp ||
                                role == model::Role::kFfnDown);
        if (transpose) {
            transposed.insert(p.name);
            std::swap(q.shape[0], q.shape[1]);
        }
        roles[p.name] = role;
        hf_names.push_back(hf);
        plan.push_back(std::move(q));
    }

    formats::SafeTensorsWriter w((tmp_dir / "model.safetensors").string());
    w.add_metadata("format", "pt");
    for (size_t i = 0; i < plan.size(); ++i) w.add_tensor(hf_names[i], plan[i].dst_type, plan[i].shape);
    RZ_RETURN_IF_ERROR(w.begin());
    TensorStreamer s(o);
    s.set_transpose([&transposed](const formats::TensorInfo& t) { return transposed.count(t.name) > 0; });
    const int64_t hd = hp.head_dim, half = hd / 2;
    if (unpermute) {
        s.set_row_map([&roles, hd, half](const formats::TensorInfo& t, int64_t r) -> int64_t {
            const model::Role role = roles.at(t.name);
            if ((role != model::Role::kAttnQ && role != model::Role::kAttnK) || t.shape.size() != 2) return r;
            // HF row (h, p * half + i) <- NORM row (h, 2i + p)
            const int64_t h = r / hd, m = r % hd;
            const int64_t p = m / half, i = m % half;
            return h * hd + 2 * i + p;
        });
    }
    if (spec->hf_norm_plus_one) {
        s.set_transform([&roles](const formats::TensorInfo& t, int64_t, float* x, int64_t n) {
            const model::Role role = roles.at(t.name);
            if (role == model::Role::kAttnNorm || role == model::Role::kFfnNorm || role == model::Role::kOutputNorm)
                for (int64_t i = 0; i < n; ++i) x[i] -= 1.0f;
        });
    }
    RZ_RETURN_IF_ERROR(s.run(mf, plan, [&](std::span<const uint8_t> b) { return w.write(b); }));
    RZ_RETURN_IF_ERROR(w.finish());

    std::string config;
    if (auto src_cfg = mf.meta_string("hf.config_json")) config = *src_cfg;
    else config = make_config(mf, *spec, hp).dump(2) + "\n";
    RZ_RETURN_IF_ERROR(write_text(tmp_dir / "config.json", config));
    RZ_RETURN_IF_ERROR(write_tokenizer_files(mf, tmp_dir));

    // Replace the destination only now that everything is complete.
    if (fs::exists(final_dir, ec)) {
        const fs::path old = final_dir.string() + fmt::format(".rz-old-{}", ::getpid());
        fs::rename(final_dir, old, ec);
        if (ec) return io_error(o.output + ": cannot replace: " + ec.message());
        fs::rename(tmp_dir, final_dir, ec);
        if (ec) {
            std::error_code e2;
            fs::rename(old, final_dir, e2);
            return io_error(o.output + ": " + ec.message());
        }
        fs::remove_all(old, ec);
    } else {
        fs::rename(tmp_dir, final_dir, ec);
        if (ec) return io_error(o.output + ": " + ec.message());
    }
    cleanup.keep = true;
    return Status::Ok();
}

}  // namespace rz::convert::detail
