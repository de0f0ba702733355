// Every dot kernel of every ISA this CPU runs, against an exact reference: the dequantized weight row
// times the dequantized 8-bit activations, summed in double. What remains is float rounding inside the
// kernel (block scales multiplied in f32, partial sums in f32), so the documented tolerance is
//   |kernel - exact| <= 2e-6 * sum_i |w_i * a_i| + 1e-30
// (about 16 ulp of the magnitude sum; an error in any block shows up as a relative error near 1).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/dispatch.h"
#include "backend/cpu/gemm.h"
#include "backend_cpu/random_blocks.h"
#include "realizar/backend/cpu/matmul.h"
#include "realizar/quant/quant.h"

namespace rz::cpu {
namespace {

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,   DType::Q5_0,
                        DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K,   DType::Q5_K,
                        DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};

struct ActBuffer {
    std::vector<unsigned char> bytes;
    std::vector<float> deq;
};

ActBuffer quantize_act(kern::ActType act, const std::vector<float>& x) {
    const auto n = static_cast<int64_t>(x.size());
    ActBuffer b;
    b.deq.resize(x.size());
    DType t = DType::F32;
    switch (act) {
        case kern::ActType::kF32: t = DType::F32; break;
        case kern::ActType::kQ8_0: t = DType::Q8_0; break;
        case kern::ActType::kQ8_1: t = DType::Q8_1; break;
        case kern::ActType::kQ8_K: t = DType::Q8_K; break;
    }
    b.bytes.resize(*dtype_bytes(t, static_cast<uint64_t>(n)));
    EXPECT_TRUE(quant::quantize_row(t, x.data(), b.bytes.data(), n).ok());
    EXPECT_TRUE(quant::dequantize_row(t, b.bytes.data(), b.deq.data(), n).ok());
    return b;
}

// Q8_1 stores s = d * sum(q) as fp16; the Q4_1 / Q5_1 offset term m * s uses that rounded s. Returns
// sum over blocks of m * (s - d * sum(q)), to add to the exact product.
double q8_1_offset_correction(DType t, const unsigned char* w, const unsigned char* a, int64_t n) {
    const size_t tsz = dtype_info(t)->type_size;
    double corr = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
        uint16_t mh, dh, sh;
        std::memcpy(&mh, w + b * tsz + 2, 2);
        std::memcpy(&dh, a + b * 36, 2);
        std::memcpy(&sh, a + b * 36 + 2, 2);
        int sumq = 0;
        for (int j = 0; j < 32; ++j) sumq += static_cast<int8_t>(a[b * 36 + 4 + j]);
        corr += static_cast<double>(fp16_to_fp32(mh)) *
                (static_cast<double>(fp16_to_fp32(sh)) - static_cast<double>(fp16_to_fp32(dh)) * sumq);
    }
    return corr;
}

// Row lengths: one block, odd block counts, and (for float types) lengths that are not multiples of 8/16.
std::vector<int64_t> lengths_for(DType t) {
    const int64_t bs = dtype_info(t)->block_size;
    if (bs == 1) return {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 255, 1000, 4096};
    if (bs == 32) return {32, 64, 96, 160, 224, 416, 512, 1056, 4096};
    return {256, 512, 768, 1280, 4096};
}

