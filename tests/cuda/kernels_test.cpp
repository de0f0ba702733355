// Kernel-level checks of rz_cuda against the CPU quant library: for every weight type the GPU reads, the
// dequantised rows equal rz::quant::dequantize_row and the mat-vec equals a float64 dot product over those
// rows. (The model-level quantized comparison differs more because the CPU kernels quantize activations.)
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/cuda_test_util.h"

#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/cuda.h"
#include "realizar/core/fp16.h"
#include "realizar/quant/quant.h"

namespace rz::cuda {
namespace {

using test::DevBuf;
using test::QMat;
using test::quantize_like_gpu;
using test::random_floats;

void check_type(DType t, int rows, int cols, bool int8x = false) {
    SCOPED_TRACE(std::string(dtype_name(t)) + " cols " + std::to_string(cols) + (int8x ? " int8 x" : ""));
    set_int8_activations(int8x);
    const test::Matrix m = test::make_matrix(t, rows, cols, 7u + static_cast<uint32_t>(t), true);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "quantizing the test rows failed";
    const std::vector<float>& deq = m.deq;
    const auto x = random_floats(static_cast<size_t>(cols), 99u);
    // What the kernel multiplies with: the int8 path exists for Q8_0, Q4_K and Q6_K only.
    const bool int8_kernel = int8x && (t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q6_K);
    const auto xr = int8_kernel ? quantize_like_gpu(x) : x;
    const auto bias = random_floats(static_cast<size_t>(rows), 5u);
    DevBuf dw(row_bytes(t, cols) * rows), dx(sizeof(float) * cols), db(sizeof(float) * rows), dy(sizeof(float) * rows), drow(sizeof(float) * cols);
    ASSERT_TRUE(upload_rows(dw.p, t, cols, rows, m.q.data()).ok());  // the file layout through upload_rows
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
    for (DType t : {DType::Q8_0, DType::Q4_0}) check_type(t, 7, 416);  // 13 blocks: Q8_0's last 8-block group holds 5
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

// ---- fused decode-layer kernels (decode_fused.cu) -----------------------------------------------------------

// A random matrix of a quantized type: its device copy and the rows rz::quant dequantises it to. quantized: random
// floats through the reference quantizer; else random bytes (every scale, high-bit and mask pattern, test::make_matrix).
// rms_norm(x) * w the way the fused prologue computes it (sum of squares in double, product rounded once).
std::vector<float> rms_norm_ref(const std::vector<float>& x, const std::vector<float>& w, float eps) {
    double ss = 0.0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
    std::vector<float> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(static_cast<double>(x[i]) * scale * w[i]);
    return out;
}

// silu(g) u of float64 gate and up dot products g, u (sums of |w x| gm, um), and the bound for a GPU value of it: each
// dot product within 3e-5 of (its sum + 1), carried through silu(g) u (|silu'| < 1.2).
struct SwigluRef {
    double h, err;
};
SwigluRef swiglu_ref(double g, double u, double gm, double um) {
    const double eg = 3e-5 * (gm + 1.0), eu = 3e-5 * (um + 1.0);
    return SwigluRef{g / (1.0 + std::exp(-g)) * u, 1.2 * eg * (std::fabs(u) + eu) + eu * (std::fabs(g) + eg) + 1e-6};
}

std::vector<float> download_floats(const DevBuf& b, size_t n) {
    std::vector<float> v(n);
    EXPECT_TRUE(download(v.data(), b.p, sizeof(float) * n).ok());
    return v;
}

// Kernel variants of the fused mat-vecs: 1, 2, 4 rows per warp, the one-row kernel's loop unrolled 1, 2, 4, and the
// two-row kernel's unrolled loop (type sets 0 and 1: Q4_K / Q6_K, Q5_K / Q4_0; by default on rows of 4096+ columns)
// forced on and off.
struct Variant {
    const char* rows;          // RZ_CUDA_MV_R
    const char* unroll = "2";  // RZ_CUDA_MV_U (one-row-per-warp kernel)
    const char* unroll2 = "1";  // RZ_CUDA_MV_U2 (two-row kernel)
};
constexpr Variant kVariants[] = {{"1"}, {"2"}, {"4"}, {"1", "1"}, {"1", "4"}, {"2", "2", "2"}};
void set_variant(const Variant& v) {
    setenv("RZ_CUDA_MV_R", v.rows, 1);
    setenv("RZ_CUDA_MV_U", v.unroll, 1);
    setenv("RZ_CUDA_MV_U2", v.unroll2, 1);
}
void clear_variant() {
    unsetenv("RZ_CUDA_MV_U2");
    unsetenv("RZ_CUDA_MV_U");
    unsetenv("RZ_CUDA_MV_R");
}

// matvec_norm over three segments of different types and row counts (q | k | v of a Q4_K_M, Q5_K_M, Q3_K_M or
// Q2_K layer: rows not a multiple of the row group; the other fused types mixed in, every kernel type set of
// fused_dot_ext.cuh), with biases and accumulate, for each kernel variant. The types of fused_dot_ext.cuh also
// as random bytes: every scale, min, high-bit and codebook pattern.
TEST(CudaKernels, FusedNormMatvecMatchesReference) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    struct Seg {
        DType t;
        bool quantized;  // reference-quantized, else random bytes
    };
    const Seg kTriples[][3] = {{{DType::Q4_K, true}, {DType::Q8_0, true}, {DType::Q6_K, true}},
                               {{DType::Q5_K, true}, {DType::Q4_0, true}, {DType::Q6_K, true}},
                               {{DType::Q3_K, false}, {DType::Q2_K, false}, {DType::IQ4_XS, false}},
                               {{DType::IQ4_NL, false}, {DType::Q3_K, true}, {DType::Q5_K, true}},
                               {{DType::Q2_K, true}, {DType::IQ4_NL, true}, {DType::IQ4_XS, true}},
                               {{DType::Q4_1, false}, {DType::Q5_0, false}, {DType::Q5_1, false}},
                               {{DType::Q5_1, true}, {DType::Q4_1, true}, {DType::Q6_K, true}},
                               {{DType::Q5_0, true}, {DType::Q3_K, false}, {DType::Q8_0, true}},  // both extra type sets: two launches
                               {{DType::Q6_K, false}, {DType::Q4_K, false}, {DType::Q8_0, false}}};
    constexpr int kNT = static_cast<int>(sizeof(kTriples) / sizeof(kTriples[0]));
    for (int ti = 0; ti < kNT * 3; ++ti) {
        const Seg(&ts)[3] = kTriples[ti / 3];
        const DType tt[3] = {ts[0].t, ts[1].t, ts[2].t};
        const int cols = std::array{512, 2048, 2816}[static_cast<size_t>(ti % 3)];  // 2, 8, 11 super-blocks (Q6_K rows padded)
        QMat a(tt[0], 37, cols, 11u, ts[0].quantized), b(tt[1], 70, cols, 12u, ts[1].quantized), c(tt[2], 5, cols, 13u, ts[2].quantized);
        const auto x = random_floats(static_cast<size_t>(cols), 21u), w = random_floats(static_cast<size_t>(cols), 22u);
        const auto xr = quantize_like_gpu(rms_norm_ref(x, w, 1e-5f));
        DevBuf dx(sizeof(float) * cols), dw(sizeof(float) * cols);
        ASSERT_TRUE(upload(dx.p, x.data(), sizeof(float) * cols).ok());
        ASSERT_TRUE(upload(dw.p, w.data(), sizeof(float) * cols).ok());
        for (const Variant& var : kVariants) {
            set_variant(var);
            for (bool acc : {false, true}) {
                SCOPED_TRACE(std::string(dtype_name(tt[0])) + (ts[0].quantized ? "" : " (bytes)") + "|" + std::string(dtype_name(tt[1])) +
                             (ts[1].quantized ? "" : " (bytes)") + "|" + std::string(dtype_name(tt[2])) + (ts[2].quantized ? "" : " (bytes)") + " cols " + std::to_string(cols) + " rows " + var.rows + " unroll " + var.unroll + "/" + var.unroll2 + (acc ? " accumulate" : ""));
                std::vector<std::vector<float>> init, bias;
                MatvecSeg segs[3];
                const QMat* m[3] = {&a, &b, &c};
                DevBuf y0(sizeof(float) * 37), y1(sizeof(float) * 70), y2(sizeof(float) * 5), b0(sizeof(float) * 37), b1(sizeof(float) * 70),
                    b2(sizeof(float) * 5);
                DevBuf* yb[3] = {&y0, &y1, &y2};
                DevBuf* bb[3] = {&b0, &b1, &b2};
                for (int i = 0; i < 3; ++i) {
                    const size_t n = static_cast<size_t>(m[i]->rows);
                    init.push_back(random_floats(n, 30u + static_cast<uint32_t>(i)));
                    bias.push_back(random_floats(n, 40u + static_cast<uint32_t>(i)));
                    ASSERT_TRUE(upload(yb[i]->p, init.back().data(), sizeof(float) * n).ok());
                    ASSERT_TRUE(upload(bb[i]->p, bias.back().data(), sizeof(float) * n).ok());
                    segs[i] = MatvecSeg{m[i]->t, m[i]->dev.p, m[i]->rows, i == 1 ? nullptr : bb[i]->f(), yb[i]->f()};
                }
                matvec_norm(segs, 3, cols, dx.f(), dw.f(), 1e-5f, acc);
                ASSERT_TRUE(sync("fused norm matvec").ok());
                for (int i = 0; i < 3; ++i) {
                    std::vector<double> ref, mag;
                    m[i]->ref(xr, ref, mag);
                    const auto y = download_floats(*yb[i], static_cast<size_t>(m[i]->rows));
                    for (int r = 0; r < m[i]->rows; ++r) {
                        const double want = ref[static_cast<size_t>(r)] + (i == 1 ? 0.0 : bias[i][static_cast<size_t>(r)]) +
                                            (acc ? init[i][static_cast<size_t>(r)] : 0.0);
                        ASSERT_NEAR(y[static_cast<size_t>(r)], want, 3e-5 * (mag[static_cast<size_t>(r)] + 1.0)) << "segment " << i << " row " << r;
                    }
                }
            }
        }
        clear_variant();
    }
}

// A tall matrix (the output head's shape class): blocks take runs of several row groups; Q8_0 rows of 8 blocks
// (one group of the device layout).
TEST(CudaKernels, FusedNormMatvecTallMatrix) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    const int rows = 24000, cols = 256;
    QMat m(DType::Q8_0, rows, cols, 91u);
    const auto x = random_floats(static_cast<size_t>(cols), 92u), w = random_floats(static_cast<size_t>(cols), 93u);
    const auto xr = quantize_like_gpu(rms_norm_ref(x, w, 1e-5f));
    std::vector<double> ref, mag;
    m.ref(xr, ref, mag);
    DevBuf dx(sizeof(float) * cols), dw(sizeof(float) * cols), dy(sizeof(float) * rows);
    ASSERT_TRUE(upload(dx.p, x.data(), sizeof(float) * cols).ok());
    ASSERT_TRUE(upload(dw.p, w.data(), sizeof(float) * cols).ok());
    for (const Variant& var : kVariants) {
        set_variant(var);
        SCOPED_TRACE(std::string("rows per warp ") + var.rows + " unroll " + var.unroll);
        const MatvecSeg s{m.t, m.dev.p, rows, nullptr, dy.f()};
        matvec_norm(&s, 1, cols, dx.f(), dw.f(), 1e-5f, false);
        ASSERT_TRUE(sync("tall matvec").ok());
        const auto y = download_floats(dy, static_cast<size_t>(rows));
        for (int r = 0; r < rows; ++r) ASSERT_NEAR(y[static_cast<size_t>(r)], ref[static_cast<size_t>(r)], 3e-5 * (mag[static_cast<size_t>(r)] + 1.0)) << "row " << r;
    }
    clear_variant();
    // With an L2 prefetch window (an unaligned, odd-sized slice of the matrix, x, and a range of many chunks):
    // the same outputs bit for bit, and only this launch takes the window.
    const MatvecSeg s{m.t, m.dev.p, rows, nullptr, dy.f()};
    matvec_norm(&s, 1, cols, dx.f(), dw.f(), 1e-5f, false);
    const auto plain = download_floats(dy, static_cast<size_t>(rows));
    const size_t mb = row_bytes(m.t, cols) * rows;
    const ByteRange pf[3] = {{static_cast<const uint8_t*>(m.dev.p) + 3, mb - 10}, {dx.p, sizeof(float) * cols}, {m.dev.p, mb}};
    for (int rep = 0; rep < 2; ++rep) {
        if (rep == 0) set_l2_prefetch(pf, 3);
        matvec_norm(&s, 1, cols, dx.f(), dw.f(), 1e-5f, false);
        ASSERT_TRUE(sync("tall matvec, L2 prefetch").ok());
        const auto y = download_floats(dy, static_cast<size_t>(rows));
        for (int r = 0; r < rows; ++r) ASSERT_EQ(y[static_cast<size_t>(r)], plain[static_cast<size_t>(r)]) << "row " << r << " rep " << rep;
    }
}

// The other blocks' prologues and FFN kernels against float64: LayerNorm with bias (phi2, gpt2) and the plain
// quantization (o over a float attention output) in matvec_prologue; matvec_ffn_norm's plain FFN (phi2: biased up,
// GELU) and gated GELU (gemma), its float h output against act(W x' + b) and act(g) * u, and the down projection
// over its quantized buffer. cols 2560 (phi-2's width: 10 super-blocks, not a power of two).
std::vector<float> layer_norm_ref(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b, float eps) {
    double mean = 0.0, var = 0.0;
    for (float v : x) mean += v;
    mean /= static_cast<double>(x.size());
    for (float v : x) var += (v - mean) * (v - mean);
    const double scale = 1.0 / std::sqrt(var / static_cast<double>(x.size()) + eps);
    std::vector<float> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>((x[i] - mean) * scale * w[i] + b[i]);
    return out;
}

double gelu_tanh(double v) { return 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); }

