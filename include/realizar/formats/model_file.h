#pragma once
// ModelFile: one read-only view over every model-file format realizar reads (GGUF, SafeTensors file or
// Hugging Face folder, APR v2, llama2.c checkpoint): metadata + tensor descriptors + zero-copy data.
//
// Shape convention (easy to get wrong, see docs/conventions.md): TensorInfo::shape is row-major,
// outermost dimension first, exactly as SafeTensors/PyTorch/numpy write it. GGUF stores ggml's ne[]
// with the innermost dimension first; the GGUF reader reverses it. So a [n_out, n_in] weight matrix
// has shape {n_out, n_in} whatever the file format, and rows of n_in contiguous elements.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realizar/core/dtype.h"
#include "realizar/core/mapped_file.h"
#include "realizar/core/status.h"

namespace rz::formats {

enum class Format { kGguf, kSafeTensors, kHfFolder, kApr, kLlama2c };
std::string_view format_name(Format f);  // "gguf", "safetensors", "hf-folder", "apr", "llama2c"

// Metadata value types; the numbering equals GGUF's gguf_type.
enum class MetaType : uint32_t {
    kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
    kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view meta_type_name(MetaType t);

struct MetaValue;
struct MetaArray {
    MetaType elem_type = MetaType::kU8;  // element type (kArray for nested arrays)
    std::vector<MetaValue> items;
};

// One metadata value. Integers are kept in 64-bit storage with their declared type remembered, so a
// writer can reproduce the file exactly.
struct MetaValue {
    MetaType type = MetaType::kU8;
    std::variant<uint64_t, int64_t, double, bool, std::string, MetaArray> v;

    static MetaValue u32(uint32_t x) { return {MetaType::kU32, uint64_t{x}}; }
    static MetaValue u64(uint64_t x) { return {MetaType::kU64, x}; }
    static MetaValue i32(int32_t x) { return {MetaType::kI32, int64_t{x}}; }
    static MetaValue i64(int64_t x) { return {MetaType::kI64, x}; }
    static MetaValue f32(float x) { return {MetaType::kF32, double{x}}; }
    static MetaValue f64(double x) { return {MetaType::kF64, x}; }
    static MetaValue boolean(bool x) { return {MetaType::kBool, x}; }
    static MetaValue str(std::string s) { return {MetaType::kString, std::move(s)}; }
    static MetaValue array(MetaType elem, std::vector<MetaValue> items) {
        return {MetaType::kArray, MetaArray{elem, std::move(items)}};
    }

    bool is_integer() const;
    bool is_float() const { return type == MetaType::kF32 || type == MetaType::kF64; }
    // Lenient numeric accessors: any integer/float/bool converts; nullopt for strings/arrays or when an
    // integer does not fit.
    std::optional<int64_t> as_int() const;
    std::optional<uint64_t> as_uint() const;
    std::optional<double> as_float() const;
    std::optional<bool> as_bool() const;
    const std::string* as_string() const;  // nullptr unless kString
    const MetaArray* as_array() const;     // nullptr unless kArray
};

// Deep equality: same declared types (element types for arrays) and same values.
bool operator==(const MetaArray& a, const MetaArray& b);
bool operator==(const MetaValue& a, const MetaValue& b);

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;  // row-major, outermost first (see top of file)
    uint64_t offset = 0;         // byte offset of the data within its backing file (absolute)
    uint64_t n_bytes = 0;        // validated against dtype and shape by the reader
    const uint8_t* data = nullptr;  // points into the mapped file (valid while the ModelFile lives)
    uint32_t shard = 0;          // which backing file holds it (sharded SafeTensors)

    uint64_t n_elements() const;
    std::span<const uint8_t> bytes() const { return {data, static_cast<size_t>(n_bytes)}; }
};

class ModelFile {
public:
    Format format = Format::kGguf;
    uint32_t version = 0;      // GGUF version, APR major version, ...
    std::string path;          // file or folder it was opened from
    // Metadata in file order. For SafeTensors the __metadata__ strings; for HF folders also the raw text of
    // config.json in "hf.config_json" and its top-level scalars as "hf.config.<key>"; for llama2.c the
    // llama.cpp keys a converted GGUF would carry (general.architecture = "llama", llama.*); for APR the
    // metadata JSON (scalars typed, arrays as arrays) plus its raw text in "apr.metadata_json".
    std::vector<std::pair<std::string, MetaValue>> metadata;
    std::vector<TensorInfo> tensors;  // in file order
    uint64_t alignment = 32;           // GGUF general.alignment / APR 64

    const MetaValue* find_meta(std::string_view key) const;
    const TensorInfo* find_tensor(std::string_view name) const;
    // Convenience typed lookups (nullopt when missing or of an unconvertible type).
    std::optional<int64_t> meta_int(std::string_view key) const;
    std::optional<double> meta_float(std::string_view key) const;
    std::optional<std::string> meta_string(std::string_view key) const;

    // Backing storage (one map per file; several for sharded checkpoints). Tensors point into these.
    std::vector<std::shared_ptr<MappedFile>> files;
    // Heap buffers some tensors point into (e.g. a decompressed APR payload); empty for plain files.
    std::vector<std::shared_ptr<const std::vector<uint8_t>>> owned_buffers;
    void build_index();  // (re)builds the name -> index maps after tensors/metadata change

private:
    std::map<std::string, size_t, std::less<>> tensor_index_;
    std::map<std::string, size_t, std::less<>> meta_index_;
};

// Detects the format (by magic, extension and folder contents) and opens it with the right reader.
// Every error names the file and the offending field.
Result<ModelFile> open_model_file(const std::string& path);

// Opens GGUF or APR data already in memory (e.g. a model embedded in the binary), detected by magic.
// Non-owning: tensors point into `bytes`, which the caller keeps alive as long as the ModelFile (a
// compressed APR is the exception: its decompressed payload is held in owned_buffers). `name` is used as
// ModelFile::path and in error messages.
Result<ModelFile> open_model_bytes(std::span<const uint8_t> bytes, std::string name);

// Writes mf as GGUF, SafeTensors or APR (write_gguf / write_safetensors / write_apr: temp file, fsync,
// rename). Names and dtypes are written as they are: mapping tensor names between conventions (HF <->
// GGUF) or quantizing is the caller's job. kInvalidArgument for kHfFolder / kLlama2c.
Status write_model_file(const std::string& path, const ModelFile& mf, Format format);

}  // namespace rz::formats
