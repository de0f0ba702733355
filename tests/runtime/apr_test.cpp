// Transformer models in APR: HF tensor names with config.json-style metadata, and GGUF tensor names with
// APR.md's alias keys and an explicit rope_type. Both must give the HF golden logits.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "realizar/formats/apr.h"
#include "realizar/model/gguf_layout.h"
#include "runtime/golden_util.h"

namespace rz::test {
namespace {

namespace fs = std::filesystem;

double golden_error(const std::string& model_path, const std::string& golden) {
    auto m = runtime::Model::load(model_path);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    if (!m.ok()) return INFINITY;
    auto g = read_json(golden_dir(golden) + "/golden.json");
    double worst = 0.0;
    for (size_t k = 0; k < g["logits"].size(); ++k) {
        runtime::ContextOptions o;
        o.cache_type = DType::F32;
        o.n_threads = 2;
        auto ctx = runtime::Context::create(*m, o);
        EXPECT_TRUE(ctx.ok());
        auto ours = prefill_logits(**ctx, g["sequences"][k].get<std::vector<int32_t>>());
        EXPECT_TRUE(ours.ok()) << ours.status().to_string();
        if (!ours.ok()) return INFINITY;
        auto ref = read_f32(golden_dir(golden) + "/" + g["logits"][k]["file"].get<std::string>());
        worst = std::max(worst, max_rel(*ours, ref, g["logits"][k]["std"].get<double>()));
    }
    return worst;
}

Status write_apr(const std::string& path, const formats::ModelFile& src, const std::string& metadata_json) {
    formats::AprWriter w(path);
    w.set_metadata_json(metadata_json);
    for (const auto& t : src.tensors) w.add_tensor(t.name, t.dtype, t.shape);
    RZ_RETURN_IF_ERROR(w.begin());
    for (const auto& t : src.tensors) RZ_RETURN_IF_ERROR(w.write_tensor(t.bytes()));
    return w.finish();
}

TEST(AprTransformer, HfNamesWithConfigMetadata) {
    for (const char* name : {"llama_gqa", "phi2"}) {
        auto src = formats::open_model_file(golden_dir(name));
        ASSERT_TRUE(src.ok());
        std::ifstream in(golden_dir(name) + "/config.json");
        const std::string cfg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const std::string path = (fs::temp_directory_path() / ("rz_apr_hf_" + std::string(name) + std::to_string(::getpid()) + ".apr")).string();
        ASSERT_TRUE(write_apr(path, *src, cfg).ok());
        EXPECT_LE(golden_error(path, name), 1e-4) << name;
        fs::remove(path);
    }
}

TEST(AprTransformer, GgufNamesWithAliasKeysAndRopeType) {
    auto src = formats::open_model_file(golden_dir("llama_gqa"));
    ASSERT_TRUE(src.ok());
    auto g = model::to_gguf_layout(*src);  // q/k permuted to NORM pairs
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    const std::string meta = R"({"architecture": "llama", "hidden_dim": 64, "num_layers": 2, "num_heads": 8,
        "num_kv_heads": 2, "vocab_size": 512, "intermediate_dim": 172, "max_seq_len": 256, "rope_theta": 10000.0,
        "rope_type": 0, "eps": 1e-5})";
    const std::string path = (fs::temp_directory_path() / ("rz_apr_gguf_" + std::to_string(::getpid()) + ".apr")).string();
    ASSERT_TRUE(write_apr(path, *g, meta).ok());
    EXPECT_LE(golden_error(path, "llama_gqa"), 1e-4);
    // The same weights declared NEOX are wrong: the rope_type key is honoured, not guessed.
    const std::string neox = std::string(meta).replace(meta.find("\"rope_type\": 0"), 14, "\"rope_type\": 2");
    ASSERT_TRUE(write_apr(path, *g, neox).ok());
    EXPECT_GT(golden_error(path, "llama_gqa"), 1e-2);
    fs::remove(path);
}

}  // namespace
}  // namespace rz::test