TEST(CudaKernels, FusedLayerNormPlainAndGeluFfnMatchReference) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    const int cols = 2560, n_ff = 256;
    auto x = random_floats(static_cast<size_t>(cols), 51u);
    for (auto& v : x) v += 0.7f;  // a mean LayerNorm must remove
    const auto w = random_floats(static_cast<size_t>(cols), 52u), b = random_floats(static_cast<size_t>(cols), 53u);
    const auto ub = random_floats(static_cast<size_t>(n_ff), 54u);
    DevBuf dx(sizeof(float) * cols), dw(sizeof(float) * cols), db(sizeof(float) * cols), dub(sizeof(float) * n_ff), dh(sizeof(float) * n_ff),
        dy(sizeof(float) * 64), dd(sizeof(float) * 64);
    ASSERT_TRUE(upload(dx.p, x.data(), sizeof(float) * cols).ok());
    ASSERT_TRUE(upload(dw.p, w.data(), sizeof(float) * cols).ok());
    ASSERT_TRUE(upload(db.p, b.data(), sizeof(float) * cols).ok());
    ASSERT_TRUE(upload(dub.p, ub.data(), sizeof(float) * n_ff).ok());
    const auto ln = quantize_like_gpu(layer_norm_ref(x, w, b, 1e-5f));
    for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        SCOPED_TRACE(dtype_name(t));
        QMat m(t, 64, cols, 61u), up(t, n_ff, cols, 62u), gate(t, n_ff, cols, 63u), down(t, 64, n_ff, 64u);
        std::vector<double> ref, mag, gref, gmag;
        for (const NormKind kind : {NormKind::kLayer, NormKind::kNone}) {
            const MatvecSeg s{t, m.dev.p, 64, nullptr, dy.f()};
            matvec_prologue(&s, 1, cols, dx.f(), NormSpec{kind, dw.f(), db.f(), 1e-5f}, false);
            ASSERT_TRUE(sync("matvec_prologue").ok());
            m.ref(kind == NormKind::kLayer ? ln : quantize_like_gpu(x), ref, mag);
            const auto y = download_floats(dy, 64);
            for (int r = 0; r < 64; ++r)
                ASSERT_NEAR(y[static_cast<size_t>(r)], ref[static_cast<size_t>(r)], 3e-5 * (mag[static_cast<size_t>(r)] + 1.0))
                    << (kind == NormKind::kLayer ? "layer norm" : "plain") << " row " << r;
        }
        for (const bool gated : {false, true}) {
            SCOPED_TRACE(gated ? "gated GELU" : "plain GELU");
            matvec_ffn_norm(t, gated ? gate.dev.p : nullptr, t, up.dev.p, gated ? nullptr : dub.f(), n_ff, cols, dx.f(),
                            NormSpec{NormKind::kLayer, dw.f(), db.f(), 1e-5f}, Act::kGeluTanh, dh.f());
            // down over the quantized activations, accumulating onto 1s
            const std::vector<float> ones(64, 1.0f);
            ASSERT_TRUE(upload(dd.p, ones.data(), sizeof(float) * 64).ok());
            matvec_act({t, down.dev.p, 64, nullptr, dd.f()}, n_ff, true);
            ASSERT_TRUE(sync("matvec_ffn_norm").ok());
            up.ref(ln, ref, mag);
            if (gated) gate.ref(ln, gref, gmag);
            const auto h = download_floats(dh, static_cast<size_t>(n_ff));
            for (int j = 0; j < n_ff; ++j) {
                const size_t i = static_cast<size_t>(j);
                const double want = gated ? gelu_tanh(gref[i]) * ref[i] : gelu_tanh(ref[i] + ub[i]);
                const double tol = gated ? 3e-5 * ((gmag[i] + 1.0) * (std::fabs(ref[i]) + 1.0) + (mag[i] + 1.0) * (std::fabs(gref[i]) + 1.0))
                                         : 3e-5 * (mag[i] + 1.0) * 1.2;
                ASSERT_NEAR(h[i], want, tol) << "output " << j;
            }
            std::vector<double> dref, dmag;
            down.ref(quantize_like_gpu(h), dref, dmag);
            const auto y = download_floats(dd, 64);
            for (int r = 0; r < 64; ++r)
                ASSERT_NEAR(y[static_cast<size_t>(r)], 1.0 + dref[static_cast<size_t>(r)], 3e-5 * (dmag[static_cast<size_t>(r)] + 1.0)) << "down row " << r;
        }
    }
}

