// Streaming GGUF v3 writer. All sizes and offsets are computed from the declarations in begin(), so the
// header, metadata and tensor infos are written first and tensor data can then be streamed in any chunk
// size with memory bounded by the output buffer.
#include <limits>
#include <set>

#include <fmt/format.h>

#include "formats/atomic_file.h"
#include "formats/byte_reader.h"
#include "formats/tensor_stream.h"
#include "realizar/formats/gguf.h"

namespace rz::formats {
namespace {

constexpr size_t kGgmlMaxName = 64;  // GGML_MAX_NAME, including the terminating NUL

Status check_value(const std::string& key, const MetaValue& v, int depth) {
    auto bad = [&](std::string_view what) {
        return invalid_argument(fmt::format("gguf writer: metadata '{}': {}", key, what));
    };
    if (depth > 8) return bad("arrays nested deeper than 8");
    auto int_in = [&](int64_t lo, uint64_t hi) -> Status {
        if (const auto* u = std::get_if<uint64_t>(&v.v)) {
            if (*u > hi) return bad(fmt::format("{} does not fit {}", *u, meta_type_name(v.type)));
            return Status::Ok();
        }
        if (const auto* i = std::get_if<int64_t>(&v.v)) {
            if (*i < lo || (*i > 0 && static_cast<uint64_t>(*i) > hi)) {
                return bad(fmt::format("{} does not fit {}", *i, meta_type_name(v.type)));
            }
            return Status::Ok();
        }
        return bad(fmt::format("type {} holds a non-integer value", meta_type_name(v.type)));
    };
    switch (v.type) {
        case MetaType::kU8: return int_in(0, 0xff);
        case MetaType::kI8: return int_in(-128, 127);
        case MetaType::kU16: return int_in(0, 0xffff);
        case MetaType::kI16: return int_in(-32768, 32767);
        case MetaType::kU32: return int_in(0, 0xffffffffu);
        case MetaType::kI32: return int_in(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
        case MetaType::kU64: return int_in(0, std::numeric_limits<uint64_t>::max());
        case MetaType::kI64: return int_in(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
        case MetaType::kF32:
        case MetaType::kF64:
            return std::holds_alternative<double>(v.v) ? Status::Ok() : bad("float type holds a non-float value");
        case MetaType::kBool:
            return std::holds_alternative<bool>(v.v) ? Status::Ok() : bad("bool type holds a non-bool value");
        case MetaType::kString:
            return std::holds_alternative<std::string>(v.v) ? Status::Ok() : bad("string type holds a non-string value");
        case MetaType::kArray: {
            const MetaArray* a = v.as_array();
            if (!a) return bad("array type holds a non-array value");
            for (const MetaValue& item : a->items) {
                if (item.type != a->elem_type) {
                    return bad(fmt::format("array of {} holds a {}", meta_type_name(a->elem_type), meta_type_name(item.type)));
                }
                RZ_RETURN_IF_ERROR(check_value(key, item, depth + 1));
            }
            return Status::Ok();
        }
    }
    return bad("unknown type");
}

// Appends the little-endian encoding of v (without its type tag) to out.
void encode_value(const MetaValue& v, std::vector<uint8_t>& out) {
    auto put = [&](const auto& x) {
        const auto* p = reinterpret_cast<const uint8_t*>(&x);
        out.insert(out.end(), p, p + sizeof(x));
    };
    auto as_u64 = [&]() -> uint64_t {
        if (const auto* u = std::get_if<uint64_t>(&v.v)) return *u;
        return static_cast<uint64_t>(std::get<int64_t>(v.v));
    };
    switch (v.type) {
        case MetaType::kU8: case MetaType::kI8: put(static_cast<uint8_t>(as_u64())); break;
        case MetaType::kU16: case MetaType::kI16: put(static_cast<uint16_t>(as_u64())); break;
        case MetaType::kU32: case MetaType::kI32: put(static_cast<uint32_t>(as_u64())); break;
        case MetaType::kU64: case MetaType::kI64: put(as_u64()); break;
        case MetaType::kF32: put(static_cast<float>(std::get<double>(v.v))); break;
        case MetaType::kF64: put(std::get<double>(v.v)); break;
        case MetaType::kBool: put(static_cast<uint8_t>(std::get<bool>(v.v) ? 1 : 0)); break;
        case MetaType::kString: {
            const std::string& s = std::get<std::string>(v.v);
            put(static_cast<uint64_t>(s.size()));
            out.insert(out.end(), s.begin(), s.end());
            break;
        }
        case MetaType::kArray: {
            const MetaArray& a = std::get<MetaArray>(v.v);
            put(static_cast<uint32_t>(a.elem_type));
            put(static_cast<uint64_t>(a.items.size()));
            for (const MetaValue& item : a.items) encode_value(item, out);
            break;
        }
    }
}

}  // namespace

struct GgufWriter::Impl : detail::WriterCore {
    Impl() : WriterCore("gguf") {}
    struct Tensor {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
        uint64_t n_bytes = 0;
        uint64_t offset = 0;  // relative to the data section
    };
    uint32_t alignment = kGgufDefaultAlignment;
    bool alignment_set = false;
    std::vector<std::pair<std::string, MetaValue>> metadata;
    std::vector<Tensor> tensors;
};

GgufWriter::GgufWriter(std::string path) : impl_(std::make_unique<Impl>()) { impl_->path = std::move(path); }
GgufWriter::~GgufWriter() = default;  // AtomicFile removes an unfinished temporary

void GgufWriter::set_alignment(uint32_t alignment) {
    impl_->alignment = alignment;
    impl_->alignment_set = true;
}

void GgufWriter::add_metadata(std::string key, MetaValue value) { impl_->metadata.emplace_back(std::move(key), std::move(value)); }

void GgufWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape) {
    impl_->tensors.push_back({std::move(name), dtype, std::move(shape)});
}

Status GgufWriter::begin() {
    Impl& m = *impl_;
    if (m.begun) return m.err("begin() called twice");
    m.begun = true;
    if (m.alignment == 0 || (m.alignment & (m.alignment - 1)) != 0) {
        return m.fail(m.err(fmt::format("alignment {} is not a power of two", m.alignment)));
    }
    bool has_alignment_key = false;
    std::set<std::string, std::less<>> keys;
    for (const auto& [key, value] : m.metadata) {
        if (key.empty() || !detail::is_valid_utf8(key)) return m.fail(m.err(fmt::format("metadata key '{}' is empty or not UTF-8", detail::printable(key))));
        if (!keys.insert(key).second) return m.fail(m.err(fmt::format("duplicate metadata key '{}'", key)));
        RZ_RETURN_IF_ERROR(m.fail_if(check_value(key, value, 0)));
        if (key == "general.alignment") {
            has_alignment_key = true;
            const auto a = value.as_uint();
            if (!value.is_integer() || !a || *a == 0 || (*a & (*a - 1)) != 0 || *a > (1u << 20)) {
                return m.fail(m.err("general.alignment must be an integer power of two"));
            }
            if (m.alignment_set && *a != m.alignment) {
                return m.fail(m.err(fmt::format("general.alignment {} disagrees with set_alignment({})", *a, m.alignment)));
            }
            m.alignment = static_cast<uint32_t>(*a);
        }
    }
    if (!has_alignment_key && m.alignment != kGgufDefaultAlignment) {
        m.metadata.emplace_back("general.alignment", MetaValue::u32(m.alignment));
    }

    std::set<std::string, std::less<>> names;
    uint64_t offset = 0;
    for (Impl::Tensor& t : m.tensors) {
        const std::string field = fmt::format("tensor '{}'", detail::printable(t.name));
        if (t.name.empty() || t.name.size() >= kGgmlMaxName || !detail::is_valid_utf8(t.name)) {
            return m.fail(m.err(field + ": name must be 1..63 bytes of UTF-8 (ggml's limit)"));
        }
        if (!names.insert(t.name).second) return m.fail(m.err(field + ": duplicate name"));
        const uint32_t id = static_cast<uint32_t>(t.dtype);
        const DTypeInfo* info = id < 128 ? dtype_info(id) : nullptr;
        if (!info) return m.fail(m.err(fmt::format("{}: type {} has no GGUF id", field, dtype_name(t.dtype))));
        if (t.shape.size() > 4) return m.fail(m.err(field + ": GGUF tensors have at most 4 dimensions"));
        auto n = checked_element_count(t.shape.data(), t.shape.size());
        if (!n.ok()) return m.fail(m.err(field + ": " + n.status().message()));
        if (!t.shape.empty() && t.shape.back() % info->block_size != 0) {
            return m.fail(m.err(fmt::format("{}: row length {} is not a multiple of the {} block size {}", field,
                                            t.shape.back(), info->name, info->block_size)));
        }
        auto nb = dtype_bytes(t.dtype, *n);
        if (!nb.ok()) return m.fail(m.err(field + ": " + nb.status().message()));
        t.n_bytes = *nb;
        t.offset = offset;
        offset = detail::align_up(offset + t.n_bytes, m.alignment);
    }

    std::vector<uint8_t> head;
    auto put = [&](const auto& x) {
        const auto* p = reinterpret_cast<const uint8_t*>(&x);
        head.insert(head.end(), p, p + sizeof(x));
    };
    auto put_str = [&](const std::string& s) {
        put(static_cast<uint64_t>(s.size()));
        head.insert(head.end(), s.begin(), s.end());
    };
    head.insert(head.end(), {'G', 'G', 'U', 'F'});
    put(uint32_t{3});
    put(static_cast<uint64_t>(m.tensors.size()));
    put(static_cast<uint64_t>(m.metadata.size()));
    RZ_RETURN_IF_ERROR(m.fail_if(m.out.open(m.path)));
    for (const auto& [key, value] : m.metadata) {
        put_str(key);
        put(static_cast<uint32_t>(value.type));
        encode_value(value, head);
        if (head.size() > (1u << 20)) {  // keep memory bounded for huge vocabularies
            RZ_RETURN_IF_ERROR(m.fail_if(m.out.write(head.data(), head.size())));
            head.clear();
        }
    }
    for (const Impl::Tensor& t : m.tensors) {
        put_str(t.name);
        put(static_cast<uint32_t>(t.shape.size()));
        for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) put(static_cast<int64_t>(*it));  // ne[0] innermost
        put(static_cast<uint32_t>(t.dtype));
        put(t.offset);
    }
    RZ_RETURN_IF_ERROR(m.fail_if(m.out.write(head.data(), head.size())));
    const uint64_t pos = m.out.size();
    RZ_RETURN_IF_ERROR(m.fail_if(m.out.write_zeros(detail::align_up(pos, m.alignment) - pos)));
    std::vector<detail::TensorStream::Slot> slots;
    for (const Impl::Tensor& t : m.tensors) {
        slots.push_back({t.name, t.n_bytes, detail::align_up(t.n_bytes, m.alignment) - t.n_bytes});
    }
    m.stream.reset(std::move(slots), nullptr);
    return Status::Ok();
}

Status GgufWriter::write(std::span<const uint8_t> bytes) { return impl_->write(bytes); }

Status GgufWriter::write_tensor(std::span<const uint8_t> bytes) { return impl_->write_tensor(bytes); }

Status GgufWriter::finish() {
    RZ_RETURN_IF_ERROR(impl_->check_data_complete());
    return impl_->commit();
}

Status write_gguf(const std::string& path, const ModelFile& mf) {
    GgufWriter w(path);
    for (const auto& [key, value] : mf.metadata) w.add_metadata(key, value);
    for (const TensorInfo& t : mf.tensors) w.add_tensor(t.name, t.dtype, t.shape);
    RZ_RETURN_IF_ERROR(w.begin());
    for (const TensorInfo& t : mf.tensors) RZ_RETURN_IF_ERROR(w.write_tensor(t.bytes()));
    return w.finish();
}

}  // namespace rz::formats
