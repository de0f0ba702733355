#include "runtime/model_impl.h"

#include <filesystem>

#include "realizar/core/log.h"

namespace rz::runtime {

Result<std::shared_ptr<Model>> ModelImpl::create(std::unique_ptr<formats::ModelFile> file, const ModelOptions& opts) {
    (void)opts;
    auto m = std::make_shared<ModelImpl>();
    m->file_ = std::move(file);
    RZ_ASSIGN_OR_RETURN(m->lm_, model::load_model(*m->file_));
    const model::HParams& hp = m->lm_.hp;
    const model::Weight& rf = m->lm_.w[model::Role::kRopeFreqs];
    if (hp.rope_type != model::RopeType::kNone)
        m->inv_freq_ = model::rope_inv_freq(hp, rf ? rf.f32() : nullptr, rf ? rf.n_cols : 0);
    ModelInfo& in = m->info_;
    in.arch = std::string(m->lm_.spec->name);
    in.name = m->lm_.name;
    if (in.name.empty()) {
        std::filesystem::path p(m->file_->path);
        in.name = std::filesystem::is_directory(p) ? p.filename().string() : p.stem().string();
        if (in.name.empty()) in.name = p.parent_path().filename().string();
    }
    in.n_vocab = hp.n_vocab;
    in.n_ctx_train = hp.n_ctx_train;
    in.n_embd = hp.n_embd;
    in.n_layer = hp.n_layer;
    in.n_head = hp.n_head;
    in.n_head_kv = hp.n_head_kv;
    in.n_params = m->lm_.w.n_params;
    in.weight_bytes = m->lm_.w.weight_bytes;
    in.decode_weight_bytes = model::decode_weight_bytes(m->lm_.w);
    spdlog::debug("model {}: {}", m->file_->path, hp.describe());
    return std::shared_ptr<Model>(std::move(m));
}

Result<std::shared_ptr<Model>> Model::load(const std::string& path, const ModelOptions& opts) {
    RZ_ASSIGN_OR_RETURN(formats::ModelFile f, formats::open_model_file(path));
    return from_model_file(std::move(f), opts);
}

Result<std::shared_ptr<Model>> Model::from_model_file(formats::ModelFile file, const ModelOptions& opts) {
    return ModelImpl::create(std::make_unique<formats::ModelFile>(std::move(file)), opts);
}

}  // namespace rz::runtime