// A parallel block's o and down in one launch (matvec_pair): y = y0 + A q8(xa) + B q8(xb) + both biases against
// float64, for the type pairs of phi-2's mixes (Q4_K_M: o Q4_K, down Q4_K / Q6_K; Q8_0; Q8_0 with Q4_K / Q6_K) and a row
// count that is not a whole row group, with 1 and 2 rows a warp (the one-row kernel unrolled 2 or 1); the pairs it
// refuses (types of two kernels' sets) are refused.
TEST(CudaKernels, FusedPairMatvecMatchesReference) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    const int rows = 100, ca = 512, cb = 2048;
    const auto xa = random_floats(static_cast<size_t>(ca), 91u), xb = random_floats(static_cast<size_t>(cb), 92u);
    const auto ba = random_floats(static_cast<size_t>(rows), 93u), bb = random_floats(static_cast<size_t>(rows), 94u);
    const auto y0 = random_floats(static_cast<size_t>(rows), 95u);
    DevBuf dxa(sizeof(float) * ca), dxb(sizeof(float) * cb), dba(sizeof(float) * rows), dbb(sizeof(float) * rows), dy(sizeof(float) * rows);
    ASSERT_TRUE(upload(dxa.p, xa.data(), sizeof(float) * ca).ok());
    ASSERT_TRUE(upload(dxb.p, xb.data(), sizeof(float) * cb).ok());
    ASSERT_TRUE(upload(dba.p, ba.data(), sizeof(float) * rows).ok());
    ASSERT_TRUE(upload(dbb.p, bb.data(), sizeof(float) * rows).ok());
    const auto qa = quantize_like_gpu(xa), qb = quantize_like_gpu(xb);
    const std::pair<DType, DType> pairs[] = {{DType::Q4_K, DType::Q6_K}, {DType::Q4_K, DType::Q4_K}, {DType::Q8_0, DType::Q8_0},
                                             {DType::Q8_0, DType::Q4_K}, {DType::Q6_K, DType::Q8_0}};
    for (const auto& [ta, tb] : pairs) {
        SCOPED_TRACE(std::string(dtype_name(ta)) + " + " + std::string(dtype_name(tb)));
        ASSERT_TRUE(matvec_pair_supported(ta, ca, tb, cb));
        const QMat a(ta, rows, ca, 96u), b(tb, rows, cb, 97u);
        std::vector<double> ra, ma, rb, mb;
        a.ref(qa, ra, ma);
        b.ref(qb, rb, mb);
        for (const Variant v : {Variant{"1", "2"}, Variant{"2"}, Variant{"1", "1"}}) {
            SCOPED_TRACE(std::string("rows a warp ") + v.rows + " unroll " + v.unroll);
            set_variant(v);
            for (const bool biases : {false, true}) {
                ASSERT_TRUE(upload(dy.p, y0.data(), sizeof(float) * rows).ok());
                matvec_pair({ta, a.dev.p, rows, biases ? dba.f() : nullptr, dy.f()}, ca, dxa.f(), {tb, b.dev.p, rows, biases ? dbb.f() : nullptr, dy.f()},
                            cb, dxb.f(), true);
                ASSERT_TRUE(sync("matvec_pair").ok());
                const auto y = download_floats(dy, static_cast<size_t>(rows));
                for (int r = 0; r < rows; ++r) {
                    const size_t i = static_cast<size_t>(r);
                    const double want = y0[i] + ra[i] + rb[i] + (biases ? static_cast<double>(ba[i]) + bb[i] : 0.0);
                    ASSERT_NEAR(y[i], want, 3e-5 * (ma[i] + mb[i] + 2.0)) << "row " << r << (biases ? " with biases" : "");
                }
            }
        }
        clear_variant();
    }
    EXPECT_FALSE(matvec_pair_supported(DType::Q8_0, ca, DType::Q5_K, cb));  // Q8_0 with another set: two kernels
    EXPECT_FALSE(matvec_pair_supported(DType::Q5_K, ca, DType::Q6_K, cb));  // sets the pair kernels are not built for
    EXPECT_FALSE(matvec_pair_supported(DType::Q4_0, ca, DType::Q4_0, cb));
    EXPECT_FALSE(matvec_pair_supported(DType::Q3_K, ca, DType::Q4_K, cb));
    EXPECT_FALSE(matvec_pair_supported(DType::Q4_K, 100, DType::Q4_K, cb));  // not whole super-blocks
}

// Which decode steps of several sequences the rows kernels take (host rules, no device needed), and which widths
// the one-token kernels take (32-element block types: multiples of 32; the rows kernels: of 256): every fused type up
// to 8 tokens, above 8 (tensor cores) all but Q4_1 and Q5_1, none past 32 tokens; which types share a
// launch (Q8_0 only with Q4_K / Q6_K, the low-bit set not with the legacy one); the shared memory of a block's 16
// normed 4096-wide rows fits, of 16 8192-wide rows not (the 4- and 8-token kernels still do); 32 rows of a 16384-wide
// FFN fit the fused activation buffer, of 28672 not.
TEST(CudaKernels, FusedRowsSelection) {
    for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::Q5_K, DType::Q4_0, DType::Q3_K, DType::Q2_K, DType::IQ4_XS, DType::IQ4_NL,
                    DType::Q4_1, DType::Q5_0, DType::Q5_1}) {
        const bool mma = t != DType::Q4_1 && t != DType::Q5_1;
        for (int m : {2, kFusedRowsDp4a}) EXPECT_TRUE(fused_rows_supported(t, 2048, m)) << dtype_name(t) << " " << m;
        for (int m : {kFusedRowsDp4a + 1, kFusedRowsMax}) EXPECT_EQ(fused_rows_supported(t, 2048, m), mma) << dtype_name(t) << " " << m;
        EXPECT_FALSE(fused_rows_supported(t, 2048, kFusedRowsMax + 1)) << dtype_name(t);
    }
    EXPECT_FALSE(fused_rows_supported(DType::F16, 2048, 4));
    const DType q3km[3] = {DType::Q3_K, DType::Q3_K, DType::Q5_K}, legacy[3] = {DType::Q5_0, DType::Q5_0, DType::Q6_K},
                q8k[3] = {DType::Q8_0, DType::Q8_0, DType::Q6_K}, q8q5[3] = {DType::Q8_0, DType::Q8_0, DType::Q5_K},
                q8q3[3] = {DType::Q8_0, DType::Q3_K, DType::Q8_0}, both[3] = {DType::Q3_K, DType::Q5_0, DType::Q4_K};
    EXPECT_TRUE(fused_rows_mix(q3km, 3));
    EXPECT_TRUE(fused_rows_mix(legacy, 3));
    EXPECT_TRUE(fused_rows_mix(q8k, 3));
    EXPECT_FALSE(fused_rows_mix(q8q5, 3));
    EXPECT_FALSE(fused_rows_mix(q8q3, 3));
    EXPECT_FALSE(fused_rows_mix(both, 3));
    EXPECT_FALSE(fused_rows_supported(DType::Q4_K, 2000, 4));  // not a multiple of 256
    // Qwen2.5-0.5B's width 896 (28 blocks of 32): the one-token kernels of the 32-element block types, not the rows kernels.
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::IQ4_NL, DType::Q4_1, DType::Q5_1}) {
        EXPECT_TRUE(fused_supported(t, 896)) << dtype_name(t);
        EXPECT_FALSE(fused_rows_supported(t, 896, 4)) << dtype_name(t);
    }
    for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q3_K, DType::IQ4_XS}) EXPECT_FALSE(fused_supported(t, 896)) << dtype_name(t);
    EXPECT_FALSE(fused_supported(DType::Q8_0, 880));  // not a multiple of 32
    EXPECT_TRUE(fused_rows_fit(2, 2048, 5632));
    static_assert(kFusedRowsMax == 32);
    EXPECT_TRUE(fused_rows_fit(32, 2048, 5632));  // TinyLlama
    EXPECT_TRUE(fused_rows_fit(17, 2048, 5632));
    EXPECT_FALSE(fused_rows_fit(1, 2048, 5632));
    EXPECT_FALSE(fused_rows_fit(33, 2048, 5632));
    EXPECT_TRUE(fused_rows_fit(32, 2560, 10240));  // phi-2 (a block holds 16 tokens)
    EXPECT_TRUE(fused_rows_fit(32, 4096, 12288));  // qwen3-8b
    EXPECT_FALSE(fused_rows_fit(16, 8192, 5632));  // 16 8192-wide rows overflow a block's shared memory
    EXPECT_FALSE(fused_rows_fit(32, 8192, 5632));
    EXPECT_TRUE(fused_rows_fit(kFusedRowsDp4a, 8192, 5632));
    EXPECT_TRUE(fused_rows_fit(16, 4096, 28672));
    EXPECT_FALSE(fused_rows_fit(32, 4096, 28672));  // the fused activation buffer
    EXPECT_TRUE(fused_rows_fit(32, 2048, 8192));  // Llama-3.2-1B
}

