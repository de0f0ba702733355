// SafeTensors reader: single files, sharded checkpoints (model.safetensors.index.json) and Hugging Face
// folders. The JSON header is untrusted: its size is bounded, every entry's dtype/shape/offsets are
// validated against the data section, duplicates and overlaps are rejected.
// Errors read "safetensors: <file>: <field>: <problem>".
#include <algorithm>
#include <array>
#include <filesystem>
#include <numeric>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "formats/byte_reader.h"
#include "realizar/formats/safetensors.h"

namespace rz::formats {
namespace {

using detail::printable;
using Json = nlohmann::ordered_json;

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the SafeTensors spec's own limit
constexpr size_t kMaxDims = 16;
constexpr size_t kMaxConfigBytes = 16u << 20;

constexpr std::array<std::pair<std::string_view, DType>, 15> kDTypes = {{
    {"F64", DType::F64},   {"F32", DType::F32},         {"F16", DType::F16},         {"BF16", DType::BF16},
    {"I64", DType::I64},   {"I32", DType::I32},         {"I16", DType::I16},         {"I8", DType::I8},
    {"U64", DType::U64},   {"U32", DType::U32},         {"U16", DType::U16},         {"U8", DType::U8},
    {"BOOL", DType::BOOL}, {"F8_E4M3", DType::F8_E4M3}, {"F8_E5M2", DType::F8_E5M2},
}};

Status st_err(StatusCode code, std::string_view file, std::string_view field, std::string_view what) {
    return {code, fmt::format("safetensors: {}: {}: {}", file, field, what)};
}

// Parses JSON without exceptions; reports duplicate keys of the top-level object (nlohmann would keep the
// last one silently, hiding a duplicate tensor name).
constexpr size_t kMaxJsonDepth = 64;

bool parse_json(std::string_view text, Json& out, std::string* duplicate_key) {
    if (detail::json_nesting_depth(text) > kMaxJsonDepth) {
        out = Json();
        return false;
    }
    std::set<std::string> seen;
    bool dup = false;
    Json::parser_callback_t cb = [&](int depth, Json::parse_event_t event, Json& parsed) {
        if (event == Json::parse_event_t::key && depth == 1 && parsed.is_string()) {
            if (!seen.insert(parsed.get_ref<const std::string&>()).second && !dup) {
                dup = true;
                if (duplicate_key) *duplicate_key = parsed.get<std::string>();
            }
        }
        return true;
    };
    out = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
    if (out.is_discarded()) return false;
    if (dup) {
        out = Json();
        return false;
    }
    return true;
}

// JSON scalar -> MetaValue (nullopt for null, arrays and objects).
std::optional<MetaValue> json_scalar(const Json& j) {
    if (j.is_boolean()) return MetaValue::boolean(j.get<bool>());
    if (j.is_number_unsigned()) return MetaValue::u64(j.get<uint64_t>());
    if (j.is_number_integer()) return MetaValue::i64(j.get<int64_t>());
    if (j.is_number_float()) return MetaValue::f64(j.get<double>());
    if (j.is_string()) return MetaValue::str(j.get<std::string>());
    return std::nullopt;
}

Status check_overlaps(const ModelFile& mf, std::string_view file) {
    std::vector<size_t> order(mf.tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mf.tensors[a].offset < mf.tensors[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo& prev = mf.tensors[order[k - 1]];
        const TensorInfo& cur = mf.tensors[order[k]];
        if (prev.offset + prev.n_bytes > cur.offset) {
            return st_err(StatusCode::kCorrupt, file, fmt::format("tensor '{}'", printable(cur.name)),
                          fmt::format("data overlaps tensor '{}'", printable(prev.name)));
        }
    }
    return Status::Ok();
}

Result<std::shared_ptr<MappedFile>> map_file(const std::string& path) {
    RZ_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
    return std::make_shared<MappedFile>(std::move(map));
}

std::string join_path(const std::string& dir, const std::string& name) {
    return (std::filesystem::path(dir) / name).string();
}

}  // namespace

std::optional<DType> safetensors_dtype(std::string_view name) {
    for (const auto& [n, t] : kDTypes) {
        if (n == name) return t;
    }
    return std::nullopt;
}

std::string_view safetensors_dtype_name(DType t) {
    for (const auto& [n, d] : kDTypes) {
        if (d == t) return n;
    }
    return {};
}

Result<ModelFile> read_safetensors(std::span<const uint8_t> bytes, const std::string& name, uint32_t shard) {
    ModelFile mf;
    mf.format = Format::kSafeTensors;
    mf.path = name;
    mf.alignment = 1;
    detail::ByteReader r(bytes);
    uint64_t header_len = 0;
    if (!r.read(header_len)) {
        return st_err(StatusCode::kCorrupt, name, "header length", fmt::format("file truncated ({} bytes)", bytes.size()));
    }
    if (header_len > kMaxHeaderBytes) {
        return st_err(StatusCode::kCorrupt, name, "header length",
                      fmt::format("{} bytes exceeds the 100 MiB limit", header_len));
    }
    if (header_len > r.remaining()) {
        return st_err(StatusCode::kCorrupt, name, "header length",
                      fmt::format("{} bytes but only {} bytes follow", header_len, r.remaining()));
    }
    std::string_view text;
    r.read_view(header_len, text);
    const uint64_t data_start = r.pos();
    const uint64_t data_size = bytes.size() - data_start;

    Json header;
    std::string dup;
    if (!parse_json(text, header, &dup)) {
        if (!dup.empty()) return st_err(StatusCode::kCorrupt, name, fmt::format("tensor '{}'", printable(dup)), "duplicate name");
        return st_err(StatusCode::kCorrupt, name, "header", "not valid JSON (invalid syntax or UTF-8, or nested deeper than 64)");
    }
    if (!header.is_object()) return st_err(StatusCode::kCorrupt, name, "header", "JSON header is not an object");

    std::set<std::string, std::less<>> seen;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& key = it.key();
        const Json& entry = it.value();
        if (key == "__metadata__") {
            if (!entry.is_object()) return st_err(StatusCode::kCorrupt, name, "__metadata__", "is not an object");
            for (auto m = entry.begin(); m != entry.end(); ++m) {
                if (m.value().is_string()) {
                    mf.metadata.emplace_back(m.key(), MetaValue::str(m.value().get<std::string>()));
                } else {
                    // The spec says str -> str; keep other values as their JSON text rather than failing.
                    mf.metadata.emplace_back(
                        m.key(), MetaValue::str(m.value().dump(-1, ' ', false, Json::error_handler_t::replace)));
                }
            }
            continue;
        }
        const std::string field = fmt::format("tensor '{}'", printable(key));
        if (!entry.is_object()) return st_err(StatusCode::kCorrupt, name, field, "entry is not an object");
        const auto dt = entry.find("dtype");
        const auto sh = entry.find("shape");
        const auto off = entry.find("data_offsets");
        if (dt == entry.end() || !dt->is_string()) return st_err(StatusCode::kCorrupt, name, field, "missing string 'dtype'");
        if (sh == entry.end() || !sh->is_array()) return st_err(StatusCode::kCorrupt, name, field, "missing array 'shape'");
        if (off == entry.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
            !(*off)[1].is_number_unsigned()) {
            return st_err(StatusCode::kCorrupt, name, field, "'data_offsets' must be two non-negative integers");
        }
        TensorInfo t;
        t.name = key;
        t.shard = shard;
        const std::string& dts = dt->get_ref<const std::string&>();
        const auto dtype = safetensors_dtype(dts);
        if (!dtype) {
            return st_err(StatusCode::kUnsupported, name, field, fmt::format("unknown dtype '{}'", printable(dts)));
        }
        t.dtype = *dtype;
        if (sh->size() > kMaxDims) {
            return st_err(StatusCode::kCorrupt, name, field, fmt::format("{} dimensions (max {})", sh->size(), kMaxDims));
        }
        for (const Json& d : *sh) {
            if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
                return st_err(StatusCode::kCorrupt, name, field, "shape entries must be non-negative integers");
            }
            t.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
        }
        auto n_el = checked_element_count(t.shape.data(), t.shape.size());
        if (!n_el.ok()) return st_err(StatusCode::kCorrupt, name, field, n_el.status().message());
        auto nb = dtype_bytes(t.dtype, *n_el);
        if (!nb.ok()) return st_err(StatusCode::kCorrupt, name, field, nb.status().message());
        t.n_bytes = *nb;
        const uint64_t begin = (*off)[0].get<uint64_t>();
        const uint64_t end = (*off)[1].get<uint64_t>();
        if (begin > end || end > data_size) {
            return st_err(StatusCode::kCorrupt, name, field,
                          fmt::format("data_offsets [{}, {}) lie outside the {}-byte data section", begin, end, data_size));
        }
        if (end - begin != t.n_bytes) {
            return st_err(StatusCode::kCorrupt, name, field,
                          fmt::format("data_offsets span {} bytes but {} {} needs {}", end - begin,
                                      safetensors_dtype_name(t.dtype), fmt::join(t.shape, "x"), t.n_bytes));
        }
        if (!seen.insert(key).second) return st_err(StatusCode::kCorrupt, name, field, "duplicate name");
        t.offset = data_start + begin;
        t.data = bytes.data() + t.offset;
        mf.tensors.push_back(std::move(t));
    }
    RZ_RETURN_IF_ERROR(check_overlaps(mf, name));
    // File order = data order.
    std::stable_sort(mf.tensors.begin(), mf.tensors.end(),
                     [](const TensorInfo& a, const TensorInfo& b) { return a.offset < b.offset; });
    mf.build_index();
    return mf;
}

