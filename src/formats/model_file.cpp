#include "realizar/formats/model_file.h"

#include <limits>

namespace rz::formats {

std::string_view format_name(Format f) {
    switch (f) {
        case Format::kGguf: return "gguf";
        case Format::kSafeTensors: return "safetensors";
        case Format::kHfFolder: return "hf-folder";
        case Format::kApr: return "apr";
        case Format::kLlama2c: return "llama2c";
    }
    return "?";
}

std::string_view meta_type_name(MetaType t) {
    switch (t) {
        case MetaType::kU8: return "u8";
        case MetaType::kI8: return "i8";
        case MetaType::kU16: return "u16";
        case MetaType::kI16: return "i16";
        case MetaType::kU32: return "u32";
        case MetaType::kI32: return "i32";
        case MetaType::kF32: return "f32";
        case MetaType::kBool: return "bool";
        case MetaType::kString: return "string";
        case MetaType::kArray: return "array";
        case MetaType::kU64: return "u64";
        case MetaType::kI64: return "i64";
        case MetaType::kF64: return "f64";
    }
    return "?";
}

bool MetaValue::is_integer() const {
    switch (type) {
        case MetaType::kU8: case MetaType::kI8: case MetaType::kU16: case MetaType::kI16:
        case MetaType::kU32: case MetaType::kI32: case MetaType::kU64: case MetaType::kI64:
            return true;
        default:
            return false;
    }
}

std::optional<int64_t> MetaValue::as_int() const {
    if (const auto* u = std::get_if<uint64_t>(&v)) {
        if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
        return static_cast<int64_t>(*u);
    }
    if (const auto* i = std::get_if<int64_t>(&v)) return *i;
    if (const auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
    if (const auto* d = std::get_if<double>(&v)) {
        if (!(*d >= -9.2e18 && *d <= 9.2e18)) return std::nullopt;
        return static_cast<int64_t>(*d);
    }
    return std::nullopt;
}

std::optional<uint64_t> MetaValue::as_uint() const {
    if (const auto* u = std::get_if<uint64_t>(&v)) return *u;
    auto i = as_int();
    if (!i || *i < 0) return std::nullopt;
    return static_cast<uint64_t>(*i);
}

std::optional<double> MetaValue::as_float() const {
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* b = std::get_if<bool>(&v)) return *b ? 1.0 : 0.0;
    return std::nullopt;
}

std::optional<bool> MetaValue::as_bool() const {
    if (const auto* b = std::get_if<bool>(&v)) return *b;
    if (auto i = as_int()) return *i != 0;
    return std::nullopt;
}

const std::string* MetaValue::as_string() const { return std::get_if<std::string>(&v); }
const MetaArray* MetaValue::as_array() const { return std::get_if<MetaArray>(&v); }

bool operator==(const MetaArray& a, const MetaArray& b) { return a.elem_type == b.elem_type && a.items == b.items; }
bool operator==(const MetaValue& a, const MetaValue& b) { return a.type == b.type && a.v == b.v; }

uint64_t TensorInfo::n_elements() const {
    uint64_t n = 1;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    return n;
}

void ModelFile::build_index() {
    tensor_index_.clear();
    meta_index_.clear();
    for (size_t i = 0; i < tensors.size(); ++i) tensor_index_.emplace(tensors[i].name, i);
    for (size_t i = 0; i < metadata.size(); ++i) meta_index_.emplace(metadata[i].first, i);
}

const MetaValue* ModelFile::find_meta(std::string_view key) const {
    auto it = meta_index_.find(key);
    if (it == meta_index_.end()) return nullptr;
    return &metadata[it->second].second;
}

const TensorInfo* ModelFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    if (it == tensor_index_.end()) return nullptr;
    return &tensors[it->second];
}

std::optional<int64_t> ModelFile::meta_int(std::string_view key) const {
    const MetaValue* v = find_meta(key);
    return v ? v->as_int() : std::nullopt;
}

std::optional<double> ModelFile::meta_float(std::string_view key) const {
    const MetaValue* v = find_meta(key);
    return v ? v->as_float() : std::nullopt;
}

std::optional<std::string> ModelFile::meta_string(std::string_view key) const {
    const MetaValue* v = find_meta(key);
    if (!v || !v->as_string()) return std::nullopt;
    return *v->as_string();
}

}  // namespace rz::formats
