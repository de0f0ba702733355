// A parallel block's o and down for a decode step of several sequences in one launch (cuda::matvec_rows_pair, phi-2's
// steps on the rows kernels): y_t += A q8(xa_t) + B a_t + both biases, a_t the fused activation buffer's row t, against
// float64 for the type pairs of phi-2's mixes at the token counts that take it (2-16 tokens: dp4a kernels, tensor cores,
// token groups of 8; 21 and 32 with blocks of 8 tokens forced), with x quantized once and by each block, rows past m
// untouched; the pairs, widths and token counts without kernels are refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "cuda/cuda_test_util.h"

namespace rz::test {
namespace {

#ifdef RZ_HAVE_CUDA
TEST(CudaRowsPair, MatchesReference) {
    if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
    using cuda::kFusedRowsMax;
    const int rows = 100, ca = 512, cb = 2048;  // 100 rows: neither whole 8-row groups nor 16-row tiles
    const auto xa = random_floats(static_cast<size_t>(kFusedRowsMax) * ca, 191u);
    auto xb = random_floats(static_cast<size_t>(kFusedRowsMax) * cb, 192u);
    for (auto& v : xb) v = std::fabs(v);  // ReLU keeps them: the buffer holds q8(xb) (act_rows_q8)
    const auto ba = random_floats(static_cast<size_t>(rows), 193u), bb = random_floats(static_cast<size_t>(rows), 194u);
    const auto y0 = random_floats(static_cast<size_t>(kFusedRowsMax) * rows, 195u);
    DevBuf dxa(sizeof(float) * xa.size()), dxb(sizeof(float) * xb.size()), dba(sizeof(float) * rows), dbb(sizeof(float) * rows),
        dy(sizeof(float) * y0.size());
    ASSERT_TRUE(cuda::upload(dxa.p, xa.data(), sizeof(float) * xa.size()).ok());
    ASSERT_TRUE(cuda::upload(dxb.p, xb.data(), sizeof(float) * xb.size()).ok());
    ASSERT_TRUE(cuda::upload(dba.p, ba.data(), sizeof(float) * rows).ok());
    ASSERT_TRUE(cuda::upload(dbb.p, bb.data(), sizeof(float) * rows).ok());
    const std::pair<DType, DType> pairs[] = {{DType::Q4_K, DType::Q6_K}, {DType::Q4_K, DType::Q4_K}, {DType::Q8_0, DType::Q8_0},
                                             {DType::Q8_0, DType::Q4_K}, {DType::Q6_K, DType::Q8_0}};
    for (const auto& [ta, tb] : pairs) {
        SCOPED_TRACE(std::string(dtype_name(ta)) + " + " + std::string(dtype_name(tb)));
        const QMat a(ta, rows, ca, 196u), b(tb, rows, cb, 197u);
        std::vector<std::vector<double>> want(kFusedRowsMax), mag(kFusedRowsMax);
        for (int t = 0; t < kFusedRowsMax; ++t) {
            const std::vector<float> xat(xa.begin() + static_cast<std::ptrdiff_t>(t) * ca, xa.begin() + static_cast<std::ptrdiff_t>(t + 1) * ca);
            const std::vector<float> xbt(xb.begin() + static_cast<std::ptrdiff_t>(t) * cb, xb.begin() + static_cast<std::ptrdiff_t>(t + 1) * cb);
            std::vector<double> ra, ma, rb, mb;
            a.ref(quantize_like_gpu(xat), ra, ma);
            b.ref(quantize_like_gpu(xbt), rb, mb);
            for (int r = 0; r < rows; ++r) {
                const size_t i = static_cast<size_t>(r);
                want[static_cast<size_t>(t)].push_back(ra[i] + rb[i] + static_cast<double>(ba[i]) + bb[i]);
                mag[static_cast<size_t>(t)].push_back(ma[i] + mb[i] + 2.0);
            }
        }
        int ran = 0;
        // the default plan; blocks of 8 tokens (token groups from 9); x quantized by each block, not once
        const std::pair<const char*, const char*> variants[] = {{"RZ_CUDA_ROWS_UNSET", ""}, {"RZ_CUDA_ROWS_TB", "8"}, {"RZ_CUDA_ROWS_PREQ", "0"}};
        for (const auto& [name, value] : variants) {
            ScopedEnv env{{name, value}};
            for (int m : {2, 3, 5, 8, 12, 16, 21, 32}) {
                if (!cuda::matvec_rows_pair_supported(ta, ca, tb, cb, rows, m)) continue;
                SCOPED_TRACE(std::string(name) + "=" + value + " tokens " + std::to_string(m));
                ++ran;
                ASSERT_TRUE(cuda::upload(dy.p, y0.data(), sizeof(float) * y0.size()).ok());
                cuda::act_rows_q8(dxb.f(), cb, m, cb, nullptr, cuda::Act::kRelu);
                cuda::matvec_rows_pair({ta, a.dev.p, rows, dba.f(), dy.f()}, ca, dxa.f(), ca, {tb, b.dev.p, rows, dbb.f(), dy.f()}, cb, m);
                ASSERT_TRUE(cuda::sync("matvec_rows_pair").ok());
                std::vector<float> y(y0.size());
                ASSERT_TRUE(cuda::download(y.data(), dy.p, sizeof(float) * y.size()).ok());
                for (int t = 0; t < kFusedRowsMax; ++t)
                    for (int r = 0; r < rows; ++r) {
                        const size_t at = static_cast<size_t>(t) * rows + r;
                        if (t >= m) {
                            ASSERT_EQ(y[at], y0[at]) << "token " << t << " row " << r << " (past m)";
                            continue;
                        }
                        const double w = y0[at] + want[static_cast<size_t>(t)][static_cast<size_t>(r)];
                        ASSERT_NEAR(y[at], w, 3e-5 * mag[static_cast<size_t>(t)][static_cast<size_t>(r)]) << "token " << t << " row " << r;
                    }
            }
        }
        EXPECT_GE(ran, 8) << "too few token counts took the pair";
    }
    // Refused: a type set the pair kernels are not built for (Q5_K's dp4a set at 2 tokens, Q3_K, Q4_0), Q8_0 with
    // Q5_K, and widths that are not whole super-blocks.
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q5_K, ca, DType::Q6_K, cb, rows, 2));
    EXPECT_TRUE(cuda::matvec_rows_pair_supported(DType::Q5_K, ca, DType::Q6_K, cb, rows, 4));  // tensor cores: Q4_K's set
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q3_K, ca, DType::Q4_K, cb, rows, 4));
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q4_0, ca, DType::Q4_0, cb, rows, 2));
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q8_0, ca, DType::Q5_K, cb, rows, 2));
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q4_K, 300, DType::Q4_K, cb, rows, 2));
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q4_K, ca, DType::Q4_K, cb, rows, 1));
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q4_K, ca, DType::Q4_K, cb, rows, kFusedRowsMax + 1));
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q4_K, ca, DType::Q4_K, cb, rows, 32));  // blocks of 16 tokens: two launches
    EXPECT_FALSE(cuda::matvec_rows_pair_supported(DType::Q8_0, ca, DType::Q8_0, cb, rows, 12));  // Q8_0's tensor cores: the same
}
#endif

}  // namespace
}  // namespace rz::test
