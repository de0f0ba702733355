// GGUF v2/v3 reader. The file is hostile until proven otherwise: every count is bounded by the bytes
// left before anything is allocated, every offset and size is checked against the file, and tensors
// must not overlap. Errors read "gguf: <file>: <field>: <problem>".
#include <algorithm>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "formats/byte_reader.h"
#include "realizar/formats/gguf.h"

namespace rz::formats {
namespace {

using detail::ByteReader;
using detail::printable;

constexpr uint32_t kMaxDims = 4;           // GGML_MAX_DIMS
constexpr int kMaxNesting = 8;             // nested metadata arrays
constexpr uint64_t kMaxAlignment = 1u << 20;
constexpr uint64_t kMaxArrayElements = uint64_t{1} << 24;

class GgufParser {
public:
    GgufParser(std::span<const uint8_t> bytes, const std::string& name) : r_(bytes), name_(name) {}

    Result<ModelFile> parse();

private:
    Status err(StatusCode code, std::string_view field, std::string_view what) const {
        return {code, fmt::format("gguf: {}: {}: {}", name_, field, what)};
    }
    Status truncated(std::string_view field) const {
        return err(StatusCode::kCorrupt, field, fmt::format("file truncated at byte {} of {}", r_.pos(), r_.size()));
    }
    Status read_string(std::string_view field, std::string& out);
    Status read_value(std::string_view field, MetaType type, int depth, MetaValue& out);
    static uint64_t min_encoded_size(MetaType t);

