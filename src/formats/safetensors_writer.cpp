// Streaming SafeTensors writer: the JSON header is built from the declarations, then data streams through.
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/atomic_file.h"
#include "formats/byte_reader.h"
#include "formats/tensor_stream.h"
#include "realizar/formats/safetensors.h"

namespace rz::formats {

struct SafeTensorsWriter::Impl : detail::WriterCore {
    Impl() : WriterCore("safetensors") {}
    struct Tensor {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
    };
    std::vector<std::pair<std::string, std::string>> metadata;
    std::vector<Tensor> tensors;
};

SafeTensorsWriter::SafeTensorsWriter(std::string path) : impl_(std::make_unique<Impl>()) { impl_->path = std::move(path); }
SafeTensorsWriter::~SafeTensorsWriter() = default;

void SafeTensorsWriter::add_metadata(std::string key, std::string value) {
    impl_->metadata.emplace_back(std::move(key), std::move(value));
}

void SafeTensorsWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape) {
    impl_->tensors.push_back({std::move(name), dtype, std::move(shape)});
}

Status SafeTensorsWriter::begin() {
    Impl& m = *impl_;
    if (m.begun) return m.err("begin() called twice");
    m.begun = true;
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!m.metadata.empty()) {
        auto& md = header["__metadata__"];
        md = nlohmann::ordered_json::object();
        for (const auto& [k, v] : m.metadata) {
            if (!detail::is_valid_utf8(k) || !detail::is_valid_utf8(v)) {
                return m.fail_if(m.err(fmt::format("metadata '{}' is not valid UTF-8", detail::printable(k))));
            }
            if (md.contains(k)) return m.fail_if(m.err(fmt::format("duplicate metadata key '{}'", k)));
            md[k] = v;
        }
    }
    std::vector<detail::TensorStream::Slot> slots;
    std::set<std::string, std::less<>> names;
    uint64_t offset = 0;
    for (const Impl::Tensor& t : m.tensors) {
        const std::string field = fmt::format("tensor '{}'", detail::printable(t.name));
        if (t.name.empty() || t.name == "__metadata__" || !detail::is_valid_utf8(t.name)) {
            return m.fail_if(m.err(field + ": invalid name"));
        }
        if (!names.insert(t.name).second) return m.fail_if(m.err(field + ": duplicate name"));
        const std::string_view dt = safetensors_dtype_name(t.dtype);
        if (dt.empty()) {
            return m.fail_if(m.err(fmt::format("{}: type {} has no SafeTensors name", field, dtype_name(t.dtype))));
        }
        auto n = checked_element_count(t.shape.data(), t.shape.size());
        if (!n.ok()) return m.fail_if(m.err(field + ": " + n.status().message()));
        auto nb = dtype_bytes(t.dtype, *n);
        if (!nb.ok()) return m.fail_if(m.err(field + ": " + nb.status().message()));
        header[t.name] = {{"dtype", std::string(dt)}, {"shape", t.shape}, {"data_offsets", {offset, offset + *nb}}};
        slots.push_back({t.name, *nb, 0});
        offset += *nb;
    }
    std::string text = header.dump();
    text.append(detail::align_up(8 + text.size(), 8) - 8 - text.size(), ' ');
    RZ_RETURN_IF_ERROR(m.fail_if(m.out.open(m.path)));
    const uint64_t len = text.size();
    RZ_RETURN_IF_ERROR(m.fail_if(m.out.write(&len, 8)));
    RZ_RETURN_IF_ERROR(m.fail_if(m.out.write(text.data(), text.size())));
    m.stream.reset(std::move(slots), nullptr);
    return Status::Ok();
}

Status SafeTensorsWriter::write(std::span<const uint8_t> bytes) { return impl_->write(bytes); }

Status SafeTensorsWriter::write_tensor(std::span<const uint8_t> bytes) { return impl_->write_tensor(bytes); }

Status SafeTensorsWriter::finish() {
    RZ_RETURN_IF_ERROR(impl_->check_data_complete());
    return impl_->commit();
}

Status write_safetensors(const std::string& path, const ModelFile& mf) {
    SafeTensorsWriter w(path);
    for (const auto& [key, value] : mf.metadata) {
        if (const std::string* s = value.as_string()) {
            w.add_metadata(key, *s);
        } else if (value.is_integer()) {
            if (const auto* u = std::get_if<uint64_t>(&value.v)) {
                w.add_metadata(key, std::to_string(*u));
            } else {
                w.add_metadata(key, std::to_string(std::get<int64_t>(value.v)));
            }
        } else if (value.is_float()) {
            w.add_metadata(key, fmt::format("{}", std::get<double>(value.v)));
        } else if (const auto b = std::get_if<bool>(&value.v)) {
            w.add_metadata(key, *b ? "true" : "false");
        }
    }
    for (const TensorInfo& t : mf.tensors) w.add_tensor(t.name, t.dtype, t.shape);
    RZ_RETURN_IF_ERROR(w.begin());
    for (const TensorInfo& t : mf.tensors) RZ_RETURN_IF_ERROR(w.write_tensor(t.bytes()));
    return w.finish();
}

}  // namespace rz::formats
