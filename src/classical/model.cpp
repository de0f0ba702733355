// ClassicalModel: validation of a ModelSpec, packing for the SIMD kernels, and the predict paths.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "classical/packed.h"
#include "realizar/classical/model.h"

namespace rz::classical {

// ---- names -------------------------------------------------------------------------------------------

std::string_view model_type_name(ModelType t) {
    switch (t) {
        case ModelType::kMlp: return "mlp";
        case ModelType::kLinearRegression: return "linear_regression";
        case ModelType::kLogisticRegression: return "logistic_regression";
    }
    return "?";
}

std::string_view activation_name(Activation a) {
    switch (a) {
        case Activation::kRelu: return "relu";
        case Activation::kTanh: return "tanh";
        case Activation::kSigmoid: return "sigmoid";
        case Activation::kGelu: return "gelu";
        case Activation::kIdentity: return "identity";
    }
    return "?";
}

std::string_view output_transform_name(OutputTransform o) {
    switch (o) {
        case OutputTransform::kSoftmax: return "softmax";
        case OutputTransform::kSigmoid: return "sigmoid";
        case OutputTransform::kIdentity: return "identity";
    }
    return "?";
}

std::optional<ModelType> parse_model_type(std::string_view s) {
    if (s == "mlp") return ModelType::kMlp;
    if (s == "linear_regression") return ModelType::kLinearRegression;
    if (s == "logistic_regression") return ModelType::kLogisticRegression;
    return std::nullopt;
}

std::optional<Activation> parse_activation(std::string_view s) {
    if (s == "relu") return Activation::kRelu;
    if (s == "tanh") return Activation::kTanh;
    if (s == "sigmoid") return Activation::kSigmoid;
    if (s == "gelu") return Activation::kGelu;
    if (s == "identity" || s == "none" || s == "linear") return Activation::kIdentity;
    return std::nullopt;
}

std::optional<OutputTransform> parse_output_transform(std::string_view s) {
    if (s == "softmax") return OutputTransform::kSoftmax;
    if (s == "sigmoid") return OutputTransform::kSigmoid;
    if (s == "identity" || s == "none" || s == "linear") return OutputTransform::kIdentity;
    return std::nullopt;
}

// ---- validation --------------------------------------------------------------------------------------

namespace {

int64_t classes_for(const ModelSpec& spec) {
    if (spec.output == OutputTransform::kIdentity || spec.layers.empty()) return 0;
    const int64_t n_out = spec.layers.back().n_out;
    return (spec.output == OutputTransform::kSigmoid && n_out == 1) ? 2 : n_out;
}

Status check_finite(const std::vector<float>& v, int64_t il, const char* what) {
    for (size_t k = 0; k < v.size(); ++k) {
        if (!std::isfinite(v[k])) {
            return corrupt(fmt::format("layers.{}.{}: element {} is {}", il, what, k, std::isnan(v[k]) ? "NaN" : "Inf"));
        }
    }
    return Status::Ok();
}

}  // namespace

Status validate_spec(const ModelSpec& spec) {
    const auto type = model_type_name(spec.type);
    if (spec.layers.empty()) return invalid_argument(fmt::format("{} model has no layers (need layers.0.weight)", type));
    if (static_cast<int64_t>(spec.layers.size()) > kMaxLayers) {
        return invalid_argument(fmt::format("{} layers exceed the limit of {}", spec.layers.size(), kMaxLayers));
    }
    int64_t n_params = 0;
    for (size_t il = 0; il < spec.layers.size(); ++il) {
        const DenseWeights& l = spec.layers[il];
        if (l.n_in < 1 || l.n_out < 1 || l.n_in > kMaxLayerWidth || l.n_out > kMaxLayerWidth) {
            return invalid_argument(fmt::format("layers.{}: shape [{}, {}] out of range (each dimension 1..{})", il,
                                                l.n_out, l.n_in, kMaxLayerWidth));
        }
        if (il > 0 && l.n_in != spec.layers[il - 1].n_out) {
            return invalid_argument(fmt::format("layers.{}.weight has {} inputs but layers.{} has {} outputs", il,
                                                l.n_in, il - 1, spec.layers[il - 1].n_out));
        }
        if (static_cast<int64_t>(l.weight.size()) != l.n_out * l.n_in) {
            return invalid_argument(fmt::format("layers.{}.weight: {} values for shape [{}, {}]", il, l.weight.size(),
                                                l.n_out, l.n_in));
        }
        if (static_cast<int64_t>(l.bias.size()) != l.n_out) {
            return invalid_argument(fmt::format("layers.{}.bias: {} values, expected [{}]", il, l.bias.size(), l.n_out));
        }
        n_params += l.n_out * l.n_in + l.n_out;
        if (n_params > kMaxParameters) {
            return invalid_argument(fmt::format("more than {} parameters", kMaxParameters));
        }
        RZ_RETURN_IF_ERROR(check_finite(l.weight, static_cast<int64_t>(il), "weight"));
        RZ_RETURN_IF_ERROR(check_finite(l.bias, static_cast<int64_t>(il), "bias"));
    }
    const int64_t n_out = spec.layers.back().n_out;
    switch (spec.type) {
        case ModelType::kMlp: break;
        case ModelType::kLinearRegression:
            if (spec.layers.size() != 1) return invalid_argument("linear_regression must have exactly one layer");
            if (spec.output != OutputTransform::kIdentity) {
                return invalid_argument(fmt::format("linear_regression output must be identity, not {}",
                                                    output_transform_name(spec.output)));
            }
            break;
        case ModelType::kLogisticRegression: {
            if (spec.layers.size() != 1) return invalid_argument("logistic_regression must have exactly one layer");
            const OutputTransform want = n_out == 1 ? OutputTransform::kSigmoid : OutputTransform::kSoftmax;
            if (spec.output != want) {
                return invalid_argument(fmt::format("logistic_regression with {} output(s) needs output {}, not {}",
                                                    n_out, output_transform_name(want),
                                                    output_transform_name(spec.output)));
            }
            break;
        }
    }
    if (spec.output == OutputTransform::kSoftmax && n_out < 2) {
        return invalid_argument("output softmax needs at least 2 outputs (use sigmoid for one)");
    }
    if (!spec.labels.empty()) {
        const int64_t want = spec.output == OutputTransform::kIdentity ? n_out : classes_for(spec);
        if (static_cast<int64_t>(spec.labels.size()) != want) {
            return invalid_argument(fmt::format("labels has {} names but the model has {} {}", spec.labels.size(), want,
                                                spec.output == OutputTransform::kIdentity ? "outputs" : "classes"));
        }
    }
    return Status::Ok();
}

// ---- storage -----------------------------------------------------------------------------------------

AlignedFloats make_aligned_floats(int64_t n) {
    const size_t bytes = static_cast<size_t>(round_up(std::max<int64_t>(n, 1), 16)) * sizeof(float);
    auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    RZ_ASSERT(p != nullptr, "out of memory packing classical model weights");
    std::memset(p, 0, bytes);
    return AlignedFloats(p);
}

struct Workspace::Buffer {
    AlignedFloats a, b;
};

Workspace::Workspace() = default;
Workspace::~Workspace() = default;
Workspace::Workspace(Workspace&&) noexcept = default;
Workspace& Workspace::operator=(Workspace&&) noexcept = default;

// ---- model -------------------------------------------------------------------------------------------

namespace {

// Any NaN/Inf among x? Branch-free so the common all-finite case vectorises (no early exit).
inline bool any_non_finite(const float* x, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; ++i) bad |= static_cast<uint32_t>((std::bit_cast<uint32_t>(x[i]) & 0x7f800000u) == 0x7f800000u);
    return bad != 0;
}

}  // namespace


