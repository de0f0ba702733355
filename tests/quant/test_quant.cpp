// Block geometry against the DType table, the checked entry points' errors, and round trips on data with
// awkward values (zeros, constants, tiny values, a single spike) that the golden files also contain.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "realizar/quant/blocks.h"
#include "realizar/quant/quant.h"

namespace rz::quant {
namespace {

TEST(QuantBlocks, SizesMatchTheDTypeTable) {
    struct Row {
        DType t;
        size_t size;
        int block;
    };
    const Row rows[] = {{DType::Q4_0, sizeof(BlockQ4_0), kQK4_0},   {DType::Q4_1, sizeof(BlockQ4_1), kQK4_1},
                        {DType::Q5_0, sizeof(BlockQ5_0), kQK5_0},   {DType::Q5_1, sizeof(BlockQ5_1), kQK5_1},
                        {DType::Q8_0, sizeof(BlockQ8_0), kQK8_0},   {DType::Q8_1, sizeof(BlockQ8_1), kQK8_1},
                        {DType::Q2_K, sizeof(BlockQ2_K), kQK_K},    {DType::Q3_K, sizeof(BlockQ3_K), kQK_K},
                        {DType::Q4_K, sizeof(BlockQ4_K), kQK_K},    {DType::Q5_K, sizeof(BlockQ5_K), kQK_K},
                        {DType::Q6_K, sizeof(BlockQ6_K), kQK_K},    {DType::Q8_K, sizeof(BlockQ8_K), kQK_K},
                        {DType::IQ4_NL, sizeof(BlockIQ4_NL), kQK4_NL}, {DType::IQ4_XS, sizeof(BlockIQ4_XS), kQK_K}};
    for (const auto& r : rows) {
        const DTypeInfo* info = dtype_info(r.t);
        ASSERT_NE(info, nullptr);
        EXPECT_EQ(info->type_size, r.size) << info->name;
        EXPECT_EQ(info->block_size, static_cast<uint32_t>(r.block)) << info->name;
        EXPECT_TRUE(can_dequantize(r.t)) << info->name;
        EXPECT_TRUE(can_quantize(r.t)) << info->name;
    }
}

TEST(QuantApi, ErrorsNotCrashes) {
    std::vector<float> x(512, 1.0f);
    std::vector<uint8_t> buf(4096);
    EXPECT_EQ(quantize_row(DType::Q4_K, x.data(), buf.data(), 100).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(dequantize_row(DType::Q8_0, buf.data(), x.data(), 31).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(dequantize_row(DType::Q8_0, buf.data(), x.data(), -32).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(dequantize_row(static_cast<DType>(1234), buf.data(), x.data(), 32).code(), StatusCode::kUnsupported);
    EXPECT_EQ(dequantize_row(DType::IQ2_XXS, buf.data(), x.data(), 256).code(), StatusCode::kUnsupported);
    EXPECT_EQ(quantize_row(DType::IQ1_S, x.data(), buf.data(), 256).code(), StatusCode::kUnsupported);
    EXPECT_FALSE(can_dequantize(DType::I32));
    EXPECT_TRUE(dequantize_row(DType::Q4_0, buf.data(), x.data(), 0).ok());
}

// Relative RMSE bound per type for Gaussian data (a loose sanity bound; the golden test is the exact one).
double rmse_bound(DType t) {
    switch (t) {
        case DType::Q2_K: return 0.45;
        case DType::Q3_K: return 0.25;
        case DType::Q4_0: case DType::Q4_1: case DType::Q4_K: case DType::IQ4_NL: case DType::IQ4_XS: return 0.14;
        case DType::Q5_0: case DType::Q5_1: case DType::Q5_K: return 0.07;
        case DType::Q6_K: return 0.035;
        case DType::Q8_0: case DType::Q8_1: case DType::Q8_K: return 0.01;
        default: return 1e-2;
    }
}

TEST(QuantApi, RoundTripsOnAwkwardData) {
    const DType types[] = {DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                           DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K,
                           DType::IQ4_NL, DType::IQ4_XS};
    const int64_t n = 1024;
    std::mt19937 rng(5);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<std::vector<float>> cases;
    std::vector<float> v(n);
    for (auto& e : v) e = g(rng);
    cases.push_back(v);                                   // Gaussian
    cases.push_back(std::vector<float>(n, 0.0f));         // all zero
    cases.push_back(std::vector<float>(n, -2.5f));        // constant
    for (auto& e : v) e = g(rng) * 1e-7f;
    cases.push_back(v);                                   // tiny
    std::vector<float> spike(n, 0.0f);
    spike[300] = 50.0f;
    cases.push_back(spike);                               // single spike
    for (DType t : types) {
        std::vector<uint8_t> q(*dtype_bytes(t, n));
        std::vector<float> back(n);
        for (size_t ci = 0; ci < cases.size(); ++ci) {
            const auto& x = cases[ci];
            ASSERT_TRUE(quantize_row(t, x.data(), q.data(), n).ok());
            ASSERT_TRUE(dequantize_row(t, q.data(), back.data(), n).ok());
            double se = 0, ss = 0;
            for (int64_t i = 0; i < n; ++i) {
                ASSERT_TRUE(std::isfinite(back[i])) << dtype_name(t) << " case " << ci;
                se += std::pow(static_cast<double>(back[i]) - x[i], 2);
                ss += static_cast<double>(x[i]) * x[i];
            }
            if (ss == 0) {
                EXPECT_EQ(se, 0.0) << dtype_name(t) << " zeros must stay zeros";
            } else if (ci == 0) {
                EXPECT_LE(std::sqrt(se / ss), rmse_bound(t)) << dtype_name(t);
            }
        }
    }
}

}  // namespace
}  // namespace rz::quant
