#pragma once
// APR v2, realizar's native single-file format (spec: docs/formats/apr.md, classical models:
// docs/formats/apr-classical.md). 64-byte header with a CRC-32, UTF-8 JSON metadata at byte 64 padded to
// 64, a binary tensor index sorted by name, then 64-aligned tensor data.
//
// Reading: header CRC verified; our PAYLOAD_CRC flag (0x0400: bytes 44..48 = CRC-32 of bytes 64..EOF)
// checked when present; LZ4 / ZSTD compressed payloads decompressed when realizar was built with liblz4 /
// libzstd (else a clear kUnsupported error); encrypted and sharded files rejected. Files written by the
// original (Rust) realizar are read too, including their older dtype byte numbering (see apr.md).
// The metadata JSON becomes ModelFile metadata: top-level scalars as typed values (non-negative integers
// u64, negative i64, floats f64, bools, strings), arrays as arrays (elements typed the same way; mixed or
// object elements as their JSON text), nested objects flattened to "a.b" keys; plus the raw JSON text in
// "apr.metadata_json" and the header flags in "apr.flags".
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "realizar/formats/model_file.h"

namespace rz::formats {

inline constexpr uint16_t kAprFlagLz4 = 0x0001;
inline constexpr uint16_t kAprFlagZstd = 0x0002;
inline constexpr uint16_t kAprFlagEncrypted = 0x0004;
inline constexpr uint16_t kAprFlagSigned = 0x0008;
inline constexpr uint16_t kAprFlagSharded = 0x0010;
inline constexpr uint16_t kAprFlagQuantized = 0x0020;
inline constexpr uint16_t kAprFlagHasVocab = 0x0200;
inline constexpr uint16_t kAprFlagPayloadCrc = 0x0400;  // realizar's addition
inline constexpr uint32_t kAprAlignment = 64;

bool apr_lz4_supported();   // built with liblz4
bool apr_zstd_supported();  // built with libzstd

// Bytes of n elements of t in an APR file: APR_Q4 = ceil(n/32) blocks of 18 bytes, APR_Q8 = 4 + n,
// everything else as dtype_bytes().
Result<uint64_t> apr_tensor_bytes(DType t, uint64_t n_elements);

// Parses APR bytes; tensors point into `bytes` (not owned) unless the payload is compressed, in which case
// the decompressed copy is held in ModelFile::owned_buffers.
Result<ModelFile> read_apr(std::span<const uint8_t> bytes, const std::string& name);
Result<ModelFile> open_apr(const std::string& path);

// Streaming APR v2 writer (same protocol as GgufWriter): declare metadata and tensors, begin(), write()
// each tensor's bytes in declaration order (any chunking), finish(). The index is sorted by name; data
// follows in declaration order, each tensor 64-aligned. PAYLOAD_CRC is on by default (the header is
// patched at finish()); QUANTIZED and HAS_VOCAB flags are set from the content. Temporary file + fsync +
// rename, removed if the writer dies without a successful finish().
class AprWriter {
public:
    explicit AprWriter(std::string path);
    ~AprWriter();
    AprWriter(const AprWriter&) = delete;
    AprWriter& operator=(const AprWriter&) = delete;

    void set_payload_crc(bool on);
    // Metadata: a JSON object text, and/or typed values added as top-level keys (added keys override).
    void set_metadata_json(std::string json_object);
    void add_metadata(std::string key, MetaValue value);
    void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape);

    Status begin();
    Status write(std::span<const uint8_t> bytes);
    Status write_tensor(std::span<const uint8_t> bytes);
    Status finish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes a ModelFile as APR. An APR-sourced ModelFile keeps its exact metadata JSON ("apr.metadata_json");
// otherwise the metadata values become the JSON object (keys starting with "apr." are skipped).
Status write_apr(const std::string& path, const ModelFile& mf);

}  // namespace rz::formats
