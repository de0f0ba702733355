// Write -> read round trips for GGUF, SafeTensors and APR across metadata types and tensor dtypes, the
// streaming protocol (chunked writes, errors, cleanup of unfinished files), and re-writing real files.
#include <filesystem>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "formats/test_util.h"
#include "realizar/formats/apr.h"
#include "realizar/formats/gguf.h"
#include "realizar/formats/model_file.h"
#include "realizar/formats/safetensors.h"

namespace rz::formats {
namespace {

using test::shared;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
}

bool same_value(const MetaValue& a, const MetaValue& b) {
    if (a.type != b.type || a.v.index() != b.v.index()) return false;
    if (const auto* x = a.as_array()) {
        const auto* y = b.as_array();
        if (x->elem_type != y->elem_type || x->items.size() != y->items.size()) return false;
        for (size_t i = 0; i < x->items.size(); ++i) {
            if (!same_value(x->items[i], y->items[i])) return false;
        }
        return true;
    }
    return a.v == b.v;
}

// A model-file-like set of tensors with random contents over many dtypes.
struct Spec {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
};

std::vector<Spec> make_tensors(const std::vector<std::pair<DType, std::vector<int64_t>>>& defs) {
    std::vector<Spec> out;
    uint32_t seed = 1;
    for (const auto& [dt, shape] : defs) {
        const uint64_t n = *checked_element_count(shape.data(), shape.size());
        const uint64_t nb = *apr_tensor_bytes(dt, n);
        out.push_back({fmt::format("t{}.{}", seed, dtype_name(dt)), dt, shape, random_bytes(nb, seed)});
        ++seed;
    }
    return out;
}

void expect_tensors(const ModelFile& mf, const std::vector<Spec>& specs) {
    ASSERT_EQ(mf.tensors.size(), specs.size());
    for (const Spec& s : specs) {
        const TensorInfo* t = mf.find_tensor(s.name);
        ASSERT_NE(t, nullptr) << s.name;
        EXPECT_EQ(t->dtype, s.dtype) << s.name;
        EXPECT_EQ(t->shape, s.shape) << s.name;
        ASSERT_EQ(t->n_bytes, s.data.size()) << s.name;
        EXPECT_TRUE(std::equal(s.data.begin(), s.data.end(), t->data)) << s.name;
    }
}

std::vector<std::pair<std::string, MetaValue>> all_meta_types() {
    using M = MetaValue;
    return {
        {"u8", {MetaType::kU8, uint64_t{200}}},
        {"i8", {MetaType::kI8, int64_t{-100}}},
        {"u16", {MetaType::kU16, uint64_t{65000}}},
        {"i16", {MetaType::kI16, int64_t{-32000}}},
        {"u32", M::u32(4000000000u)},
        {"i32", M::i32(-2000000000)},
        {"u64", M::u64(uint64_t{1} << 63)},
        {"i64", M::i64(INT64_MIN)},
        {"f32", M::f32(1e-5f)},
        {"f64", M::f64(3.141592653589793)},
        {"bool", M::boolean(true)},
        {"string", M::str("héllo wörld ✓")},
        {"empty_string", M::str("")},
        {"arr_i32", M::array(MetaType::kI32, {M::i32(1), M::i32(-2), M::i32(3)})},
        {"arr_f32", M::array(MetaType::kF32, {M::f32(0.5f), M::f32(-1.25f)})},
        {"arr_str", M::array(MetaType::kString, {M::str("<s>"), M::str(""), M::str("▁the")})},
        {"arr_bool", M::array(MetaType::kBool, {M::boolean(false), M::boolean(true)})},
        {"arr_empty", M::array(MetaType::kU8, {})},
        {"arr_nested", M::array(MetaType::kArray, {M::array(MetaType::kI64, {M::i64(1), M::i64(2)}),
                                                   M::array(MetaType::kString, {M::str("x")})})},
    };
}

TEST(GgufRoundTrip, AllMetadataTypesAndDtypes) {
    const auto meta = all_meta_types();
    const auto tensors = make_tensors({{DType::F32, {3, 5}},
                                       {DType::F16, {7}},
                                       {DType::BF16, {2, 3, 4}},
                                       {DType::F64, {2, 2}},
                                       {DType::I8, {9}},
                                       {DType::I32, {1, 1, 1, 3}},
                                       {DType::Q4_0, {2, 64}},
                                       {DType::Q8_0, {32}},
                                       {DType::Q4_K, {3, 256}},
                                       {DType::Q6_K, {256}},
                                       {DType::IQ4_XS, {256}},
                                       {DType::F32, {0, 4}}});
    test::TempDir dir("gguf-rt");
    for (uint32_t alignment : {32u, 64u, 8u}) {
        const std::string path = dir.file(fmt::format("a{}.gguf", alignment));
        GgufWriter w(path);
        w.set_alignment(alignment);
        for (const auto& [k, v] : meta) w.add_metadata(k, v);
        for (const Spec& s : tensors) w.add_tensor(s.name, s.dtype, s.shape);
        ASSERT_TRUE(w.begin().ok());
        for (const Spec& s : tensors) ASSERT_TRUE(w.write_tensor(s.data).ok());
        ASSERT_TRUE(w.finish().ok());

        auto mf = open_model_file(path);
        ASSERT_TRUE(mf.ok()) << mf.status().to_string();
        EXPECT_EQ(mf->version, 3u);
        EXPECT_EQ(mf->alignment, alignment);
        for (const auto& [k, v] : meta) {
            const MetaValue* got = mf->find_meta(k);
            ASSERT_NE(got, nullptr) << k;
            EXPECT_TRUE(same_value(*got, v)) << k;
        }
        EXPECT_EQ(mf->find_meta("general.alignment") != nullptr, alignment != 32);
        expect_tensors(*mf, tensors);
        for (const TensorInfo& t : mf->tensors) EXPECT_EQ(t.offset % alignment, 0u) << t.name;
    }
}

TEST(GgufRoundTrip, ChunkedStreamingWritesTheSameFile) {
    const auto tensors = make_tensors({{DType::F32, {10, 3}}, {DType::Q8_0, {4, 32}}, {DType::F16, {5}}, {DType::I8, {0}}});
    test::TempDir dir("gguf-chunk");
    auto write = [&](const std::string& path, size_t chunk) {
        GgufWriter w(path);
        w.add_metadata("general.architecture", MetaValue::str("test"));
        for (const Spec& s : tensors) w.add_tensor(s.name, s.dtype, s.shape);
        ASSERT_TRUE(w.begin().ok());
        std::vector<uint8_t> all;
        for (const Spec& s : tensors) all.insert(all.end(), s.data.begin(), s.data.end());
        for (size_t i = 0; i < all.size(); i += chunk) {
            ASSERT_TRUE(w.write(std::span(all).subspan(i, std::min(chunk, all.size() - i))).ok());
        }
        ASSERT_TRUE(w.finish().ok());
    };
    write(dir.file("whole.gguf"), 1u << 20);
    write(dir.file("chunk7.gguf"), 7);
    EXPECT_EQ(test::read_bytes(dir.file("whole.gguf")), test::read_bytes(dir.file("chunk7.gguf")));
    auto mf = open_gguf(dir.file("chunk7.gguf"));
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    expect_tensors(*mf, tensors);
}

TEST(GgufRoundTrip, RewritingRealFilesPreservesEverything) {
    test::TempDir dir("gguf-real");
    for (const char* rel : {"data/tinystories-260K/stories260K-f32.gguf", "data/llama.cpp-vocab/ggml-vocab-gpt-2.gguf",
                            "golden/quant/q-Q4_K_M.gguf"}) {
        auto src = open_gguf(shared(rel));
        ASSERT_TRUE(src.ok()) << src.status().to_string();
        const std::string out = dir.file("copy.gguf");
        ASSERT_TRUE(write_gguf(out, *src).ok());
        auto back = open_gguf(out);
        ASSERT_TRUE(back.ok()) << back.status().to_string();
        ASSERT_EQ(back->metadata.size(), src->metadata.size()) << rel;
        for (size_t i = 0; i < src->metadata.size(); ++i) {
            EXPECT_EQ(back->metadata[i].first, src->metadata[i].first);
            EXPECT_TRUE(same_value(back->metadata[i].second, src->metadata[i].second)) << src->metadata[i].first;
        }
        ASSERT_EQ(back->tensors.size(), src->tensors.size());
        for (size_t i = 0; i < src->tensors.size(); ++i) {
            const TensorInfo& a = src->tensors[i];
            const TensorInfo& b = back->tensors[i];
            EXPECT_EQ(a.name, b.name);
            EXPECT_EQ(a.dtype, b.dtype);
            EXPECT_EQ(a.shape, b.shape);
            EXPECT_EQ(a.offset, b.offset) << a.name;  // same layout as llama.cpp's writer
            ASSERT_EQ(a.n_bytes, b.n_bytes);
            EXPECT_TRUE(std::equal(a.data, a.data + a.n_bytes, b.data)) << a.name;
        }
    }
}

TEST(Writers, UnfinishedOrFailedWritesLeaveNothingBehind) {
    test::TempDir dir("writer-fail");
    const auto tensors = make_tensors({{DType::F32, {4, 4}}, {DType::F16, {8}}});
    auto count_files = [&] {
        size_t n = 0;
        for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.str())) ++n;
        return n;
    };
    {
        GgufWriter w(dir.file("abandoned.gguf"));
        for (const Spec& s : tensors) w.add_tensor(s.name, s.dtype, s.shape);
        ASSERT_TRUE(w.begin().ok());
        ASSERT_TRUE(w.write_tensor(tensors[0].data).ok());
        // The temporary is an unnamed O_TMPFILE file while writing (tmpfs and ext4 support it), so not even a
        // SIGKILL could leave it behind.
        EXPECT_EQ(count_files(), 0u);
    }
    EXPECT_EQ(count_files(), 0u);
    {
        SafeTensorsWriter w(dir.file("short.safetensors"));
        for (const Spec& s : tensors) w.add_tensor(s.name, s.dtype, s.shape);
        ASSERT_TRUE(w.begin().ok());
        ASSERT_TRUE(w.write_tensor(tensors[0].data).ok());
        const Status st = w.finish();
        EXPECT_FALSE(st.ok());
        EXPECT_NE(st.message().find(tensors[1].name), std::string::npos) << st.message();
    }
    EXPECT_EQ(count_files(), 0u);
    {
        AprWriter w(dir.file("toomuch.apr"));
        w.add_tensor("x", DType::F32, {2});
        ASSERT_TRUE(w.begin().ok());
        EXPECT_FALSE(w.write(random_bytes(12, 3)).ok());
        EXPECT_FALSE(w.finish().ok());  // the writer stays failed
    }
    EXPECT_EQ(count_files(), 0u);
    {
        GgufWriter w(dir.file("dup.gguf"));
        w.add_tensor("x", DType::F32, {2});
        w.add_tensor("x", DType::F32, {2});
        const Status st = w.begin();
        EXPECT_FALSE(st.ok());
        EXPECT_NE(st.message().find("duplicate"), std::string::npos);
        GgufWriter w2(dir.file("badtype.gguf"));
        w2.add_metadata("k", {MetaType::kU8, uint64_t{300}});
        EXPECT_FALSE(w2.begin().ok());
        GgufWriter w3(dir.file("badrow.gguf"));
        w3.add_tensor("q", DType::Q4_0, {32, 16});  // rows of 16 are not whole Q4_0 blocks
        EXPECT_FALSE(w3.begin().ok());
    }
    EXPECT_EQ(count_files(), 0u);
    // An existing file survives a failed rewrite.
    test::write_bytes(dir.file("keep.gguf"), {1, 2, 3});
    {
        GgufWriter w(dir.file("keep.gguf"));
        w.add_tensor("x", DType::F32, {2});
        ASSERT_TRUE(w.begin().ok());
    }
    EXPECT_EQ(test::read_bytes(dir.file("keep.gguf")), (std::vector<uint8_t>{1, 2, 3}));
}