Result<ModelFile> open_safetensors(const std::string& path) {
    RZ_ASSIGN_OR_RETURN(auto file, map_file(path));
    RZ_ASSIGN_OR_RETURN(ModelFile mf, read_safetensors(file->bytes(), path));
    mf.files.push_back(std::move(file));
    return mf;
}

Result<ModelFile> open_safetensors_index(const std::string& index_path) {
    RZ_ASSIGN_OR_RETURN(std::string text, read_file(index_path, kMaxHeaderBytes));
    Json index;
    std::string dup;
    if (!parse_json(text, index, &dup) || !index.is_object()) {
        return st_err(StatusCode::kCorrupt, index_path, "index", "not a valid JSON object");
    }
    const auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object() || wm->empty()) {
        return st_err(StatusCode::kCorrupt, index_path, "weight_map", "missing or empty object");
    }
    const std::string dir = std::filesystem::path(index_path).parent_path().string();

    // Shard files in order of first mention; names are untrusted, so no paths (only plain file names).
    std::vector<std::string> shard_names;
    std::map<std::string, uint32_t, std::less<>> shard_of_file;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
        const std::string field = fmt::format("weight_map['{}']", printable(it.key()));
        if (!it.value().is_string()) return st_err(StatusCode::kCorrupt, index_path, field, "is not a string");
        const std::string& f = it.value().get_ref<const std::string&>();
        if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." || f == "..") {
            return st_err(StatusCode::kCorrupt, index_path, field,
                          fmt::format("shard '{}' is not a plain file name", printable(f)));
        }
        if (shard_of_file.emplace(f, static_cast<uint32_t>(shard_names.size())).second) shard_names.push_back(f);
    }

    ModelFile mf;
    mf.format = Format::kSafeTensors;
    mf.path = index_path;
    mf.alignment = 1;
    if (const auto md = index.find("metadata"); md != index.end() && md->is_object()) {
        for (auto it = md->begin(); it != md->end(); ++it) {
            if (auto v = json_scalar(it.value())) mf.metadata.emplace_back(it.key(), std::move(*v));
        }
    }
    std::set<std::string, std::less<>> meta_keys;
    for (const auto& kv : mf.metadata) meta_keys.insert(kv.first);
    std::set<std::string, std::less<>> names;
    for (uint32_t s = 0; s < shard_names.size(); ++s) {
        const std::string shard_path = join_path(dir, shard_names[s]);
        RZ_ASSIGN_OR_RETURN(auto file, map_file(shard_path));
        RZ_ASSIGN_OR_RETURN(ModelFile part, read_safetensors(file->bytes(), shard_path, s));
        for (auto& kv : part.metadata) {
            if (meta_keys.insert(kv.first).second) mf.metadata.push_back(std::move(kv));
        }
        for (TensorInfo& t : part.tensors) {
            const auto w = wm->find(t.name);
            if (w == wm->end()) continue;  // present in the shard but not listed: the index decides
            if (w->get_ref<const std::string&>() != shard_names[s]) continue;
            if (!names.insert(t.name).second) {
                return st_err(StatusCode::kCorrupt, shard_path, fmt::format("tensor '{}'", printable(t.name)),
                              "duplicate name across shards");
            }
            mf.tensors.push_back(std::move(t));
        }
        mf.files.push_back(std::move(file));
    }
    for (auto it = wm->begin(); it != wm->end(); ++it) {
        if (!names.count(it.key())) {
            return st_err(StatusCode::kCorrupt, index_path, fmt::format("weight_map['{}']", printable(it.key())),
                          fmt::format("tensor not found in shard '{}'", printable(it.value().get<std::string>())));
        }
    }
    mf.build_index();
    return mf;
}