// The rows mat-vec (matvec_rows: m tokens at once) against float64 for each token: 2, 3, 5, 8, 12, 16, 21 and 32 tokens
// (the S = 2, 4, 8, 16 kernels, padded for 3, 5, 12 and 21, 16 in two token groups from 17; above 8 tokens tensor
// cores, not for Q4_1 and Q5_1; there also in token groups of 8 (RZ_CUDA_ROWS_TB=8), bit for bit equal), each type set the rows kernels
// read (Q4_K|Q6_K, Q5_K|Q4_0 with Q6_K, Q8_0 with Q4_K, Q5_K|Q6_K, the low-bit set Q3_K|Q2_K|IQ4_XS|IQ4_NL with Q5_K
// and Q4_K, the legacy set Q4_1|Q5_0|Q5_1, and Q5_0 with Q4_K: the legacy set's tensor-core kernel, which Q4_1
// and Q5_1 do not take), a tall segment (blocks take several row groups), 2816 columns (two prologue chunks),
// with the norm and without it (the attention output's plain quantization), plain and accumulating; at 3-8 tokens
// with the tensor-core kernels where they apply (launches of Q4_K, Q5_K, Q6_K, Q3_K, Q2_K; IQ4_* from 5 tokens) and
// with the dp4a kernels only (RZ_CUDA_ROWS_MMA=0); each with x quantized once before the launch and in every block
// (RZ_CUDA_ROWS_PREQ=1 / 0, bit for bit equal; token groups only once). RZ_CUDA_ROWS_SETS=i:j:... runs only those triples (indices into kTriples: a
// sanitizer run of all of them takes over 200 s).
TEST(CudaKernels, FusedRowsMatvecMatchesReference) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    const DType kTriples[][3] = {{DType::Q4_K, DType::Q6_K, DType::Q4_K},
                                 {DType::Q5_K, DType::Q4_0, DType::Q6_K},
                                 {DType::Q8_0, DType::Q4_K, DType::Q8_0},
                                 {DType::Q5_K, DType::Q6_K, DType::Q5_K},
                                 {DType::Q3_K, DType::Q5_K, DType::Q2_K},
                                 {DType::IQ4_XS, DType::Q4_K, DType::IQ4_NL},
                                 {DType::Q4_1, DType::Q5_0, DType::Q5_1},
                                 {DType::Q5_0, DType::Q4_K, DType::Q5_0}};
    const int cols = 2816, rows[3] = {5000, 70, 37}, kMaxM = kFusedRowsMax;
    const auto only = test::env_list("RZ_CUDA_ROWS_SETS");
    for (const auto& tt : kTriples) {
        const std::string index = std::to_string(&tt - kTriples);
        if (!only.empty() && std::find(only.begin(), only.end(), index) == only.end()) continue;
        const QMat a(tt[0], rows[0], cols, 51u), b(tt[1], rows[1], cols, 52u), c(tt[2], rows[2], cols, 53u);
        const QMat* mats[3] = {&a, &b, &c};
        const auto x = random_floats(static_cast<size_t>(kMaxM) * cols, 61u), w = random_floats(static_cast<size_t>(cols), 62u);
        DevBuf dx(sizeof(float) * kMaxM * cols), dw(sizeof(float) * cols);
        ASSERT_TRUE(upload(dx.p, x.data(), x.size() * sizeof(float)).ok());
        ASSERT_TRUE(upload(dw.p, w.data(), w.size() * sizeof(float)).ok());
        // The float64 references depend only on (norm, token, segment): computed once each, not per token count,
        // accumulate flag and kernel choice (the test spent most of its minute recomputing them).
        struct Ref {
            std::vector<double> y, mag;
        };
        std::vector<Ref> refs(static_cast<size_t>(2 * kMaxM * 3));
        auto ref_of = [&](bool norm, int t, int i) -> const Ref& {
            Ref& r = refs[(static_cast<size_t>(norm ? 1 : 0) * kMaxM + static_cast<size_t>(t)) * 3 + static_cast<size_t>(i)];
            if (r.y.empty()) {
                const std::vector<float> xt(x.begin() + static_cast<std::ptrdiff_t>(t) * cols, x.begin() + static_cast<std::ptrdiff_t>(t + 1) * cols);
                mats[i]->ref(quantize_like_gpu(norm ? rms_norm_ref(xt, w, 1e-5f) : xt), r.y, r.mag);
            }
            return r;
        };
        for (const char* mma : {"1", "0"}) {  // RZ_CUDA_ROWS_MMA: the tensor-core kernels from 3 tokens where they apply, or only from 9
            setenv("RZ_CUDA_ROWS_MMA", mma, 1);
            auto takes = [&](int m) { return fused_rows_supported(tt[0], cols, m) && fused_rows_supported(tt[1], cols, m) && fused_rows_supported(tt[2], cols, m); };
            ASSERT_TRUE(takes(kFusedRowsDp4a));
            ASSERT_TRUE(fused_rows_fit(kFusedRowsMax, cols, cols));
            for (int m : {2, 3, 5, 8, 12, 16, 21, 32})
                for (bool norm : {true, false})
                    for (bool acc : {false, true}) {
                        if (!takes(m)) continue;
                        SCOPED_TRACE(std::string(dtype_name(tt[0])) + "|" + std::string(dtype_name(tt[1])) + "|" + std::string(dtype_name(tt[2])) +
                                     " tokens " + std::to_string(m) + (norm ? " norm" : " plain") + (acc ? " accumulate" : "") + " RZ_CUDA_ROWS_MMA=" + mma);
                        const int ldy = 5000;  // every segment's token rows 5000 floats apart
                        DevBuf ys[3] = {DevBuf(sizeof(float) * kMaxM * ldy), DevBuf(sizeof(float) * kMaxM * ldy), DevBuf(sizeof(float) * kMaxM * ldy)};
                        std::vector<std::vector<float>> init(3);
                        MatvecSeg segs[3];
                        for (int i = 0; i < 3; ++i) {
                            init[static_cast<size_t>(i)] = random_floats(static_cast<size_t>(kMaxM) * ldy, 70u + static_cast<uint32_t>(i));
                            segs[i] = MatvecSeg{tt[i], mats[i]->dev.p, rows[i], nullptr, ys[i].f()};
                        }
                        // x quantized once before the launch (RZ_CUDA_ROWS_PREQ=1) and by each block (0) must give the
                        // same bits; the first is checked against float64. Each run starts from the initial y rows.
                        std::vector<float> y_once[3];
                        for (const char* preq : {"1", "0", "tb8"}) {
                            if (*preq == 't' && m <= kFusedRowsDp4a) continue;  // blocks of 8 tokens: token groups from 9
                            if (*preq == 't') setenv("RZ_CUDA_ROWS_TB", "8", 1);
                            else setenv("RZ_CUDA_ROWS_PREQ", preq, 1);
                            for (int i = 0; i < 3; ++i) ASSERT_TRUE(upload(ys[i].p, init[static_cast<size_t>(i)].data(), sizeof(float) * kMaxM * ldy).ok());
                            matvec_rows(segs, 3, cols, dx.f(), cols, norm ? dw.f() : nullptr, 1e-5f, m, ldy, acc);
                            ASSERT_TRUE(sync("rows matvec").ok());
                            for (int i = 0; i < 3; ++i) {
                                auto y = download_floats(ys[i], static_cast<size_t>(kMaxM) * ldy);
                                if (*preq == '1') y_once[i] = std::move(y);
                                else ASSERT_EQ(0, std::memcmp(y.data(), y_once[i].data(), y.size() * sizeof(float))) << "segment " << i << ": " << preq << " vs RZ_CUDA_ROWS_PREQ=1";
                            }
                            unsetenv("RZ_CUDA_ROWS_PREQ");
                            unsetenv("RZ_CUDA_ROWS_TB");
                        }
                        for (int i = 0; i < 3; ++i) {
                            const auto& y = y_once[i];
                            for (int t = 0; t < kMaxM; ++t) {
                                const size_t o = static_cast<size_t>(t) * ldy;
                                if (t >= m) {  // rows past m untouched
                                    for (int r = 0; r < rows[i]; ++r) ASSERT_EQ(y[o + r], init[static_cast<size_t>(i)][o + r]) << "token " << t;
                                    continue;
                                }
                                const Ref& ref = ref_of(norm, t, i);
                                for (int r = 0; r < rows[i]; ++r) {
                                    const double want = ref.y[static_cast<size_t>(r)] + (acc ? init[static_cast<size_t>(i)][o + r] : 0.0);
                                    ASSERT_NEAR(y[o + r], want, 3e-5 * (ref.mag[static_cast<size_t>(r)] + 1.0))
                                        << "segment " << i << " token " << t << " row " << r;
                                }
                            }
                        }
                    }
        }
    }
    unsetenv("RZ_CUDA_ROWS_MMA");
}