void check_isa(Isa isa) {
    const kern::KernelTable* kt = kernel_table(isa);
    if (!kt) GTEST_SKIP() << "CPU lacks this ISA";
    const kern::KernelTable* gen = kernel_table(Isa::kGeneric);
    for (DType t : kTypes) {
        const auto& k = kt->types[static_cast<int>(t)];
        ASSERT_NE(k.dot, nullptr) << dtype_name(t);
        ASSERT_EQ(static_cast<int>(k.act), static_cast<int>(gen->types[static_cast<int>(t)].act)) << dtype_name(t);
        uint32_t seed = 1;
        for (int64_t n : lengths_for(t)) {
            for (int rep = 0; rep < 3; ++rep, ++seed) {
                const auto w = test::random_weights(t, 1, n, seed * 31 + static_cast<uint32_t>(t));
                // Some activations with outliers: the 8-bit activation scale then varies a lot by block.
                auto x = test::random_floats(static_cast<size_t>(n), seed, rep == 2 ? 10.0f : 1.0f);
                if (rep == 1) x[static_cast<size_t>(n / 2)] = 300.0f;
                const ActBuffer a = quantize_act(k.act, x);
                std::vector<float> wd(static_cast<size_t>(n));
                ASSERT_TRUE(quant::dequantize_row(t, w.data(), wd.data(), n).ok());
                double exact = 0.0, mag = 0.0;
                for (int64_t i = 0; i < n; ++i) {
                    exact += static_cast<double>(wd[i]) * a.deq[i];
                    mag += std::fabs(static_cast<double>(wd[i]) * a.deq[i]);
                }
                if (k.act == kern::ActType::kQ8_1) exact += q8_1_offset_correction(t, w.data(), a.bytes.data(), n);
                const float got = k.dot(n, w.data(), a.bytes.data());
                EXPECT_NEAR(got, exact, 2e-6 * mag + 1e-30) << kt->isa_name << " " << dtype_name(t) << " n=" << n << " rep " << rep;
                if (k.multi_dot) {
                    float outs[3];
                    const size_t stride = a.bytes.size();
                    std::vector<unsigned char> three(stride * 3);
                    for (int j = 0; j < 3; ++j) std::memcpy(three.data() + j * stride, a.bytes.data(), stride);
                    k.multi_dot(n, w.data(), three.data(), stride, 3, outs);
                    for (int j = 0; j < 3; ++j) {
                        EXPECT_NEAR(outs[j], exact, 2e-6 * mag + 1e-30) << kt->isa_name << " multi " << dtype_name(t) << " n=" << n;
                    }
                }
            }
        }
    }
}

// The decode mat-vec kernels (several rows per call, prepared activations, prefetching) against the same exact
// reference and tolerance as the dot kernels, row by row: row counts around the kernels' row groups, odd
// block counts (tails after whole 4-block groups), and weights at a 2-byte-aligned offset (row_bytes is
// not a multiple of 64 for most types, so rows start at every alignment anyway).
void check_matvec_isa(Isa isa) {
    const kern::KernelTable* kt = kernel_table(isa);
    if (!kt) GTEST_SKIP() << "CPU lacks this ISA";
    int tested = 0;
    for (DType t : kTypes) {
        const auto& k = kt->types[static_cast<int>(t)];
        if (!k.matvec) continue;
        ++tested;
        uint32_t seed = 11;
        for (int64_t n : lengths_for(t)) {
            for (int64_t n_rows : {1, 3, 4, 5, 9}) {
                ++seed;
                const size_t row_bytes = *dtype_bytes(t, static_cast<uint64_t>(n));
                const auto w0 = test::random_weights(t, n_rows, n, seed * 7 + static_cast<uint32_t>(t));
                std::vector<unsigned char> wbuf(w0.size() + 64);
                unsigned char* w = wbuf.data() + 2;  // only the format's 2-byte alignment is guaranteed
                std::memcpy(w, w0.data(), w0.size());
                auto x = test::random_floats(static_cast<size_t>(n), seed, seed % 3 == 0 ? 10.0f : 1.0f);
                if (seed % 2 == 0) x[static_cast<size_t>(n / 3)] = -200.0f;
                const ActBuffer a = quantize_act(k.act, x);
                std::vector<unsigned char> prep_buf(kern::matvec_prep_bytes(n) + 64);
                const void* act = a.bytes.data();  // f32 weights: the f32 copy of x
                if (k.matvec_prep) {
                    auto* p = prep_buf.data() + (64 - reinterpret_cast<uintptr_t>(prep_buf.data()) % 64) % 64;
                    k.matvec_prep(n, act, p);
                    act = p;
                }
                std::vector<float> y(static_cast<size_t>(n_rows), NAN);
                k.matvec(n, w, row_bytes, n_rows, act, y.data());
                std::vector<float> wd(static_cast<size_t>(n));
                for (int64_t r = 0; r < n_rows; ++r) {
                    ASSERT_TRUE(quant::dequantize_row(t, w + r * row_bytes, wd.data(), n).ok());
                    double exact = 0.0, mag = 0.0;
                    for (int64_t i = 0; i < n; ++i) {
                        exact += static_cast<double>(wd[i]) * a.deq[i];
                        mag += std::fabs(static_cast<double>(wd[i]) * a.deq[i]);
                    }
                    if (k.act == kern::ActType::kQ8_1) exact += q8_1_offset_correction(t, w + r * row_bytes, a.bytes.data(), n);
                    EXPECT_NEAR(y[r], exact, 2e-6 * mag + 1e-30)
                        << kt->isa_name << " matvec " << dtype_name(t) << " n=" << n << " rows " << n_rows << " row " << r;
                }
            }
        }
    }
    if (tested == 0) GTEST_SKIP() << "no mat-vec kernel in this ISA's table";
}

