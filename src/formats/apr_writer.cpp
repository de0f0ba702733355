// Streaming APR v2 writer. The layout (metadata, index, every tensor's offset) is fixed in begin(); the
// header is written as zeros first and patched in finish(), once the payload CRC is known.
#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "formats/atomic_file.h"
#include "formats/byte_reader.h"
#include "formats/crc32.h"
#include "formats/json_meta.h"
#include "formats/tensor_stream.h"
#include "realizar/formats/apr.h"

namespace rz::formats {
namespace {
constexpr size_t kHeaderSize = 64;
constexpr size_t kMaxDims = 8;
}  // namespace

struct AprWriter::Impl : detail::WriterCore {
    Impl() : WriterCore("apr") {}
    struct Tensor {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
        uint64_t n_bytes = 0;
        uint64_t offset = 0;  // relative to data_offset
    };
    bool payload_crc = true;
    std::string metadata_json;
    std::vector<std::pair<std::string, MetaValue>> metadata;
    std::vector<Tensor> tensors;
    uint32_t crc = 0;
    uint8_t header[kHeaderSize] = {};
};

AprWriter::AprWriter(std::string path) : impl_(std::make_unique<Impl>()) { impl_->path = std::move(path); }
AprWriter::~AprWriter() = default;

void AprWriter::set_payload_crc(bool on) { impl_->payload_crc = on; }
void AprWriter::set_metadata_json(std::string json_object) { impl_->metadata_json = std::move(json_object); }
void AprWriter::add_metadata(std::string key, MetaValue value) { impl_->metadata.emplace_back(std::move(key), std::move(value)); }
void AprWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape) {
    impl_->tensors.push_back({std::move(name), dtype, std::move(shape)});
}

