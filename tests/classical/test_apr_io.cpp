// spec_from_model_file: the classical schema's validation over ModelFiles built in memory (the container
// itself is the APR reader's business and is tested with real files in test_iris/test_cli).
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "realizar/classical/apr_io.h"
#include "realizar/core/fp16.h"

namespace rz::classical {
namespace {

using formats::MetaType;
using formats::MetaValue;
using formats::ModelFile;
using formats::TensorInfo;

// Keeps tensor bytes alive for the ModelFile that points into them.
struct FileBuilder {
    ModelFile mf;
    std::vector<std::vector<uint8_t>> blobs;

    FileBuilder() {
        mf.format = formats::Format::kApr;
        mf.path = "test.apr";
    }
    FileBuilder& meta(std::string key, MetaValue v) {
        mf.metadata.emplace_back(std::move(key), std::move(v));
        return *this;
    }
    FileBuilder& tensor_f32(std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
        std::vector<uint8_t> bytes(values.size() * 4);
        std::memcpy(bytes.data(), values.data(), bytes.size());
        return tensor(std::move(name), DType::F32, std::move(shape), std::move(bytes));
    }
    FileBuilder& tensor(std::string name, DType dt, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
        blobs.push_back(std::move(bytes));
        TensorInfo t;
        t.name = std::move(name);
        t.dtype = dt;
        t.shape = std::move(shape);
        t.n_bytes = blobs.back().size();
        t.data = blobs.back().data();
        mf.tensors.push_back(std::move(t));
        return *this;
    }
    const ModelFile& build() {
        // Pointers into blobs stay valid: blobs only grows by push_back of moved vectors (heap storage moves).
        mf.build_index();
        return mf;
    }
};

FileBuilder iris_like() {
    FileBuilder b;
    b.meta("model_type", MetaValue::str("mlp"))
        .meta("activation", MetaValue::str("tanh"))
        .meta("output", MetaValue::str("softmax"))
        .meta("labels", MetaValue::array(MetaType::kString, {MetaValue::str("a"), MetaValue::str("b"), MetaValue::str("c")}))
        .tensor_f32("layers.0.weight", {5, 4}, std::vector<float>(20, 0.25f))
        .tensor_f32("layers.0.bias", {5}, std::vector<float>(5, 0.5f))
        .tensor_f32("layers.1.weight", {3, 5}, std::vector<float>(15, -0.125f))
        .tensor_f32("layers.1.bias", {3}, {0.0f, 1.0f, 2.0f});
    return b;
}

TEST(ClassicalAprIo, ReadsAValidModel) {
    FileBuilder b = iris_like();
    auto spec = spec_from_model_file(b.build());
    ASSERT_TRUE(spec.ok()) << spec.status().to_string();
    EXPECT_EQ(spec->type, ModelType::kMlp);
    EXPECT_EQ(spec->activation, Activation::kTanh);
    EXPECT_EQ(spec->output, OutputTransform::kSoftmax);
    ASSERT_EQ(spec->layers.size(), 2u);
    EXPECT_EQ(spec->layers[0].n_in, 4);
    EXPECT_EQ(spec->layers[0].n_out, 5);
    EXPECT_EQ(spec->layers[1].bias[2], 2.0f);
    EXPECT_EQ(spec->labels, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(is_classical(b.mf));
}

TEST(ClassicalAprIo, WidensF16AndBf16) {
    FileBuilder b;
    std::vector<uint8_t> w(2 * 2 * 3), bias(2 * 2);
    const float wv[6] = {0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f};
    for (int i = 0; i < 6; ++i) {
        const uint16_t h = fp32_to_fp16(wv[i]);
        std::memcpy(w.data() + 2 * i, &h, 2);
    }
    for (int i = 0; i < 2; ++i) {
        const uint16_t h = fp32_to_bf16(1.0f + static_cast<float>(i));
        std::memcpy(bias.data() + 2 * i, &h, 2);
    }
    b.meta("model_type", MetaValue::str("logistic_regression"))
        .tensor("layers.0.weight", DType::F16, {2, 3}, w)
        .tensor("layers.0.bias", DType::BF16, {2}, bias);
    auto spec = spec_from_model_file(b.build());
    ASSERT_TRUE(spec.ok()) << spec.status().to_string();
    EXPECT_EQ(spec->output, OutputTransform::kSoftmax);  // default for multinomial logistic regression
    EXPECT_EQ(spec->layers[0].weight, std::vector<float>(wv, wv + 6));
    EXPECT_EQ(spec->layers[0].bias, (std::vector<float>{1.0f, 2.0f}));
}

std::string error_of(FileBuilder& b) {
    auto spec = spec_from_model_file(b.build());
    EXPECT_FALSE(spec.ok());
    return spec.ok() ? std::string() : spec.status().message();
}

TEST(ClassicalAprIo, RefusesInconsistentFiles) {
    {
        FileBuilder b = iris_like();
        b.mf.tensors[2].shape = {3, 6};  // layers.1 expects 5 inputs
        b.blobs[2].resize(18 * 4);
        b.mf.tensors[2].data = b.blobs[2].data();
        b.mf.tensors[2].n_bytes = 18 * 4;
        EXPECT_NE(error_of(b).find("layers.1.weight has 6 inputs but layers.0.weight has 5 outputs"), std::string::npos);
    }
    {
        FileBuilder b = iris_like();
        b.mf.tensors[3].shape = {4};
        EXPECT_NE(error_of(b).find("layers.1.bias has shape [4]; expected [3]"), std::string::npos) << error_of(b);
    }
    {
        FileBuilder b = iris_like();
        b.mf.tensors[1].n_bytes = 12;  // truncated tensor data
        EXPECT_NE(error_of(b).find("layers.0.bias: 12 bytes for 5 f32 values"), std::string::npos) << error_of(b);
    }
    {
        FileBuilder b = iris_like();
        b.mf.tensors.erase(b.mf.tensors.begin() + 3);  // no layers.1.bias
        EXPECT_NE(error_of(b).find("layers.1.weight present but layers.1.bias missing"), std::string::npos);
    }
    {
        FileBuilder b = iris_like();
        b.tensor_f32("layers.3.weight", {3, 3}, std::vector<float>(9, 0.0f));
        EXPECT_NE(error_of(b).find("gap in the numbering"), std::string::npos) << error_of(b);
    }
    {
        FileBuilder b = iris_like();
        b.meta("num_layers", MetaValue::u32(3));
        EXPECT_NE(error_of(b).find("num_layers = 3 but the file has 2 layers"), std::string::npos);
    }
    {
        FileBuilder b = iris_like();
        b.mf.metadata[1].second = MetaValue::str("swish");
        EXPECT_NE(error_of(b).find("activation 'swish'"), std::string::npos);
    }
    {
        FileBuilder b = iris_like();
        b.mf.metadata[3].second = MetaValue::array(MetaType::kString, {MetaValue::str("a")});
        EXPECT_NE(error_of(b).find("labels has 1 names but the model has 3 classes"), std::string::npos) << error_of(b);
    }
    {
        FileBuilder b = iris_like();
        b.mf.metadata[0].second = MetaValue::str("llama");
        EXPECT_NE(error_of(b).find("model_type 'llama' is not a classical model"), std::string::npos);
        EXPECT_FALSE(is_classical(b.mf));
    }
    {
        FileBuilder b = iris_like();
        b.mf.tensors[0].dtype = DType::Q8_0;
        EXPECT_NE(error_of(b).find("layers.0.weight has dtype q8_0"), std::string::npos) << error_of(b);
    }
    {
        FileBuilder b = iris_like();
        std::vector<float> nan_w(20, 0.0f);
        nan_w[7] = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(b.blobs[0].data(), nan_w.data(), 80);
        EXPECT_NE(error_of(b).find("layers.0.weight: element 7 is NaN"), std::string::npos) << error_of(b);
    }
    {
        FileBuilder b;
        b.meta("model_type", MetaValue::str("mlp"));
        EXPECT_NE(error_of(b).find("no tensor layers.0.weight"), std::string::npos);
    }
}

}  // namespace
}  // namespace rz::classical
