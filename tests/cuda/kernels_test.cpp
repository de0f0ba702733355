// Kernel-level checks of rz_cuda against the CPU quant library: for every weight type the GPU reads, the
// dequantised rows equal rz::quant::dequantize_row and the mat-vec equals a float64 dot product over those
// rows. (The model-level quantized comparison differs more because the CPU kernels quantize activations.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/cuda.h"
#include "realizar/quant/quant.h"

namespace rz::cuda {
namespace {

struct DevBuf {
    void* p = nullptr;
    explicit DevBuf(size_t bytes) {
        auto r = alloc(bytes, "test");
        EXPECT_TRUE(r.ok());
        if (r.ok()) p = *r;
    }
    ~DevBuf() { free(p); }
    float* f() const { return static_cast<float*>(p); }
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::vector<float> v(n);
    uint32_t s = seed;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) - 0.5f) * 2.0f;
    }
    return v;
}

// Host copy of the GPU's activation quantization (per 32: d = amax / 127, q = round-to-even(x / d)), same
// float operations, so the int8 path is checked against the exact dot product it is meant to compute.
std::vector<float> quantize_like_gpu(const std::vector<float>& x) {
    std::vector<float> out(x.size());
    for (size_t b = 0; b + 32 <= x.size(); b += 32) {
        float amax = 0.0f;
        for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        for (size_t i = b; i < b + 32; ++i) out[i] = d * std::nearbyint(x[i] * id);
    }
    return out;
}

void check_type(DType t, int rows, int cols, bool int8x = false) {
    SCOPED_TRACE(std::string(dtype_name(t)) + " cols " + std::to_string(cols) + (int8x ? " int8 x" : ""));
    set_int8_activations(int8x);
    const size_t rb = row_bytes(t, cols);
    const auto src = random_floats(static_cast<size_t>(rows) * cols, 7u + static_cast<uint32_t>(t));
    std::vector<uint8_t> q(rb * rows);
    std::vector<float> deq(static_cast<size_t>(rows) * cols);
    for (int r = 0; r < rows; ++r) {
        ASSERT_TRUE(quant::quantize_row(t, src.data() + static_cast<size_t>(r) * cols, q.data() + rb * r, cols).ok());
        ASSERT_TRUE(quant::dequantize_row(t, q.data() + rb * r, deq.data() + static_cast<size_t>(r) * cols, cols).ok());
    }
    const auto x = random_floats(static_cast<size_t>(cols), 99u);
    // What the kernel multiplies with: the int8 path exists for Q8_0, Q4_K and Q6_K only.
    const bool int8_kernel = int8x && (t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q6_K);
    const auto xr = int8_kernel ? quantize_like_gpu(x) : x;
    const auto bias = random_floats(static_cast<size_t>(rows), 5u);
    DevBuf dw(q.size()), dx(sizeof(float) * cols), db(sizeof(float) * rows), dy(sizeof(float) * rows), drow(sizeof(float) * cols);
    ASSERT_TRUE(upload(dw.p, q.data(), q.size()).ok());
    ASSERT_TRUE(upload(dx.p, x.data(), sizeof(float) * cols).ok());
    ASSERT_TRUE(upload(db.p, bias.data(), sizeof(float) * rows).ok());
    ASSERT_TRUE(upload(dy.p, bias.data(), sizeof(float) * rows).ok());  // accumulate onto y = bias
    DevBuf dr(sizeof(int32_t));
    for (int r : {0, rows / 2, rows - 1}) {
        ASSERT_TRUE(upload(dr.p, &r, sizeof(r)).ok());
        get_row(t, dw.p, cols, static_cast<const int32_t*>(dr.p), 2.0f, drow.f());
        std::vector<float> got(static_cast<size_t>(cols));
        ASSERT_TRUE(download(got.data(), drow.p, sizeof(float) * cols).ok());
        for (int c = 0; c < cols; ++c) ASSERT_FLOAT_EQ(got[c], 2.0f * deq[static_cast<size_t>(r) * cols + c]) << "row " << r << " col " << c;
    }
    matvec(t, dw.p, rows, cols, dx.f(), db.f(), true, dy.f());
    set_int8_activations(true);
    std::vector<float> y(static_cast<size_t>(rows));
    ASSERT_TRUE(download(y.data(), dy.p, sizeof(float) * rows).ok());
    ASSERT_TRUE(sync("kernels test").ok());
    for (int r = 0; r < rows; ++r) {
        double ref = 2.0 * bias[r], mag = 0.0;
        for (int c = 0; c < cols; ++c) {
            const double p = static_cast<double>(deq[static_cast<size_t>(r) * cols + c]) * xr[c];
            ref += p;
            mag += std::fabs(p);
        }
        ASSERT_NEAR(y[r], ref, (int8x ? 3e-5 : 1e-5) * (mag + 1.0)) << "row " << r;
    }
}

TEST(CudaKernels, DequantAndMatvecMatchCpuForEveryWeightType) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        ASSERT_TRUE(weight_supported(t));
        if (!quant::can_quantize(t)) {
            ADD_FAILURE() << "no CPU quantizer for " << dtype_name(t);
            continue;
        }
        check_type(t, 37, 512);
        check_type(t, 5, 2048);
        check_type(t, 37, 512, true);  // int8-activation kernels where the type has one
        check_type(t, 5, 2048 + 256, true);
        check_type(t, 5, 8192, true);  // long rows: split over 4 warps per row
    }
    for (DType t : {DType::F32, DType::F16, DType::BF16}) check_type(t, 9, 172);  // rows not a multiple of 32
}

TEST(CudaKernels, ArgmaxAndSwiglu) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    const int n = 32000;
    auto v = random_floats(n, 3u);
    v[12345] = 7.0f;
    v[23456] = 7.0f;  // tie: the lowest index wins
    DevBuf dv(sizeof(float) * n), di(sizeof(int32_t)), dg(sizeof(float) * n);
    ASSERT_TRUE(upload(dv.p, v.data(), sizeof(float) * n).ok());
    argmax(dv.f(), n, static_cast<int32_t*>(di.p));
    int32_t idx = -1;
    ASSERT_TRUE(download(&idx, di.p, sizeof(idx)).ok());
    EXPECT_EQ(idx, 12345);
    swiglu(dv.f(), dv.f(), n, dg.f());
    std::vector<float> g(static_cast<size_t>(n));
    ASSERT_TRUE(download(g.data(), dg.p, sizeof(float) * n).ok());
    for (int i = 0; i < n; i += 997) EXPECT_NEAR(g[i], v[i] / (1.0f + std::exp(-v[i])) * v[i], 1e-5f);
}

}  // namespace
}  // namespace rz::cuda
#endif  // RZ_HAVE_CUDA