TEST(SafeTensorsRoundTrip, AllDtypesAndMetadata) {
    const auto tensors = make_tensors({{DType::F64, {3}}, {DType::F32, {2, 3}}, {DType::F16, {5}}, {DType::BF16, {2, 2, 2}},
                                       {DType::I64, {2}}, {DType::I32, {3}}, {DType::I16, {1}}, {DType::I8, {7}},
                                       {DType::U8, {3, 3}}, {DType::BOOL, {4}}, {DType::F8_E4M3, {6}},
                                       {DType::F8_E5M2, {6}}, {DType::U16, {2}}, {DType::U32, {2}}, {DType::U64, {2}},
                                       {DType::F32, {0}}, {DType::F32, {}}});
    test::TempDir dir("st-rt");
    SafeTensorsWriter w(dir.file("m.safetensors"));
    w.add_metadata("format", "pt");
    w.add_metadata("note", "ünïcode");
    for (const Spec& s : tensors) w.add_tensor(s.name, s.dtype, s.shape);
    ASSERT_TRUE(w.begin().ok());
    for (const Spec& s : tensors) ASSERT_TRUE(w.write_tensor(s.data).ok());
    ASSERT_TRUE(w.finish().ok());
    auto mf = open_model_file(dir.file("m.safetensors"));
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->format, Format::kSafeTensors);
    EXPECT_EQ(mf->meta_string("format"), "pt");
    EXPECT_EQ(mf->meta_string("note"), "ünïcode");
    expect_tensors(*mf, tensors);
    // Data section starts 8-aligned.
    uint64_t header_len;
    const auto bytes = test::read_bytes(dir.file("m.safetensors"));
    std::memcpy(&header_len, bytes.data(), 8);
    EXPECT_EQ(header_len % 8, 0u);
}

