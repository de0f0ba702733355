// The device layouts of weight rows (cuda::row_bytes / pack_rows, cuda.h): host-side, so they run without a GPU
// (in CI too). A reader written from the layout's description takes every block back out of the packed rows and
// must give the file's bytes; the padding is zero and the stride a multiple of 16 bytes. The kernels' tests (on a
// device) check that the GPU decoders read the same layout.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cuda_test_util.h"

#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(test::lcg(seed) >> 24);
    return v;
}

// Block b of a packed row, rebuilt in the file's byte order.
std::vector<uint8_t> file_block(DType t, const uint8_t* row, int nb, int b) {
    std::vector<uint8_t> out;
    auto put = [&](const uint8_t* p, size_t n) {
        const size_t at = out.size();
        out.resize(at + n);
        std::memcpy(out.data() + at, p, n);
    };
    if (t == DType::Q3_K) {  // the file's 110 bytes, every block at 112 b
        put(row + 112 * b, 110);
    } else if (t == DType::Q6_K) {  // {ql[128]; qh[64]; scales[16]; d} from four row arrays
        put(row + 128 * b, 128);
        put(row + 128 * nb + 64 * b, 64);
        put(row + 192 * nb + 16 * b, 16);
        put(row + 208 * nb + 2 * b, 2);
    } else {  // Q8_0 {d; qs[32]}, Q4_0 / IQ4_NL {d; qs[16]}, Q5_0 {d; qh[4]; qs[16]} from groups of 8 blocks: every
              // block's codes, then (Q5_0) every block's qh, then every block's scale
        const int K = t == DType::Q8_0 ? 34 : t == DType::Q5_0 ? 22 : 18, Q = t == DType::Q8_0 ? 32 : 16, H = K - 2 - Q;
        const int g0 = b / 8 * 8, j = b % 8, m = nb - g0 < 8 ? nb - g0 : 8;
        const uint8_t* g = row + K * g0;
        put(g + (Q + H) * m + 2 * j, 2);
        if (H > 0) put(g + Q * m + H * j, static_cast<size_t>(H));
        put(g + Q * j, static_cast<size_t>(Q));
    }
    return out;
}

TEST(CudaDeviceLayout, PackedRowsHoldEveryBlockAndZeroPadding) {
    struct Case {
        DType t;
        int cols;
    };
    // Q6_K: 1, 2, 9 and 11 super-blocks (padding 14, 12, 6, 2 bytes); the 32-element types: 1, 8, 13 and 88 blocks
    // (a short last group; Q4_0 13 blocks: 234 bytes, padding 6).
    std::vector<Case> cases{Case{DType::Q6_K, 256}, Case{DType::Q6_K, 512}, Case{DType::Q6_K, 2304}, Case{DType::Q6_K, 2816}};
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::IQ4_NL, DType::Q5_0})
        for (int cols : {32, 256, 416, 2816}) cases.push_back(Case{t, cols});
    for (int cols : {256, 2048, 2816}) cases.push_back(Case{DType::Q3_K, cols});  // 1, 8, 11 blocks of 112 bytes
    for (const Case c : cases) {
        SCOPED_TRACE(std::string(dtype_name(c.t)) + " cols " + std::to_string(c.cols));
        const int rows = 5;
        const size_t frb = test::file_row_bytes(c.t, c.cols), drb = row_bytes(c.t, c.cols);
        EXPECT_EQ(drb % 16, 0u);
        EXPECT_GE(drb, frb);
        if (c.t == DType::Q3_K) EXPECT_EQ(drb, frb / 110 * 112);
        else EXPECT_LT(drb, frb + 16);
        const auto src = random_bytes(frb * rows, 7u + static_cast<uint32_t>(c.cols));
        std::vector<uint8_t> dst(drb * rows, 0xAB);
        pack_rows(c.t, c.cols, rows, src.data(), dst.data());
        const int bs = c.t == DType::Q6_K || c.t == DType::Q3_K ? 256 : 32, bb = static_cast<int>(test::file_row_bytes(c.t, bs)), nb = c.cols / bs;
        for (int r = 0; r < rows; ++r) {
            const uint8_t* row = dst.data() + drb * r;
            for (int b = 0; b < nb; ++b) {
                const auto got = file_block(c.t, row, nb, b);
                ASSERT_EQ(0, std::memcmp(got.data(), src.data() + frb * r + static_cast<size_t>(bb) * b, static_cast<size_t>(bb)))
                    << "row " << r << " block " << b;
            }
            if (c.t == DType::Q3_K) {
                for (int b = 0; b < nb; ++b) ASSERT_EQ(row[112 * b + 110] | row[112 * b + 111], 0) << "padding of block " << b << " of row " << r;
            } else {
                for (size_t i = frb; i < drb; ++i) ASSERT_EQ(row[i], 0) << "padding byte " << i - frb << " of row " << r;
            }
        }
    }
    // Every other type keeps the file's layout.
    for (DType t : {DType::Q4_K, DType::Q4_1, DType::Q5_1, DType::Q2_K, DType::F16}) {
        const int cols = 512;
        EXPECT_EQ(row_bytes(t, cols), test::file_row_bytes(t, cols)) << dtype_name(t);
        const auto src = random_bytes(test::file_row_bytes(t, cols) * 3, 3u);
        std::vector<uint8_t> dst(src.size());
        pack_rows(t, cols, 3, src.data(), dst.data());
        EXPECT_EQ(dst, src) << dtype_name(t);
    }
}

}  // namespace
}  // namespace rz::cuda
#endif  // RZ_HAVE_CUDA
