// Partial offload (0 < n_gpu_layers < n_layer): the first layers on the GPU, the rest and the output head on
// the CPU. Against the all-CPU context: logits within the GPU path's bound, identical greedy tokens, the same
// sequence bookkeeping (two sequences in one batch, truncate, clear) and errors that leave no half-state.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "realizar/runtime/context.h"
#include "cuda/cuda_test_util.h"

namespace rz::runtime {
namespace {

const std::string& kSharedDir = test::cuda_shared_dir();
using test::cuda_device_present;

std::unique_ptr<Context> make(const std::shared_ptr<Model>& m, int n_gpu_layers, int n_seq = 1) {
    return test::make_context(m, n_gpu_layers, 128, DType::F32, n_seq);
}

using test::logits_error;


void check_split(const std::string& path, const std::vector<int32_t>& prompt, int n_gen) {
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().message();
    const int L = (*m)->info().n_layer;
    auto cpu = make(*m, 0);
    ASSERT_TRUE(cpu);
    Batch b;
    for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 0, true);
    ASSERT_TRUE(cpu->decode(b).ok());
    std::vector<std::vector<float>> ref;
    for (size_t i = 0; i < prompt.size(); ++i) ref.emplace_back(cpu->logits(i).begin(), cpu->logits(i).end());
    std::vector<int32_t> ref_tokens;
    for (int i = 0, t = argmax(cpu->logits(prompt.size() - 1)); i < n_gen; ++i) {
        Batch s;
        s.add(t, static_cast<int32_t>(prompt.size()) + i, 0, true);
        ASSERT_TRUE(cpu->decode(s).ok());
        t = argmax(cpu->logits(0));
        ref_tokens.push_back(t);
    }
    for (int k : {1, L / 2, L - 1}) {
        auto hyb = make(*m, k);
        ASSERT_TRUE(hyb);
        ASSERT_TRUE(hyb->decode(b).ok());
        auto cpu2 = make(*m, 0);
        ASSERT_TRUE(cpu2->decode(b).ok());
        const double err = logits_error(*hyb, *cpu2, prompt.size());
        std::printf("[hybrid-vs-cpu] %s gpu layers %d of %d: max|hyb-cpu|/std = %.3g\n", path.c_str(), k, L, err);
        EXPECT_LE(err, 1e-3) << path << " split " << k;
        std::vector<int32_t> got;
        for (int i = 0, t = argmax(hyb->logits(prompt.size() - 1)); i < n_gen; ++i) {
            Batch s;
            s.add(t, static_cast<int32_t>(prompt.size()) + i, 0, true);
            ASSERT_TRUE(hyb->decode(s).ok());
            t = argmax(hyb->logits(0));
            got.push_back(t);
        }
        EXPECT_EQ(got, ref_tokens) << path << " split " << k;
        EXPECT_EQ(hyb->seq_len(0), static_cast<int32_t>(prompt.size()) + n_gen);
    }
}

TEST(CudaHybrid, WithoutDevicePartialOffloadFailsCleanly) {
    if (cuda_device_present()) GTEST_SKIP() << "a CUDA device is present";
    auto m = Model::load(kSharedDir + "/data/tinystories-260K/stories260K-f32.gguf");
    ASSERT_TRUE(m.ok()) << m.status().message();
    ContextOptions o;
    o.n_gpu_layers = 2;
    auto g = Context::create(*m, o);
    ASSERT_FALSE(g.ok());
    EXPECT_FALSE(g.status().message().empty());
}

TEST(CudaHybrid, Stories260KSplitsMatchCpu) {
    if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    check_split(kSharedDir + "/data/tinystories-260K/stories260K-f32.gguf", {1, 403, 407, 261, 378, 54, 280, 324, 306, 267, 291, 350}, 48);
}

TEST(CudaHybrid, GoldenLlamaGqaSplitsMatchCpu) {
    if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    check_split(kSharedDir + "/golden/llama_gqa", {243, 128, 27, 196, 347, 195, 115, 487, 453, 286, 377, 170}, 16);
}

TEST(CudaHybrid, SequencesTruncateClearAndErrors) {
    if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    auto m = Model::load(kSharedDir + "/data/tinystories-260K/stories260K-f32.gguf");
    ASSERT_TRUE(m.ok()) << m.status().message();
    auto cpu = make(*m, 0, 2);
    auto hyb = make(*m, 2, 2);
    ASSERT_TRUE(cpu && hyb);
    Batch b;
    for (int p = 0; p < 5; ++p) b.add(10 + p, p, 0, p == 4);
    for (int p = 0; p < 3; ++p) b.add(50 + p, p, 1, p == 2);
    ASSERT_TRUE(cpu->decode(b).ok());
    ASSERT_TRUE(hyb->decode(b).ok());
    EXPECT_LE(logits_error(*hyb, *cpu, b), 1e-3);  // the two entries that asked for logits
    EXPECT_EQ(hyb->seq_len(0), 5);
    EXPECT_EQ(hyb->seq_len(1), 3);
    // Rewind sequence 0 to 2 positions on both, continue with another token: the same logits again.
    ASSERT_TRUE(cpu->seq_truncate(0, 2).ok());
    ASSERT_TRUE(hyb->seq_truncate(0, 2).ok());
    Batch c;
    c.add(99, 2, 0, true);
    c.add(98, 3, 1, true);
    ASSERT_TRUE(cpu->decode(c).ok());
    ASSERT_TRUE(hyb->decode(c).ok());
    const double e0 = logits_error(*hyb, *cpu, 2);
    EXPECT_LE(e0, 1e-3);
    // A bad batch is an error and changes nothing.
    Batch bad;
    bad.add(7, 4, 0, true);
    bad.add(100000, 4, 1, true);
    EXPECT_FALSE(hyb->decode(bad).ok());
    EXPECT_EQ(hyb->seq_len(0), 3);
    Batch wrongpos;
    wrongpos.add(7, 9, 0, true);
    EXPECT_FALSE(hyb->decode(wrongpos).ok());
    EXPECT_EQ(hyb->seq_len(0), 3);
    hyb->seq_clear(1);
    EXPECT_EQ(hyb->seq_len(1), 0);
    Batch again;
    again.add(50, 0, 1, true);
    ASSERT_TRUE(hyb->decode(again).ok());
    EXPECT_EQ(hyb->seq_len(1), 1);
}

// seq_copy on the GPU (all layers) and on a partial offload: a copied prompt continues exactly like the
// original, and like the CPU; bad ids are errors.
TEST(CudaHybrid, SeqCopyContinuesLikeTheOriginal) {
    if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    auto m = Model::load(kSharedDir + "/data/tinystories-260K/stories260K-f32.gguf");
    ASSERT_TRUE(m.ok()) << m.status().message();
    for (int ngl : {-1, 2}) {
        auto cpu = make(*m, 0, 3);
        auto gpu = make(*m, ngl, 3);
        ASSERT_TRUE(cpu && gpu);
        Batch p;
        for (int i = 0; i < 9; ++i) p.add(1 + 41 * i % 500, i, 0, false);
        for (Context* c : {cpu.get(), gpu.get()}) {
            ASSERT_TRUE(c->decode(p).ok());
            ASSERT_TRUE(c->seq_copy(0, 2).ok());
            EXPECT_EQ(c->seq_len(2), 9);
            EXPECT_FALSE(c->seq_copy(0, 3).ok());
            EXPECT_FALSE(c->seq_copy(-1, 1).ok());
        }
        Batch step;  // the same next token for the original and the copy, in one batch and one at a time
        step.add(77, 9, 0, true);
        step.add(77, 9, 2, true);
        ASSERT_TRUE(cpu->decode(step).ok());
        ASSERT_TRUE(gpu->decode(step).ok());
        std::vector<float> a(gpu->logits(0).begin(), gpu->logits(0).end()), b(gpu->logits(1).begin(), gpu->logits(1).end());
        ASSERT_EQ(a.size(), b.size());
        double md = 0.0;
        for (size_t j = 0; j < a.size(); ++j) md = std::max(md, std::fabs(static_cast<double>(a[j]) - b[j]));
        EXPECT_LE(md, 1e-5) << "copy vs original, n_gpu_layers " << ngl;
        EXPECT_LE(logits_error(*gpu, *cpu, 2), 1e-3) << "n_gpu_layers " << ngl;
        Batch one;
        one.add(5, 10, 2, true);
        ASSERT_TRUE(gpu->decode(one).ok());
        ASSERT_TRUE(cpu->decode(one).ok());
        EXPECT_LE(logits_error(*gpu, *cpu, 1), 1e-3) << "n_gpu_layers " << ngl;
        EXPECT_EQ(gpu->seq_len(2), 11);
        EXPECT_EQ(gpu->seq_len(0), 10);
    }
}

}  // namespace
}  // namespace rz::runtime