TEST(SafeTensorsRoundTrip, GoldenModelsRewriteIdentically) {
    test::TempDir dir("st-golden");
    for (const char* m : {"llama_gqa", "gpt2/bf16"}) {
        auto src = open_safetensors(shared(std::string("golden/") + m + "/model.safetensors"));
        ASSERT_TRUE(src.ok());
        ASSERT_TRUE(write_safetensors(dir.file("copy.safetensors"), *src).ok());
        auto back = open_safetensors(dir.file("copy.safetensors"));
        ASSERT_TRUE(back.ok()) << back.status().to_string();
        EXPECT_EQ(back->meta_string("format"), "pt");
        ASSERT_EQ(back->tensors.size(), src->tensors.size());
        for (size_t i = 0; i < src->tensors.size(); ++i) {
            const TensorInfo& a = src->tensors[i];
            const TensorInfo& b = back->tensors[i];
            EXPECT_EQ(a.name, b.name);
            EXPECT_EQ(a.shape, b.shape);
            EXPECT_EQ(a.dtype, b.dtype);
            ASSERT_EQ(a.n_bytes, b.n_bytes);
            EXPECT_TRUE(std::equal(a.data, a.data + a.n_bytes, b.data)) << a.name;
        }
    }
}

TEST(AprRoundTrip, MetadataTensorsFlagsAndChecksums) {
    const auto tensors = make_tensors({{DType::F32, {16, 4}}, {DType::F16, {3}}, {DType::BF16, {2, 5}},
                                       {DType::Q4_0, {64}}, {DType::Q8_0, {2, 32}}, {DType::Q4_K, {256}},
                                       {DType::Q6_K, {256}}, {DType::APR_Q4, {40}}, {DType::APR_Q8, {10}},
                                       {DType::U8, {100}}, {DType::I32, {3}}});
    test::TempDir dir("apr-rt");
    const std::string path = dir.file("m.apr");
    AprWriter w(path);
    w.add_metadata("model_type", MetaValue::str("mlp"));
    w.add_metadata("hidden_size", MetaValue::u64(64));
    w.add_metadata("rms_norm_eps", MetaValue::f32(1e-5f));
    w.add_metadata("rope_theta", MetaValue::f64(1e6));
    w.add_metadata("offset", MetaValue::i64(-3));
    w.add_metadata("tied", MetaValue::boolean(true));
    w.add_metadata("tokenizer.vocabulary",
                   MetaValue::array(MetaType::kString, {MetaValue::str("<unk>"), MetaValue::str("a"), MetaValue::str("▁b")}));
    w.add_metadata("tokenizer.scores", MetaValue::array(MetaType::kF32, {MetaValue::f32(0.0f), MetaValue::f32(-1.5f)}));
    w.add_metadata("labels", MetaValue::array(MetaType::kString, {MetaValue::str("setosa")}));
    for (const Spec& s : tensors) w.add_tensor(s.name, s.dtype, s.shape);
    ASSERT_TRUE(w.begin().ok());
    for (const Spec& s : tensors) ASSERT_TRUE(w.write_tensor(s.data).ok());
    ASSERT_TRUE(w.finish().ok());

    auto mf = open_model_file(path);
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->format, Format::kApr);
    EXPECT_EQ(mf->version, 2u);
    expect_tensors(*mf, tensors);
    for (const TensorInfo& t : mf->tensors) EXPECT_EQ(t.offset % 64, 0u) << t.name;
    EXPECT_EQ(mf->meta_string("model_type"), "mlp");
    EXPECT_EQ(mf->find_meta("hidden_size")->type, MetaType::kU64);
    EXPECT_EQ(mf->meta_int("hidden_size"), 64);
    EXPECT_EQ(mf->meta_int("offset"), -3);
    EXPECT_EQ(mf->meta_float("rms_norm_eps"), 1e-5);  // written with float precision: "1e-05"
    EXPECT_EQ(mf->meta_float("rope_theta"), 1e6);
    EXPECT_EQ(mf->find_meta("tied")->as_bool(), true);
    const MetaArray* vocab = mf->find_meta("tokenizer.vocabulary")->as_array();
    ASSERT_NE(vocab, nullptr);
    EXPECT_EQ(vocab->elem_type, MetaType::kString);
    ASSERT_EQ(vocab->items.size(), 3u);
    EXPECT_EQ(*vocab->items[2].as_string(), "▁b");
    EXPECT_EQ(mf->find_meta("tokenizer.scores")->as_array()->elem_type, MetaType::kF64);
    const auto flags = *mf->meta_int("apr.flags");
    EXPECT_TRUE(flags & kAprFlagPayloadCrc);
    EXPECT_TRUE(flags & kAprFlagQuantized);
    EXPECT_TRUE(flags & kAprFlagHasVocab);
    auto raw = mf->meta_string("apr.metadata_json");
    ASSERT_TRUE(raw.has_value());
    EXPECT_EQ(raw->front(), '{');

    // Re-writing an APR ModelFile keeps its metadata text and bytes exactly.
    ASSERT_TRUE(write_apr(dir.file("copy.apr"), *mf).ok());
    EXPECT_EQ(test::read_bytes(path), test::read_bytes(dir.file("copy.apr")));

    // Without PAYLOAD_CRC the flag is clear and the file still reads.
    AprWriter w2(dir.file("nocrc.apr"));
    w2.set_payload_crc(false);
    w2.set_metadata_json(R"({"model_type":"linear_regression"})");
    w2.add_tensor("layers.0.weight", DType::F32, {1, 2});
    ASSERT_TRUE(w2.begin().ok());
    ASSERT_TRUE(w2.write_tensor(random_bytes(8, 9)).ok());
    ASSERT_TRUE(w2.finish().ok());
    auto mf2 = open_apr(dir.file("nocrc.apr"));
    ASSERT_TRUE(mf2.ok()) << mf2.status().to_string();
    EXPECT_FALSE(*mf2->meta_int("apr.flags") & kAprFlagPayloadCrc);
    EXPECT_EQ(mf2->meta_string("apr.metadata_json"), R"({"model_type":"linear_regression"})");
}

