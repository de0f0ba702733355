#pragma once
// Model weights resolved from a ModelFile: every tensor role of the architecture points into the mapped file
// (used in place, whatever its dtype) except the few that must be rearranged, which the loader owns:
// 1-D tensors (norm weights, biases) as f32, and Hugging Face Conv1D matrices transposed to [n_out, n_in].
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "realizar/core/dtype.h"
#include "realizar/core/status.h"
#include "realizar/formats/model_file.h"
#include "realizar/model/arch.h"
#include "realizar/model/hparams.h"

namespace rz::model {

struct Weight {
    DType dtype = DType::F32;
    const void* data = nullptr;
    int64_t n_rows = 0;  // 2-D: [n_rows, n_cols] row-major, rows contiguous. 1-D: n_rows = 1.
    int64_t n_cols = 0;
    std::string name;    // tensor name in the file (for messages)

    explicit operator bool() const { return data != nullptr; }
    const float* f32() const {
        RZ_ASSERT(dtype == DType::F32 && data != nullptr, "weight is not an f32 vector");
        return static_cast<const float*>(data);
    }
};

struct LayerWeights {
    std::array<Weight, kRoleCount - kFirstLayerRole> w;
    Weight& operator[](Role r) { return w[static_cast<size_t>(static_cast<int>(r) - kFirstLayerRole)]; }
    const Weight& operator[](Role r) const { return w[static_cast<size_t>(static_cast<int>(r) - kFirstLayerRole)]; }
};

enum class Naming : uint8_t { kGguf, kHf };

struct ModelWeights {
    std::array<Weight, kFirstLayerRole> global;
    std::vector<LayerWeights> layers;
    Naming naming = Naming::kGguf;
    uint64_t n_params = 0;
    uint64_t weight_bytes = 0;   // bytes of the tensors used, as stored
    std::vector<std::unique_ptr<uint8_t[]>> owned;  // storage of rearranged tensors

    Weight& operator[](Role r) { return global[static_cast<size_t>(r)]; }
    const Weight& operator[](Role r) const { return global[static_cast<size_t>(r)]; }
    const Weight& output() const { return global[static_cast<size_t>(Role::kOutput)] ? (*this)[Role::kOutput] : (*this)[Role::kTokenEmbd]; }
};

struct LoadedModel {
    const ArchSpec* spec = nullptr;
    HParams hp;
    ModelWeights w;
    std::string name;
};

// Resolves architecture, hyper-parameters and weights. The ModelFile must outlive the result (weights
// point into its mapping). Errors name the file and the tensor or key: unknown architecture, missing
// tensor, a tensor whose shape disagrees with the hyper-parameters, unsupported dtype.
Result<LoadedModel> load_model(const formats::ModelFile& file);

// Bytes of weights one decode step of one token reads, as they are held (the file's storage type; norm weights
// and biases as f32): every layer tensor, the output norm and head (a tied head: the whole token-embedding table),
// one row of the token embeddings and of learned positions. The numerator of a decode roofline (bench), which
// ignores the KV cache and activations.
uint64_t decode_weight_bytes(const ModelWeights& w);

// Hyper-parameters only (used by load_model; exposed for inspect/tests).
Result<HParams> read_hparams(const formats::ModelFile& file, const ArchSpec*& spec_out, Naming& naming_out);

}  // namespace rz::model