Status AprWriter::begin() {
    Impl& m = *impl_;
    if (m.begun) return m.err("begin() called twice");
    m.begun = true;

    // Metadata JSON: the given object text, then the typed values on top.
    detail::OrderedJson meta = detail::OrderedJson::object();
    if (!m.metadata_json.empty()) {
        meta = detail::OrderedJson::parse(m.metadata_json, nullptr, false);
        if (meta.is_discarded() || !meta.is_object()) return m.fail_if(m.err("metadata JSON is not a valid JSON object"));
    }
    for (const auto& [key, value] : m.metadata) {
        auto j = detail::meta_to_json(value);
        if (!j.ok()) return m.fail_if(m.err(fmt::format("metadata '{}': {}", detail::printable(key), j.status().message())));
        if (!detail::is_valid_utf8(key)) return m.fail_if(m.err("metadata key is not valid UTF-8"));
        meta[key] = std::move(*j);
    }
    // Keep the caller's exact text when nothing was added to it (byte-exact round trips).
    std::string json_text = (m.metadata.empty() && !m.metadata_json.empty())
                                ? m.metadata_json
                                : meta.dump(-1, ' ', false, detail::OrderedJson::error_handler_t::replace);
    if (json_text.size() > UINT32_MAX) return m.fail_if(m.err("metadata JSON exceeds 4 GiB"));

    // Tensors: validate, lay out data in declaration order, 64-aligned.
    std::set<std::string, std::less<>> names;
    uint64_t offset = 0;
    bool quantized = false;
    std::vector<detail::TensorStream::Slot> slots;
    for (Impl::Tensor& t : m.tensors) {
        const std::string field = fmt::format("tensor '{}'", detail::printable(t.name));
        if (t.name.empty() || t.name.size() > UINT16_MAX || !detail::is_valid_utf8(t.name)) {
            return m.fail_if(m.err(field + ": name must be 1..65535 bytes of UTF-8"));
        }
        if (!names.insert(t.name).second) return m.fail_if(m.err(field + ": duplicate name"));
        const uint32_t id = static_cast<uint32_t>(t.dtype);
        const DTypeInfo* info = dtype_info(id);
        if (!info || id > 255) return m.fail_if(m.err(fmt::format("{}: type id {} cannot be stored in APR", field, id)));
        quantized |= info->is_quantized;
        if (t.shape.size() > kMaxDims) return m.fail_if(m.err(fmt::format("{}: more than {} dimensions", field, kMaxDims)));
        auto n = checked_element_count(t.shape.data(), t.shape.size());
        if (!n.ok()) return m.fail_if(m.err(field + ": " + n.status().message()));
        auto nb = apr_tensor_bytes(t.dtype, *n);
        if (!nb.ok()) return m.fail_if(m.err(field + ": " + nb.status().message()));
        t.n_bytes = *nb;
        t.offset = offset;
        const uint64_t end = offset + t.n_bytes;
        offset = detail::align_up(end, kAprAlignment);
        slots.push_back({t.name, t.n_bytes, offset - end});
    }

    if (!slots.empty()) slots.back().pad_after = 0;  // no padding after the last tensor: the file ends with data

    // Index, sorted by name.
    std::vector<const Impl::Tensor*> sorted;
    for (const Impl::Tensor& t : m.tensors) sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(), [](const Impl::Tensor* a, const Impl::Tensor* b) { return a->name < b->name; });
    std::vector<uint8_t> index;
    auto put = [&](const auto& x) {
        const auto* p = reinterpret_cast<const uint8_t*>(&x);
        index.insert(index.end(), p, p + sizeof(x));
    };
    for (const Impl::Tensor* t : sorted) {
        put(static_cast<uint16_t>(t->name.size()));
        index.insert(index.end(), t->name.begin(), t->name.end());
        put(static_cast<uint8_t>(t->dtype));
        put(static_cast<uint8_t>(t->shape.size()));
        for (int64_t d : t->shape) put(static_cast<uint64_t>(d));
        put(t->offset);
        put(t->n_bytes);
    }

    const uint64_t meta_padded = detail::align_up(json_text.size(), kAprAlignment);
    const uint64_t index_offset = kHeaderSize + meta_padded;
    const uint64_t data_offset = detail::align_up(index_offset + index.size(), kAprAlignment);

    uint16_t flags = 0;
    if (m.payload_crc) flags |= kAprFlagPayloadCrc;
    if (quantized) flags |= kAprFlagQuantized;
    if (meta.contains("tokenizer.vocabulary")) flags |= kAprFlagHasVocab;
    uint8_t* h = m.header;
    std::memcpy(h, "APR\0", 4);
    h[4] = 2;
    h[5] = 0;
    auto store = [&](size_t at, const auto& x) { std::memcpy(h + at, &x, sizeof(x)); };
    store(6, flags);
    store(8, static_cast<uint32_t>(m.tensors.size()));
    store(12, static_cast<uint64_t>(kHeaderSize));
    store(20, static_cast<uint32_t>(json_text.size()));
    store(24, index_offset);
    store(32, data_offset);

    RZ_RETURN_IF_ERROR(m.fail_if(m.out.open(m.path)));
    RZ_RETURN_IF_ERROR(m.fail_if(m.out.write_zeros(kHeaderSize)));  // patched in finish()
    m.stream.reset(std::move(slots), &m.crc);
    RZ_RETURN_IF_ERROR(m.fail_if(m.stream.emit(m.out, json_text.data(), json_text.size())));
    RZ_RETURN_IF_ERROR(m.fail_if(m.stream.emit_zeros(m.out, meta_padded - json_text.size())));
    RZ_RETURN_IF_ERROR(m.fail_if(m.stream.emit(m.out, index.data(), index.size())));
    return m.fail_if(m.stream.emit_zeros(m.out, data_offset - index_offset - index.size()));
}

Status AprWriter::write(std::span<const uint8_t> bytes) { return impl_->write(bytes); }

Status AprWriter::write_tensor(std::span<const uint8_t> bytes) { return impl_->write_tensor(bytes); }

Status AprWriter::finish() {
    Impl& m = *impl_;
    RZ_RETURN_IF_ERROR(m.check_data_complete());
    if (m.payload_crc) std::memcpy(m.header + 44, &m.crc, 4);
    uint32_t hcrc = detail::crc32(m.header, 40);
    hcrc = detail::crc32(m.header + 44, 20, hcrc);
    std::memcpy(m.header + 40, &hcrc, 4);
    RZ_RETURN_IF_ERROR(m.fail_if(m.out.patch(0, m.header, kHeaderSize)));
    return m.commit();
}

Status write_apr(const std::string& path, const ModelFile& mf) {
    AprWriter w(path);
    if (mf.format == Format::kApr && mf.find_meta("apr.metadata_json")) {
        w.set_metadata_json(*mf.meta_string("apr.metadata_json"));
    } else {
        for (const auto& [key, value] : mf.metadata) {
            if (key.rfind("apr.", 0) == 0) continue;
            w.add_metadata(key, value);
        }
    }
    for (const TensorInfo& t : mf.tensors) w.add_tensor(t.name, t.dtype, t.shape);
    RZ_RETURN_IF_ERROR(w.begin());
    for (const TensorInfo& t : mf.tensors) RZ_RETURN_IF_ERROR(w.write_tensor(t.bytes()));
    return w.finish();
}

}  // namespace rz::formats
