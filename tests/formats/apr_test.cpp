// APR specifics: files in the original realizar's layout, checksums, compression, rejected variants.
#include <cstring>

#include <gtest/gtest.h>

#ifdef RZ_HAVE_LZ4
#include <lz4.h>
#endif
#ifdef RZ_HAVE_ZSTD
#include <zstd.h>
#endif

#include "formats/crc32.h"
#include "formats/test_util.h"
#include "realizar/formats/apr.h"
#include "realizar/formats/model_file.h"

namespace rz::formats {
namespace {

// An APR file exactly as the original realizar's test factory builds one: checksum left 0, data right
// after the index (not 64-aligned), index in declaration order (not sorted), dtype byte in its own
// numbering (0 F32, 2 BF16 ...).
std::vector<uint8_t> original_layout_file(uint8_t second_dtype, uint64_t second_size) {
    const std::string meta = R"({"architecture":"llama","hidden_size":8,"num_layers":1,"rms_norm_eps":1e-6})";
    test::Bytes index;
    auto entry = [&](const std::string& n, uint8_t dt, std::vector<uint64_t> dims, uint64_t off, uint64_t size) {
        index.put<uint16_t>(static_cast<uint16_t>(n.size())).raw(n).put<uint8_t>(dt).put<uint8_t>(static_cast<uint8_t>(dims.size()));
        for (uint64_t d : dims) index.put<uint64_t>(d);
        index.put<uint64_t>(off).put<uint64_t>(size);
    };
    entry("norm.weight", 0, {8}, 0, 32);
    entry("model.embed_tokens.weight", second_dtype, {10, 8}, 32, second_size);
    const uint64_t meta_padded = (meta.size() + 63) / 64 * 64;
    const uint64_t index_offset = 64 + meta_padded;
    const uint64_t data_offset = index_offset + index.b.size();
    test::Bytes f;
    f.raw(std::string("APR\0", 4)).put<uint8_t>(2).put<uint8_t>(0).put<uint16_t>(0).put<uint32_t>(2);
    f.put<uint64_t>(64).put<uint32_t>(static_cast<uint32_t>(meta.size())).put<uint64_t>(index_offset).put<uint64_t>(data_offset);
    f.zeros(24);  // checksum 0 + reserved
    f.raw(meta).zeros(meta_padded - meta.size());
    f.b.insert(f.b.end(), index.b.begin(), index.b.end());
    for (uint64_t i = 0; i < 32 + second_size; ++i) f.put<uint8_t>(static_cast<uint8_t>(i));
    return f.b;
}

TEST(Apr, ReadsTheOriginalRealizarLayout) {
    const auto bytes = original_layout_file(0, 320);  // read_apr does not copy: keep the bytes alive
    auto mf = read_apr(bytes, "factory.apr");
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->meta_string("architecture"), "llama");
    EXPECT_EQ(mf->meta_int("hidden_size"), 8);
    EXPECT_DOUBLE_EQ(*mf->meta_float("rms_norm_eps"), 1e-6);
    const TensorInfo* emb = mf->find_tensor("model.embed_tokens.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->dtype, DType::F32);
    EXPECT_EQ(emb->shape, (std::vector<int64_t>{10, 8}));
    EXPECT_EQ(emb->data[0], 32);  // second tensor starts at data byte 32
    // Its dtype byte 2 means BF16 (not ggml's Q4_0): the size (160 bytes) tells which numbering applies.
    const auto bf_bytes = original_layout_file(2, 160);
    auto bf = read_apr(bf_bytes, "factory-bf16.apr");
    ASSERT_TRUE(bf.ok()) << bf.status().to_string();
    EXPECT_EQ(bf->find_tensor("model.embed_tokens.weight")->dtype, DType::BF16);
    // A size that fits neither numbering is an error naming the tensor.
    auto bad = read_apr(original_layout_file(2, 100), "factory-bad.apr");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("model.embed_tokens.weight"), std::string::npos) << bad.status().message();
}

std::vector<uint8_t> small_apr(test::TempDir& dir, bool payload_crc = true) {
    AprWriter w(dir.file("small.apr"));
    w.set_payload_crc(payload_crc);
    w.set_metadata_json(R"({"model_type":"mlp","activation":"relu","labels":["a","b","c"]})");
    w.add_tensor("layers.0.weight", DType::F32, {3, 4});
    w.add_tensor("layers.0.bias", DType::F32, {3});
    EXPECT_TRUE(w.begin().ok());
    std::vector<float> wt(12), b(3);
    for (int i = 0; i < 12; ++i) wt[i] = 0.25f * static_cast<float>(i);
    for (int i = 0; i < 3; ++i) b[i] = -1.0f + static_cast<float>(i);
    EXPECT_TRUE(w.write_tensor({reinterpret_cast<const uint8_t*>(wt.data()), 48}).ok());
    EXPECT_TRUE(w.write_tensor({reinterpret_cast<const uint8_t*>(b.data()), 12}).ok());
    EXPECT_TRUE(w.finish().ok());
    return test::read_bytes(dir.file("small.apr"));
}

TEST(Apr, HeaderAndPayloadChecksums) {
    test::TempDir dir("apr-crc");
    const auto good = small_apr(dir);
    ASSERT_TRUE(read_apr(good, "good.apr").ok());
    // The stored header CRC is the CRC-32 of bytes 0..40 and 44..64.
    uint32_t stored;
    std::memcpy(&stored, good.data() + 40, 4);
    EXPECT_EQ(stored, detail::crc32(good.data() + 44, 20, detail::crc32(good.data(), 40)));
    EXPECT_EQ(detail::crc32("123456789", 9), 0xCBF43926u);  // the standard CRC-32 check value

    auto flipped = good;
    flipped[flipped.size() - 5] ^= 0x10;  // a bit in the bias data
    auto r = read_apr(flipped, "flipped.apr");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("payload checksum"), std::string::npos) << r.status().message();