ClassicalModel::ClassicalModel(ClassicalModel&&) noexcept = default;
ClassicalModel& ClassicalModel::operator=(ClassicalModel&&) noexcept = default;
ClassicalModel::~ClassicalModel() = default;

Result<ClassicalModel> ClassicalModel::create(ModelSpec spec, std::optional<Isa> isa) {
    RZ_RETURN_IF_ERROR(validate_spec(spec));
    const Isa use = isa.value_or(best_isa());
    if (!isa_supported(use)) return unsupported(fmt::format("this CPU cannot run the {} kernels", isa_name(use)));

    ClassicalModel m;
    m.isa_ = use;
    auto packed = std::make_unique<PackedLayers>();
    packed->kernels = &detail::kernels_for(use);
    const size_t n_layers = spec.layers.size();
    for (size_t il = 0; il < n_layers; ++il) {
        const DenseWeights& l = spec.layers[il];
        const int64_t n_pad = round_up(l.n_out, detail::kLane);
        AlignedFloats w = make_aligned_floats(n_pad * l.n_in);
        AlignedFloats b = make_aligned_floats(n_pad);
        // Transpose [n_out, n_in] into column tiles [n_in][width] (kernels.h): one broadcast input times a
        // contiguous row of outputs per FMA.
        for (int64_t t0 = 0; t0 < n_pad; t0 += detail::kTile) {
            const int64_t width = std::min<int64_t>(detail::kTile, n_pad - t0);
            float* tile = w.get() + t0 * l.n_in;
            for (int64_t o = t0; o < std::min(t0 + width, l.n_out); ++o) {
                for (int64_t i = 0; i < l.n_in; ++i) tile[i * width + (o - t0)] = l.weight[o * l.n_in + i];
            }
        }
        std::copy(l.bias.begin(), l.bias.end(), b.get());
        int act = static_cast<int>(il + 1 < n_layers ? spec.activation : Activation::kIdentity);
        if (il + 1 == n_layers && spec.output == OutputTransform::kSigmoid) act = detail::kActSigmoid;
        if (il + 1 == n_layers && spec.output == OutputTransform::kSoftmax) act = detail::kActSoftmax;
        packed->views.push_back(detail::LayerView{w.get(), b.get(), static_cast<int>(l.n_in), static_cast<int>(n_pad),
                                                  static_cast<int>(l.n_out), act});
        packed->weights.push_back(std::move(w));
        packed->biases.push_back(std::move(b));
        packed->max_width = std::max(packed->max_width, n_pad);
    }
    packed->n_in = spec.layers.front().n_in;
    packed->n_out = spec.layers.back().n_out;
    m.packed_ = std::move(packed);
    m.spec_ = std::move(spec);
    return m;
}

