// matmul / get_row against the reference dequantizer, for every weight type, on decode (1 token) and
// prefill (several tokens) shapes, plus the error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/cpu/dispatch.h"
#include "backend_cpu/random_blocks.h"
#include "realizar/backend/cpu/matmul.h"
#include "realizar/quant/quant.h"

namespace rz::cpu {
namespace {

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                        DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                        DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS, DType::Q8_K};

// Reference: dequantized W times x in double. The kernels quantize x to 8 bits (Q8_0 / Q8_K), which
// costs up to ~0.5/127 of each activation's block max; the bound below is 3x that worst case.
void check_against_reference(DType t, int64_t n_rows, int64_t n_cols, int64_t n_tokens, ThreadPool& pool) {
    const auto w = test::random_weights(t, n_rows, n_cols, 1234u + static_cast<uint32_t>(t));
    const auto x = test::random_floats(static_cast<size_t>(n_tokens * n_cols), 99);
    std::vector<float> y(static_cast<size_t>(n_tokens * n_rows), NAN);
    ASSERT_TRUE(matmul(t, w.data(), n_rows, n_cols, x.data(), n_tokens, y.data(), pool).ok()) << dtype_name(t);
    const size_t row_bytes = w.size() / static_cast<size_t>(n_rows);
    std::vector<float> row(static_cast<size_t>(n_cols));
    for (int64_t r = 0; r < n_rows; ++r) {
        ASSERT_TRUE(quant::dequantize_row(t, w.data() + r * row_bytes, row.data(), n_cols).ok());
        std::vector<float> got(static_cast<size_t>(n_cols));
        ASSERT_TRUE(get_row(t, w.data(), n_cols, r, got.data()).ok());
        ASSERT_EQ(0, std::memcmp(got.data(), row.data(), got.size() * sizeof(float))) << dtype_name(t) << " get_row " << r;
        for (int64_t tk = 0; tk < n_tokens; ++tk) {
            double ref = 0.0, bound = 0.0;
            for (int64_t c = 0; c < n_cols; ++c) {
                ref += static_cast<double>(row[c]) * x[tk * n_cols + c];
                bound += std::fabs(static_cast<double>(row[c])) * 3.0 * 0.5 / 127.0 * 4.0;  // |x| block max <~ 4 sigma
            }
            if (t == DType::F32 || t == DType::F16 || t == DType::BF16) bound = 1e-4 * (1.0 + std::fabs(ref)) + 1e-3;
            EXPECT_NEAR(y[tk * n_rows + r], ref, bound) << dtype_name(t) << " row " << r << " token " << tk;
        }
    }
}

TEST(Matmul, EveryTypeDecodeMatchesReference) {
    ThreadPool pool(2);
    for (DType t : kTypes) check_against_reference(t, 37, 512, 1, pool);
}

// Enough rows that the decode mat-vec is split over both threads (at an odd row), with a row length that
// leaves a partial 4-block group for the 32-element formats.
TEST(Matmul, EveryTypeThreadedDecodeMatchesReference) {
    ThreadPool pool(2);
    for (DType t : kTypes) check_against_reference(t, 301, 1280, 1, pool);
}

TEST(Matmul, EveryTypePrefillMatchesReference) {
    ThreadPool pool(2);
    for (DType t : kTypes) check_against_reference(t, 19, 768, 7, pool);   // small batch: dot kernels
    for (DType t : kTypes) check_against_reference(t, 35, 512, 13, pool);  // prefill GEMM where available
}

TEST(Matmul, ManyTokensEqualOneTokenAtATime) {
    ThreadPool pool(2);
    for (DType t : kTypes) {
        const int64_t n_rows = 45, n_cols = 1024, n_tokens = 70;
        const auto w = test::random_weights(t, n_rows, n_cols, 7);
        const auto x = test::random_floats(static_cast<size_t>(n_tokens * n_cols), 8);
        std::vector<float> y(static_cast<size_t>(n_tokens * n_rows));
        ASSERT_TRUE(matmul(t, w.data(), n_rows, n_cols, x.data(), n_tokens, y.data(), pool).ok());
        std::vector<float> y1(static_cast<size_t>(n_rows));
        // |W| x |x| per (row, token): the scale of the float rounding both paths may differ by.
        std::vector<float> row(static_cast<size_t>(n_cols));
        const size_t row_bytes = w.size() / static_cast<size_t>(n_rows);
        for (int64_t tk = 0; tk < n_tokens; tk += 13) {
            ASSERT_TRUE(matmul(t, w.data(), n_rows, n_cols, x.data() + tk * n_cols, 1, y1.data(), pool).ok());
            for (int64_t r = 0; r < n_rows; ++r) {
                ASSERT_TRUE(quant::dequantize_row(t, w.data() + r * row_bytes, row.data(), n_cols).ok());
                double mag = 0;
                for (int64_t c = 0; c < n_cols; ++c) mag += std::fabs(static_cast<double>(row[c]) * x[tk * n_cols + c]);
                EXPECT_NEAR(y[tk * n_rows + r], y1[r], 2e-5 * mag) << dtype_name(t);
            }
        }
    }
}

TEST(Matmul, ErrorsInsteadOfCrashes) {
    ThreadPool pool(1);
    std::vector<unsigned char> w(4096);
    std::vector<float> x(256), y(16);
    // Row length not a multiple of the block.
    EXPECT_EQ(matmul(DType::Q4_K, w.data(), 2, 100, x.data(), 1, y.data(), pool).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(matmul(DType::Q8_0, w.data(), 2, 33, x.data(), 1, y.data(), pool).code(), StatusCode::kInvalidArgument);
    // Unknown and undecodable types.
    EXPECT_EQ(matmul(static_cast<DType>(77), w.data(), 2, 32, x.data(), 1, y.data(), pool).code(), StatusCode::kUnsupported);
    EXPECT_EQ(matmul(DType::IQ2_XXS, w.data(), 2, 256, x.data(), 1, y.data(), pool).code(), StatusCode::kUnsupported);
    EXPECT_EQ(get_row(DType::I32, w.data(), 8, 0, y.data()).code(), StatusCode::kUnsupported);
    // Misaligned weights.
    EXPECT_EQ(matmul(DType::F32, w.data() + 1, 2, 32, x.data(), 1, y.data(), pool).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(get_row(DType::Q4_0, w.data() + 1, 32, 0, y.data()).code(), StatusCode::kInvalidArgument);
    // Null pointers and negative shapes.
    EXPECT_FALSE(matmul(DType::F32, nullptr, 2, 32, x.data(), 1, y.data(), pool).ok());
    EXPECT_FALSE(matmul(DType::F32, w.data(), -1, 32, x.data(), 1, y.data(), pool).ok());
    EXPECT_FALSE(get_row(DType::F32, w.data(), 32, -1, y.data()).ok());
    // Empty shapes are fine.
    EXPECT_TRUE(matmul(DType::F32, w.data(), 0, 32, x.data(), 1, y.data(), pool).ok());
    EXPECT_TRUE(matmul(DType::F32, w.data(), 2, 32, x.data(), 0, y.data(), pool).ok());
}

TEST(Matmul, SupportsTheCommonTypes) {
    for (DType t : kTypes) EXPECT_TRUE(matmul_supports(t)) << dtype_name(t);
    EXPECT_FALSE(matmul_supports(DType::IQ2_XXS));
    EXPECT_FALSE(matmul_supports(DType::I32));
}

}  // namespace
}  // namespace rz::cpu
