#pragma once
// The one Model implementation: the opened ModelFile (its mappings hold the weights) plus the resolved
// architecture, hyper-parameters and weight views.
#include "realizar/formats/model_file.h"
#include "realizar/model/weights.h"
#include "realizar/runtime/context.h"

namespace rz::runtime {

class ModelImpl final : public Model {
public:
    const ModelInfo& info() const override { return info_; }
    const formats::ModelFile& file() const override { return *file_; }
    const model::LoadedModel& loaded() const { return lm_; }
    const model::HParams& hp() const { return lm_.hp; }
    const model::ModelWeights& weights() const { return lm_.w; }
    const std::vector<double>& rope_inv_freq() const { return inv_freq_; }

    static Result<std::shared_ptr<Model>> create(std::unique_ptr<formats::ModelFile> file, const ModelOptions& opts);

private:
    std::unique_ptr<formats::ModelFile> file_;  // heap-held so weight pointers stay valid if we move
    model::LoadedModel lm_;
    ModelInfo info_;
    std::vector<double> inv_freq_;
};

}  // namespace rz::runtime
