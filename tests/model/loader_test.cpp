// Loader errors on bad models: unknown architecture, missing tensor, tensors that disagree with the
// hyper-parameters, impossible hyper-parameters. Each must be a clear Status naming the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "realizar/formats/gguf.h"
#include "realizar/formats/model_file.h"
#include "realizar/formats/safetensors.h"
#include "realizar/model/weights.h"

namespace rz::model {
namespace {

namespace fs = std::filesystem;
const std::string kShared = RZ_SHARED_DIR;

class BadModels : public testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("rz_model_test_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        std::ifstream in(kShared + "/golden/llama_gqa/config.json");
        config_ = nlohmann::json::parse(in);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // A copy of golden/llama_gqa with an edited config and optionally one tensor left out.
    std::string make_folder(const std::string& name, const nlohmann::json& config, const std::string& skip = "") {
        fs::path d = dir_ / name;
        fs::create_directories(d);
        std::ofstream(d / "config.json") << config.dump(1);
        auto src = formats::open_model_file(kShared + "/golden/llama_gqa");
        EXPECT_TRUE(src.ok());
        formats::SafeTensorsWriter w((d / "model.safetensors").string());
        for (const auto& t : src->tensors)
            if (t.name != skip) w.add_tensor(t.name, t.dtype, t.shape);
        EXPECT_TRUE(w.begin().ok());
        for (const auto& t : src->tensors) {
            if (t.name != skip) {
                EXPECT_TRUE(w.write_tensor(t.bytes()).ok());
            }
        }
        EXPECT_TRUE(w.finish().ok());
        return d.string();
    }

    Status load(const std::string& path) {
        auto f = formats::open_model_file(path);
        if (!f.ok()) return f.status();
        auto m = load_model(*f);
        return m.ok() ? Status::Ok() : m.status();
    }

    fs::path dir_;
    nlohmann::json config_;
};

TEST_F(BadModels, CopyOfGoldenLoads) { EXPECT_TRUE(load(make_folder("ok", config_)).ok()); }

TEST_F(BadModels, UnknownArchitecture) {
    auto c = config_;
    c["model_type"] = "mamba9";
    c["architectures"] = {"Mamba9ForCausalLM"};
    Status st = load(make_folder("unknown", c));
    EXPECT_EQ(st.code(), StatusCode::kUnsupported);
    EXPECT_NE(st.message().find("unknown architecture"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("mamba9"), std::string::npos) << st.message();
}

TEST_F(BadModels, MissingTensor) {
    Status st = load(make_folder("missing", config_, "model.layers.1.mlp.up_proj.weight"));
    EXPECT_EQ(st.code(), StatusCode::kNotFound);
    EXPECT_NE(st.message().find("missing tensor 'model.layers.1.mlp.up_proj.weight'"), std::string::npos) << st.message();
}

TEST_F(BadModels, TensorDisagreesWithHyperParameters) {
    auto c = config_;
    c["intermediate_size"] = 160;
    Status st = load(make_folder("shape", c));
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("model.layers.0.mlp.gate_proj.weight' has shape [172, 64]"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("require [160, 64]"), std::string::npos) << st.message();

    c = config_;
    c["num_key_value_heads"] = 4;  // k_proj is [16, 64] for 2 KV heads
    st = load(make_folder("kv", c));
    EXPECT_NE(st.message().find("self_attn.k_proj.weight' has shape [16, 64]"), std::string::npos) << st.message();
}

TEST_F(BadModels, ImpossibleHyperParameters) {
    auto c = config_;
    c["num_key_value_heads"] = 3;  // 8 heads are not a multiple of 3
    Status st = load(make_folder("heads", c));
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("n_head"), std::string::npos) << st.message();
    c = config_;
    c["hidden_size"] = -5;
    st = load(make_folder("neg", c));
    EXPECT_NE(st.message().find("n_embd"), std::string::npos) << st.message();
    c = config_;
    c["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
    st = load(make_folder("yarn", c));
    EXPECT_EQ(st.code(), StatusCode::kUnsupported);
    EXPECT_NE(st.message().find("yarn"), std::string::npos) << st.message();
}

TEST_F(BadModels, GgufUnknownArchitectureAndMissingKey) {
    auto write = [&](const std::string& name, const std::string& arch, bool with_embd) {
        formats::GgufWriter w((dir_ / name).string());
        w.add_metadata("general.architecture", formats::MetaValue::str(arch));
        if (with_embd) w.add_metadata(arch + ".embedding_length", formats::MetaValue::u32(8));
        w.add_tensor("token_embd.weight", DType::F32, {4, 8});
        EXPECT_TRUE(w.begin().ok());
        std::vector<float> z(32, 0.0f);
        EXPECT_TRUE(w.write_tensor({reinterpret_cast<const uint8_t*>(z.data()), z.size() * 4}).ok());
        EXPECT_TRUE(w.finish().ok());
        return (dir_ / name).string();
    };
    Status st = load(write("a.gguf", "rwkv99", true));
    EXPECT_EQ(st.code(), StatusCode::kUnsupported);
    EXPECT_NE(st.message().find("unknown architecture 'rwkv99'"), std::string::npos) << st.message();
    st = load(write("b.gguf", "llama", true));
    EXPECT_EQ(st.code(), StatusCode::kNotFound);
    EXPECT_NE(st.message().find("llama.block_count"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace rz::model
