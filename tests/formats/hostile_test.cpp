// Hostile input: a corpus of hand-made broken files, one test each. Every one must fail cleanly (no crash,
// no hang, no huge allocation) with a Status whose message names the file and the offending field.
// The same files seed the fuzzers (tests/fuzz/corpus/) via RZ_WRITE_FUZZ_SEEDS=dir.
#include <cstdlib>
#include <filesystem>
#include <functional>

#include <gtest/gtest.h>

#include "formats/crc32.h"
#include "formats/test_util.h"
#include "realizar/formats/apr.h"
#include "realizar/formats/gguf.h"
#include "realizar/formats/llama2c.h"
#include "realizar/formats/model_file.h"
#include "realizar/formats/safetensors.h"

namespace rz::formats {
namespace {

using test::Bytes;
constexpr uint64_t kHuge = uint64_t{1} << 60;

// ---- GGUF builders --------------------------------------------------------------------------------
Bytes gguf_head(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    Bytes b;
    b.raw("GGUF").put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
    return b;
}
// One tensor info (ne innermost first).
Bytes& gguf_tensor(Bytes& b, const std::string& name, std::vector<int64_t> ne, uint32_t type, uint64_t offset) {
    b.gguf_str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (int64_t d : ne) b.put<int64_t>(d);
    return b.put<uint32_t>(type).put<uint64_t>(offset);
}
// A file with the given tensor infos and `data_bytes` of data after 32-alignment.
std::vector<uint8_t> gguf_with_tensors(const std::function<void(Bytes&)>& infos, uint64_t n_tensors, size_t data_bytes) {
    Bytes b = gguf_head(n_tensors, 0);
    infos(b);
    b.pad_to(32).zeros(data_bytes);
    return b.b;
}

// ---- SafeTensors ---------------------------------------------------------------------------------
std::vector<uint8_t> st(const std::string& header, size_t data_bytes) {
    return test::safetensors_bytes(header, std::vector<uint8_t>(data_bytes, 0));
}

// ---- APR -----------------------------------------------------------------------------------------
struct AprSpec {
    std::string meta = "{}";
    std::vector<uint8_t> index;  // raw entries
    uint32_t count = 0;
    std::vector<uint8_t> data;
    uint16_t flags = 0;
    uint8_t major = 2;
    std::string magic = std::string("APR\0", 4);
    bool corrupt_header_crc = false;
    int64_t metadata_size_override = -1;
};
Bytes& apr_entry(Bytes& b, const std::string& name, uint8_t dtype, std::vector<uint64_t> dims, uint64_t off, uint64_t size) {
    b.put<uint16_t>(static_cast<uint16_t>(name.size())).raw(name).put<uint8_t>(dtype).put<uint8_t>(static_cast<uint8_t>(dims.size()));
    for (uint64_t d : dims) b.put<uint64_t>(d);
    return b.put<uint64_t>(off).put<uint64_t>(size);
}
std::vector<uint8_t> apr(const AprSpec& s) {
    Bytes body;
    body.raw(s.meta).pad_to(64);
    const uint64_t index_offset = 64 + body.b.size();
    body.b.insert(body.b.end(), s.index.begin(), s.index.end());
    body.pad_to(64);
    const uint64_t data_offset = 64 + body.b.size();
    body.b.insert(body.b.end(), s.data.begin(), s.data.end());
    Bytes h;
    h.raw(s.magic).put<uint8_t>(s.major).put<uint8_t>(0).put<uint16_t>(s.flags).put<uint32_t>(s.count).put<uint64_t>(64);
    h.put<uint32_t>(s.metadata_size_override >= 0 ? static_cast<uint32_t>(s.metadata_size_override)
                                                 : static_cast<uint32_t>(s.meta.size()));
    h.put<uint64_t>(index_offset).put<uint64_t>(data_offset).put<uint32_t>(0).zeros(20);
    if (s.flags & kAprFlagPayloadCrc) {
        const uint32_t pc = detail::crc32(body.b.data(), body.b.size());
        std::memcpy(h.b.data() + 44, &pc, 4);
    }
    uint32_t crc = detail::crc32(h.b.data() + 44, 20, detail::crc32(h.b.data(), 40));
    if (s.corrupt_header_crc) crc ^= 1;
    std::memcpy(h.b.data() + 40, &crc, 4);
    h.b.insert(h.b.end(), body.b.begin(), body.b.end());
    return h.b;
}
std::vector<uint8_t> apr_one_tensor(uint8_t dtype, std::vector<uint64_t> dims, uint64_t off, uint64_t size, size_t data) {
    AprSpec s;
    Bytes e;
    apr_entry(e, "w", dtype, std::move(dims), off, size);
    s.index = e.b;
    s.count = 1;
    s.data.assign(data, 0);
    return apr(s);
}

struct Case {
    std::string name;      // test name and file name
    std::string reader;    // gguf | safetensors | apr | llama2c
    std::function<std::vector<uint8_t>()> make;
    StatusCode code;
    std::string field;     // substring the message must contain
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

Result<ModelFile> parse(const Case& c, const std::vector<uint8_t>& bytes) {
    const std::string file = c.name + "." + (c.reader == "llama2c" ? "bin" : c.reader);
    if (c.reader == "gguf") return read_gguf(bytes, file);
    if (c.reader == "safetensors") return read_safetensors(bytes, file);
    if (c.reader == "apr") return read_apr(bytes, file);
    return read_llama2c(bytes, file);
}

std::vector<Case> cases() {
    using S = StatusCode;
    std::vector<Case> v;
    // ---- GGUF ----
    v.push_back({"gguf_empty", "gguf", [] { return std::vector<uint8_t>{}; }, S::kCorrupt, "magic"});
    v.push_back({"gguf_wrong_magic", "gguf", [] { return Bytes().raw("GGML").put<uint32_t>(3).zeros(16).b; }, S::kCorrupt, "magic"});
    v.push_back({"gguf_v1", "gguf", [] { return gguf_head(0, 0, 1).b; }, S::kUnsupported, "version"});
    v.push_back({"gguf_v4", "gguf", [] { return gguf_head(0, 0, 4).b; }, S::kUnsupported, "version"});
    v.push_back({"gguf_big_endian", "gguf", [] { return gguf_head(0, 0, 0x03000000u).b; }, S::kUnsupported, "big-endian"});
    v.push_back({"gguf_truncated_header", "gguf", [] { return Bytes().raw("GGUF").put<uint32_t>(3).put<uint32_t>(0).b; }, S::kCorrupt, "n_tensors"});
    v.push_back({"gguf_truncated_kv", "gguf", [] { return gguf_head(0, 1).gguf_str("general.name").b; }, S::kCorrupt, "metadata 'general.name' type"});
    v.push_back({"gguf_truncated_value", "gguf", [] {
        return gguf_head(0, 1).gguf_str("k").put<uint32_t>(4).put<uint16_t>(7).b; }, S::kCorrupt, "metadata 'k'"});
    v.push_back({"gguf_absurd_n_tensors", "gguf", [] { return gguf_head(kHuge, 0).zeros(64).b; }, S::kCorrupt, "n_tensors"});
    v.push_back({"gguf_absurd_n_kv", "gguf", [] { return gguf_head(0, kHuge).zeros(64).b; }, S::kCorrupt, "n_kv"});
    v.push_back({"gguf_absurd_key_length", "gguf", [] { return gguf_head(0, 1).put<uint64_t>(kHuge).zeros(32).b; }, S::kCorrupt, "metadata[0].key"});
    v.push_back({"gguf_absurd_string_value", "gguf", [] {
        return gguf_head(0, 1).gguf_str("k").put<uint32_t>(8).put<uint64_t>(kHuge).zeros(8).b; }, S::kCorrupt, "metadata 'k'"});
    v.push_back({"gguf_absurd_array_count", "gguf", [] {
        return gguf_head(0, 1).gguf_str("arr").put<uint32_t>(9).put<uint32_t>(4).put<uint64_t>(uint64_t{1} << 40).zeros(64).b; },
        S::kCorrupt, "metadata 'arr'"});
    v.push_back({"gguf_absurd_string_array", "gguf", [] {
        return gguf_head(0, 1).gguf_str("toks").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(1000).zeros(999).b; },
        S::kCorrupt, "metadata 'toks'"});
    v.push_back({"gguf_array_budget", "gguf", [] {  // 17M one-byte elements: would be ~800 MB as MetaValues
        return gguf_head(0, 1).gguf_str("bytes").put<uint32_t>(9).put<uint32_t>(0).put<uint64_t>(17u << 20).zeros(17u << 20).b; },
        S::kResourceExhausted, "metadata 'bytes'"});
    v.push_back({"gguf_unknown_value_type", "gguf", [] { return gguf_head(0, 1).gguf_str("k").put<uint32_t>(99).zeros(8).b; }, S::kCorrupt, "metadata 'k'"});
    v.push_back({"gguf_unknown_array_type", "gguf", [] {
        return gguf_head(0, 1).gguf_str("a").put<uint32_t>(9).put<uint32_t>(13).put<uint64_t>(1).zeros(8).b; }, S::kCorrupt, "metadata 'a'"});
    v.push_back({"gguf_deep_nesting", "gguf", [] {
        Bytes b = gguf_head(0, 1).gguf_str("deep").put<uint32_t>(9);
        for (int i = 0; i < 20; ++i) b.put<uint32_t>(9).put<uint64_t>(1);
        return b.put<uint32_t>(4).put<uint64_t>(0).b; }, S::kCorrupt, "nested deeper"});
    v.push_back({"gguf_invalid_utf8_key", "gguf", [] { return gguf_head(0, 1).gguf_str("bad\xff\xfekey").put<uint32_t>(4).put<uint32_t>(1).b; }, S::kCorrupt, "UTF-8"});
    v.push_back({"gguf_overlong_utf8_key", "gguf", [] { return gguf_head(0, 1).gguf_str("\xc0\xafkey").put<uint32_t>(4).put<uint32_t>(1).b; }, S::kCorrupt, "UTF-8"});
    v.push_back({"gguf_duplicate_key", "gguf", [] {
        return gguf_head(0, 2).gguf_str("a").put<uint32_t>(4).put<uint32_t>(1).gguf_str("a").put<uint32_t>(4).put<uint32_t>(2).b; },
        S::kCorrupt, "duplicate key 'a'"});
    v.push_back({"gguf_bad_bool", "gguf", [] { return gguf_head(0, 1).gguf_str("flag").put<uint32_t>(7).put<uint8_t>(2).b; }, S::kCorrupt, "metadata 'flag'"});
    v.push_back({"gguf_alignment_zero", "gguf", [] { return gguf_head(0, 1).gguf_str("general.alignment").put<uint32_t>(4).put<uint32_t>(0).b; }, S::kCorrupt, "general.alignment"});
    v.push_back({"gguf_alignment_not_pow2", "gguf", [] { return gguf_head(0, 1).gguf_str("general.alignment").put<uint32_t>(4).put<uint32_t>(24).b; }, S::kCorrupt, "general.alignment"});
    v.push_back({"gguf_alignment_string", "gguf", [] { return gguf_head(0, 1).gguf_str("general.alignment").put<uint32_t>(8).gguf_str("32").b; }, S::kCorrupt, "general.alignment"});
    v.push_back({"gguf_too_many_dims", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t", {1, 1, 1, 1, 1}, 0, 0); }, 1, 32); }, S::kCorrupt, "n_dims"});
    v.push_back({"gguf_negative_dim", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t", {4, -1}, 0, 0); }, 1, 32); }, S::kCorrupt, "tensor 't'"});
    v.push_back({"gguf_overflowing_dims", "gguf", [] {
        return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "big", {int64_t{1} << 32, int64_t{1} << 32, int64_t{1} << 32}, 0, 0); }, 1, 32); },
        S::kCorrupt, "tensor 'big'"});
    v.push_back({"gguf_overflowing_bytes", "gguf", [] {
        return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "big", {int64_t{1} << 61}, 0, 0); }, 1, 32); }, S::kCorrupt, "tensor 'big'"});
    v.push_back({"gguf_unknown_dtype", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t", {4}, 99, 0); }, 1, 32); }, S::kUnsupported, "ggml type 99"});
    v.push_back({"gguf_apr_dtype", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t", {32}, 128, 0); }, 1, 64); }, S::kUnsupported, "ggml type 128"});
    v.push_back({"gguf_partial_block_row", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "q", {16, 2}, 2, 0); }, 1, 64); }, S::kCorrupt, "block size"});
    v.push_back({"gguf_misaligned_offset", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t", {4}, 0, 4); }, 1, 64); }, S::kCorrupt, "not aligned"});
    v.push_back({"gguf_offset_out_of_bounds", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t", {4}, 0, 64); }, 1, 64); }, S::kCorrupt, "outside"});
    v.push_back({"gguf_huge_offset", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t", {4}, 0, ~uint64_t{31}); }, 1, 64); }, S::kCorrupt, "outside"});
    v.push_back({"gguf_truncated_data", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t", {64}, 0, 0); }, 1, 100); }, S::kCorrupt, "outside"});
    v.push_back({"gguf_overlapping_tensors", "gguf", [] {
        return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "a", {16}, 0, 0); gguf_tensor(b, "b", {16}, 0, 32); }, 2, 128); },
        S::kCorrupt, "overlaps"});
    v.push_back({"gguf_duplicate_tensor", "gguf", [] {
        return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "a", {4}, 0, 0); gguf_tensor(b, "a", {4}, 0, 32); }, 2, 64); },
        S::kCorrupt, "duplicate tensor name"});
    v.push_back({"gguf_invalid_utf8_tensor", "gguf", [] { return gguf_with_tensors([](Bytes& b) { gguf_tensor(b, "t\x80", {4}, 0, 0); }, 1, 32); }, S::kCorrupt, "UTF-8"});
    v.push_back({"gguf_data_section_missing", "gguf", [] {
        Bytes b = gguf_head(1, 0);
        gguf_tensor(b, "t", {4}, 0, 0);
        return b.b; }, S::kCorrupt, "data section"});
    // ---- SafeTensors ----
    v.push_back({"st_too_short", "safetensors", [] { return std::vector<uint8_t>{1, 2, 3}; }, S::kCorrupt, "header length"});
    v.push_back({"st_header_past_eof", "safetensors", [] { return Bytes().put<uint64_t>(1000).raw("{}").b; }, S::kCorrupt, "header length"});
    v.push_back({"st_header_absurd", "safetensors", [] { return Bytes().put<uint64_t>(kHuge).raw("{}").b; }, S::kCorrupt, "100 MiB"});
    v.push_back({"st_not_json", "safetensors", [] { return st("{\"a\": [1, 2", 0); }, S::kCorrupt, "header"});
    v.push_back({"st_not_object", "safetensors", [] { return st("[1, 2, 3]", 0); }, S::kCorrupt, "not an object"});
    v.push_back({"st_invalid_utf8", "safetensors", [] { return st("{\"w\xff\": {}}", 0); }, S::kCorrupt, "UTF-8"});
    v.push_back({"st_entry_not_object", "safetensors", [] { return st(R"({"w": 5})", 0); }, S::kCorrupt, "tensor 'w'"});
    v.push_back({"st_missing_dtype", "safetensors", [] { return st(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4); }, S::kCorrupt, "dtype"});
    v.push_back({"st_unknown_dtype", "safetensors", [] { return st(R"({"w": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}})", 1); }, S::kUnsupported, "unknown dtype 'F4'"});
    v.push_back({"st_negative_shape", "safetensors", [] { return st(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4); }, S::kCorrupt, "shape"});
    v.push_back({"st_float_shape", "safetensors", [] { return st(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4); }, S::kCorrupt, "shape"});
    v.push_back({"st_too_many_dims", "safetensors", [] {
        return st(R"({"w": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "data_offsets": [0, 1]}})", 1); }, S::kCorrupt, "dimensions"});
    v.push_back({"st_offsets_wrong_arity", "safetensors", [] { return st(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4); }, S::kCorrupt, "data_offsets"});
    v.push_back({"st_offsets_reversed", "safetensors", [] { return st(R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 0]}})", 4); }, S::kCorrupt, "tensor 'w'"});
    v.push_back({"st_offsets_out_of_bounds", "safetensors", [] { return st(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8); }, S::kCorrupt, "outside"});
    v.push_back({"st_offsets_huge", "safetensors", [] {
        return st(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [18446744073709551615, 18446744073709551615]}})", 8); }, S::kCorrupt, "outside"});
    v.push_back({"st_size_mismatch", "safetensors", [] { return st(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8); }, S::kCorrupt, "needs 12"});
    v.push_back({"st_overflowing_shape", "safetensors", [] {
        return st(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 8]}})", 8); }, S::kCorrupt, "tensor 'w'"});
    v.push_back({"st_overlapping", "safetensors", [] {
        return st(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12); },
        S::kCorrupt, "overlaps"});
    v.push_back({"st_duplicate_name", "safetensors", [] {
        return st(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})", 2); },
        S::kCorrupt, "duplicate name"});
    v.push_back({"st_metadata_not_object", "safetensors", [] { return st(R"({"__metadata__": [1]})", 0); }, S::kCorrupt, "__metadata__"});
    v.push_back({"st_deep_json", "safetensors", [] { return st(std::string(100000, '[') + std::string(100000, ']'), 0); }, S::kCorrupt, "nested deeper"});
    v.push_back({"st_deep_json_in_entry", "safetensors", [] { return st("{\"w\": " + std::string(70, '[') + std::string(70, ']') + "}", 0); }, S::kCorrupt, "nested deeper"});
    // ---- APR ----
    v.push_back({"apr_too_short", "apr", [] { return Bytes().raw(std::string("APR\0", 4)).zeros(20).b; }, S::kCorrupt, "header"});
    v.push_back({"apr_wrong_magic", "apr", [] { AprSpec s; s.magic = "APX"; s.magic.push_back('\0'); return apr(s); }, S::kCorrupt, "magic"});
    v.push_back({"apr_v1", "apr", [] { AprSpec s; s.magic = "APR1"; return apr(s); }, S::kUnsupported, "APR v1"});
    v.push_back({"apr_major_3", "apr", [] { AprSpec s; s.major = 3; return apr(s); }, S::kUnsupported, "version"});
    v.push_back({"apr_header_crc", "apr", [] { AprSpec s; s.corrupt_header_crc = true; return apr(s); }, S::kCorrupt, "header checksum"});
    v.push_back({"apr_payload_crc", "apr", [] {
        AprSpec s;
        s.flags = kAprFlagPayloadCrc;
        auto b = apr(s);
        b.push_back(0);  // appended byte: payload CRC no longer matches
        return b; }, S::kCorrupt, "payload checksum"});
    v.push_back({"apr_encrypted", "apr", [] { AprSpec s; s.flags = kAprFlagEncrypted; return apr(s); }, S::kUnsupported, "encrypted"});
    v.push_back({"apr_lz4_and_zstd", "apr", [] { AprSpec s; s.flags = kAprFlagLz4 | kAprFlagZstd; return apr(s); }, S::kCorrupt, "both LZ4 and ZSTD"});
    v.push_back({"apr_metadata_out_of_bounds", "apr", [] { AprSpec s; s.metadata_size_override = 1 << 30; return apr(s); }, S::kCorrupt, "metadata"});
    v.push_back({"apr_metadata_not_json", "apr", [] { AprSpec s; s.meta = "{\"model_type\": "; return apr(s); }, S::kCorrupt, "metadata"});
    v.push_back({"apr_metadata_too_deep", "apr", [] { AprSpec s; s.meta = "{\"a\":" + std::string(65, '[') + std::string(65, ']') + "}"; return apr(s); }, S::kCorrupt, "nested deeper"});
    v.push_back({"apr_metadata_not_object", "apr", [] { AprSpec s; s.meta = "[1,2]"; return apr(s); }, S::kCorrupt, "metadata"});
    v.push_back({"apr_absurd_tensor_count", "apr", [] { AprSpec s; s.count = 0xffffffffu; return apr(s); }, S::kCorrupt, "tensor_count"});
    v.push_back({"apr_truncated_index", "apr", [] {
        AprSpec s;
        s.count = 3;  // three entries declared, one present, then zero padding (names of length 0)
        Bytes e;
        apr_entry(e, "w", 0, {1}, 0, 4);
        s.index = e.b;
        s.data.assign(4, 0);
        return apr(s); }, S::kCorrupt, "tensor"});
    v.push_back({"apr_invalid_utf8_name", "apr", [] {
        AprSpec s;
        Bytes e;
        apr_entry(e, "w\xc3", 0, {1}, 0, 4);
        s.index = e.b;
        s.count = 1;
        s.data.assign(4, 0);
        return apr(s); }, S::kCorrupt, "UTF-8"});
    v.push_back({"apr_too_many_dims", "apr", [] { return apr_one_tensor(0, {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 4, 4); }, S::kCorrupt, "dimensions"});
    v.push_back({"apr_unknown_dtype", "apr", [] { return apr_one_tensor(77, {4}, 0, 16, 16); }, S::kUnsupported, "dtype byte 77"});
    v.push_back({"apr_size_mismatch", "apr", [] { return apr_one_tensor(0, {4}, 0, 15, 16); }, S::kCorrupt, "size 15"});
    v.push_back({"apr_overflowing_dims", "apr", [] { return apr_one_tensor(0, {uint64_t{1} << 40, uint64_t{1} << 40}, 0, 4, 4); }, S::kCorrupt, "tensor 'w'"});
    v.push_back({"apr_absurd_dim", "apr", [] { return apr_one_tensor(0, {~uint64_t{0}}, 0, 4, 4); }, S::kCorrupt, "absurd"});
    v.push_back({"apr_data_out_of_bounds", "apr", [] { return apr_one_tensor(0, {4}, 64, 16, 16); }, S::kCorrupt, "outside"});
    v.push_back({"apr_overlapping", "apr", [] {
        AprSpec s;
        Bytes e;
        apr_entry(e, "a", 0, {4}, 0, 16);
        apr_entry(e, "b", 0, {4}, 8, 16);
        s.index = e.b;
        s.count = 2;
        s.data.assign(32, 0);
        return apr(s); }, S::kCorrupt, "overlaps"});
    v.push_back({"apr_duplicate_name", "apr", [] {
        AprSpec s;
        Bytes e;
        apr_entry(e, "a", 0, {4}, 0, 16);
        apr_entry(e, "a", 0, {4}, 64, 16);
        s.index = e.b;
        s.count = 2;
        s.data.assign(80, 0);
        return apr(s); }, S::kCorrupt, "duplicate name"});
    // ---- llama2.c ----
    v.push_back({"l2_too_short", "llama2c", [] { return Bytes().put<int32_t>(64).b; }, S::kCorrupt, "header"});
    v.push_back({"l2_zero_dims", "llama2c", [] { return Bytes().put<int32_t>(0).zeros(24).b; }, S::kCorrupt, "dim"});
    v.push_back({"l2_absurd_sizes", "llama2c", [] {
        return Bytes().put<int32_t>(1 << 30).put<int32_t>(1 << 30).put<int32_t>(2).put<int32_t>(2).put<int32_t>(2).put<int32_t>(1 << 30).put<int32_t>(1 << 30).zeros(1024).b; },
        S::kCorrupt, "llama2c"});
    v.push_back({"l2_v2_quantized", "llama2c", [] { return Bytes().put<uint32_t>(kLlama2cMagic).put<int32_t>(2).zeros(248).b; }, S::kUnsupported, "version"});
    return v;
}

class Hostile : public ::testing::TestWithParam<Case> {};

TEST_P(Hostile, FailsCleanlyNamingFileAndField) {
    const Case& c = GetParam();
    const std::vector<uint8_t> bytes = c.make();
    if (const char* dir = std::getenv("RZ_WRITE_FUZZ_SEEDS"); dir && bytes.size() <= 65536) {  // regenerates the fuzz seeds
        const std::string fuzz = c.reader == "safetensors" ? "safetensors" : c.reader;
        std::filesystem::create_directories(std::string(dir) + "/" + fuzz);
        test::write_bytes(std::string(dir) + "/" + fuzz + "/" + c.name, bytes);
    }
    auto r = parse(c, bytes);
    ASSERT_FALSE(r.ok()) << c.name << " parsed without error";
    const std::string& msg = r.status().message();
    EXPECT_EQ(r.status().code(), c.code) << r.status().to_string();
    EXPECT_NE(msg.find(c.name), std::string::npos) << "message does not name the file: " << msg;
    EXPECT_NE(msg.find(c.field), std::string::npos) << "message does not name '" << c.field << "': " << msg;
}

INSTANTIATE_TEST_SUITE_P(Corpus, Hostile, ::testing::ValuesIn(cases()), [](const auto& tp) { return tp.param.name; });

// Every truncation of valid files fails cleanly (or, for a cut inside trailing padding, still parses).
TEST(HostileTruncation, EveryPrefixOfValidFiles) {
    test::TempDir dir("trunc");
    std::vector<std::pair<std::string, std::vector<uint8_t>>> files;
    {
        GgufWriter w(dir.file("t.gguf"));
        w.add_metadata("general.architecture", MetaValue::str("llama"));
        w.add_metadata("tokens", MetaValue::array(MetaType::kString, {MetaValue::str("a"), MetaValue::str("bc")}));
        w.add_tensor("w", DType::F32, {2, 3});
        ASSERT_TRUE(w.begin().ok());
        ASSERT_TRUE(w.write_tensor(std::vector<uint8_t>(24, 1)).ok());
        ASSERT_TRUE(w.finish().ok());
        files.emplace_back("gguf", test::read_bytes(dir.file("t.gguf")));
    }
    {
        SafeTensorsWriter w(dir.file("t.safetensors"));
        w.add_tensor("w", DType::F16, {5});
        ASSERT_TRUE(w.begin().ok());
        ASSERT_TRUE(w.write_tensor(std::vector<uint8_t>(10, 1)).ok());
        ASSERT_TRUE(w.finish().ok());
        files.emplace_back("safetensors", test::read_bytes(dir.file("t.safetensors")));
    }
    {
        AprWriter w(dir.file("t.apr"));
        w.add_metadata("model_type", MetaValue::str("mlp"));
        w.add_tensor("w", DType::F32, {3});
        ASSERT_TRUE(w.begin().ok());
        ASSERT_TRUE(w.write_tensor(std::vector<uint8_t>(12, 1)).ok());
        ASSERT_TRUE(w.finish().ok());
        files.emplace_back("apr", test::read_bytes(dir.file("t.apr")));
    }
    for (const auto& [kind, full] : files) {
        if (const char* seeds = std::getenv("RZ_WRITE_FUZZ_SEEDS")) {  // valid seeds for the fuzzers
            std::filesystem::create_directories(std::string(seeds) + "/" + kind);
            test::write_bytes(std::string(seeds) + "/" + kind + "/valid_small", full);
        }
        size_t failures = 0;
        for (size_t n = 0; n < full.size(); ++n) {
            const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
            Result<ModelFile> r = kind == "gguf" ? read_gguf(cut, "cut") : kind == "apr" ? read_apr(cut, "cut") : read_safetensors(cut, "cut");
            if (!r.ok()) {
                ++failures;
                EXPECT_NE(r.status().message().find("cut"), std::string::npos);
            } else {
                // Only a cut in the padding after the last tensor may still parse, and then the data is intact.
                ASSERT_EQ(r->tensors.size(), 1u) << kind << " prefix " << n;
                EXPECT_LE(r->tensors[0].offset + r->tensors[0].n_bytes, n);
            }
        }
        EXPECT_GE(failures, full.size() - 64) << kind;
    }
}

}  // namespace
}  // namespace rz::formats