// gate|up of m tokens with the GLU (matvec_glu_rows: every fused type, 2, 3, 8 tokens: the S = 2, 4, 8 kernels, padded
// for 3, with the tensor cores where they apply and without (RZ_CUDA_ROWS_MMA=0); 12, 16, 27 and 32 tokens (S = 16,
// tensor cores, two token groups from 17, of 8 at 9-16 on this small grid, bit for bit equal to blocks of 16) for the types that take them; x quantized once and in every block, bit for bit equal) against float64: q8(silu(g) * u) lands in the fused activation buffer, which a Q8_0 identity (code 64, d
// 1/64: exact) read by matvec_rows returns as the dequantized codes. Each code is within half a quantization step
// of the float64 product plus the dot products' rounding bound. Gate matrices of the low-bit types are random bytes.
TEST(CudaKernels, FusedGluRowsMatchReference) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    const int E = 512, F2 = 256, kM = kFusedRowsMax;
    std::vector<uint8_t> eye(test::file_row_bytes(DType::Q8_0, F2) * F2, 0);  // row r: code 64 at column r, d = 1/64
    for (int r = 0; r < F2; ++r)
        for (int b = 0; b < F2 / 32; ++b) {
            uint8_t* blk = eye.data() + static_cast<size_t>(r) * test::file_row_bytes(DType::Q8_0, F2) + 34 * b;
            const uint16_t d = 0x2400;  // 1/64 as a half
            std::memcpy(blk, &d, 2);
            if (r / 32 == b) blk[2 + r % 32] = 64;
        }
    DevBuf deye(row_bytes(DType::Q8_0, F2) * F2), dy(sizeof(float) * kM * F2);
    ASSERT_TRUE(upload_rows(deye.p, DType::Q8_0, F2, F2, eye.data()).ok());
    const auto x = random_floats(static_cast<size_t>(kM) * E, 81u), w = random_floats(static_cast<size_t>(E), 82u);
    DevBuf dx(sizeof(float) * kM * E), dw(sizeof(float) * E);
    ASSERT_TRUE(upload(dx.p, x.data(), x.size() * sizeof(float)).ok());
    ASSERT_TRUE(upload(dw.p, w.data(), w.size() * sizeof(float)).ok());
    for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q5_K, DType::Q4_0, DType::Q8_0, DType::Q3_K, DType::Q2_K, DType::IQ4_XS, DType::IQ4_NL,
                    DType::Q4_1, DType::Q5_0, DType::Q5_1}) {
        const bool low_bit = t == DType::Q3_K || t == DType::Q2_K || t == DType::IQ4_XS || t == DType::IQ4_NL || t == DType::Q4_1 ||
                             t == DType::Q5_0 || t == DType::Q5_1;
        const QMat g(t, F2, E, 91u, !low_bit), u(t, F2, E, 92u);
        for (const auto& [m, mma] : {std::pair{2, 1}, std::pair{3, 1}, std::pair{8, 1}, std::pair{12, 1}, std::pair{16, 1}, std::pair{27, 1},
                                     std::pair{32, 1}, std::pair{3, 0}, std::pair{8, 0}}) {
            if (!fused_rows_supported(t, E, m)) continue;  // Q4_1, Q5_1 above 8 tokens
            SCOPED_TRACE(std::string(dtype_name(t)) + " tokens " + std::to_string(m) + " RZ_CUDA_ROWS_MMA=" + std::to_string(mma));
            setenv("RZ_CUDA_ROWS_MMA", mma ? "1" : "0", 1);
            // x quantized once before the launch (RZ_CUDA_ROWS_PREQ=1) and by each block (0), and above 8 tokens blocks of 16
            // tokens (this test's 8 tiles take two groups of 8 by default at 9-16): the same bits.
            std::vector<float> y;
            for (const char* preq : {"1", "0", "tb16"}) {
                if (*preq == 't' && m <= kFusedRowsDp4a) continue;
                if (*preq == 't') setenv("RZ_CUDA_ROWS_TB", "16", 1);
                else setenv("RZ_CUDA_ROWS_PREQ", preq, 1);
                matvec_glu_rows(t, g.dev.p, u.dev.p, F2, E, dx.f(), E, dw.f(), 1e-6f, m, Act::kSilu);
                const MatvecSeg seg{DType::Q8_0, deye.p, F2, nullptr, dy.f()};
                matvec_rows(&seg, 1, F2, nullptr, F2, nullptr, 0.0f, m, F2, false);
                ASSERT_TRUE(sync("glu rows").ok());
                auto yp = download_floats(dy, static_cast<size_t>(m) * F2);
                if (*preq == '1') y = std::move(yp);
                else ASSERT_EQ(0, std::memcmp(y.data(), yp.data(), y.size() * sizeof(float))) << preq << " vs RZ_CUDA_ROWS_PREQ=1";
                unsetenv("RZ_CUDA_ROWS_PREQ");
                unsetenv("RZ_CUDA_ROWS_TB");
            }
            for (int tk = 0; tk < m; ++tk) {
                const std::vector<float> xt(x.begin() + static_cast<std::ptrdiff_t>(tk) * E, x.begin() + static_cast<std::ptrdiff_t>(tk + 1) * E);
                const auto xr = quantize_like_gpu(rms_norm_ref(xt, w, 1e-6f));
                std::vector<double> gr, gm, ur, um, h(static_cast<size_t>(F2)), err(static_cast<size_t>(F2));
                g.ref(xr, gr, gm);
                u.ref(xr, ur, um);
                for (size_t i = 0; i < h.size(); ++i) {
                    const SwigluRef r = swiglu_ref(gr[i], ur[i], gm[i], um[i]);
                    h[i] = r.h, err[i] = r.err;
                }
                for (int b = 0; b < F2 / 32; ++b) {
                    double amax = 0.0, emax = 0.0;
                    for (int i = 32 * b; i < 32 * b + 32; ++i) amax = std::max(amax, std::fabs(h[static_cast<size_t>(i)])), emax = std::max(emax, err[static_cast<size_t>(i)]);
                    const double half_step = 0.5 * (amax + emax) / 127.0 * (1.0 + 1e-5);
                    for (int i = 32 * b; i < 32 * b + 32; ++i)
                        ASSERT_NEAR(y[static_cast<size_t>(tk) * F2 + static_cast<size_t>(i)], h[static_cast<size_t>(i)], half_step + err[static_cast<size_t>(i)])
                            << "token " << tk << " output " << i;
                }
            }
        }
    }
    unsetenv("RZ_CUDA_ROWS_MMA");
}

// The L2 prefetch planner (host only): every byte of the launches' weight stream is requested exactly once and
// in order, each launch's own bytes by that launch or earlier, never more than `window` past the start of a
// launch's own bytes (unless its own bytes need it), at most 8 ranges per launch, adjacent ranges merged.
TEST(CudaKernels, L2PrefetchPlan) {
    std::vector<uint8_t> arena(1 << 20);
    const uint8_t* b = arena.data();
    // A layer-like sequence: contiguous q|k|v pieces (merged), an empty launch, gaps, a big range, then 12 tiny
    // separate ranges in one launch (more than 8: the rest falls to later launches).
    std::vector<std::vector<ByteRange>> launches = {
        {{b, 1000}, {b + 1000, 500}, {b + 1500, 500}}, {}, {{b + 4096, 3000}}, {{b + 10000, 50000}}, {{b + 70000, 20000}}, {}};
    std::vector<ByteRange> tiny;
    for (int i = 0; i < 12; ++i) tiny.push_back({b + 100000 + 100 * i, 10});
    launches.push_back(tiny);
    launches.push_back({{b + 200000, 100}});
    for (size_t window : {size_t{0}, size_t{2500}, size_t{40000}, size_t{1} << 30}) {
        SCOPED_TRACE("window " + std::to_string(window));
        const auto plan = plan_l2_prefetch(launches, window);
        ASSERT_EQ(plan.size(), launches.size());
        // The stream, byte offsets within the arena, in order.
        std::vector<std::pair<size_t, size_t>> want;
        for (const auto& l : launches)
            for (const auto& r : l) want.push_back({static_cast<size_t>(static_cast<const uint8_t*>(r.p) - b), r.bytes});
        std::vector<uint8_t> seen(arena.size(), 0);
        size_t wi = 0, wo = 0, own = 0, requested = 0;
        for (size_t i = 0; i < plan.size(); ++i) {
            EXPECT_LE(plan[i].size(), 8u) << "launch " << i;
            for (size_t k = 0; k + 1 < plan[i].size(); ++k)  // adjacent pieces are merged
                EXPECT_NE(static_cast<const uint8_t*>(plan[i][k].p) + plan[i][k].bytes, plan[i][k + 1].p) << "launch " << i;
            for (const auto& r : plan[i]) {
                size_t off = static_cast<size_t>(static_cast<const uint8_t*>(r.p) - b), left = r.bytes;
                while (left > 0) {  // the range continues the stream exactly where the last one stopped
                    ASSERT_LT(wi, want.size());
                    ASSERT_EQ(off, want[wi].first + wo);
                    const size_t take = std::min(left, want[wi].second - wo);
                    for (size_t q = off; q < off + take; ++q) ++seen[q];
                    off += take, left -= take, wo += take, requested += take;
                    if (wo == want[wi].second) ++wi, wo = 0;
                }
            }
            size_t mine = 0;
            for (const auto& r : launches[i]) mine += r.bytes;
            if (i != 6) {  // (6: the 12 tiny ranges, cut at 8)
                EXPECT_GE(requested, own + mine) << "launch " << i << ": own bytes not requested";
            }
            EXPECT_LE(requested, std::max(own + window, own + mine)) << "launch " << i;
            own += mine;
        }
        EXPECT_EQ(requested, own) << "every byte requested";
        for (const auto& l : launches)
            for (const auto& r : l)
                for (size_t q = 0; q < r.bytes; ++q) ASSERT_EQ(seen[static_cast<size_t>(static_cast<const uint8_t*>(r.p) - b) + q], 1) << "once";
    }
}