int64_t ClassicalModel::n_inputs() const { return spec_.layers.front().n_in; }
int64_t ClassicalModel::n_outputs() const { return spec_.layers.back().n_out; }
int64_t ClassicalModel::n_classes() const { return classes_for(spec_); }

int64_t ClassicalModel::n_parameters() const {
    int64_t n = 0;
    for (const auto& l : spec_.layers) n += l.n_out * l.n_in + l.n_out;
    return n;
}

Workspace ClassicalModel::make_workspace() const {
    Workspace ws;
    ws.stride_ = packed_->max_width;
    ws.buf_ = std::make_unique<Workspace::Buffer>();
    ws.buf_->a = make_aligned_floats(kBatchBlock * ws.stride_);
    ws.buf_->b = make_aligned_floats(kBatchBlock * ws.stride_);
    return ws;
}

Status ClassicalModel::check_input(std::span<const float> x, int64_t sample) const {
    // Branch-free scan (vectorises) for the common all-finite case; locate the culprit only on failure.
    if (!any_non_finite(x.data(), x.size())) [[likely]] return Status::Ok();
    for (size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(x[i])) {
            const std::string where = sample >= 0 ? fmt::format("sample {} feature {}", sample, i) : fmt::format("feature {}", i);
            return invalid_argument(fmt::format("{} is {}: features must be finite numbers", where,
                                                std::isnan(x[i]) ? "NaN" : "Inf"));
        }
    }
    return Status::Ok();
}

Status ClassicalModel::predict(std::span<const float> x, std::span<float> out, Workspace& ws) const {
    // The hot path for tiny models (Iris: ~20 ns of arithmetic) is dominated by bookkeeping, so every
    // check here is a compare on already-loaded values and the error texts are built only on failure.
    const PackedLayers& p = *packed_;
    if (static_cast<int64_t>(x.size()) != p.n_in || static_cast<int64_t>(out.size()) < p.n_out || ws.stride_ < p.max_width ||
        any_non_finite(x.data(), x.size())) [[unlikely]] {
        return predict_error(x, out, ws);
    }
    const detail::DenseFn dense = p.kernels->dense;
    const detail::LayerView* views = p.views.data();
    const size_t n_layers = p.views.size();
    float* bufs[2] = {ws.buf_->a.get(), ws.buf_->b.get()};
    dense(views[0], x.data(), bufs[0]);
    for (size_t il = 1; il < n_layers; ++il) dense(views[il], bufs[(il - 1) & 1], bufs[il & 1]);
    const float* y = bufs[(n_layers - 1) & 1];
    float* o = out.data();
    for (int64_t i = 0; i < p.n_out; ++i) o[i] = y[i];  // inline copy: a memcpy call costs more for 3 floats
    return Status::Ok();
}

