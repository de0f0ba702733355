// Sharded SafeTensors checkpoints (model.safetensors.index.json), built here by splitting a real golden
// model into two shard files, and checked tensor by tensor against the unsplit original.
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "formats/test_util.h"
#include "realizar/formats/model_file.h"
#include "realizar/formats/safetensors.h"

namespace rz::formats {
namespace {

using test::shared;

// Writes a SafeTensors file holding `tensors` of `src` (data copied, offsets packed).
void write_shard(const std::vector<const TensorInfo*>& tensors, const std::string& path) {
    nlohmann::ordered_json header;
    header["__metadata__"] = {{"format", "pt"}};
    std::vector<uint8_t> data;
    for (const TensorInfo* t : tensors) {
        const uint64_t begin = data.size();
        data.insert(data.end(), t->data, t->data + t->n_bytes);
        header[t->name] = {{"dtype", std::string(safetensors_dtype_name(t->dtype))},
                           {"shape", t->shape},
                           {"data_offsets", {begin, data.size()}}};
    }
    test::write_bytes(path, test::safetensors_bytes(header.dump(), data));
}

TEST(SafeTensorsSharded, IndexOverTwoShardsMatchesOriginal) {
    const std::string golden = shared("golden/llama_gqa");
    auto orig = open_safetensors(golden + "/model.safetensors");
    ASSERT_TRUE(orig.ok()) << orig.status().to_string();

    test::TempDir dir("sharded");
    std::vector<const TensorInfo*> a, b;
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", 611000}};
    for (size_t i = 0; i < orig->tensors.size(); ++i) {
        const TensorInfo& t = orig->tensors[i];
        const bool first = i % 2 == 0;
        (first ? a : b).push_back(&t);
        index["weight_map"][t.name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    write_shard(a, dir.file("model-00001-of-00002.safetensors"));
    write_shard(b, dir.file("model-00002-of-00002.safetensors"));
    test::write_bytes(dir.file("model.safetensors.index.json"), test::Bytes().raw(index.dump()).b);
    std::filesystem::copy_file(golden + "/config.json", dir.file("config.json"));

    auto mf = open_model_file(dir.file("model.safetensors.index.json"));
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    EXPECT_EQ(mf->format, Format::kSafeTensors);
    EXPECT_EQ(mf->files.size(), 2u);
    EXPECT_EQ(mf->meta_int("total_size"), 611000);
    ASSERT_EQ(mf->tensors.size(), orig->tensors.size());
    for (const TensorInfo& t : orig->tensors) {
        const TensorInfo* s = mf->find_tensor(t.name);
        ASSERT_NE(s, nullptr) << t.name;
        EXPECT_EQ(s->shape, t.shape);
        EXPECT_EQ(s->dtype, t.dtype);
        ASSERT_EQ(s->n_bytes, t.n_bytes);
        EXPECT_EQ(std::memcmp(s->data, t.data, t.n_bytes), 0) << t.name;
        EXPECT_EQ(s->data, mf->files.at(s->shard)->data() + s->offset);
    }
    EXPECT_EQ(mf->find_tensor(orig->tensors[1].name)->shard, 1u);

    // The same folder opened as a Hugging Face folder picks the index.
    auto folder = open_model_file(dir.str());
    ASSERT_TRUE(folder.ok()) << folder.status().to_string();
    EXPECT_EQ(folder->format, Format::kHfFolder);
    EXPECT_EQ(folder->tensors.size(), orig->tensors.size());
    EXPECT_EQ(folder->meta_int("hf.config.num_key_value_heads"), 2);

    // An index naming a tensor its shard does not hold is an error naming the tensor.
    index["weight_map"]["ghost.weight"] = "model-00001-of-00002.safetensors";
    test::write_bytes(dir.file("model.safetensors.index.json"), test::Bytes().raw(index.dump()).b);
    auto bad = open_model_file(dir.file("model.safetensors.index.json"));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("ghost.weight"), std::string::npos) << bad.status().message();

    // Shard names are file names, never paths.
    index["weight_map"]["ghost.weight"] = "../../etc/passwd";
    test::write_bytes(dir.file("model.safetensors.index.json"), test::Bytes().raw(index.dump()).b);
    bad = open_model_file(dir.file("model.safetensors.index.json"));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("not a plain file name"), std::string::npos) << bad.status().message();
}

TEST(SafeTensors, AllDtypesRecognised) {
    const char* names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"};
    const uint64_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1, 1, 1};
    nlohmann::ordered_json header;
    std::vector<uint8_t> data;
    for (size_t i = 0; i < std::size(names); ++i) {
        const uint64_t begin = data.size();
        data.resize(begin + 6 * sizes[i], static_cast<uint8_t>(i));
        header[std::string("t_") + names[i]] = {{"dtype", names[i]}, {"shape", {2, 3}}, {"data_offsets", {begin, data.size()}}};
    }
    const auto bytes = test::safetensors_bytes(header.dump(), data);
    auto mf = read_safetensors(bytes, "dtypes.safetensors");
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    ASSERT_EQ(mf->tensors.size(), std::size(names));
    for (size_t i = 0; i < std::size(names); ++i) {
        const TensorInfo& t = mf->tensors[i];
        EXPECT_EQ(safetensors_dtype_name(t.dtype), names[i]);
        EXPECT_EQ(t.n_bytes, 6 * sizes[i]);
        EXPECT_EQ(t.data[0], static_cast<uint8_t>(i));
    }
}

}  // namespace
}  // namespace rz::formats
