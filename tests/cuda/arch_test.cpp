// Every ../shared/golden architecture on the GPU (llama GQA, qwen2 biases, phi2 LayerNorm + parallel block +
// partial NEOX rotary + GELU + biases, gpt2 learned positions + fused qkv), against Hugging Face's float64
// logits directly, against the CPU path, and the golden greedy continuation with the KV cache on the device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "realizar/runtime/context.h"
#include "cuda/cuda_test_util.h"

namespace rz::runtime {
namespace {

const std::string& kGoldenShared = test::cuda_shared_dir();

std::vector<float> read_floats(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<float> out(bytes.size() / 4);
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}

using test::make_context;

std::vector<float> run(Context& ctx, const std::vector<int32_t>& toks) {
    Batch b;
    for (size_t i = 0; i < toks.size(); ++i) b.add(toks[i], static_cast<int32_t>(i), 0, true);
    Status st = ctx.decode(b);
    EXPECT_TRUE(st.ok()) << st.message();
    std::vector<float> out;
    for (size_t i = 0; st.ok() && i < toks.size(); ++i) out.insert(out.end(), ctx.logits(i).begin(), ctx.logits(i).end());
    return out;
}

class CudaGoldenArch : public testing::TestWithParam<std::string> {};

TEST_P(CudaGoldenArch, LogitsMatchHuggingFaceAndCpuAndGreedy) {
    if (!test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    const std::string dir = kGoldenShared + "/golden/" + GetParam();
    std::ifstream jf(dir + "/golden.json");
    ASSERT_TRUE(jf) << dir;
    const auto j = nlohmann::json::parse(jf);
    for (const char* variant : {"", "bf16"}) {
        auto m = Model::load(*variant ? dir + "/" + variant : dir);
        ASSERT_TRUE(m.ok()) << m.status().message();
        const size_t V = static_cast<size_t>((*m)->info().n_vocab);
        const auto& refs = *variant ? j["logits_bf16"] : j["logits"];
        for (size_t k = 0; k < refs.size(); ++k) {
            const auto toks = j["sequences"][k].get<std::vector<int32_t>>();
            auto gpu = make_context(*m, -1);
            auto cpu = make_context(*m, 0);
            ASSERT_TRUE(gpu && cpu);
            const auto g = run(*gpu, toks), c = run(*cpu, toks);
            const auto ref = read_floats(dir + "/" + refs[k]["file"].get<std::string>());
            const double eh = test::rows_error(g, ref, V), ec = test::rows_error(g, c, V);
            std::printf("[gpu-golden] %s%s seq %zu (%zu tokens): max|gpu-hf|/std = %.3g, max|gpu-cpu|/std = %.3g\n", GetParam().c_str(),
                        *variant ? "/bf16" : "", k, toks.size(), eh, ec);
            EXPECT_LE(eh, 1e-4) << GetParam() << variant << " seq " << k;
            EXPECT_LE(ec, 1e-3) << GetParam() << variant << " seq " << k;
        }
    }
    // Greedy continuation with the device KV cache (compared while HF's top-1 margin is clear of our error).
    auto m = Model::load(dir);
    ASSERT_TRUE(m.ok());
    auto gpu = make_context(*m, -1);
    ASSERT_TRUE(gpu);
    const auto prompt = j["greedy"]["prompt"].get<std::vector<int32_t>>();
    const auto want = j["greedy"]["tokens"].get<std::vector<int32_t>>();
    const auto margins = j["greedy"]["margins"].get<std::vector<double>>();
    Batch b;
    for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
    ASSERT_TRUE(gpu->decode(b).ok());
    for (size_t i = 0; i < want.size(); ++i) {
        auto l = gpu->logits(i == 0 ? prompt.size() - 1 : 0);  // the prompt batch asked only for its last row
        const int32_t t = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
        if (margins[i] < 1e-3) break;  // a near tie: HF's own float64 choice is not a meaningful reference
        ASSERT_EQ(t, want[i]) << GetParam() << " greedy step " << i;
        Batch s;
        s.add(t, static_cast<int32_t>(prompt.size() + i), 0, true);
        ASSERT_TRUE(gpu->decode(s).ok());
    }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaGoldenArch, testing::Values("llama_gqa", "qwen2", "phi2", "gpt2"));

}  // namespace
}  // namespace rz::runtime