Status ClassicalModel::predict_error(std::span<const float> x, std::span<float> out, const Workspace& ws) const {
    if (static_cast<int64_t>(x.size()) != n_inputs()) {
        return invalid_argument(fmt::format("expected {} features, got {}", n_inputs(), x.size()));
    }
    if (static_cast<int64_t>(out.size()) < n_outputs()) {
        return invalid_argument(fmt::format("output buffer holds {} values, model has {} outputs", out.size(), n_outputs()));
    }
    if (!ws.buf_ || ws.stride_ < packed_->max_width) {
        return invalid_argument("workspace was not made by this model (use make_workspace())");
    }
    return check_input(x, -1);
}

Status ClassicalModel::predict_batch(std::span<const float> x, int64_t n, std::span<float> out, Workspace& ws) const {
    const int64_t n_in = n_inputs();
    const int64_t n_out = n_outputs();
    if (n < 0 || static_cast<int64_t>(x.size()) != n * n_in) {
        return invalid_argument(fmt::format("batch of {} samples needs {} features ({} each), got {}", n, n * n_in, n_in,
                                            x.size()));
    }
    if (static_cast<int64_t>(out.size()) < n * n_out) {
        return invalid_argument(fmt::format("output buffer holds {} values, batch needs {}", out.size(), n * n_out));
    }
    if (!ws.buf_ || ws.stride_ < packed_->max_width) {
        return invalid_argument("workspace was not made by this model (use make_workspace())");
    }
    for (int64_t s = 0; s < n; ++s) RZ_RETURN_IF_ERROR(check_input(x.subspan(s * n_in, n_in), s));
    const detail::KernelTable& k = *packed_->kernels;
    const auto& views = packed_->views;
    const int stride = static_cast<int>(ws.stride_);
    float* bufs[2] = {ws.buf_->a.get(), ws.buf_->b.get()};
    for (int64_t s0 = 0; s0 < n; s0 += kBatchBlock) {
        const int nb = static_cast<int>(std::min(kBatchBlock, n - s0));
        const float* in = x.data() + s0 * n_in;
        int in_stride = static_cast<int>(n_in);
        float* y = bufs[0];
        for (size_t il = 0; il < views.size(); ++il) {
            y = bufs[il & 1];
            k.dense_batch(views[il], in, in_stride, y, stride, nb);
            in = y;
            in_stride = stride;
        }
        for (int s = 0; s < nb; ++s) {
            float* row = y + static_cast<int64_t>(s) * stride;
            std::memcpy(out.data() + (s0 + s) * n_out, row, static_cast<size_t>(n_out) * sizeof(float));
        }
    }
    return Status::Ok();
}

Prediction ClassicalModel::interpret(std::span<const float> outputs) const {
    Prediction p;
    p.values.assign(outputs.begin(), outputs.end());
    p.is_classifier = is_classifier();
    if (!p.is_classifier || outputs.empty()) return p;
    if (spec_.output == OutputTransform::kSigmoid && outputs.size() == 1) {
        const float q = outputs[0];
        p.probabilities = {1.0f - q, q};
        p.class_index = q >= 0.5f ? 1 : 0;
    } else {
        p.probabilities.assign(outputs.begin(), outputs.end());
        p.class_index = std::max_element(outputs.begin(), outputs.end()) - outputs.begin();
    }
    p.confidence = p.probabilities[static_cast<size_t>(p.class_index)];
    if (!spec_.labels.empty()) p.label = spec_.labels[static_cast<size_t>(p.class_index)];
    return p;
}

Result<Prediction> ClassicalModel::predict_one(std::span<const float> x) const {
    Workspace ws = make_workspace();
    std::vector<float> out(static_cast<size_t>(n_outputs()));
    RZ_RETURN_IF_ERROR(predict(x, out, ws));
    return interpret(out);
}

}  // namespace rz::classical