    ByteReader r_;
    const std::string& name_;
    // Total metadata array elements allowed. Each costs ~48 bytes in memory for as little as 1 byte of
    // file, so a cap keeps a hostile file from turning into gigabytes; real vocabularies (<1M tokens,
    // merges, scores, types together) stay far below it.
    uint64_t array_budget_ = kMaxArrayElements;
};

uint64_t GgufParser::min_encoded_size(MetaType t) {
    switch (t) {
        case MetaType::kU8: case MetaType::kI8: case MetaType::kBool: return 1;
        case MetaType::kU16: case MetaType::kI16: return 2;
        case MetaType::kU32: case MetaType::kI32: case MetaType::kF32: return 4;
        case MetaType::kU64: case MetaType::kI64: case MetaType::kF64: return 8;
        case MetaType::kString: return 8;   // u64 length
        case MetaType::kArray: return 12;   // u32 type + u64 count
    }
    return 1;
}

Status GgufParser::read_string(std::string_view field, std::string& out) {
    uint64_t len = 0;
    if (!r_.read(len)) return truncated(field);
    if (len > r_.remaining()) {
        return err(StatusCode::kCorrupt, field,
                   fmt::format("string length {} exceeds the {} bytes left in the file", len, r_.remaining()));
    }
    std::string_view view;
    r_.read_view(len, view);
    out.assign(view);
    return Status::Ok();
}

Status GgufParser::read_value(std::string_view field, MetaType type, int depth, MetaValue& out) {
    out.type = type;
    switch (type) {
        case MetaType::kU8: { uint8_t x; if (!r_.read(x)) return truncated(field); out.v = uint64_t{x}; return Status::Ok(); }
        case MetaType::kI8: { int8_t x; if (!r_.read(x)) return truncated(field); out.v = int64_t{x}; return Status::Ok(); }
        case MetaType::kU16: { uint16_t x; if (!r_.read(x)) return truncated(field); out.v = uint64_t{x}; return Status::Ok(); }
        case MetaType::kI16: { int16_t x; if (!r_.read(x)) return truncated(field); out.v = int64_t{x}; return Status::Ok(); }
        case MetaType::kU32: { uint32_t x; if (!r_.read(x)) return truncated(field); out.v = uint64_t{x}; return Status::Ok(); }
        case MetaType::kI32: { int32_t x; if (!r_.read(x)) return truncated(field); out.v = int64_t{x}; return Status::Ok(); }
        case MetaType::kU64: { uint64_t x; if (!r_.read(x)) return truncated(field); out.v = x; return Status::Ok(); }
        case MetaType::kI64: { int64_t x; if (!r_.read(x)) return truncated(field); out.v = x; return Status::Ok(); }
        case MetaType::kF32: { float x; if (!r_.read(x)) return truncated(field); out.v = double{x}; return Status::Ok(); }
        case MetaType::kF64: { double x; if (!r_.read(x)) return truncated(field); out.v = x; return Status::Ok(); }
        case MetaType::kBool: {
            uint8_t x;
            if (!r_.read(x)) return truncated(field);
            if (x > 1) return err(StatusCode::kCorrupt, field, fmt::format("bool value {} is neither 0 nor 1", x));
            out.v = x != 0;
            return Status::Ok();
        }
        case MetaType::kString: {
            std::string s;
            RZ_RETURN_IF_ERROR(read_string(field, s));
            out.v = std::move(s);
            return Status::Ok();
        }
        case MetaType::kArray: {
            if (depth >= kMaxNesting) {
                return err(StatusCode::kCorrupt, field, fmt::format("arrays nested deeper than {}", kMaxNesting));
            }
            uint32_t elem_raw = 0;
            uint64_t count = 0;
            if (!r_.read(elem_raw)) return truncated(field);
            if (elem_raw > static_cast<uint32_t>(MetaType::kF64)) {
                return err(StatusCode::kCorrupt, field, fmt::format("unknown array element type {}", elem_raw));
            }
            const auto elem = static_cast<MetaType>(elem_raw);
            if (!r_.read(count)) return truncated(field);
            // Bound the count by what the remaining bytes can hold before allocating anything.
            if (count > r_.remaining() / min_encoded_size(elem)) {
                return err(StatusCode::kCorrupt, field,
                           fmt::format("array of {} {} elements cannot fit in the {} bytes left", count,
                                       meta_type_name(elem), r_.remaining()));
            }
            if (count > array_budget_) {
                return err(StatusCode::kResourceExhausted, field,
                           fmt::format("metadata arrays hold more than {} elements in total", kMaxArrayElements));
            }
            array_budget_ -= count;
            MetaArray arr;
            arr.elem_type = elem;
            arr.items.resize(static_cast<size_t>(count));
            for (uint64_t i = 0; i < count; ++i) {
                MetaValue& item = arr.items[static_cast<size_t>(i)];
                if (elem == MetaType::kArray) {
                    // Nested array: each element carries its own type and count.
                    RZ_RETURN_IF_ERROR(read_value(field, MetaType::kArray, depth + 1, item));
                } else {
                    RZ_RETURN_IF_ERROR(read_value(field, elem, depth + 1, item));
                }
            }
            out.v = std::move(arr);
            return Status::Ok();
        }
    }
    return err(StatusCode::kCorrupt, field, fmt::format("unknown value type {}", static_cast<uint32_t>(type)));
}

Result<ModelFile> GgufParser::parse() {
    ModelFile mf;
    mf.format = Format::kGguf;
    mf.path = name_;

    uint32_t magic = 0;
    if (!r_.read(magic)) return truncated("magic");
    if (magic != 0x46554747u) {  // "GGUF"
        return err(StatusCode::kCorrupt, "magic", fmt::format("not a GGUF file (magic 0x{:08x})", magic));
    }
    uint32_t version = 0;
    if (!r_.read(version)) return truncated("version");
    if (version == 1) return err(StatusCode::kUnsupported, "version", "GGUF v1 is not supported (only v2 and v3)");
    if ((version & 0xffffu) == 0 && version != 0) {
        return err(StatusCode::kUnsupported, "version", "big-endian GGUF is not supported");
    }
    if (version != 2 && version != 3) {
        return err(StatusCode::kUnsupported, "version", fmt::format("unknown GGUF version {}", version));
    }
    mf.version = version;

    uint64_t n_tensors = 0, n_kv = 0;
    if (!r_.read(n_tensors)) return truncated("n_tensors");
    if (!r_.read(n_kv)) return truncated("n_kv");
    // Minimal encodings: kv = key length(8) + type(4) + 1 byte; tensor info = name length(8) + n_dims(4) +
    // type(4) + offset(8).
    if (n_kv > r_.remaining() / 13) {
        return err(StatusCode::kCorrupt, "n_kv", fmt::format("{} key/value pairs cannot fit in {} bytes", n_kv, r_.size()));
    }
    if (n_tensors > r_.remaining() / 24) {
        return err(StatusCode::kCorrupt, "n_tensors",
                   fmt::format("{} tensor infos cannot fit in {} bytes", n_tensors, r_.size()));
    }

    mf.metadata.reserve(static_cast<size_t>(n_kv));
    std::set<std::string, std::less<>> keys;
    for (uint64_t i = 0; i < n_kv; ++i) {
        const std::string field = fmt::format("metadata[{}].key", i);
        std::string key;
        RZ_RETURN_IF_ERROR(read_string(field, key));
        if (!detail::is_valid_utf8(key)) {
            return err(StatusCode::kCorrupt, field, fmt::format("key '{}' is not valid UTF-8", printable(key)));
        }
        if (key.empty()) return err(StatusCode::kCorrupt, field, "empty key");
        if (!keys.insert(key).second) {
            return err(StatusCode::kCorrupt, field, fmt::format("duplicate key '{}'", printable(key)));
        }
        uint32_t type_raw = 0;
        if (!r_.read(type_raw)) return truncated(fmt::format("metadata '{}' type", printable(key)));
        if (type_raw > static_cast<uint32_t>(MetaType::kF64)) {
            return err(StatusCode::kCorrupt, fmt::format("metadata '{}'", printable(key)),
                       fmt::format("unknown value type {}", type_raw));
        }
        MetaValue value;
        RZ_RETURN_IF_ERROR(read_value(fmt::format("metadata '{}'", printable(key)), static_cast<MetaType>(type_raw), 0, value));
        mf.metadata.emplace_back(std::move(key), std::move(value));
    }

    uint64_t alignment = kGgufDefaultAlignment;
    for (const auto& [key, value] : mf.metadata) {
        if (key != "general.alignment") continue;
        const auto a = value.is_integer() ? value.as_uint() : std::nullopt;
        if (!a || *a == 0 || (*a & (*a - 1)) != 0 || *a > kMaxAlignment) {
            return err(StatusCode::kCorrupt, "general.alignment", "must be an integer power of two up to 1 MiB");
        }
        alignment = *a;
    }
    mf.alignment = alignment;

    mf.tensors.resize(static_cast<size_t>(n_tensors));
    std::set<std::string, std::less<>> names;
    for (uint64_t i = 0; i < n_tensors; ++i) {
        TensorInfo& t = mf.tensors[static_cast<size_t>(i)];
        const std::string field = fmt::format("tensor[{}]", i);
        RZ_RETURN_IF_ERROR(read_string(field + ".name", t.name));
        const std::string tfield = fmt::format("tensor '{}'", printable(t.name));
        if (!detail::is_valid_utf8(t.name)) return err(StatusCode::kCorrupt, tfield, "name is not valid UTF-8");
        if (!names.insert(t.name).second) return err(StatusCode::kCorrupt, tfield, "duplicate tensor name");
        uint32_t n_dims = 0;
        if (!r_.read(n_dims)) return truncated(tfield + " n_dims");
        if (n_dims > kMaxDims) {
            return err(StatusCode::kCorrupt, tfield, fmt::format("n_dims {} exceeds the maximum {}", n_dims, kMaxDims));
        }
        int64_t ne[kMaxDims] = {1, 1, 1, 1};
        for (uint32_t d = 0; d < n_dims; ++d) {
            if (!r_.read(ne[d])) return truncated(tfield + " ne");
            if (ne[d] < 0) return err(StatusCode::kCorrupt, tfield, fmt::format("ne[{}] = {} is negative", d, ne[d]));
        }
        auto n_el = checked_element_count(ne, n_dims);
        if (!n_el.ok()) return err(StatusCode::kCorrupt, tfield, n_el.status().message());
        uint32_t type_raw = 0;
        if (!r_.read(type_raw)) return truncated(tfield + " type");
        const DTypeInfo* info = type_raw < 128 ? dtype_info(type_raw) : nullptr;
        if (!info) return err(StatusCode::kUnsupported, tfield, fmt::format("unknown ggml type {}", type_raw));
        t.dtype = info->id;
        if (n_dims > 0 && ne[0] % info->block_size != 0) {
            return err(StatusCode::kCorrupt, tfield,
                       fmt::format("row length ne[0] = {} is not a multiple of the {} block size {}", ne[0],
                                   info->name, info->block_size));
        }
        auto nb = dtype_bytes(t.dtype, *n_el);
        if (!nb.ok()) return err(StatusCode::kCorrupt, tfield, nb.status().message());
        t.n_bytes = *nb;
        if (!r_.read(t.offset)) return truncated(tfield + " offset");
        t.shape.assign(ne, ne + n_dims);
        std::reverse(t.shape.begin(), t.shape.end());
    }

    const uint64_t data_start = detail::align_up(r_.pos(), alignment);
    const uint64_t file_size = r_.size();
    if (!mf.tensors.empty() && data_start > file_size) {
        return err(StatusCode::kCorrupt, "data section", fmt::format("starts at {} beyond the end of the file ({} bytes)",
                                                                     data_start, file_size));
    }
    const uint64_t data_size = data_start <= file_size ? file_size - data_start : 0;
    for (TensorInfo& t : mf.tensors) {
        const std::string tfield = fmt::format("tensor '{}'", printable(t.name));
        if (t.offset % alignment != 0) {
            return err(StatusCode::kCorrupt, tfield,
                       fmt::format("data offset {} is not aligned to {} bytes", t.offset, alignment));
        }
        if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
            return err(StatusCode::kCorrupt, tfield,
                       fmt::format("data [{}, +{}) lies outside the {}-byte data section", t.offset, t.n_bytes, data_size));
        }
        t.offset += data_start;  // absolute within the file
        t.data = r_.at(t.offset);
    }
    // Overlap check over tensors sorted by offset.
    std::vector<size_t> order(mf.tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mf.tensors[a].offset < mf.tensors[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo& prev = mf.tensors[order[k - 1]];
        const TensorInfo& cur = mf.tensors[order[k]];
        if (prev.offset + prev.n_bytes > cur.offset) {
            return err(StatusCode::kCorrupt, fmt::format("tensor '{}'", printable(cur.name)),
                       fmt::format("data overlaps tensor '{}'", printable(prev.name)));
        }
    }
    mf.build_index();
    return mf;
}

}  // namespace

Result<ModelFile> read_gguf(std::span<const uint8_t> bytes, const std::string& name) {
    GgufParser p(bytes, name);
    return p.parse();
}

Result<ModelFile> open_gguf(const std::string& path) {
    RZ_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
    auto file = std::make_shared<MappedFile>(std::move(map));
    RZ_ASSIGN_OR_RETURN(ModelFile mf, read_gguf(file->bytes(), path));
    mf.files.push_back(std::move(file));
    return mf;
}

}  // namespace rz::formats
