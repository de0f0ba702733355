// Sliding-window attention on the GPU against the CPU: stories260K rewritten with llama.attention.sliding_window
// = 6 (a window shorter than the prompt), f32 caches, through the batched prompt path and token-by-token decode, with the
// default kernels, the one-block decode attention (RZ_CUDA_ATTN_SPLIT=0) and the per-operation sequence
// (RZ_CUDA_FUSED=0). The window must change the logits (checked against the file without it), so the test
// cannot pass with the window ignored. Kernel-level references: tests/cuda/kernels_test.cpp (decode) and
// batch_test.cpp (prompt). Skips without a device.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cuda/cuda_test_util.h"
#include "realizar/formats/gguf.h"
#include "realizar/runtime/context.h"

namespace rz::runtime {
namespace {

constexpr int kWindow = 6;

std::string stories() { return test::cuda_shared_dir() + "/data/tinystories-260K/stories260K-f32.gguf"; }

// stories260K with the window in its metadata, written next to the test's temporary files.
std::string windowed_copy() {
    const std::string out = testing::TempDir() + "/stories260K-swa" + std::to_string(kWindow) + ".gguf";
    auto mf = formats::open_gguf(stories());
    EXPECT_TRUE(mf.ok()) << mf.status().message();
    if (!mf.ok()) return "";
    mf->metadata.emplace_back("llama.attention.sliding_window", formats::MetaValue::u32(kWindow));
    const Status st = formats::write_gguf(out, *mf);
    EXPECT_TRUE(st.ok()) << st.message();
    return st.ok() ? out : "";
}

std::unique_ptr<Context> context(const std::shared_ptr<Model>& m, bool gpu) {
    // f32 caches: both sides exact up to float summation order, a tight bound below.
    return test::make_context(m, gpu ? 999 : 0, 64, DType::F32);
}

// Logits of a 20-token prompt (every position) then of 12 greedy tokens, one decode each.
std::vector<std::vector<float>> run(Context& c) {
    std::vector<std::vector<float>> rows;
    Batch b;
    for (int i = 0; i < 20; ++i) b.add(1 + (i * 37) % 500, i, 0, true);
    EXPECT_TRUE(c.decode(b).ok());
    for (int i = 0; i < 20; ++i) rows.emplace_back(c.logits(static_cast<size_t>(i)).begin(), c.logits(static_cast<size_t>(i)).end());
    int32_t t = 0;
    for (int i = 0; i < 12; ++i) {
        const auto& l = rows.back();
        t = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
        Batch s;
        s.add(t, 20 + i, 0, true);
        EXPECT_TRUE(c.decode(s).ok());
        rows.emplace_back(c.logits(0).begin(), c.logits(0).end());
    }
    return rows;
}

double worst(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b, size_t from = 0) {
    double e = 0.0;
    for (size_t i = from; i < a.size() && i < b.size(); ++i) e = std::max(e, test::row_error(a[i], b[i]));
    return a.size() == b.size() ? e : 1e9;
}

TEST(CudaSlidingWindow, MatchesCpu) {
    if (!test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    const std::string path = windowed_copy();
    ASSERT_FALSE(path.empty());
    auto m = Model::load(path);
    auto plain = Model::load(stories());
    ASSERT_TRUE(m.ok() && plain.ok());
    auto cpu = context(*m, false);
    auto cpu_full = context(*plain, false);
    ASSERT_TRUE(cpu && cpu_full);
    const auto ref = run(*cpu);
    // The window must matter: from position kWindow on, the windowed CPU logits differ from full attention.
    EXPECT_GT(worst(ref, run(*cpu_full), kWindow), 1e-2) << "the window had no effect on the CPU";
    for (const char* env : {"", "RZ_CUDA_ATTN_SPLIT", "RZ_CUDA_FUSED"}) {
        if (*env) setenv(env, "0", 1);
        auto gpu = context(*m, true);
        if (*env) unsetenv(env);
        ASSERT_TRUE(gpu);
        const double e = worst(run(*gpu), ref);
        std::printf("[gpu-swa] window %d, %s: max|gpu-cpu|/std = %.3g over 32 positions\n", kWindow, *env ? env : "default", e);
        EXPECT_LE(e, 1e-4) << (*env ? env : "default");
    }
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace rz::runtime