TEST(Kernels, Avx512MatvecMatchesExact) { check_matvec_isa(Isa::kAvx512); }

TEST(Kernels, GenericIsExact) { check_isa(Isa::kGeneric); }
TEST(Kernels, Avx2MatchesExact) { check_isa(Isa::kAvx2); }
TEST(Kernels, Avx512MatchesExact) { check_isa(Isa::kAvx512); }

// The prefill GEMM (active ISA) against the exact product of dequantized weights and dequantized 8-bit
// activations. It sums each sub-block's exact int32 dot in f32 and subtracts a zero-point term
// (ws * u - wm form), so its rounding is bounded by 2e-5 * sum |w_i a_i| (documented in docs/quantization.md).
// Runs the GEMM of one ISA table directly (gemm_prefill), on activations quantized by that table.
void check_gemm_shape(const kern::KernelTable& kt, DType t, int64_t n_rows, int64_t n_tokens, int64_t n, ThreadPool& pool) {
    const auto w = test::random_weights(t, n_rows, n, 77 + static_cast<uint32_t>(n));
    const auto x = test::random_floats(static_cast<size_t>(n_tokens * n), 5, 2.0f);
    const kern::ActType act = kt.types[static_cast<int>(t)].act;
    std::vector<ActBuffer> acts;
    std::vector<unsigned char> act_bytes;
    for (int64_t tk = 0; tk < n_tokens; ++tk) {
        acts.push_back(quantize_act(act, std::vector<float>(x.begin() + tk * n, x.begin() + (tk + 1) * n)));
        act_bytes.insert(act_bytes.end(), acts.back().bytes.begin(), acts.back().bytes.end());
    }
    const size_t a_row = acts[0].bytes.size();
    std::vector<float> y(static_cast<size_t>(n_rows * n_tokens));
    const size_t row_bytes = w.size() / static_cast<size_t>(n_rows);
    gemm_prefill(kt, t, w.data(), row_bytes, n_rows, n, act_bytes.data(), act, a_row, n_tokens, y.data(), pool);
    std::vector<float> wd(static_cast<size_t>(n));
    for (int64_t tk = 0; tk < n_tokens; ++tk) {
        const ActBuffer& a = acts[static_cast<size_t>(tk)];
        for (int64_t r = 0; r < n_rows; ++r) {
            ASSERT_TRUE(quant::dequantize_row(t, w.data() + r * row_bytes, wd.data(), n).ok());
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < n; ++i) {
                exact += static_cast<double>(wd[i]) * a.deq[i];
                mag += std::fabs(static_cast<double>(wd[i]) * a.deq[i]);
            }
            if (act == kern::ActType::kQ8_1) exact += q8_1_offset_correction(t, w.data() + r * row_bytes, a.bytes.data(), n);
            EXPECT_NEAR(y[tk * n_rows + r], exact, 2e-5 * mag + 1e-30)
                << kt.isa_name << " gemm " << dtype_name(t) << " " << n_rows << "x" << n << " tokens " << n_tokens
                << " row " << r << " token " << tk;
        }
    }
}

void check_gemm_isa(Isa isa) {
    const kern::KernelTable* kt = kernel_table(isa);
    if (!kt) GTEST_SKIP() << "CPU lacks this ISA";
    ThreadPool pool(2);
    int tested = 0;
    // (rows, tokens): partial 32/16-row panels, a single row, exact multiples, partial token tiles.
    const int64_t shapes[][2] = {{37, 11}, {1, 8}, {32, 9}, {33, 17}, {64, 12}};
    for (DType t : kTypes) {
        if (!gemm_available(*kt, t)) continue;
        ++tested;
        for (const auto& shape : shapes) {
            for (int64_t n : lengths_for(t)) {
                if (n > 1280 || (shape[0] != 37 && n > 512)) continue;
                check_gemm_shape(*kt, t, shape[0], shape[1], n, pool);
            }
        }
    }
    if (tested == 0) GTEST_SKIP() << "no GEMM kernel in this ISA's table";
}

TEST(Kernels, Avx2PrefillGemmMatchesExact) { check_gemm_isa(Isa::kAvx2); }
TEST(Kernels, Avx512PrefillGemmMatchesExact) { check_gemm_isa(Isa::kAvx512); }

