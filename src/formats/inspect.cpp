// Rendering of ModelFile summaries for `realizar inspect` (text for people, JSON for tools).
#include "realizar/formats/inspect.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace rz::formats {
namespace {

using Json = nlohmann::ordered_json;

std::string type_label(const MetaValue& v) {
    if (const MetaArray* a = v.as_array()) {
        if (a->elem_type == MetaType::kArray && !a->items.empty()) return "array[" + type_label(a->items[0]) + "]";
        return fmt::format("array[{}]", meta_type_name(a->elem_type));
    }
    return std::string(meta_type_name(v.type));
}

std::string quote(std::string_view s, size_t max_chars) {
    std::string out = "\"";
    size_t n = 0;
    for (char c : s) {
        if (n >= max_chars) break;
        switch (c) {
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
                } else {
                    out.push_back(c);
                }
        }
        ++n;
    }
    out += "\"";
    if (s.size() > max_chars) out += fmt::format("... ({} bytes)", s.size());
    return out;
}

std::string scalar_text(const MetaValue& v, const InspectOptions& o) {
    if (const auto* s = v.as_string()) return quote(*s, o.max_string_chars);
    if (const auto* b = std::get_if<bool>(&v.v)) return *b ? "true" : "false";
    if (const auto* u = std::get_if<uint64_t>(&v.v)) return std::to_string(*u);
    if (const auto* i = std::get_if<int64_t>(&v.v)) return std::to_string(*i);
    if (const auto* d = std::get_if<double>(&v.v)) {
        return v.type == MetaType::kF32 ? fmt::format("{}", static_cast<float>(*d)) : fmt::format("{}", *d);
    }
    return "?";
}

std::string value_text(const MetaValue& v, const InspectOptions& o) {
    const MetaArray* a = v.as_array();
    if (!a) return scalar_text(v, o);
    std::string out = fmt::format("[{} items] [", a->items.size());
    const size_t shown = std::min(a->items.size(), o.max_array_items);
    InspectOptions inner = o;
    inner.max_string_chars = std::min<size_t>(o.max_string_chars, 40);
    for (size_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        out += value_text(a->items[i], inner);
    }
    if (shown < a->items.size()) out += fmt::format(", ... ({} more)", a->items.size() - shown);
    return out + "]";
}

Json value_json(const MetaValue& v) {
    if (const MetaArray* a = v.as_array()) {
        Json arr = Json::array();
        for (const MetaValue& item : a->items) arr.push_back(value_json(item));
        return arr;
    }
    if (const auto* s = v.as_string()) return *s;
    if (const auto* b = std::get_if<bool>(&v.v)) return *b;
    if (const auto* u = std::get_if<uint64_t>(&v.v)) return *u;
    if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
    const double d = std::get<double>(v.v);
    if (v.type == MetaType::kF32) {  // print with float precision (1e-05, not 9.99999974737875e-06)
        Json j = Json::parse(fmt::format("{}", static_cast<float>(d)), nullptr, false);
        if (!j.is_discarded()) return j;
    }
    return d;
}

std::string shape_text(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

}  // namespace

std::string inspect_text(const ModelFile& mf, const InspectOptions& o) {
    uint64_t n_el = 0, n_bytes = 0;
    for (const TensorInfo& t : mf.tensors) {
        n_el += t.n_elements();
        n_bytes += t.n_bytes;
    }
    std::string out;
    out += fmt::format("file:      {}\n", mf.path);
    out += fmt::format("format:    {} (version {})\n", format_name(mf.format), mf.version);
    out += fmt::format("alignment: {}\n", mf.alignment);
    out += fmt::format("tensors:   {} ({} elements, {} bytes)\n", mf.tensors.size(), n_el, n_bytes);
    out += fmt::format("metadata:  {} keys\n", mf.metadata.size());
    size_t kw = 0, tw = 0;
    for (const auto& [k, v] : mf.metadata) {
        kw = std::max(kw, k.size());
        tw = std::max(tw, type_label(v).size());
    }
    for (const auto& [k, v] : mf.metadata) {
        out += fmt::format("  {:<{}}  {:<{}}  {}\n", k, kw, type_label(v), tw, value_text(v, o));
    }
    if (!mf.tensors.empty()) {
        size_t nw = 4, dw = 5, sw = 5;
        for (const TensorInfo& t : mf.tensors) {
            nw = std::max(nw, t.name.size());
            dw = std::max(dw, dtype_name(t.dtype).size());
            sw = std::max(sw, shape_text(t.shape).size());
        }
        const bool sharded = std::any_of(mf.tensors.begin(), mf.tensors.end(), [](const TensorInfo& t) { return t.shard != 0; });
        out += fmt::format("\n  {:<{}}  {:<{}}  {:<{}}  {:>12}  {:>12}{}\n", "name", nw, "dtype", dw, "shape", sw, "bytes",
                           "offset", sharded ? "  shard" : "");
        for (const TensorInfo& t : mf.tensors) {
            out += fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:>12}  {:>12}", t.name, nw, dtype_name(t.dtype), dw,
                               shape_text(t.shape), sw, t.n_bytes, t.offset);
            if (sharded) out += fmt::format("  {:>5}", t.shard);
            out += "\n";
        }
    }
    return out;
}

std::string inspect_json(const ModelFile& mf, int indent) {
    Json j;
    j["path"] = mf.path;
    j["format"] = std::string(format_name(mf.format));
    j["version"] = mf.version;
    j["alignment"] = mf.alignment;
    uint64_t n_el = 0, n_bytes = 0;
    for (const TensorInfo& t : mf.tensors) {
        n_el += t.n_elements();
        n_bytes += t.n_bytes;
    }
    j["n_tensors"] = mf.tensors.size();
    j["n_elements"] = n_el;
    j["n_bytes"] = n_bytes;
    Json meta = Json::object(), types = Json::object();
    for (const auto& [k, v] : mf.metadata) {
        meta[k] = value_json(v);
        types[k] = type_label(v);
    }
    j["metadata"] = std::move(meta);
    j["metadata_types"] = std::move(types);
    Json tensors = Json::array();
    for (const TensorInfo& t : mf.tensors) {
        tensors.push_back({{"name", t.name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape},
                           {"n_bytes", t.n_bytes}, {"offset", t.offset}, {"shard", t.shard}});
    }
    j["tensors"] = std::move(tensors);
    return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace rz::formats