// gate|up with the norm prologue and the GLU epilogue (h = silu(g) * u against float64), then matvec_act over
// the int8 buffer it wrote (down projections of every fused type, accumulate) against the host quantization of the
// GPU's h. The types of fused_dot_ext.cuh: gate and the down matrices of random bytes, up reference-quantized.
TEST(CudaKernels, FusedGluAndActMatvecMatchReference) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    const int E = 512, F2 = 256;  // n_ff: 8 GLU blocks; a multiple of 256 for the down projection's int8 kernels
    const auto low_bit = [](DType t) {
        return t == DType::Q3_K || t == DType::Q2_K || t == DType::IQ4_XS || t == DType::IQ4_NL || t == DType::Q4_1 || t == DType::Q5_0 ||
               t == DType::Q5_1;
    };
    std::vector<std::unique_ptr<QMat>> downs;
    uint32_t seed = 53u;
    for (DType t : {DType::Q4_K, DType::Q8_0, DType::Q5_K, DType::Q4_0, DType::Q3_K, DType::Q2_K, DType::IQ4_XS, DType::IQ4_NL, DType::Q4_1,
                    DType::Q5_0, DType::Q5_1})
        downs.push_back(std::make_unique<QMat>(t, 19 + static_cast<int>(seed % 29u), F2, seed, !low_bit(t))), ++seed;
    for (DType tg : {DType::Q4_K, DType::Q8_0, DType::Q6_K, DType::Q5_K, DType::Q4_0, DType::Q3_K, DType::Q2_K, DType::IQ4_XS, DType::IQ4_NL,
                     DType::Q4_1, DType::Q5_0, DType::Q5_1}) {
        QMat g(tg, F2, E, 51u, !low_bit(tg)), u(tg, F2, E, 52u);
        const auto x = random_floats(static_cast<size_t>(E), 61u), w = random_floats(static_cast<size_t>(E), 62u);
        const auto xr = quantize_like_gpu(rms_norm_ref(x, w, 1e-6f));
        std::vector<double> gr, gm, ur, um;
        g.ref(xr, gr, gm);
        u.ref(xr, ur, um);
        DevBuf dx(sizeof(float) * E), dw(sizeof(float) * E), dh(sizeof(float) * F2);
        ASSERT_TRUE(upload(dx.p, x.data(), sizeof(float) * E).ok());
        ASSERT_TRUE(upload(dw.p, w.data(), sizeof(float) * E).ok());
        // In cluster pairs of gate and up blocks (sm_90; RZ_CUDA_GLU_SPLIT=1) with 4 or 8 rows per warp (Q8_0 and the
        // Q4_0 / Q5_K set staged in shared memory; the default rows and read directly with RZ_CUDA_GLU_STAGE=0), or one
        // block for both (RZ_CUDA_GLU_SPLIT=0; the Q4_K / Q6_K and Q8_0 sets staged at 8 rows); pairs kernel with 1 or 2
        // outputs per warp, or 2 or 4 per unit on the resident blocks (F2 / 4 = 64 units: on 3 blocks, 21-22 a block,
        // 2-3 a warp); the pairs kernels with each unit counted as it is done and with a warp's units counted after its
        // last (RZ_CUDA_GLU_DEFER, the default), and with Q4_K read 4 lanes a super-block (RZ_CUDA_GLU_WIDE=2: at 512
        // columns, a partial warp step).
        struct GluVariant {
            const char* name;  // RZ_CUDA_GLU_R, RZ_CUDA_GLU_STAGE or RZ_CUDA_GLU_PAIRS
            const char* value;
            const char* blocks = "0";  // RZ_CUDA_GLU_BLOCKS: grid cap of the resident-block pairs kernels
            const char* split = "1";   // RZ_CUDA_GLU_SPLIT
            const char* defer = "0";   // RZ_CUDA_GLU_DEFER (the pairs kernels)
            const char* wide = "1";    // RZ_CUDA_GLU_WIDE (the pairs kernels: 2 = Q4_K with 4 lanes a super-block)
        };
        for (const GluVariant& var : {GluVariant{"RZ_CUDA_GLU_R", "4"}, GluVariant{"RZ_CUDA_GLU_R", "8"}, GluVariant{"RZ_CUDA_GLU_STAGE", "0"},
                                      GluVariant{"RZ_CUDA_GLU_R", "4", "0", "0"}, GluVariant{"RZ_CUDA_GLU_R", "8", "0", "0"},
                                      GluVariant{"RZ_CUDA_GLU_STAGE", "0", "0", "0"}, GluVariant{"RZ_CUDA_GLU_PAIRS", "1"},
                                      GluVariant{"RZ_CUDA_GLU_PAIRS", "2"}, GluVariant{"RZ_CUDA_GLU_PAIRS", "3"},
                                      GluVariant{"RZ_CUDA_GLU_PAIRS", "4"}, GluVariant{"RZ_CUDA_GLU_PAIRS", "4", "3"},
                                      GluVariant{"RZ_CUDA_GLU_PAIRS", "1", "0", "1", "1"}, GluVariant{"RZ_CUDA_GLU_PAIRS", "3", "0", "1", "1"},
                                      GluVariant{"RZ_CUDA_GLU_PAIRS", "4", "3", "1", "1"}, GluVariant{"RZ_CUDA_GLU_PAIRS", "3", "3", "1", "1"},
                                      GluVariant{"RZ_CUDA_GLU_PAIRS", "3", "0", "1", "1", "2"}, GluVariant{"RZ_CUDA_GLU_PAIRS", "3", "3", "1", "1", "2"},
                                      GluVariant{"RZ_CUDA_GLU_PAIRS", "3", "3", "1", "0", "2"}}) {
            SCOPED_TRACE(std::string(dtype_name(tg)) + " " + var.name + "=" + var.value + " blocks " + var.blocks + " split " + var.split +
                         " defer " + var.defer + " wide " + var.wide);
            for (const char* v : {"RZ_CUDA_GLU_R", "RZ_CUDA_GLU_PAIRS", "RZ_CUDA_GLU_STAGE"}) unsetenv(v);
            setenv(var.name, var.value, 1);
            setenv("RZ_CUDA_GLU_BLOCKS", var.blocks, 1);
            setenv("RZ_CUDA_GLU_SPLIT", var.split, 1);
            setenv("RZ_CUDA_GLU_DEFER", var.defer, 1);
            setenv("RZ_CUDA_GLU_WIDE", var.wide, 1);
            matvec_glu_norm(tg, g.dev.p, tg, u.dev.p, F2, E, dx.f(), dw.f(), 1e-6f, dh.f());
            ASSERT_TRUE(sync("fused glu").ok());
            const auto h = download_floats(dh, static_cast<size_t>(F2));
            for (size_t i = 0; i < static_cast<size_t>(F2); ++i) {
                const SwigluRef r = swiglu_ref(gr[i], ur[i], gm[i], um[i]);
                ASSERT_NEAR(h[i], r.h, r.err) << "row " << i;
            }
            // The int8 buffer now holds q8(h): the down projections read it (x += W h).
            const auto hq = quantize_like_gpu(h);
            for (const auto& dp : downs) {
                const QMat* d = dp.get();
                const auto y0 = random_floats(static_cast<size_t>(d->rows), 70u);
                DevBuf dy(sizeof(float) * d->rows);
                ASSERT_TRUE(upload(dy.p, y0.data(), sizeof(float) * d->rows).ok());
                matvec_act(MatvecSeg{d->t, d->dev.p, d->rows, nullptr, dy.f()}, F2, true);
                ASSERT_TRUE(sync("fused act matvec").ok());
                const auto y = download_floats(dy, static_cast<size_t>(d->rows));
                std::vector<double> ref, mag;
                d->ref(hq, ref, mag);
                for (int r = 0; r < d->rows; ++r)
                    ASSERT_NEAR(y[static_cast<size_t>(r)], ref[static_cast<size_t>(r)] + y0[static_cast<size_t>(r)], 3e-5 * (mag[static_cast<size_t>(r)] + 1.0))
                        << dtype_name(d->t) << " row " << r;
            }
        }
        unsetenv("RZ_CUDA_GLU_R");
        unsetenv("RZ_CUDA_GLU_PAIRS");
        unsetenv("RZ_CUDA_GLU_BLOCKS");
        unsetenv("RZ_CUDA_GLU_STAGE");
        unsetenv("RZ_CUDA_GLU_SPLIT");
        unsetenv("RZ_CUDA_GLU_DEFER");
        unsetenv("RZ_CUDA_GLU_WIDE");
        clear_variant();
    }
}

// A width that is a multiple of 32 but not of 256 (Qwen2.5-0.5B's 896: 28 blocks, a short last group of the
// device layout): the fused one-token kernels of the 32-element block types (fused_supported) against float64, the
// q|k|v-style mat-vec with its RMSNorm prologue, and gate|up with SwiGLU in one block and in cluster pairs.
TEST(CudaKernels, FusedKernelsOnWidthsOf32ElementBlocks) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    const int E = 896, R = 37, F2 = 128;
    const auto x = random_floats(static_cast<size_t>(E), 71u), w = random_floats(static_cast<size_t>(E), 72u);
    const auto xr = quantize_like_gpu(rms_norm_ref(x, w, 1e-6f));
    DevBuf dx(sizeof(float) * E), dw(sizeof(float) * E), dy(sizeof(float) * R), dh(sizeof(float) * F2);
    ASSERT_TRUE(upload(dx.p, x.data(), sizeof(float) * E).ok());
    ASSERT_TRUE(upload(dw.p, w.data(), sizeof(float) * E).ok());
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::IQ4_NL, DType::Q4_1, DType::Q5_1}) {
        SCOPED_TRACE(dtype_name(t));
        const bool quantized = t == DType::Q8_0 || t == DType::Q4_0;  // the others as random bytes (every code pattern)
        ASSERT_TRUE(fused_supported(t, E));
        const QMat m(t, R, E, 73u, quantized), g(t, F2, E, 74u, quantized), u(t, F2, E, 75u);
        const MatvecSeg seg{t, m.dev.p, R, nullptr, dy.f()};
        matvec_norm(&seg, 1, E, dx.f(), dw.f(), 1e-6f, false);
        ASSERT_TRUE(sync("matvec_norm, 896 columns").ok());
        std::vector<double> ref, mag;
        m.ref(xr, ref, mag);
        const auto y = download_floats(dy, static_cast<size_t>(R));
        for (int r = 0; r < R; ++r) ASSERT_NEAR(y[static_cast<size_t>(r)], ref[static_cast<size_t>(r)], 3e-5 * (mag[static_cast<size_t>(r)] + 1.0)) << "row " << r;
        std::vector<double> gr, gm, ur, um;
        g.ref(xr, gr, gm);
        u.ref(xr, ur, um);
        for (const char* split : {"0", "1"}) {
            SCOPED_TRACE(std::string("split ") + split);
            setenv("RZ_CUDA_GLU_SPLIT", split, 1);
            matvec_glu_norm(t, g.dev.p, t, u.dev.p, F2, E, dx.f(), dw.f(), 1e-6f, dh.f());
            unsetenv("RZ_CUDA_GLU_SPLIT");
            ASSERT_TRUE(sync("matvec_glu_norm, 896 columns").ok());
            const auto h = download_floats(dh, static_cast<size_t>(F2));
            for (size_t i = 0; i < static_cast<size_t>(F2); ++i) {
                const SwigluRef r = swiglu_ref(gr[i], ur[i], gm[i], um[i]);
                ASSERT_NEAR(h[i], r.h, r.err) << "output " << i;
            }
        }
    }
}