    auto hdr = good;
    hdr[8] ^= 1;  // tensor count
    r = read_apr(hdr, "hdr.apr");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("header checksum"), std::string::npos) << r.status().message();

    auto cut = good;
    cut.resize(cut.size() - 4);
    r = read_apr(cut, "cut.apr");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("cut.apr"), std::string::npos);

    // Without PAYLOAD_CRC a data bit flip goes unnoticed by design, but truncation is still caught by bounds.
    const auto plain = small_apr(dir, false);
    auto plain_cut = plain;
    plain_cut.resize(plain_cut.size() - 4);
    EXPECT_FALSE(read_apr(plain_cut, "plain-cut.apr").ok());
}

// Rebuilds `file` with its payload compressed and the given flag set (header CRC recomputed).
std::vector<uint8_t> recompress(const std::vector<uint8_t>& file, uint16_t flag, std::vector<uint8_t> payload) {
    std::vector<uint8_t> out(file.begin(), file.begin() + 64);
    uint16_t flags;
    std::memcpy(&flags, out.data() + 6, 2);
    flags = static_cast<uint16_t>((flags & ~kAprFlagPayloadCrc) | flag);
    std::memcpy(out.data() + 6, &flags, 2);
    std::memset(out.data() + 44, 0, 4);
    const uint32_t crc = detail::crc32(out.data() + 44, 20, detail::crc32(out.data(), 40));
    std::memcpy(out.data() + 40, &crc, 4);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

void expect_same_model(const ModelFile& a, const ModelFile& b) {
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i) {
        EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
        ASSERT_EQ(a.tensors[i].n_bytes, b.tensors[i].n_bytes);
        EXPECT_EQ(std::memcmp(a.tensors[i].data, b.tensors[i].data, a.tensors[i].n_bytes), 0);
    }
    EXPECT_EQ(a.meta_string("apr.metadata_json"), b.meta_string("apr.metadata_json"));
}

TEST(Apr, CompressedPayloads) {
    test::TempDir dir("apr-z");
    const auto plain = small_apr(dir, false);
    auto ref = read_apr(plain, "plain.apr");
    ASSERT_TRUE(ref.ok());
    const std::vector<uint8_t> payload(plain.begin() + 64, plain.end());
#ifdef RZ_HAVE_LZ4
    {
        std::vector<uint8_t> z(4 + static_cast<size_t>(LZ4_compressBound(static_cast<int>(payload.size()))));
        const uint32_t n = static_cast<uint32_t>(payload.size());
        std::memcpy(z.data(), &n, 4);
        const int k = LZ4_compress_default(reinterpret_cast<const char*>(payload.data()), reinterpret_cast<char*>(z.data() + 4),
                                           static_cast<int>(payload.size()), static_cast<int>(z.size() - 4));
        ASSERT_GT(k, 0);
        z.resize(4 + static_cast<size_t>(k));
        auto mf = read_apr(recompress(plain, kAprFlagLz4, z), "lz4.apr");
        ASSERT_TRUE(mf.ok()) << mf.status().to_string();
        EXPECT_EQ(mf->owned_buffers.size(), 1u);
        expect_same_model(*ref, *mf);
        z[10] ^= 0xff;  // corrupt the block
        auto bad = read_apr(recompress(plain, kAprFlagLz4, z), "lz4-bad.apr");
        EXPECT_FALSE(bad.ok());
        std::vector<uint8_t> liar = z;
        const uint32_t huge = 0xfffffff0u;  // declared size the input cannot justify
        std::memcpy(liar.data(), &huge, 4);
        EXPECT_FALSE(read_apr(recompress(plain, kAprFlagLz4, liar), "lz4-liar.apr").ok());
    }
#else
    EXPECT_EQ(read_apr(recompress(plain, kAprFlagLz4, payload), "lz4.apr").status().code(), StatusCode::kUnsupported);
#endif
#ifdef RZ_HAVE_ZSTD
    {
        std::vector<uint8_t> z(ZSTD_compressBound(payload.size()));
        const size_t k = ZSTD_compress(z.data(), z.size(), payload.data(), payload.size(), 3);
        ASSERT_FALSE(ZSTD_isError(k));
        z.resize(k);
        auto mf = read_apr(recompress(plain, kAprFlagZstd, z), "zstd.apr");
        ASSERT_TRUE(mf.ok()) << mf.status().to_string();
        expect_same_model(*ref, *mf);
        z.resize(z.size() / 2);  // truncated frame
        EXPECT_FALSE(read_apr(recompress(plain, kAprFlagZstd, z), "zstd-cut.apr").ok());
    }
#else
    EXPECT_EQ(read_apr(recompress(plain, kAprFlagZstd, payload), "zstd.apr").status().code(), StatusCode::kUnsupported);
#endif
}

