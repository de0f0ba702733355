#pragma once
// Classical APR models: multi-layer perceptrons, linear regression, logistic regression (binary and
// multinomial). Schema: docs/formats/apr-classical.md. Usage and design: docs/classical.md.
//
//   ModelSpec    plain description in the file's layout (weights [n_out, n_in] row-major, f32); what the
//                APR reader produces and the writer consumes, and what the f64 reference runs on.
//   ClassicalModel  validated + packed for SIMD (see src/classical/kernels.h); immutable, shareable
//                across threads. Each thread brings its own Workspace, so predict() never allocates.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "realizar/core/status.h"

namespace rz::classical {

enum class ModelType { kMlp, kLinearRegression, kLogisticRegression };
// Numbering is shared with the kernels (src/classical/kernels.h ActCode).
enum class Activation { kRelu = 0, kTanh = 1, kSigmoid = 2, kGelu = 3, kIdentity = 4 };
enum class OutputTransform { kSoftmax, kSigmoid, kIdentity };

std::string_view model_type_name(ModelType t);        // "mlp", "linear_regression", "logistic_regression"
std::string_view activation_name(Activation a);       // "relu", "tanh", "sigmoid", "gelu", "identity"
std::string_view output_transform_name(OutputTransform o);  // "softmax", "sigmoid", "identity"
std::optional<ModelType> parse_model_type(std::string_view s);
std::optional<Activation> parse_activation(std::string_view s);  // also "none"/"linear" -> identity
std::optional<OutputTransform> parse_output_transform(std::string_view s);  // also "none"/"linear"

// One fully connected layer as stored in the file.
struct DenseWeights {
    int64_t n_in = 0;
    int64_t n_out = 0;
    std::vector<float> weight;  // [n_out, n_in] row-major (tensor layers.{i}.weight)
    std::vector<float> bias;    // [n_out]                  (tensor layers.{i}.bias)
};

struct ModelSpec {
    ModelType type = ModelType::kMlp;
    std::string name;
    Activation activation = Activation::kRelu;  // after every layer but the last (mlp only)
    OutputTransform output = OutputTransform::kSoftmax;  // after the last layer
    std::vector<std::string> labels;             // optional class names; if present, size == n_outputs
    std::vector<DenseWeights> layers;
};

// Checks a spec for consistency (layer chaining, tensor sizes, finite weights, type rules below) and
// returns a clear kInvalidArgument/kCorrupt naming the offending field.
//   mlp:                 >= 1 layer, any activation and output
//   linear_regression:   exactly 1 layer, output identity
//   logistic_regression: exactly 1 layer, output sigmoid when n_out == 1, softmax when n_out >= 2
Status validate_spec(const ModelSpec& spec);

// Upper bounds applied to untrusted files (a layer larger than this is refused before allocation).
inline constexpr int64_t kMaxLayerWidth = int64_t{1} << 20;   // inputs or outputs of one layer
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxParameters = int64_t{1} << 30;  // 4 GiB of f32

enum class Isa { kScalar, kAvx2, kAvx512 };
std::string_view isa_name(Isa isa);
bool isa_supported(Isa isa);  // what this CPU can run
Isa best_isa();               // widest supported, unless RZ_CLASSICAL_ISA=scalar|avx2|avx512 narrows it

// Per-thread scratch for predict()/predict_batch(); obtain from ClassicalModel::make_workspace().
class Workspace {
public:
    Workspace();
    ~Workspace();
    Workspace(Workspace&&) noexcept;
    Workspace& operator=(Workspace&&) noexcept;

private:
    friend class ClassicalModel;
    struct Buffer;
    std::unique_ptr<Buffer> buf_;
    int64_t stride_ = 0;  // floats per sample row in each ping-pong buffer
};

// A prediction for one sample, with the class interpretation applied.
struct Prediction {
    bool is_classifier = false;
    int64_t class_index = -1;          // classifiers: argmax (binary sigmoid: p >= 0.5)
    std::string label;                 // labels[class_index] when the model has labels
    float confidence = 0.0f;           // classifiers: probability of class_index
    std::vector<float> probabilities;  // classifiers: one per class (binary sigmoid: {1 - p, p})
    std::vector<float> values;         // the raw final outputs (regression values; classifier outputs)
};

class PackedLayers;  // internal: SIMD-packed weights

class ClassicalModel {
public:
    // Validates and packs. `isa` defaults to best_isa(); asking for an unsupported ISA is an error.
    static Result<ClassicalModel> create(ModelSpec spec, std::optional<Isa> isa = std::nullopt);

    ClassicalModel(ClassicalModel&&) noexcept;
    ClassicalModel& operator=(ClassicalModel&&) noexcept;
    ~ClassicalModel();

    const ModelSpec& spec() const { return spec_; }
    int64_t n_inputs() const;
    int64_t n_outputs() const;
    int64_t n_parameters() const;
    bool is_classifier() const { return spec_.output != OutputTransform::kIdentity; }
    int64_t n_classes() const;  // classifiers: n_outputs (2 for a single sigmoid output); else 0
    Isa isa() const { return isa_; }

    // Scratch for up to kBatchBlock samples at a time (predict_batch walks larger batches in blocks).
    static constexpr int64_t kBatchBlock = 64;
    Workspace make_workspace() const;

    // Fast path: no allocation. x: [n_inputs]; out: [n_outputs] receives the final outputs (softmax /
    // sigmoid probabilities, or regression values). Errors: wrong sizes, NaN/Inf in x, foreign workspace.
    Status predict(std::span<const float> x, std::span<float> out, Workspace& ws) const;
    // x: [n, n_inputs] row-major; out: [n, n_outputs]. Same checks on every sample (the error names it).
    Status predict_batch(std::span<const float> x, int64_t n, std::span<float> out, Workspace& ws) const;

    // Convenience (allocates): outputs -> Prediction (class, label, probabilities).
    Result<Prediction> predict_one(std::span<const float> x) const;
    Prediction interpret(std::span<const float> outputs) const;

private:
    ClassicalModel() = default;
    Status check_input(std::span<const float> x, int64_t sample) const;
    Status predict_error(std::span<const float> x, std::span<float> out, const Workspace& ws) const;

    ModelSpec spec_;
    std::unique_ptr<PackedLayers> packed_;
    Isa isa_ = Isa::kScalar;
};

// Straightforward double-precision forward pass over the unpacked spec: the oracle every optimised path
// is tested against. Returns the final outputs (after the output transform). x must have n_inputs values.
std::vector<double> reference_forward(const ModelSpec& spec, std::span<const double> x);

}  // namespace rz::classical