// rope + kv store + attention in one kernel against a float64 reference: GQA (2, 4 and 8 query heads per kv head),
// normal / NEOX / partial rotation, f32 and f16 caches; the cache row at pos is written (and only it), and
// the int8 copy of the output feeds matvec_act (o projection).
TEST(CudaKernels, FusedAttentionMatchesReference) {
    if (device_count() <= 0) GTEST_SKIP() << "no CUDA device";
    struct Case {
        bool f16, neox;
        int n_rot, n_ctx;  // n_ctx > 8192: scores in global memory instead of shared (one-block-per-head kernel)
        int pos;
        const char* split;  // RZ_CUDA_ATTN_SPLIT; n_ctx >= 2 * (hd + 2) takes the split-KV kernel unless "0"
        const char* cmin;   // RZ_CUDA_ATTN_MIN
        int swa = 0;        // sliding window: keys (pos - swa, pos]
        bool qkn = false;   // qwen3's per-head q/k RMSNorm before RoPE
        int hd = 64;
    };
    // Heads: 4 (two kv heads, up to ~66 splits a head), TinyLlama's 32 (four kv heads, up to 8 splits), 16 / 4, and
    // qwen2.5-0.5b's 14 / 2 (odd groups: a block per query head by default, the split kernel with "2"), and 8 / 8 (no
    // grouped-query attention).
    struct Heads {
        int nh, nkv;
    };
    for (const Heads hs : {Heads{4, 2}, Heads{32, 4}, Heads{16, 4}, Heads{14, 2}, Heads{8, 8}}) {
    const int nh = hs.nh, nkv = hs.nkv;
    // f16 caches with head_dim 64 / 128 take the kernel by kv head (attention_gqa.cu) with 2 query heads a block
    // (default), 4 (the groups of 8) or 1 (RZ_CUDA_GQA_HEADS), unless RZ_CUDA_ATTN_GQA=0; its fewest positions per
    // split (RZ_CUDA_GQA_MIN) follow the case's RZ_CUDA_ATTN_MIN. The other caches and head sizes take the split
    // kernel.
    for (const char* gqa : {"2", "4", "1", "0"}) {
    if (gqa[0] == '4' && (nh / nkv) % 4 != 0) continue;
    setenv("RZ_CUDA_ATTN_GQA", gqa[0] == '0' ? "0" : "1", 1);
    setenv("RZ_CUDA_GQA_HEADS", gqa, 1);
    // Each case with the first key chunk and value round loaded before the wait (default), the key chunk only,
    // and neither (RZ_CUDA_ATTN_EARLY 2 / 1 / 0; the kernel by kv head has no such switch: default only).
    for (const char* early : {"2", "1", "0"}) {
        if (gqa[0] != '0' && early[0] != '2') continue;
        setenv("RZ_CUDA_ATTN_EARLY", early, 1);
        // Split cases: several splits with the current position in the last one, a last split holding pos only
        // (n_ctx 300: s_max 4; pos 12, at least 1 position per split: chunks of 4), uneven chunks, splits capped by
        // s_max, one split (short context), and the one-block-per-head kernel (split "0", or n_ctx 16).
        for (const Case cs : {Case{false, false, 64, 16, 9, "1", "64"}, Case{true, false, 64, 16, 9, "1", "64"}, Case{false, true, 32, 16, 9, "1", "64"},
                              Case{true, true, 64, 16, 9, "1", "64"}, Case{true, false, 64, 8200, 9, "0", "64"}, Case{true, false, 64, 8200, 9, "1", "64"},
                              Case{true, false, 64, 8200, 3000, "1", "64"}, Case{false, true, 64, 1024, 700, "1", "64"},
                              Case{true, false, 64, 300, 12, "1", "1"}, Case{false, false, 64, 1024, 700, "0", "64"},
                              // 3 of 8 splits used at 32 heads (the other blocks exit at once)
                              Case{true, false, 64, 1024, 130, "1", "64"},
                              Case{true, true, 32, 300, 299, "1", "16"}, Case{false, false, 64, 1024, 77, "1", "7"},
                              // sliding windows: split kernel (several splits, one), one block per head, window past pos
                              Case{true, false, 64, 1024, 700, "1", "64", 300}, Case{false, true, 64, 1024, 77, "1", "7", 20},
                              Case{true, false, 64, 300, 299, "1", "16", 1}, Case{false, false, 64, 1024, 700, "0", "64", 33},
                              Case{true, true, 64, 16, 9, "1", "64", 4}, Case{true, false, 64, 1024, 77, "1", "64", 500},
                              // q/k norms: one split, several (NEOX), one block per head
                              Case{true, false, 64, 16, 9, "1", "64", 0, true}, Case{false, true, 64, 1024, 700, "1", "64", 0, true},
                              Case{true, false, 64, 8200, 9, "0", "64", 0, true},
                              // one split of 201-301 keys (RZ_CUDA_ATTN_MIN 256 / 512: a key per thread and more), a
                              // window, q/k norms; head size 128 (f16 with q/k norms, f32 with a partial rotation)
                              Case{true, false, 64, 1024, 200, "1", "256"}, Case{false, true, 32, 1024, 255, "1", "256"},
                              Case{true, false, 64, 1024, 700, "1", "256", 100}, Case{true, true, 64, 1024, 130, "1", "256", 0, true},
                              Case{true, false, 64, 1024, 300, "1", "512"}, Case{true, true, 128, 1024, 150, "1", "256", 0, true, 128},
                              Case{false, false, 96, 1024, 40, "1", "64", 0, false, 128}, Case{true, false, 128, 2048, 900, "1", "64", 0, true, 128},
                              // head sizes whose value rows are not a power-of-two count of 16-byte slices (idle lanes):
                              // phi-2's 80 in f16 (partial NEOX rotation of 32; several splits, one), 96 in f32
                              Case{true, true, 32, 1024, 700, "1", "64", 0, false, 80}, Case{true, true, 32, 300, 12, "1", "64", 0, false, 80},
                              Case{true, false, 80, 1024, 150, "1", "64", 0, true, 80},  // with q/k norms (80: not whole warps)
                              // phi-3's 96 in f16 (lanes 12-15 idle), gemma's 256 (a warp a row; q/k norms, several splits)
                              Case{true, true, 96, 1024, 700, "1", "64", 0, false, 96}, Case{true, false, 96, 300, 12, "1", "64", 0, true, 96},
                              Case{true, true, 256, 2048, 900, "1", "64", 0, true, 256}, Case{true, false, 128, 300, 40, "1", "64", 0, false, 256},
                              Case{false, false, 48, 1024, 300, "1", "64", 0, false, 96}}) {
            const int n_ctx = cs.n_ctx, pos = cs.pos, hd = cs.hd;
            const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
            setenv("RZ_CUDA_ATTN_SPLIT", cs.split, 1);
            setenv("RZ_CUDA_ATTN_MIN", cs.cmin, 1);
            setenv("RZ_CUDA_GQA_MIN", cs.cmin, 1);
            SCOPED_TRACE(std::string("heads ") + std::to_string(nh) + " gqa " + gqa + " early " + early + (cs.f16 ? " f16" : " f32") + (cs.neox ? " neox" : " norm") + " n_rot " + std::to_string(cs.n_rot) + " n_ctx " +
                         std::to_string(n_ctx) + " pos " + std::to_string(pos) + " split " + cs.split + " min " + cs.cmin + " window " +
                         std::to_string(cs.swa) + (cs.qkn ? " q/k norm" : "") + " hd " + std::to_string(hd));
            const size_t esz = cs.f16 ? 2 : 4, ncache = static_cast<size_t>(nkv) * n_ctx * hd;
            auto q = random_floats(static_cast<size_t>(nh * hd), 81u), k = random_floats(static_cast<size_t>(nkv * hd), 82u),
                 v = random_floats(static_cast<size_t>(nkv * hd), 83u);
            const auto kf = random_floats(ncache, 84u), vf = random_floats(ncache, 85u);
            // Cache contents as stored (f16 rounds) and as read back.
            std::vector<uint8_t> kraw(ncache * esz), vraw(ncache * esz);
            std::vector<float> kc(ncache), vc(ncache);
            for (size_t i = 0; i < ncache; ++i) {
                if (cs.f16) {
                    const uint16_t a = fp32_to_fp16(kf[i]), b = fp32_to_fp16(vf[i]);  // the core's exact conversions (subnormals too)
                    std::memcpy(&kraw[2 * i], &a, 2), std::memcpy(&vraw[2 * i], &b, 2);
                    kc[i] = fp16_to_fp32(a), vc[i] = fp16_to_fp32(b);
                } else {
                    std::memcpy(&kraw[4 * i], &kf[i], 4), std::memcpy(&vraw[4 * i], &vf[i], 4);
                    kc[i] = kf[i], vc[i] = vf[i];
                }
            }
            std::vector<double> inv(static_cast<size_t>(cs.n_rot / 2));
            for (int i = 0; i < cs.n_rot / 2; ++i) inv[static_cast<size_t>(i)] = std::pow(10000.0, -2.0 * i / cs.n_rot);
            std::vector<float> table(static_cast<size_t>(n_ctx) * cs.n_rot);  // [n_ctx][n_rot / 2] (cos, sin)
            for (int t = 0; t < n_ctx; ++t)
                for (int i = 0; i < cs.n_rot / 2; ++i) {
                    const double a = static_cast<double>(t) * inv[static_cast<size_t>(i)];
                    table[static_cast<size_t>(t * cs.n_rot + 2 * i)] = static_cast<float>(std::cos(a));
                    table[static_cast<size_t>(t * cs.n_rot + 2 * i + 1)] = static_cast<float>(std::sin(a));
                }
            DevBuf dq(sizeof(float) * q.size()), dk(sizeof(float) * k.size()), dv(sizeof(float) * v.size()), dkc(ncache * esz), dvc(ncache * esz),
                dinv(sizeof(float) * table.size()), dpos(sizeof(int32_t)), dsc(sizeof(float) * nh * n_ctx), dout(sizeof(float) * nh * hd);
            ASSERT_TRUE(upload(dq.p, q.data(), sizeof(float) * q.size()).ok());
            ASSERT_TRUE(upload(dk.p, k.data(), sizeof(float) * k.size()).ok());
            ASSERT_TRUE(upload(dv.p, v.data(), sizeof(float) * v.size()).ok());
            ASSERT_TRUE(upload(dkc.p, kraw.data(), kraw.size()).ok());
            ASSERT_TRUE(upload(dvc.p, vraw.data(), vraw.size()).ok());
            ASSERT_TRUE(upload(dinv.p, table.data(), sizeof(float) * table.size()).ok());
            ASSERT_TRUE(upload(dpos.p, &pos, sizeof(pos)).ok());
            // q/k norm weights around 1 (as trained ones are), eps large enough to matter in the reference.
            auto wq = random_floats(static_cast<size_t>(hd), 87u), wk = random_floats(static_cast<size_t>(hd), 88u);
            for (auto* w : {&wq, &wk})
                for (auto& x : *w) x = 1.0f + 0.3f * x;
            const float eps = 1e-2f;
            DevBuf dwq(sizeof(float) * hd), dwk(sizeof(float) * hd);
            ASSERT_TRUE(upload(dwq.p, wq.data(), sizeof(float) * hd).ok());
            ASSERT_TRUE(upload(dwk.p, wk.data(), sizeof(float) * hd).ok());
            attention_fused(dq.f(), dk.f(), dv.f(), dkc.p, dvc.p, cs.f16, nh, nkv, hd, n_ctx, cs.n_rot, dinv.f(), cs.neox,
                            static_cast<const int32_t*>(dpos.p), scale, dsc.f(), true, dout.f(), cs.swa, cs.qkn ? dwq.f() : nullptr,
                            cs.qkn ? dwk.f() : nullptr, eps);
            ASSERT_TRUE(sync("fused attention").ok());
            if (cs.qkn) {  // head_rms_norm's arithmetic: the sum of squares and the scaling in double
                auto norm = [&](float* x, const std::vector<float>& w) {
                    double ss = 0.0;
                    for (int i = 0; i < hd; ++i) ss += static_cast<double>(x[i]) * x[i];
                    const double sc = 1.0 / std::sqrt(ss / hd + eps);
                    for (int i = 0; i < hd; ++i) x[i] = static_cast<float>(x[i] * sc * w[static_cast<size_t>(i)]);
                };
                for (int h = 0; h < nh; ++h) norm(q.data() + h * hd, wq);
                for (int g = 0; g < nkv; ++g) norm(k.data() + g * hd, wk);
            }
            // Reference: rotate (float cos/sin of double angles, as ops::rope), cache-round the current k and v.
            auto rot = [&](float* x) {
                const int half = cs.n_rot / 2;
                for (int i = 0; i < half; ++i) {
                    const double a = static_cast<double>(pos) * inv[static_cast<size_t>(i)];
                    const double c = static_cast<float>(std::cos(a)), s = static_cast<float>(std::sin(a));
                    const int i0 = cs.neox ? i : 2 * i, i1 = cs.neox ? i + half : 2 * i + 1;
                    const double x0 = x[i0], x1 = x[i1];
                    x[i0] = static_cast<float>(x0 * c - x1 * s);
                    x[i1] = static_cast<float>(x0 * s + x1 * c);
                }
            };
            for (int h = 0; h < nh; ++h) rot(q.data() + h * hd);
            for (int g = 0; g < nkv; ++g) rot(k.data() + g * hd);
            std::vector<uint8_t> kgot(ncache * esz), vgot(ncache * esz);
            ASSERT_TRUE(download(kgot.data(), dkc.p, kgot.size()).ok());
            ASSERT_TRUE(download(vgot.data(), dvc.p, vgot.size()).ok());
            auto got_at = [&](const std::vector<uint8_t>& raw, size_t i) {
                if (!cs.f16) {
                    float f;
                    std::memcpy(&f, &raw[4 * i], 4);
                    return f;
                }
                uint16_t b;
                std::memcpy(&b, &raw[2 * i], 2);
                return fp16_to_fp32(b);
            };
            for (int g = 0; g < nkv; ++g)
                for (int t = 0; t < n_ctx; ++t)
                    for (int d = 0; d < hd; ++d) {
                        const size_t i = (static_cast<size_t>(g) * n_ctx + t) * hd + d;
                        if (t != pos) {  // untouched
                            ASSERT_EQ(std::memcmp(&kgot[i * esz], &kraw[i * esz], esz), 0) << "k cache g " << g << " t " << t;
                            ASSERT_EQ(std::memcmp(&vgot[i * esz], &vraw[i * esz], esz), 0) << "v cache g " << g << " t " << t;
                            continue;
                        }
                        const float kw = k[static_cast<size_t>(g * hd + d)], vw = v[static_cast<size_t>(g * hd + d)];
                        const float tol = cs.f16 ? 1e-3f * std::fabs(kw) + 1e-6f : 1e-6f;
                        ASSERT_NEAR(got_at(kgot, i), kw, tol) << "k at pos, g " << g << " d " << d;
                        ASSERT_NEAR(got_at(vgot, i), vw, cs.f16 ? 1e-3f * std::fabs(vw) + 1e-6f : 0.0f) << "v at pos, g " << g << " d " << d;
                        kc[i] = got_at(kgot, i), vc[i] = got_at(vgot, i);  // the reference reads what was stored
                    }
            const auto out = download_floats(dout, static_cast<size_t>(nh * hd));
            for (int h = 0; h < nh; ++h) {
                const int g = h / (nh / nkv);
                std::vector<double> sc(static_cast<size_t>(pos + 1), 0.0);
                const int lo = cs.swa > 0 ? std::max(0, pos - cs.swa + 1) : 0;
                double mx = -1e300, sum = 0.0;
                for (int t = lo; t <= pos; ++t) {
                    double d = 0.0;
                    for (int i = 0; i < hd; ++i) d += static_cast<double>(q[static_cast<size_t>(h * hd + i)]) * kc[(static_cast<size_t>(g) * n_ctx + t) * hd + i];
                    sc[static_cast<size_t>(t)] = d * scale;
                    mx = std::max(mx, d * scale);
                }
                for (int t = lo; t <= pos; ++t) sum += (sc[static_cast<size_t>(t)] = std::exp(sc[static_cast<size_t>(t)] - mx));
                for (int d = 0; d < hd; ++d) {
                    double o = 0.0;
                    for (int t = lo; t <= pos; ++t) o += sc[static_cast<size_t>(t)] * vc[(static_cast<size_t>(g) * n_ctx + t) * hd + d];
                    ASSERT_NEAR(out[static_cast<size_t>(h * hd + d)], o / sum, 2e-5) << "head " << h << " d " << d;
                }
            }
            // The o projection reads the int8 copy of out (written for whole 32-element groups only: hd % 32 == 0).
            if (hd % 32 != 0) continue;
            QMat o(DType::Q8_0, 24, nh * hd, 86u);
            DevBuf dy(sizeof(float) * 24);
            matvec_act(MatvecSeg{o.t, o.dev.p, o.rows, nullptr, dy.f()}, nh * hd, false);
            ASSERT_TRUE(sync("o after fused attention").ok());
            const auto y = download_floats(dy, 24);
            std::vector<double> ref, mag;
            o.ref(quantize_like_gpu(out), ref, mag);
            for (int r = 0; r < 24; ++r) ASSERT_NEAR(y[static_cast<size_t>(r)], ref[static_cast<size_t>(r)], 3e-5 * (mag[static_cast<size_t>(r)] + 1.0)) << "o row " << r;
        }
    }
    }
    }
    unsetenv("RZ_CUDA_ATTN_GQA");
    unsetenv("RZ_CUDA_GQA_MIN");
    unsetenv("RZ_CUDA_GQA_HEADS");
    unsetenv("RZ_CUDA_ATTN_EARLY");
    unsetenv("RZ_CUDA_ATTN_SPLIT");
    unsetenv("RZ_CUDA_ATTN_MIN");
}

}  // namespace
}  // namespace rz::cuda
#endif  // RZ_HAVE_CUDA