TEST(AprRoundTrip, ConvertsGgufToAprAndBack) {
    // GGUF metadata (typed values, token arrays) -> APR JSON -> ModelFile keeps the values.
    auto src = open_gguf(shared("data/tinystories-260K/stories260K-f32.gguf"));
    ASSERT_TRUE(src.ok());
    test::TempDir dir("apr-conv");
    ASSERT_TRUE(write_apr(dir.file("s.apr"), *src).ok());
    auto apr = open_apr(dir.file("s.apr"));
    ASSERT_TRUE(apr.ok()) << apr.status().to_string();
    EXPECT_EQ(apr->meta_int("llama.block_count"), 5);
    EXPECT_EQ(apr->meta_string("general.architecture"), "llama");
    const MetaArray* toks = apr->find_meta("tokenizer.ggml.tokens")->as_array();
    ASSERT_NE(toks, nullptr);
    EXPECT_EQ(toks->items.size(), 512u);
    EXPECT_EQ(*toks->items[1].as_string(), "<s>");
    ASSERT_EQ(apr->tensors.size(), src->tensors.size());
    for (const TensorInfo& t : src->tensors) {
        const TensorInfo* a = apr->find_tensor(t.name);
        ASSERT_NE(a, nullptr);
        EXPECT_EQ(a->shape, t.shape);
        EXPECT_TRUE(std::equal(t.data, t.data + t.n_bytes, a->data));
    }
}

}  // namespace
namespace {

TEST(WriteModelFile, DispatchesOnFormat) {
    auto src = open_model_file(shared("golden/llama_gqa"));
    ASSERT_TRUE(src.ok());
    test::TempDir dir("wmf");
    for (Format f : {Format::kGguf, Format::kSafeTensors, Format::kApr}) {
        const std::string path = dir.file(std::string("m.") + std::string(format_name(f)));
        ASSERT_TRUE(write_model_file(path, *src, f).ok()) << format_name(f);
        auto back = open_model_file(path);
        ASSERT_TRUE(back.ok()) << back.status().to_string();
        EXPECT_EQ(back->format, f);
        const TensorInfo* a = src->find_tensor("model.layers.1.mlp.down_proj.weight");
        const TensorInfo* b = back->find_tensor("model.layers.1.mlp.down_proj.weight");
        ASSERT_TRUE(a && b);
        EXPECT_EQ(a->shape, b->shape);
        EXPECT_TRUE(std::equal(a->data, a->data + a->n_bytes, b->data));
        // Metadata carried over (SafeTensors metadata is string -> string, so there it is text).
        if (f == Format::kSafeTensors) {
            EXPECT_EQ(back->meta_string("hf.config.num_key_value_heads"), "2");
        } else {
            EXPECT_EQ(back->meta_int("hf.config.num_key_value_heads"), 2);
        }
    }
    EXPECT_EQ(write_model_file(dir.file("x"), *src, Format::kHfFolder).code(), StatusCode::kInvalidArgument);
}

}  // namespace
namespace {

TEST(GgufV2, SameLayoutAsV3IsRead) {
    // v2 and v3 differ only in the version field (v3 added big-endian files, which are rejected).
    auto bytes = test::read_bytes(shared("data/tinystories-260K/stories260K-f32.gguf"));
    ASSERT_GT(bytes.size(), 8u);
    const uint32_t v2 = 2;
    std::memcpy(bytes.data() + 4, &v2, 4);
    auto mf = read_gguf(bytes, "stories-v2.gguf");
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->version, 2u);
    EXPECT_EQ(mf->tensors.size(), 48u);
    EXPECT_EQ(mf->find_meta("tokenizer.ggml.tokens")->as_array()->items.size(), 512u);
}

}  // namespace
}  // namespace rz::formats