Result<ModelFile> open_hf_folder(const std::string& dir) {
    namespace fs = std::filesystem;
    const std::string config_path = join_path(dir, "config.json");
    std::error_code ec;
    std::string weights;
    bool sharded = false;
    if (fs::is_regular_file(join_path(dir, "model.safetensors.index.json"), ec)) {
        weights = join_path(dir, "model.safetensors.index.json");
        sharded = true;
    } else if (fs::is_regular_file(join_path(dir, "model.safetensors"), ec)) {
        weights = join_path(dir, "model.safetensors");
    } else {
        // Some folders name their single file differently; accept exactly one *.safetensors.
        std::vector<std::string> found;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            if (e.is_regular_file(ec) && e.path().extension() == ".safetensors") found.push_back(e.path().string());
        }
        if (found.size() != 1) {
            return not_found(fmt::format("hf-folder: {}: no model.safetensors or model.safetensors.index.json "
                                         "(found {} *.safetensors files)", dir, found.size()));
        }
        weights = found[0];
    }
    ModelFile mf;
    if (sharded) {
        RZ_ASSIGN_OR_RETURN(mf, open_safetensors_index(weights));
    } else {
        RZ_ASSIGN_OR_RETURN(mf, open_safetensors(weights));
    }
    mf.format = Format::kHfFolder;
    mf.path = dir;

    if (fs::is_regular_file(config_path, ec)) {
        RZ_ASSIGN_OR_RETURN(std::string text, read_file(config_path, kMaxConfigBytes));
        Json config;
        if (!parse_json(text, config, nullptr) || !config.is_object()) {
            return corrupt(fmt::format("hf-folder: {}: config.json: not a valid JSON object", dir));
        }
        std::vector<std::pair<std::string, MetaValue>> extra;
        extra.emplace_back("hf.config_json", MetaValue::str(text));
        for (auto it = config.begin(); it != config.end(); ++it) {
            if (auto v = json_scalar(it.value())) extra.emplace_back("hf.config." + it.key(), std::move(*v));
        }
        mf.metadata.insert(mf.metadata.begin(), std::make_move_iterator(extra.begin()),
                           std::make_move_iterator(extra.end()));
    }
    mf.build_index();
    return mf;
}

}  // namespace rz::formats
