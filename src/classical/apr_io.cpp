// ModelFile (APR) -> ModelSpec: the classical schema's reader-side validation.
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "realizar/classical/apr_io.h"
#include "realizar/core/fp16.h"
#include "realizar/formats/apr.h"

namespace rz::classical {
namespace {

std::string file_label(const formats::ModelFile& f) { return f.path.empty() ? std::string("<memory>") : f.path; }

Status file_error(const formats::ModelFile& f, StatusCode code, const std::string& msg) {
    return Status(code, fmt::format("{}: {}", file_label(f), msg));
}

// Copies a tensor into f32, checking dtype and byte count (the reader checked them too; this layer never
// trusts a size it did not compute).
Status read_floats(const formats::ModelFile& f, const formats::TensorInfo& t, std::vector<float>& out) {
    auto n = checked_element_count(t.shape.data(), t.shape.size());
    if (!n.ok()) return file_error(f, StatusCode::kCorrupt, fmt::format("tensor {}: {}", t.name, n.status().message()));
    size_t elem = 0;
    switch (t.dtype) {
        case DType::F32: elem = 4; break;
        case DType::F16:
        case DType::BF16: elem = 2; break;
        default:
            return file_error(f, StatusCode::kUnsupported,
                              fmt::format("tensor {} has dtype {}; classical models need f32, f16 or bf16", t.name,
                                          dtype_name(t.dtype)));
    }
    if (t.data == nullptr || t.n_bytes != *n * elem) {
        return file_error(f, StatusCode::kCorrupt,
                          fmt::format("tensor {}: {} bytes for {} {} values", t.name, t.n_bytes, *n, dtype_name(t.dtype)));
    }
    out.resize(static_cast<size_t>(*n));
    if (t.dtype == DType::F32) {
        std::memcpy(out.data(), t.data, out.size() * 4);
        return Status::Ok();
    }
    for (size_t i = 0; i < out.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = t.dtype == DType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
    }
    return Status::Ok();
}

std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

Result<std::vector<std::string>> read_labels(const formats::ModelFile& f) {
    std::vector<std::string> labels;
    const formats::MetaValue* v = f.find_meta("labels");
    if (v == nullptr) return labels;
    const formats::MetaArray* arr = v->as_array();
    if (arr == nullptr) return file_error(f, StatusCode::kCorrupt, "metadata labels must be an array of strings");
    for (size_t i = 0; i < arr->items.size(); ++i) {
        const std::string* s = arr->items[i].as_string();
        if (s == nullptr) return file_error(f, StatusCode::kCorrupt, fmt::format("metadata labels[{}] is not a string", i));
        labels.push_back(*s);
    }
    return labels;
}

Result<std::string> optional_string(const formats::ModelFile& f, const char* key) {
    const formats::MetaValue* v = f.find_meta(key);
    if (v == nullptr) return std::string();
    if (const std::string* s = v->as_string()) return *s;
    return file_error(f, StatusCode::kCorrupt, fmt::format("metadata {} must be a string", key));
}

}  // namespace

bool is_classical(const formats::ModelFile& file) {
    const auto t = file.meta_string("model_type");
    return t.has_value() && parse_model_type(*t).has_value();
}

Result<ModelSpec> spec_from_model_file(const formats::ModelFile& f) {
    ModelSpec spec;
    const auto type_str = f.meta_string("model_type");
    if (!type_str) return file_error(f, StatusCode::kCorrupt, "metadata has no model_type (not a classical APR model)");
    const auto type = parse_model_type(*type_str);
    if (!type) {
        return file_error(f, StatusCode::kUnsupported,
                          fmt::format("model_type '{}' is not a classical model (mlp, linear_regression, "
                                      "logistic_regression)", *type_str));
    }
    spec.type = *type;
    RZ_ASSIGN_OR_RETURN(spec.name, optional_string(f, "name"));

    // Layers: layers.0 .. layers.{L-1}, contiguous; anything else named layers.* is an error.
    size_t n_layer_tensors = 0;
    for (const auto& t : f.tensors) {
        if (t.name.rfind("layers.", 0) == 0) ++n_layer_tensors;
    }
    for (int64_t il = 0;; ++il) {
        const std::string wname = fmt::format("layers.{}.weight", il);
        const std::string bname = fmt::format("layers.{}.bias", il);
        const formats::TensorInfo* w = f.find_tensor(wname);
        const formats::TensorInfo* b = f.find_tensor(bname);
        if (w == nullptr && b == nullptr) break;
        if (w == nullptr) return file_error(f, StatusCode::kCorrupt, fmt::format("{} present but {} missing", bname, wname));
        if (b == nullptr) return file_error(f, StatusCode::kCorrupt, fmt::format("{} present but {} missing", wname, bname));
        if (il >= kMaxLayers) return file_error(f, StatusCode::kCorrupt, fmt::format("more than {} layers", kMaxLayers));
        if (w->shape.size() != 2) {
            return file_error(f, StatusCode::kCorrupt,
                              fmt::format("{} has shape {}; expected 2 dimensions [n_out, n_in]", wname, shape_str(w->shape)));
        }
        if (b->shape.size() != 1 || b->shape[0] != w->shape[0]) {
            return file_error(f, StatusCode::kCorrupt,
                              fmt::format("{} has shape {}; expected [{}] to match {} {}", bname, shape_str(b->shape),
                                          w->shape[0], wname, shape_str(w->shape)));
        }
        DenseWeights l;
        l.n_out = w->shape[0];
        l.n_in = w->shape[1];
        if (l.n_out < 1 || l.n_in < 1 || l.n_out > kMaxLayerWidth || l.n_in > kMaxLayerWidth) {
            return file_error(f, StatusCode::kCorrupt,
                              fmt::format("{} shape {} out of range (each dimension 1..{})", wname, shape_str(w->shape),
                                          kMaxLayerWidth));
        }
        if (!spec.layers.empty() && spec.layers.back().n_out != l.n_in) {
            return file_error(f, StatusCode::kCorrupt,
                              fmt::format("{} has {} inputs but layers.{}.weight has {} outputs", wname, l.n_in, il - 1,
                                          spec.layers.back().n_out));
        }
        RZ_RETURN_IF_ERROR(read_floats(f, *w, l.weight));
        RZ_RETURN_IF_ERROR(read_floats(f, *b, l.bias));
        spec.layers.push_back(std::move(l));
    }
    if (spec.layers.empty()) return file_error(f, StatusCode::kCorrupt, "no tensor layers.0.weight");
    if (n_layer_tensors != 2 * spec.layers.size()) {
        return file_error(f, StatusCode::kCorrupt,
                          fmt::format("{} layers.* tensors but layers 0..{} account for {} (gap in the numbering or "
                                      "unknown tensor)", n_layer_tensors, spec.layers.size() - 1, 2 * spec.layers.size()));
    }
    if (const auto nl = f.meta_int("num_layers"); nl && *nl != static_cast<int64_t>(spec.layers.size())) {
        return file_error(f, StatusCode::kCorrupt,
                          fmt::format("metadata num_layers = {} but the file has {} layers", *nl, spec.layers.size()));
    }

    RZ_ASSIGN_OR_RETURN(const std::string act, optional_string(f, "activation"));
    if (!act.empty()) {
        const auto a = parse_activation(act);
        if (!a) return file_error(f, StatusCode::kUnsupported, fmt::format("activation '{}' (relu, tanh, sigmoid, gelu, identity)", act));
        spec.activation = *a;
    } else if (spec.layers.size() > 1) {
        spec.activation = Activation::kRelu;  // documented default for hidden layers
    }
    const int64_t n_out = spec.layers.back().n_out;
    RZ_ASSIGN_OR_RETURN(const std::string out, optional_string(f, "output"));
    if (!out.empty()) {
        const auto o = parse_output_transform(out);
        if (!o) return file_error(f, StatusCode::kUnsupported, fmt::format("output '{}' (softmax, sigmoid, identity)", out));
        spec.output = *o;
    } else {
        // Defaults (docs/formats/apr-classical.md): regression -> identity; logistic -> sigmoid (1 output)
        // or softmax; mlp -> softmax with >= 2 outputs, identity with one.
        switch (spec.type) {
            case ModelType::kLinearRegression: spec.output = OutputTransform::kIdentity; break;
            case ModelType::kLogisticRegression:
                spec.output = n_out == 1 ? OutputTransform::kSigmoid : OutputTransform::kSoftmax;
                break;
            case ModelType::kMlp: spec.output = n_out == 1 ? OutputTransform::kIdentity : OutputTransform::kSoftmax; break;
        }
    }
    RZ_ASSIGN_OR_RETURN(spec.labels, read_labels(f));
    if (Status s = validate_spec(spec); !s.ok()) return s.with_context(file_label(f));
    return spec;
}

Result<ClassicalModel> load_classical_model(const std::string& path) {
    RZ_ASSIGN_OR_RETURN(formats::ModelFile file, formats::open_model_file(path));
    RZ_ASSIGN_OR_RETURN(ModelSpec spec, spec_from_model_file(file));
    return ClassicalModel::create(std::move(spec));
}

Result<ClassicalModel> load_classical_model_bytes(std::span<const uint8_t> bytes, const std::string& name) {
    RZ_ASSIGN_OR_RETURN(formats::ModelFile file, formats::open_model_bytes(bytes, name));
    RZ_ASSIGN_OR_RETURN(ModelSpec spec, spec_from_model_file(file));
    return ClassicalModel::create(std::move(spec));
}

std::string classical_metadata_json(const ModelSpec& spec) {
    nlohmann::json j = {{"model_type", model_type_name(spec.type)},
                        {"activation", activation_name(spec.activation)},
                        {"output", output_transform_name(spec.output)},
                        {"num_layers", spec.layers.size()}};
    if (!spec.name.empty()) j["name"] = spec.name;
    if (!spec.labels.empty()) j["labels"] = spec.labels;
    return j.dump();
}

Status save_classical_model(const ModelSpec& spec, const std::string& path) {
    RZ_RETURN_IF_ERROR(validate_spec(spec));
    formats::AprWriter w(path);
    w.set_metadata_json(classical_metadata_json(spec));
    for (size_t il = 0; il < spec.layers.size(); ++il) {
        const DenseWeights& l = spec.layers[il];
        w.add_tensor(fmt::format("layers.{}.weight", il), DType::F32, {l.n_out, l.n_in});
        w.add_tensor(fmt::format("layers.{}.bias", il), DType::F32, {l.n_out});
    }
    RZ_RETURN_IF_ERROR(w.begin());
    auto as_bytes = [](const std::vector<float>& v) {
        return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float));
    };
    for (const DenseWeights& l : spec.layers) {
        RZ_RETURN_IF_ERROR(w.write_tensor(as_bytes(l.weight)));
        RZ_RETURN_IF_ERROR(w.write_tensor(as_bytes(l.bias)));
    }
    return w.finish();
}

}  // namespace rz::classical
