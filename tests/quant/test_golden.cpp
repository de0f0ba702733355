// Against llama.cpp itself (../shared/golden/quant, see its README): every tensor of q-TYPE.gguf
// (written by llama-quantize --pure, no imatrix) must
//   - dequantize to dq-TYPE.gguf (gguf-py's reference) within 1e-6 of the tensor's max |x|, and
//   - be reproduced byte for byte by our reference quantizer from source-f32.gguf in >= 99.9% of blocks,
//     with an RMSE against the source that is never worse than llama.cpp's (1e-6 relative slack).
// The bit-exact shares are printed and recorded as test properties (see docs/quantization.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "realizar/core/fp16.h"
#include "realizar/formats/model_file.h"
#include "realizar/quant/quant.h"

namespace rz::quant {
namespace {

std::string golden(const std::string& name) { return std::string(RZ_SHARED_DIR) + "/golden/quant/" + name; }

struct Counts {
    uint64_t elems = 0, elems_exact = 0, blocks = 0, blocks_exact = 0;
    double sq_ours = 0, sq_theirs = 0;
};

const formats::ModelFile& source() {
    static const formats::ModelFile f = [] {
        auto r = formats::open_model_file(golden("source-f32.gguf"));
        RZ_ASSERT(r.ok(), "source-f32.gguf must open");
        return std::move(r).value();
    }();
    return f;
}

void check_file(const std::string& suffix, DType want) {
    auto qf = formats::open_model_file(golden("q-" + suffix + ".gguf"));
    ASSERT_TRUE(qf.ok()) << qf.status().to_string();
    std::optional<formats::ModelFile> dqf;
    if (want != DType::F16 && want != DType::BF16) {
        auto r = formats::open_model_file(golden("dq-" + suffix + ".gguf"));
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        dqf = std::move(r).value();
    }
    const DTypeInfo* info = dtype_info(want);
    Counts c;
    int n_tensors = 0;
    for (const auto& t : qf->tensors) {
        if (t.dtype != want) continue;  // norms stay f32
        ++n_tensors;
        const formats::TensorInfo* src = source().find_tensor(t.name);
        ASSERT_NE(src, nullptr) << t.name;
        ASSERT_EQ(src->dtype, DType::F32);
        ASSERT_EQ(src->shape, t.shape) << t.name;
        const int64_t n = static_cast<int64_t>(t.n_elements());
        const int64_t row = t.shape.back();
        const auto* x = reinterpret_cast<const float*>(src->data);

        // Dequantize (whole tensor) and compare with the golden f32 (or, for F16/BF16, with the exact decode).
        std::vector<float> deq(static_cast<size_t>(n));
        ASSERT_TRUE(dequantize_row(want, t.data, deq.data(), n).ok());
        if (dqf) {
            const formats::TensorInfo* g = dqf->find_tensor(t.name);
            ASSERT_NE(g, nullptr) << t.name;
            ASSERT_EQ(g->dtype, DType::F32);
            ASSERT_EQ(g->n_elements(), t.n_elements());
            const auto* ref = reinterpret_cast<const float*>(g->data);
            float maxabs = 0;
            for (int64_t i = 0; i < n; ++i) maxabs = std::max(maxabs, std::fabs(ref[i]));
            double worst = 0;
            for (int64_t i = 0; i < n; ++i) {
                worst = std::max(worst, std::fabs(static_cast<double>(deq[i]) - ref[i]));
                c.elems_exact += std::memcmp(&deq[i], &ref[i], 4) == 0;
            }
            EXPECT_LE(worst, 1e-6 * maxabs) << suffix << " " << t.name;
        } else {
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = want == DType::F16 ? fp32_to_fp16(x[i]) : fp32_to_bf16(x[i]);
                const float e = want == DType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
                c.elems_exact += std::memcmp(&deq[i], &e, 4) == 0;
            }
        }
        c.elems += static_cast<uint64_t>(n);

        // Quantize the source row by row and compare the bytes block by block.
        std::vector<uint8_t> ours(t.n_bytes);
        const size_t row_bytes = *dtype_bytes(want, static_cast<uint64_t>(row));
        for (int64_t r = 0; r < n / row; ++r) {
            ASSERT_TRUE(quantize_row(want, x + r * row, ours.data() + r * row_bytes, row).ok());
        }
        const size_t bsz = info->type_size;  // one block (one element for F16/BF16)
        for (size_t b = 0; b < t.n_bytes / bsz; ++b) {
            ++c.blocks;
            c.blocks_exact += std::memcmp(ours.data() + b * bsz, t.data + b * bsz, bsz) == 0;
        }
        std::vector<float> ours_deq(static_cast<size_t>(n));
        ASSERT_TRUE(dequantize_row(want, ours.data(), ours_deq.data(), n).ok());
        for (int64_t i = 0; i < n; ++i) {
            c.sq_ours += std::pow(static_cast<double>(ours_deq[i]) - x[i], 2);
            c.sq_theirs += std::pow(static_cast<double>(deq[i]) - x[i], 2);
        }
    }
    ASSERT_GT(n_tensors, 0) << "no " << info->name << " tensors in q-" << suffix;
    const double share = static_cast<double>(c.blocks_exact) / static_cast<double>(c.blocks);
    const double rmse_ours = std::sqrt(c.sq_ours / static_cast<double>(c.elems));
    const double rmse_theirs = std::sqrt(c.sq_theirs / static_cast<double>(c.elems));
    const std::string line = fmt::format(
        "{:8s}: {} tensors, quantize bit-exact blocks {}/{} ({:.4f}%), dequantize bit-exact values {}/{} ({:.4f}%), "
        "RMSE ours {:.6g} vs llama.cpp {:.6g}",
        info->name, n_tensors, c.blocks_exact, c.blocks, 100.0 * share, c.elems_exact, c.elems,
        100.0 * static_cast<double>(c.elems_exact) / static_cast<double>(c.elems), rmse_ours, rmse_theirs);
    std::printf("%s\n", line.c_str());
    ::testing::Test::RecordProperty("bit_exact_blocks_percent", fmt::format("{:.4f}", 100.0 * share));
    EXPECT_GE(share, 0.999) << line;
    EXPECT_LE(rmse_ours, rmse_theirs * (1 + 1e-6)) << line;
}

TEST(GoldenQuant, Q4_0) { check_file("Q4_0", DType::Q4_0); }
TEST(GoldenQuant, Q4_1) { check_file("Q4_1", DType::Q4_1); }
TEST(GoldenQuant, Q5_0) { check_file("Q5_0", DType::Q5_0); }
TEST(GoldenQuant, Q5_1) { check_file("Q5_1", DType::Q5_1); }
TEST(GoldenQuant, Q8_0) { check_file("Q8_0", DType::Q8_0); }
TEST(GoldenQuant, Q2_K) { check_file("Q2_K", DType::Q2_K); }
TEST(GoldenQuant, Q3_K) { check_file("Q3_K_M", DType::Q3_K); }
TEST(GoldenQuant, Q4_K) { check_file("Q4_K_M", DType::Q4_K); }
TEST(GoldenQuant, Q5_K) { check_file("Q5_K_M", DType::Q5_K); }
TEST(GoldenQuant, Q6_K) { check_file("Q6_K", DType::Q6_K); }
TEST(GoldenQuant, IQ4_NL) { check_file("IQ4_NL", DType::IQ4_NL); }
TEST(GoldenQuant, IQ4_XS) { check_file("IQ4_XS", DType::IQ4_XS); }
TEST(GoldenQuant, F16) { check_file("F16", DType::F16); }
TEST(GoldenQuant, BF16) { check_file("BF16", DType::BF16); }

}  // namespace
}  // namespace rz::quant
