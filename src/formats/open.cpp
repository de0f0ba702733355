// Format detection: folders are Hugging Face folders; files are recognised by magic first (GGUF, APR),
// then by shape (a SafeTensors header: u64 length then '{'), then by extension (.bin = llama2.c, which
// has no magic and is accepted only if its header validates exactly against the file size).
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "realizar/formats/apr.h"
#include "realizar/formats/gguf.h"
#include "realizar/formats/llama2c.h"
#include "realizar/formats/model_file.h"
#include "realizar/formats/safetensors.h"

namespace rz::formats {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool looks_like_safetensors(std::span<const uint8_t> b) {
    if (b.size() < 10) return false;
    uint64_t n = 0;
    std::memcpy(&n, b.data(), 8);
    return n >= 2 && n <= b.size() - 8 && b[8] == '{';
}

}  // namespace

Result<ModelFile> open_model_file(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return not_found(fmt::format("{}: no such file or folder", path));
    if (fs::is_directory(st)) return open_hf_folder(path);
    if (ends_with(path, ".index.json")) return open_safetensors_index(path);

    RZ_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
    auto file = std::make_shared<MappedFile>(std::move(map));
    const auto b = file->bytes();
    Result<ModelFile> r = unsupported(fmt::format("{}: unrecognised model file format", path));
    if (b.size() >= 4 && std::memcmp(b.data(), "GGUF", 4) == 0) {
        r = read_gguf(b, path);
    } else if (b.size() >= 3 && std::memcmp(b.data(), "APR", 3) == 0) {
        r = read_apr(b, path);
    } else if (b.size() >= 4 && std::memcmp(b.data(), "24ka", 4) == 0) {
        // llama2.c version 1+: the u32 magic 0x616b3432 ("ak42") is stored little-endian, i.e. "24ka"
        r = read_llama2c(b, path);
    } else if (looks_like_safetensors(b)) {
        r = read_safetensors(b, path);
    } else if (ends_with(path, ".bin")) {
        r = read_llama2c(b, path);
    }
    if (!r.ok()) return r.status();
    ModelFile mf = std::move(r).value();
    mf.files.push_back(std::move(file));
    return mf;
}

Result<ModelFile> open_model_bytes(std::span<const uint8_t> bytes, std::string name) {
    if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) return read_gguf(bytes, name);
    if (bytes.size() >= 3 && std::memcmp(bytes.data(), "APR", 3) == 0) return read_apr(bytes, name);
    return unsupported(fmt::format("{}: in-memory data is neither GGUF nor APR", name));
}

Status write_model_file(const std::string& path, const ModelFile& mf, Format format) {
    switch (format) {
        case Format::kGguf: return write_gguf(path, mf);
        case Format::kSafeTensors: return write_safetensors(path, mf);
        case Format::kApr: return write_apr(path, mf);
        case Format::kHfFolder:
        case Format::kLlama2c: break;
    }
    return invalid_argument(fmt::format("{}: realizar does not write {} files", path, format_name(format)));
}

}  // namespace rz::formats