TEST(Apr, RejectsEncryptedShardedAndV1) {
    test::TempDir dir("apr-rej");
    const auto plain = small_apr(dir, false);
    const std::vector<uint8_t> payload(plain.begin() + 64, plain.end());
    auto enc = read_apr(recompress(plain, kAprFlagEncrypted, payload), "enc.apr");
    EXPECT_EQ(enc.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(enc.status().message().find("encrypted"), std::string::npos);
    EXPECT_EQ(read_apr(recompress(plain, kAprFlagSharded, payload), "shard.apr").status().code(), StatusCode::kUnsupported);
    auto v1 = plain;
    v1[3] = '1';
    auto r = read_apr(v1, "v1.apr");
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(r.status().message().find("v1"), std::string::npos);
    auto apr2 = plain;  // "APR2" magic is accepted like "APR\0" (header CRC recomputed)
    apr2[3] = '2';
    const uint32_t crc = detail::crc32(apr2.data() + 44, 20, detail::crc32(apr2.data(), 40));
    std::memcpy(apr2.data() + 40, &crc, 4);
    EXPECT_TRUE(read_apr(apr2, "apr2.apr").ok());
}

TEST(Apr, OpenModelBytes) {
    test::TempDir dir("apr-bytes");
    const auto bytes = small_apr(dir);
    auto mf = open_model_bytes(bytes, "embedded.apr");
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->format, Format::kApr);
    EXPECT_EQ(mf->meta_string("activation"), "relu");
    EXPECT_EQ(mf->find_meta("labels")->as_array()->items.size(), 3u);
    const TensorInfo* w = mf->find_tensor("layers.0.weight");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->data, bytes.data() + w->offset);  // zero-copy into the caller's bytes
    float x;
    std::memcpy(&x, w->data + 4 * 5, 4);
    EXPECT_EQ(x, 1.25f);
}

}  // namespace
}  // namespace rz::formats

namespace rz::formats {
namespace {

TEST(Crc32, FastPathMatchesTheTableReference) {
    std::vector<uint8_t> buf(20000);
    uint32_t s = 12345;
    for (auto& b : buf) b = static_cast<uint8_t>((s = s * 1103515245u + 12345u) >> 16);
    EXPECT_EQ(detail::crc32("123456789", 9), 0xCBF43926u);
    EXPECT_EQ(detail::crc32_portable("123456789", 9), 0xCBF43926u);
    for (size_t off : {0u, 1u, 3u, 8u, 15u}) {
        for (size_t n : {0u, 1u, 15u, 16u, 63u, 64u, 65u, 79u, 80u, 127u, 128u, 129u, 1000u, 4095u, 4096u, 19000u}) {
            for (uint32_t prev : {0u, 0xdeadbeefu}) {
                ASSERT_EQ(detail::crc32(buf.data() + off, n, prev), detail::crc32_portable(buf.data() + off, n, prev))
                    << "off " << off << " n " << n;
            }
        }
    }
    // Incremental == one shot.
    const uint32_t whole = detail::crc32(buf.data(), buf.size());
    EXPECT_EQ(detail::crc32(buf.data() + 777, buf.size() - 777, detail::crc32(buf.data(), 777)), whole);
}

}  // namespace
}  // namespace rz::formats