// matmul() itself takes the GEMM path from 8 tokens on (with the active ISA).
TEST(Kernels, MatmulUsesGemmForPrefill) {
    const kern::KernelTable& kt = active_kernels();
    if (!gemm_available(kt, DType::Q4_K)) GTEST_SKIP() << "no GEMM kernel on this CPU";
    ThreadPool pool(1);
    const int64_t n_rows = 40, n = 512, n_tokens = kGemmMinTokens;
    const auto w = test::random_weights(DType::Q4_K, n_rows, n, 3);
    const auto x = test::random_floats(static_cast<size_t>(n_tokens * n), 4);
    std::vector<float> y_mm(static_cast<size_t>(n_rows * n_tokens)), y_gemm(y_mm.size());
    ASSERT_TRUE(matmul(DType::Q4_K, w.data(), n_rows, n, x.data(), n_tokens, y_mm.data(), pool).ok());
    std::vector<unsigned char> act(static_cast<size_t>(n_tokens) * sizeof(quant::BlockQ8_K) * (n / 256));
    kt.quantize_q8_K(x.data(), act.data(), n_tokens * n);  // rows of 512 are whole Q8_K blocks
    gemm_prefill(kt, DType::Q4_K, w.data(), w.size() / n_rows, n_rows, n, act.data(), kern::ActType::kQ8_K,
                 act.size() / static_cast<size_t>(n_tokens), n_tokens, y_gemm.data(), pool);
    EXPECT_EQ(0, std::memcmp(y_mm.data(), y_gemm.data(), y_mm.size() * sizeof(float)));
}

// The activation quantizers of every ISA must produce the reference bytes exactly (the dot kernels'
// exactness above is measured against the reference quantization).
TEST(Kernels, ActivationQuantizersAreBitExact) {
    const int64_t n = 4096;
    std::vector<std::vector<float>> inputs;
    inputs.push_back(test::random_floats(n, 1));
    inputs.push_back(test::random_floats(n, 2, 1e-3f));
    auto ties = test::random_floats(n, 3);
    for (int64_t i = 0; i < n; ++i) ties[i] = std::round(ties[i] * 8.0f) / 8.0f;  // many exact halves after scaling
    ties[0] = -127.0f / 8.0f;
    inputs.push_back(ties);
    inputs.push_back(std::vector<float>(n, 0.0f));
    std::vector<float> mixed(n, 0.5f);
    mixed[7] = -3.0f;
    mixed[300] = 3.0f;  // same |x| as an earlier negative value: the first one must set the sign
    inputs.push_back(mixed);
    for (Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512}) {
        const kern::KernelTable* kt = kernel_table(isa);
        if (!kt) continue;
        for (size_t c = 0; c < inputs.size(); ++c) {
            const auto& x = inputs[c];
            struct Case {
                kern::QuantizeActFn fn;
                DType t;
            };
            for (const Case& k : {Case{kt->quantize_q8_0, DType::Q8_0}, Case{kt->quantize_q8_1, DType::Q8_1},
                                  Case{kt->quantize_q8_K, DType::Q8_K}}) {
                ASSERT_NE(k.fn, nullptr);
                const size_t bytes = *dtype_bytes(k.t, n);
                std::vector<unsigned char> got(bytes, 0xAA), want(bytes, 0x55);
                k.fn(x.data(), got.data(), n);
                ASSERT_TRUE(quant::quantize_row(k.t, x.data(), want.data(), n).ok());
                EXPECT_EQ(0, std::memcmp(got.data(), want.data(), bytes)) << kt->isa_name << " " << dtype_name(k.t) << " input " << c;
            }
        }
    }
}

TEST(Kernels, ActiveIsaIsTheBestAvailable) {
    const char* env = std::getenv("RZ_CPU_ISA");
    if (env) GTEST_SKIP() << "RZ_CPU_ISA overrides the choice";
    const Isa best = cpu_has_isa(Isa::kAvx512) ? Isa::kAvx512 : cpu_has_isa(Isa::kAvx2) ? Isa::kAvx2 : Isa::kGeneric;
    EXPECT_EQ(&active_kernels(), kernel_table(best));
    EXPECT_STREQ(active_isa_name(), best == Isa::kAvx512 ? "avx512" : best == Isa::kAvx2 ? "avx2" : "generic");
}

}  // namespace
}  // namespace rz::cpu
