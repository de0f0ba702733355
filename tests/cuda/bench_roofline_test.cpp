// `realizar bench --gpu`'s device line and decode roofline (bench::run_llm_bench with every layer on the GPU): the
// device's measured copy bandwidth, the model's decode weight bytes, and the tg test's fraction of the roofline
// they give; with some layers on the CPU the device is reported but not a roofline. Without a device the probe is
// a clear error and the benchmark refuses --gpu (no crash).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <unistd.h>

#include "cuda/cuda_test_util.h"
#include "realizar/bench/internal.h"
#include "realizar/runtime/gpu_info.h"

namespace rz::test {
namespace {

TEST(CudaBench, ProbeWithoutADeviceIsAnError) {
    if (cuda_device_present()) GTEST_SKIP() << "a device is present";
    const auto g = runtime::probe_gpu();
    EXPECT_FALSE(g.ok());
}

TEST(CudaBench, RooflineOfTheDecodeTest) {
    if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    const auto g = runtime::probe_gpu();
    ASSERT_TRUE(g.ok()) << g.status().message();
    EXPECT_FALSE(g->name.empty());
    EXPECT_GT(g->copy_gbps, 100.0) << "a device copy slower than 100 GB/s is not device memory";
    EXPECT_EQ(runtime::probe_gpu(1000).status().code(), StatusCode::kInvalidArgument);

    const std::string dir = (std::filesystem::temp_directory_path() / ("rz_roofline_" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir);
    model::SyntheticSpec sp = synthetic_spec("qwen3");  // 3 layers
    sp.ftype = "Q4_K_M";
    const std::string path = dir + "/m.gguf";
    ASSERT_TRUE(model::write_synthetic_gguf(path, sp).ok());
    auto m = runtime::Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().message();
    const uint64_t bytes = (*m)->info().decode_weight_bytes;
    ASSERT_GT(bytes, 0u);
    for (const int seqs : {1, 4}) {
        SCOPED_TRACE(seqs);
        bench::LlmBenchOptions o;
        o.model = path;
        o.n_prompt = 0, o.n_gen = 16, o.n_seq = seqs, o.n_gpu_layers = -1;
        o.repeat.warmup = 0, o.repeat.min_runs = 1, o.repeat.max_runs = 2;
        auto r = bench::run_llm_bench(o);
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(r->device.value("name", std::string()), g->name);
        const double bw = r->device.value("copy_bandwidth_gbps", 0.0);
        EXPECT_GT(bw, 100.0);
        ASSERT_EQ(r->results.size(), 1u);
        const bench::Record& tg = r->results[0];
        ASSERT_TRUE(tg.roofline.has_value());
        EXPECT_EQ(tg.roofline->weight_bytes_per_token, bytes);
        EXPECT_NEAR(tg.roofline->tokens_per_second, seqs * bw * 1e9 / static_cast<double>(bytes), 1e-9 * tg.roofline->tokens_per_second);
        EXPECT_NEAR(tg.roofline->fraction, tg.metrics.at("tokens_per_second").summary.median / tg.roofline->tokens_per_second, 1e-12);
        EXPECT_GT(tg.roofline->fraction, 0.0);
        const nlohmann::json j = bench::to_json(*r);
        EXPECT_TRUE(j.contains("device") && j["results"][0].contains("roofline"));
    }
    {  // one of 3 layers on the GPU: the CPU's share dominates, so no roofline
        bench::LlmBenchOptions o;
        o.model = path;
        o.n_prompt = 0, o.n_gen = 4, o.n_gpu_layers = 1;
        o.repeat.warmup = 0, o.repeat.min_runs = 1, o.repeat.max_runs = 1;
        auto r = bench::run_llm_bench(o);
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_TRUE(r->device.contains("name"));
        ASSERT_EQ(r->results.size(), 1u);
        EXPECT_FALSE(r->results[0].roofline.has_value());
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rz::test
