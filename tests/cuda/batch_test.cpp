// The batched GPU path (batch.h; GpuContext::forward_batch): kernels against float64 references, then whole
// batches against the CPU context (the reference the goldens pin), against the GPU's own token-by-token path,
// mixed batches of several sequences, chunking, greedy continuations. Plus the prefill / batched-decode
// benchmark (RZ_CUDA_BENCH_MODELS). Skips without a device.
//
// Environment knobs of the GPU context used here (read at Context::create): RZ_CUDA_BATCH_MIN (batches of at
// least this many tokens take the GEMM path; huge = token by token), RZ_CUDA_BATCH_CHUNK (tokens per chunk),
// RZ_CUDA_GEMM=auto|f16|f32 (GEMM input precision; auto = f32 for float weights, f16 for quantized).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "realizar/core/fp16.h"
#include "cuda/cuda_test_util.h"
#include "realizar/runtime/context.h"
#include "runtime/model_impl.h"
#ifdef RZ_HAVE_CUDA
#include "runtime/gpu/gpu_context_impl.h"
#include "realizar/backend/cuda/batch.h"
#include "realizar/backend/cuda/cuda.h"
#include "realizar/quant/quant.h"
#include <cuda_profiler_api.h>
#endif

#ifdef RZ_HAVE_CUDA
namespace rz::cuda::batch {
namespace {

bool have_device() { return test::cuda_device_present(); }

using test::DevBuf;
using test::random_floats;

// Random floats through the reference quantizer (test::make_matrix), host and device layouts.
test::Matrix make_matrix(DType t, int rows, int cols, uint32_t seed) { return test::make_matrix(t, rows, cols, seed, true); }

constexpr DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Dequantization into the GEMM scratch: f32 equals the CPU's dequantize_row, f16 is its correctly rounded half.
TEST(CudaBatchKernels, DequantToF16AndF32MatchCpu) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    for (DType t : kTypes) {
        for (int cols : {256, 512 + 256, 416}) {  // 416: 13 blocks of 32 (Q8_0's last device group holds 5)
            if (cols % dtype_info(t)->block_size != 0) continue;
            SCOPED_TRACE(std::string(dtype_name(t)) + " cols " + std::to_string(cols));
            const int rows = 11;
            const test::Matrix m = make_matrix(t, rows, cols, 17u + static_cast<uint32_t>(t));
            DevBuf dw(m.dev.size()), d32(sizeof(float) * rows * cols), d16(2 * rows * cols), didx(4 * 3);
            ASSERT_TRUE(upload(dw.p, m.dev.data(), m.dev.size()).ok());
            // Rows [3, 11) in place, then rows {10, 0, 5} gathered (the embedding lookup).
            dequant_rows(t, dw.p, cols, 3, rows - 3, nullptr, false, d32.p);
            dequant_rows(t, dw.p, cols, 3, rows - 3, nullptr, true, d16.p);
            std::vector<float> g32(static_cast<size_t>(rows) * cols);
            std::vector<uint16_t> g16(static_cast<size_t>(rows) * cols);
            ASSERT_TRUE(finish("test").ok());
            ASSERT_TRUE(download(g32.data(), d32.p, sizeof(float) * (rows - 3) * cols).ok());
            ASSERT_TRUE(download(g16.data(), d16.p, 2 * static_cast<size_t>(rows - 3) * cols).ok());
            for (int r = 0; r < rows - 3; ++r)
                for (int c = 0; c < cols; ++c) {
                    const float ref = m.deq[static_cast<size_t>(r + 3) * cols + c];
                    ASSERT_FLOAT_EQ(g32[static_cast<size_t>(r) * cols + c], ref) << "row " << r + 3 << " col " << c;
                    // Half of the (float) value: exact rounding, up to one half-ulp if the float differs in its last bit.
                    const double h = fp16_to_fp32(g16[static_cast<size_t>(r) * cols + c]);
                    ASSERT_NEAR(h, ref, std::fabs(ref) * (1.0 / 2048) + 6e-8) << "row " << r + 3 << " col " << c;
                }
            const int32_t idx[3] = {10, 0, 5};
            ASSERT_TRUE(upload(didx.p, idx, sizeof(idx)).ok());
            dequant_rows(t, dw.p, cols, 0, 3, didx.i(), false, d32.p);
            ASSERT_TRUE(finish("test").ok());
            ASSERT_TRUE(download(g32.data(), d32.p, sizeof(float) * 3 * cols).ok());
            for (int r = 0; r < 3; ++r)
                for (int c = 0; c < cols; ++c) ASSERT_FLOAT_EQ(g32[static_cast<size_t>(r) * cols + c], m.deq[static_cast<size_t>(idx[r]) * cols + c]);
        }
    }
    // Plain types whose rows are not a multiple of 32 (stories260K's n_ff = 172).
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
        const int rows = 5, cols = 172;
        const test::Matrix m = make_matrix(t, rows, cols, 3u);
        DevBuf dw(m.dev.size()), d16(2 * rows * cols);
        ASSERT_TRUE(upload(dw.p, m.dev.data(), m.dev.size()).ok());
        dequant_rows(t, dw.p, cols, 0, rows, nullptr, true, d16.p);
        std::vector<uint16_t> g16(static_cast<size_t>(rows) * cols);
        ASSERT_TRUE(finish("test").ok());
        ASSERT_TRUE(download(g16.data(), d16.p, g16.size() * 2).ok());
        for (size_t i = 0; i < g16.size(); ++i) ASSERT_EQ(g16[i], fp32_to_fp16(m.deq[i])) << dtype_name(t) << " element " << i;
    }
}

// linear(): Y = beta Y + X W^T through a scratch that holds only 7 rows (so W is converted in chunks), for
// f16 and f32 GEMM inputs, and through the multi-vector mat-vec (13 tokens: two passes over W), against
// float64 over the same (rounded) operands.
TEST(CudaBatchKernels, LinearMatchesFloat64InRowChunks) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    for (DType t : kTypes) {
        for (int variant = 0; variant < 4; ++variant) {
            const bool f16 = variant % 2 == 0, mmv = variant >= 2;
            SCOPED_TRACE(std::string(dtype_name(t)) + (f16 ? " f16" : " f32") + (mmv ? " mat-vec" : " GEMM"));
            const int rows = 45, cols = 512;
            test::check_batch_linear(t, make_matrix(t, rows, cols, 5u + static_cast<uint32_t>(t)), rows, cols, f16, mmv);
            if (HasFatalFailure()) return;
        }
    }
}

// One (query row, head) of the reference: softmax(q K^T * scale) V over positions [0, pos] of seq (with a
// sliding window swa > 0: (pos - swa, pos]).
struct AttnCase {
    int n_head, n_head_kv, hd, n_ctx, n_seq;
    std::vector<int32_t> seq, pos;  // per query row
    int swa = 0;
};

double g_rows_tc_err = 0.0;  // largest error of the tensor-core decode-rows kernel's f32 outputs so far

// rows: the decode-step kernel (rz::cuda::attention_decode_rows: every row its own query over its cached
// positions) instead of attention_prefill. split: attention_prefill gets scratch for split keys (the tensor-core
// kernel then splits tiles too few to fill the GPU, as in GpuContext's prefill).
void check_attention(const AttnCase& c, bool f16_cache, bool f16_out, bool rows = false, bool split = false) {
    SCOPED_TRACE("heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) + " hd " + std::to_string(c.hd) +
                 (f16_cache ? " f16 cache" : " f32 cache") + (f16_out ? " f16 out" : "") + " window " + std::to_string(c.swa) +
                 (rows ? " decode rows" : "") + (split ? " split keys" : ""));
    const int n = static_cast<int>(c.seq.size()), Q = c.n_head * c.hd, KV = c.n_head_kv * c.hd, ldq = Q + 2 * KV + 5;
    const size_t cache_n = static_cast<size_t>(c.n_seq) * c.n_head_kv * c.n_ctx * c.hd;
    auto kf = random_floats(cache_n, 11u, 2.0f), vf = random_floats(cache_n, 12u);
    const auto q = random_floats(static_cast<size_t>(n) * ldq, 13u, 2.0f);
    std::vector<uint16_t> kh(cache_n), vh(cache_n);
    for (size_t i = 0; i < cache_n; ++i) {
        kh[i] = fp32_to_fp16(kf[i]), vh[i] = fp32_to_fp16(vf[i]);
        if (f16_cache) kf[i] = fp16_to_fp32(kh[i]), vf[i] = fp16_to_fp32(vh[i]);
    }
    // Tiles as GpuContext builds them: consecutive rows of one sequence at consecutive positions.
    const int TB = tile_rows(c.n_head, c.n_head_kv, c.hd);
    std::vector<int32_t> tiles;
    for (int i = 0; i < n; ++i) {
        if (i > 0 && c.seq[i] == c.seq[i - 1] && c.pos[i] == c.pos[i - 1] + 1 && tiles.back() < TB) ++tiles.back();
        else tiles.push_back(i), tiles.push_back(1);
    }
    const size_t esz = f16_cache ? 2 : 4;
    DevBuf dk(cache_n * esz), dv(cache_n * esz), dq(sizeof(float) * q.size()), dseq(4 * n), dpos(4 * n), dt(4 * tiles.size()),
        dout(sizeof(float) * n * Q);
    ASSERT_TRUE(upload(dk.p, f16_cache ? static_cast<const void*>(kh.data()) : kf.data(), cache_n * esz).ok());
    ASSERT_TRUE(upload(dv.p, f16_cache ? static_cast<const void*>(vh.data()) : vf.data(), cache_n * esz).ok());
    ASSERT_TRUE(upload(dq.p, q.data(), sizeof(float) * q.size()).ok());
    ASSERT_TRUE(upload(dseq.p, c.seq.data(), 4 * n).ok());
    ASSERT_TRUE(upload(dpos.p, c.pos.data(), 4 * n).ok());
    ASSERT_TRUE(upload(dt.p, tiles.data(), 4 * tiles.size()).ok());
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.hd));
    if (rows) {
        const size_t nsc = rz::cuda::attention_decode_rows_scratch(n, f16_cache, c.n_head, c.n_head_kv, c.hd, c.n_ctx);
        DevBuf dsc(sizeof(float) * nsc);
        ASSERT_TRUE(rz::cuda::attention_decode_rows(dq.f(), ldq, dk.p, dv.p, f16_cache, c.n_head, c.n_head_kv, c.hd, c.n_ctx, dseq.i(), dpos.i(), n,
                                                    scale, c.swa, dsc.f(), nsc, f16_out ? nullptr : dout.f(), f16_out ? dout.p : nullptr, Q));
        ASSERT_TRUE(finish("attention test").ok());
        // quant_rows: the int8 rows it leaves in the fused activation buffer are what the o projection would make of
        // the float rows itself: a Q8_0 projection through matvec_rows over those rows (x null) equals the one over
        // the float rows (quantized in its prologue or by its own launch) bit for bit. Both kernels (the
        // tensor-core one where it takes the shape) write them.
        const bool q8_rows = !f16_out && c.hd % 32 == 0 && rz::cuda::fused_rows_supported(DType::Q8_0, Q, n) && rz::cuda::fused_rows_fit(n, Q, Q);
        // A Q8_0 o projection over the int8 rows the last attention launch left vs over its float rows `out`.
        const auto o_over_int8_rows = [&](const DevBuf& out, const std::string& what) {
            const int R = 80;
            const test::Matrix w = make_matrix(DType::Q8_0, R, Q, 91u);
            DevBuf dw(w.dev.size()), y1(sizeof(float) * n * R), y2(sizeof(float) * n * R);
            ASSERT_TRUE(upload(dw.p, w.dev.data(), w.dev.size()).ok());
            const rz::cuda::MatvecSeg s1{DType::Q8_0, dw.p, R, nullptr, y1.f()}, s2{DType::Q8_0, dw.p, R, nullptr, y2.f()};
            rz::cuda::matvec_rows(&s2, 1, Q, nullptr, 0, nullptr, 0.0f, n, R, false);  // first: it reads the buffer
            rz::cuda::matvec_rows(&s1, 1, Q, out.f(), Q, nullptr, 0.0f, n, R, false);
            std::vector<float> a(static_cast<size_t>(n) * R), b(a.size());
            ASSERT_TRUE(finish("attention test").ok());
            ASSERT_TRUE(download(a.data(), y1.p, 4 * a.size()).ok());
            ASSERT_TRUE(download(b.data(), y2.p, 4 * b.size()).ok());
            EXPECT_EQ(std::memcmp(a.data(), b.data(), 4 * a.size()), 0) << "o over the attention's int8 rows, " << what;
        };
        if (q8_rows) {
            for (bool tc : {false, true}) {  // (the default kernel last: dout is checked below)
                ASSERT_TRUE(rz::cuda::attention_decode_rows(dq.f(), ldq, dk.p, dv.p, f16_cache, c.n_head, c.n_head_kv, c.hd, c.n_ctx, dseq.i(), dpos.i(),
                                                            n, scale, c.swa, dsc.f(), nsc, dout.f(), nullptr, Q, tc, true));
                o_over_int8_rows(dout, tc ? "tensor cores" : "CUDA cores");
                if (::testing::Test::HasFatalFailure()) return;
            }
        }
        // rope (RowsRope; no rotation here: RoPE's arithmetic is the one-token kernel's, which
        // FusedAttentionMatchesReference pins against float64): the kernel stores each row's k and v (they follow its
        // q) at the row's position, and attends as the stored-cache kernel does over the cache that holds them. Rows of
        // distinct sequences only, as in a decode step (two rows of one sequence would read each other's store).
        std::vector<int32_t> seqs = c.seq;
        std::sort(seqs.begin(), seqs.end());
        if (!f16_out && std::adjacent_find(seqs.begin(), seqs.end()) == seqs.end()) {
            DevBuf dk2(cache_n * esz), dv2(cache_n * esz), dout2(sizeof(float) * n * Q), dout3(sizeof(float) * n * Q);
            ASSERT_TRUE(upload(dk2.p, f16_cache ? static_cast<const void*>(kh.data()) : kf.data(), cache_n * esz).ok());
            ASSERT_TRUE(upload(dv2.p, f16_cache ? static_cast<const void*>(vh.data()) : vf.data(), cache_n * esz).ok());
            const rz::cuda::RowsRope rr{};
            ASSERT_TRUE(rz::cuda::attention_decode_rows(dq.f(), ldq, dk2.p, dv2.p, f16_cache, c.n_head, c.n_head_kv, c.hd, c.n_ctx, dseq.i(),
                                                        dpos.i(), n, scale, c.swa, dsc.f(), nsc, dout2.f(), nullptr, Q, true, false, &rr));
            ASSERT_TRUE(finish("attention test").ok());
            // Every row's k and v at its position in the caches ck / cv, and nothing else changed there.
            const auto check_stores = [&](const DevBuf& ck, const DevBuf& cv, const std::string& what) {
                std::vector<uint16_t> k16(cache_n), v16(cache_n);
                std::vector<float> k32(cache_n), v32(cache_n);
                if (f16_cache) {
                    ASSERT_TRUE(download(k16.data(), ck.p, 2 * cache_n).ok());
                    ASSERT_TRUE(download(v16.data(), cv.p, 2 * cache_n).ok());
                } else {
                    ASSERT_TRUE(download(k32.data(), ck.p, 4 * cache_n).ok());
                    ASSERT_TRUE(download(v32.data(), cv.p, 4 * cache_n).ok());
                }
                std::vector<char> stored(cache_n, 0);
                int wrong = 0;
                for (int i = 0; i < n; ++i)
                    for (int g = 0; g < c.n_head_kv; ++g)
                        for (int e = 0; e < c.hd; ++e) {
                            const size_t at = ((static_cast<size_t>(c.seq[i]) * c.n_head_kv + g) * c.n_ctx + c.pos[i]) * c.hd + e;
                            const float kw = q[static_cast<size_t>(i) * ldq + Q + g * c.hd + e], vw = q[static_cast<size_t>(i) * ldq + Q + KV + g * c.hd + e];
                            const bool ok = f16_cache ? k16[at] == fp32_to_fp16(kw) && v16[at] == fp32_to_fp16(vw) : k32[at] == kw && v32[at] == vw;
                            wrong += ok ? 0 : 1;
                            stored[at] = 1;
                        }
                EXPECT_EQ(wrong, 0) << "k / v elements not stored at the rows' positions, " << what;
                int other = 0;
                for (size_t i = 0; i < cache_n; ++i)
                    if (!stored[i]) other += f16_cache ? (k16[i] != kh[i] || v16[i] != vh[i]) : (k32[i] != kf[i] || v32[i] != vf[i]);
                EXPECT_EQ(other, 0) << "cache elements changed besides the rows' positions, " << what;
            };
            check_stores(dk2, dv2, "by query head");
            ASSERT_TRUE(rz::cuda::attention_decode_rows(dq.f(), ldq, dk2.p, dv2.p, f16_cache, c.n_head, c.n_head_kv, c.hd, c.n_ctx, dseq.i(),
                                                        dpos.i(), n, scale, c.swa, dsc.f(), nsc, dout3.f(), nullptr, Q, false));
            std::vector<float> o2(static_cast<size_t>(n) * Q), o3(o2.size());
            ASSERT_TRUE(finish("attention test").ok());
            ASSERT_TRUE(download(o2.data(), dout2.p, 4 * o2.size()).ok());
            ASSERT_TRUE(download(o3.data(), dout3.p, 4 * o3.size()).ok());
            const auto worst_vs_o3 = [&](const std::vector<float>& o) {
                double worst = 0.0;
                for (size_t j = 0; j < o.size(); ++j)
                    worst = std::max(worst, std::fabs(static_cast<double>(o[j]) - o3[j]) / std::max(1.0, std::fabs(static_cast<double>(o3[j]))));
                return worst;
            };
            EXPECT_LE(worst_vs_o3(o2), 1e-5) << "attention with its own store vs over the stored cache";
            // By kv head (the one-token kernel of attention_gqa.cu on the rows: gqa query heads a block), each G
            // the group allows, on fresh caches: the same stores, the same outputs within float rounding (a thread
            // keeps its own running softmax), and its int8 rows.
            const int grp = c.n_head / c.n_head_kv;
            for (int G : {1, 2, 4}) {
                const bool gqa_hd = c.hd == 64 || c.hd == 80 || c.hd == 96 || c.hd == 128 || c.hd == 256;
                if (!f16_cache || !gqa_hd || grp % G != 0) continue;
                SCOPED_TRACE("by kv head, " + std::to_string(G) + " query heads a block");
                DevBuf dk3(cache_n * esz), dv3(cache_n * esz), dout4(sizeof(float) * n * Q);
                ASSERT_TRUE(upload(dk3.p, kh.data(), cache_n * esz).ok());
                ASSERT_TRUE(upload(dv3.p, vh.data(), cache_n * esz).ok());
                ASSERT_TRUE(rz::cuda::attention_decode_rows(dq.f(), ldq, dk3.p, dv3.p, f16_cache, c.n_head, c.n_head_kv, c.hd, c.n_ctx, dseq.i(),
                                                            dpos.i(), n, scale, c.swa, dsc.f(), nsc, dout4.f(), nullptr, Q, false, q8_rows, &rr, G));
                ASSERT_TRUE(finish("attention test").ok());
                check_stores(dk3, dv3, "by kv head");
                std::vector<float> o4(o3.size());
                ASSERT_TRUE(download(o4.data(), dout4.p, 4 * o4.size()).ok());
                EXPECT_LE(worst_vs_o3(o4), 1e-5) << "by kv head vs the stored cache's kernel";
                if (q8_rows) o_over_int8_rows(dout4, "by kv head");
                if (::testing::Test::HasFatalFailure()) return;
            }
        }
    } else {
        const size_t nsc = split ? size_t{16} * n * c.n_head * (c.hd + 2) : 0;  // 16 splits at most
        DevBuf dsc(sizeof(float) * std::max<size_t>(nsc, 1));
        attention_prefill(dq.f(), ldq, dk.p, dv.p, f16_cache, c.n_head, c.n_head_kv, c.hd, c.n_ctx, dseq.i(), dpos.i(), dt.i(),
                          static_cast<int>(tiles.size() / 2), scale, f16_out ? nullptr : dout.f(), f16_out ? dout.p : nullptr, c.swa, n,
                          split ? dsc.f() : nullptr, nsc);
        ASSERT_TRUE(finish("attention test").ok());  // before dsc is freed
    }
    std::vector<float> out32(static_cast<size_t>(n) * Q);
    std::vector<uint16_t> out16(static_cast<size_t>(n) * Q);
    if (f16_out) {
        ASSERT_TRUE(download(out16.data(), dout.p, 2 * out16.size()).ok());
    } else {
        ASSERT_TRUE(download(out32.data(), dout.p, 4 * out32.size()).ok());
    }
    const int G = c.n_head / c.n_head_kv;
    // The tensor-core prefill kernel rounds q (scores up to ~sum|q k|/sqrt(hd) ~ 10 here) and P to f16: ~2^-11
    // relative. The decode-rows one splits both into two f16 parts: float precision, like the CUDA-core kernels.
    const bool tc = !rows && f16_out && attention_tensor_cores(f16_cache, false, c.hd);
    auto tol = [&](double o) { return tc ? 1e-2 : (f16_out ? std::fabs(o) / 2048 : 0.0) + 1e-5; };
    const bool rows_tc = rows && rz::cuda::attention_decode_rows_tc(f16_cache, c.n_head, c.n_head_kv, c.hd);
    for (int i = 0; i < n; ++i)
        for (int h = 0; h < c.n_head; ++h) {
            const size_t base = (static_cast<size_t>(c.seq[i]) * c.n_head_kv + h / G) * c.n_ctx * c.hd;
            std::vector<double> s(static_cast<size_t>(c.pos[i]) + 1, 0.0);
            const int lo = c.swa > 0 ? std::max(0, c.pos[i] - c.swa + 1) : 0;
            double mx = -1e300, sum = 0.0;
            for (int t = lo; t <= c.pos[i]; ++t) {
                double d = 0.0;
                for (int e = 0; e < c.hd; ++e) d += static_cast<double>(q[static_cast<size_t>(i) * ldq + h * c.hd + e]) * kf[base + static_cast<size_t>(t) * c.hd + e];
                s[t] = d * scale;
                mx = std::max(mx, s[t]);
            }
            for (int t = lo; t <= c.pos[i]; ++t) sum += (s[t] = std::exp(s[t] - mx));
            for (int e = 0; e < c.hd; ++e) {
                double o = 0.0;
                for (int t = lo; t <= c.pos[i]; ++t) o += s[t] * vf[base + static_cast<size_t>(t) * c.hd + e];
                o /= sum;
                const size_t at = static_cast<size_t>(i) * Q + h * c.hd + e;
                const double got = f16_out ? fp16_to_fp32(out16[at]) : out32[at];
                ASSERT_NEAR(got, o, tol(o)) << "row " << i << " head " << h << " dim " << e;
                if (rows_tc && !f16_out) g_rows_tc_err = std::max(g_rows_tc_err, std::fabs(got - o));
            }
        }
}

TEST(CudaBatchKernels, PrefillAttentionMatchesFloat64) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    // A 70-token prompt of sequence 1 (several key tiles and query tiles), after it a 3-token continuation of
    // sequence 0 at positions 40..42, then single tokens of sequences 2, 0 (non-consecutive: a new tile), 2.
    AttnCase c{8, 2, 64, 96, 3, {}, {}};
    for (int i = 0; i < 70; ++i) c.seq.push_back(1), c.pos.push_back(i);
    for (int i = 40; i < 43; ++i) c.seq.push_back(0), c.pos.push_back(i);
    c.seq.insert(c.seq.end(), {2, 0, 2}), c.pos.insert(c.pos.end(), {95, 10, 3});
    for (bool f16 : {false, true}) check_attention(c, f16, false);
    check_attention(c, true, true);
    for (int hd : {8, 80, 128, 256}) {  // head dims of stories260K, padded lanes, large (shared memory > 48 KB)
        AttnCase d = c;
        d.hd = hd;
        check_attention(d, false, false);
    }
    AttnCase mha = c;  // no GQA (32 tokens per tile), and 32 query heads per kv head (one tile row, all heads)
    mha.n_head = mha.n_head_kv = 4;
    check_attention(mha, true, false);
    check_attention(mha, true, true);
    AttnCase wide = c;
    wide.n_head = 32, wide.n_head_kv = 1, wide.hd = 32;
    check_attention(wide, false, false);
    wide.hd = 64, wide.n_head = 64, wide.n_head_kv = 2;  // 32 query heads per kv head
    check_attention(wide, true, true);
    AttnCase mha80 = mha;  // phi-2's heads (an odd number of 16-dim q fragments)
    mha80.hd = 80;
    check_attention(mha80, true, true);
    check_attention(mha80, true, true, false, true);
    AttnCase big = c;  // tensor cores at head_dim 128 (more shared memory than the default 48 KB)
    big.hd = 128;
    check_attention(big, true, true);
    check_attention(big, true, true, false, true);
    check_attention(c, true, true, false, true);
    check_attention(mha, true, true, false, true);
    // A short prompt after a long history (few tiles: the keys split over blocks, 4+ 64-key steps each), next to a
    // long prompt's tiles and single tokens; groups of 8 and 7 query heads (tinyllama, qwen2.5 shapes), head_dim
    // 64 and 128.
    AttnCase deep{32, 4, 64, 1300, 3, {}, {}};
    for (int i = 0; i < 21; ++i) deep.seq.push_back(2), deep.pos.push_back(1250 + i);
    for (int i = 0; i < 9; ++i) deep.seq.push_back(0), deep.pos.push_back(i);
    deep.seq.insert(deep.seq.end(), {1, 1}), deep.pos.insert(deep.pos.end(), {700, 1299});
    for (int hd : {64, 80, 96, 128}) {  // 80: phi-2
        deep.hd = hd;
        check_attention(deep, true, true);
        check_attention(deep, true, true, false, true);
        AttnCase q7 = deep;
        q7.n_head = 14, q7.n_head_kv = 2;
        check_attention(q7, true, true, false, true);
    }
    deep.hd = 64;
    deep.swa = 300;
    check_attention(deep, true, true, false, true);
    // Sliding windows: shorter than a key tile, spanning several, and wider than every position (no effect).
    for (int swa : {5, 40, 200}) {
        AttnCase w = c;
        w.swa = swa;
        check_attention(w, false, false);
        check_attention(w, true, false);
        check_attention(w, true, true);  // tensor cores
        check_attention(w, true, true, false, true);
        w.hd = 128;
        check_attention(w, true, true);
    }
    std::printf("[attention] tensor cores for f16 cache + f16 output at head_dim 64/128: %s\n", attention_tensor_cores(true, false, 64) ? "on" : "off");
}

// The one-launch RoPE + KV store of the fused decode steps (rope_store_rows) against rope_rows then kv_store_rows:
// the same q rows and the same cache bytes, bit for bit, for NORM and NEOX rotation, full and partial rotary
// dimensions, no rotation, f16 and f32 caches, rows of several sequences at scattered positions.
TEST(CudaBatchKernels, RopeStoreRowsMatchesRopeThenStore) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    const int n = 5, n_head = 8, n_head_kv = 2, n_ctx = 40, n_seq = 3;
    const std::vector<int32_t> seq = {2, 0, 1, 0, 2}, pos = {39, 0, 17, 5, 3};
    for (int hd : {64, 80})
        for (int n_rot : {hd, 32})
            for (int mode : {0, 1, 2})  // NORM, NEOX, none
                for (bool f16 : {false, true}) {
                    SCOPED_TRACE("hd " + std::to_string(hd) + " n_rot " + std::to_string(n_rot) + " mode " + std::to_string(mode) + (f16 ? " f16" : " f32"));
                    const int Q = n_head * hd, KV = n_head_kv * hd, ld = Q + 2 * KV + 3;
                    const auto x = random_floats(static_cast<size_t>(n) * ld, 5u + static_cast<uint32_t>(hd + n_rot + mode));
                    std::vector<double> inv(static_cast<size_t>(n_rot / 2));
                    for (int i = 0; i < n_rot / 2; ++i) inv[static_cast<size_t>(i)] = std::pow(10000.0, -2.0 * i / n_rot);
                    const size_t esz = f16 ? 2 : 4, cache = static_cast<size_t>(n_seq) * n_head_kv * n_ctx * hd * esz;
                    DevBuf a(sizeof(float) * x.size()), b(sizeof(float) * x.size()), ka(cache), va(cache), kb(cache), vb(cache),
                        di(sizeof(int32_t) * 2 * n), dinv(sizeof(double) * inv.size());
                    std::vector<int32_t> ints(seq);
                    ints.insert(ints.end(), pos.begin(), pos.end());
                    const std::vector<uint8_t> zero(cache, 0);
                    ASSERT_TRUE(cuda::upload(a.p, x.data(), sizeof(float) * x.size()).ok());
                    ASSERT_TRUE(cuda::upload(b.p, x.data(), sizeof(float) * x.size()).ok());
                    for (const DevBuf* c : {&ka, &va, &kb, &vb}) ASSERT_TRUE(cuda::upload(c->p, zero.data(), cache).ok());
                    ASSERT_TRUE(cuda::upload(di.p, ints.data(), sizeof(int32_t) * ints.size()).ok());
                    ASSERT_TRUE(cuda::upload(dinv.p, inv.data(), sizeof(double) * inv.size()).ok());
                    const double* dinvp = mode == 2 ? nullptr : static_cast<const double*>(dinv.p);
                    const int32_t *dseq = di.i(), *dpos = di.i() + n;
                    if (dinvp) rope_rows(a.f(), ld, Q, n, n_head, n_head_kv, hd, n_rot, dinvp, dpos, mode == 1);
                    kv_store_rows(a.f(), ld, Q, Q + KV, n, ka.p, va.p, f16, n_head_kv, n_ctx, hd, dseq, dpos);
                    rope_store_rows(b.f(), ld, Q, Q + KV, n, n_head, n_head_kv, hd, n_rot, dinvp, mode == 1, kb.p, vb.p, f16, n_ctx, dseq, dpos);
                    ASSERT_TRUE(finish("rope + store").ok());
                    std::vector<float> ya(x.size()), yb(x.size());
                    ASSERT_TRUE(cuda::download(ya.data(), a.p, sizeof(float) * x.size()).ok());
                    ASSERT_TRUE(cuda::download(yb.data(), b.p, sizeof(float) * x.size()).ok());
                    for (int t = 0; t < n; ++t)  // q: rotated the same; the k and v columns are not compared (only the cache is read)
                        for (int c = 0; c < Q; ++c) {
                            const size_t o = static_cast<size_t>(t) * ld + c;
                            ASSERT_EQ(ya[o], yb[o]) << "row " << t << " q element " << c;
                        }
                    for (const auto& pr : {std::make_pair(&ka, &kb), std::make_pair(&va, &vb)}) {
                        std::vector<uint8_t> ca(cache), cb2(cache);
                        ASSERT_TRUE(cuda::download(ca.data(), pr.first->p, cache).ok());
                        ASSERT_TRUE(cuda::download(cb2.data(), pr.second->p, cache).ok());
                        ASSERT_TRUE(ca == cb2) << (pr.first == &ka ? "k" : "v") << " cache";
                        ASSERT_NE(ca, zero);
                    }
                }
}

// The decode-step kernel (attention_decode_rows): the rows of the case above (each row its own query over its
// cached positions, whatever the other rows), head sizes with and without the 16-byte value loop, windows, and
// long contexts that take several splits per (row, head) with partials combined by the last split, and real models'
// head groupings.
// Grouped heads over an f16 cache take the tensor-core kernel (attention_rows_tc.cu): run everything with it (default
// splits; then few splits of up to 512 positions, so that each warp walks several key tiles), and with the CUDA-core
// kernel only (RZ_CUDA_ROWS_TC=0).
void decode_rows_cases();
TEST(CudaBatchKernels, DecodeRowsAttentionMatchesFloat64) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    const std::vector<std::vector<std::pair<const char*, const char*>>> configs = {
        {}, {{"RZ_CUDA_ROWS_TC_BPS", "1"}, {"RZ_CUDA_ROWS_TC_MIN", "512"}}, {{"RZ_CUDA_ROWS_TC", "0"}}};
    for (const auto& env : configs) {
        std::string name = env.empty() ? "defaults" : "";
        for (const auto& [k, v] : env) setenv(k, v, 1), name += std::string(k) + "=" + v + " ";
        SCOPED_TRACE(name);
        g_rows_tc_err = 0.0;
        decode_rows_cases();
        std::printf("[attention] decode rows, %s: tensor-core kernel's largest f32 error %.3g\n", name.c_str(),
                    g_rows_tc_err);
        for (const auto& kv : env) unsetenv(kv.first);
        if (HasFatalFailure()) return;
    }
}

void decode_rows_cases() {
    AttnCase c{8, 2, 64, 96, 3, {}, {}};
    for (int i = 0; i < 20; ++i) c.seq.push_back(1), c.pos.push_back(3 * i);
    c.seq.insert(c.seq.end(), {2, 0, 2, 0}), c.pos.insert(c.pos.end(), {95, 10, 3, 0});
    for (bool f16 : {false, true}) check_attention(c, f16, false, true);
    check_attention(c, true, true, true);
    for (int hd : {8, 80, 96, 128, 256}) {
        AttnCase d = c;
        d.hd = hd;
        check_attention(d, false, false, true);
        check_attention(d, true, true, true);
    }
    AttnCase mha = c;
    mha.n_head = mha.n_head_kv = 4;
    check_attention(mha, true, false, true);
    mha.seq = {0, 1, 2}, mha.pos = {95, 10, 3};  // distinct sequences: the RoPE / store path, by kv head with G = 1 too
    check_attention(mha, true, false, true);
    for (int swa : {5, 40, 200}) {
        AttnCase w = c;
        w.swa = swa;
        check_attention(w, true, false, true);
    }
    // Long contexts: 2-5 splits of at least 128 positions (4 rows x 8 heads leave room for up to ~17 per head).
    AttnCase lng{8, 2, 64, 600, 2, {0, 1, 0, 1}, {599, 300, 130, 5}};
    for (bool f16 : {false, true}) check_attention(lng, f16, false, true);
    check_attention(lng, true, true, true);
    lng.swa = 333;
    check_attention(lng, true, false, true);
    // tinyllama's 32 / 4 heads at 300-1500 positions (several splits), qwen2.5-0.5b's 14 / 2, 4 query heads a KV
    // head at head_dim 128 (with a window), f32 caches and f16 output.
    AttnCase tl{32, 4, 64, 1600, 3, {0, 1, 2, 0}, {1499, 300, 777, 0}};
    for (bool f16 : {false, true}) check_attention(tl, f16, false, true);
    check_attention(tl, true, true, true);
    AttnCase q05{14, 2, 64, 700, 2, {0, 1, 1}, {650, 129, 5}};
    check_attention(q05, true, false, true);
    check_attention(q05, false, false, true);
    q05.n_seq = 3, q05.seq = {0, 1, 2};  // distinct sequences (the RoPE / store path, by kv head with G = 1: groups of 7)
    check_attention(q05, true, false, true);
    AttnCase l3{16, 4, 128, 900, 2, {1, 0}, {899, 256}};
    check_attention(l3, true, true, true);
    l3.swa = 200;
    check_attention(l3, true, false, true);
    // Groups of 2 (the fewest the tensor-core kernel takes: 6 zero columns) and of 8 at head_dim 128 (llama-3-70b's
    // 64 / 8 heads).
    AttnCase g2{4, 2, 64, 700, 2, {0, 1}, {650, 200}};
    check_attention(g2, true, false, true);
    AttnCase g8{64, 8, 128, 600, 2, {1, 0}, {599, 130}};
    check_attention(g8, true, true, true);
    // A serving step: 24 tinyllama rows at up to 1500 positions (few splits per row: several key tiles per warp).
    AttnCase srv{32, 4, 64, 1600, 24, {}, {}};
    for (int i = 0; i < 24; ++i) srv.seq.push_back(i), srv.pos.push_back(1500 - 61 * i);
    check_attention(srv, true, false, true);
    // 16 tinyllama rows over a 4096-position cache: the 512-position cap sets the splits (8 of up to 512 positions,
    // more blocks than one wave on an H100 / H200).
    AttnCase full{32, 4, 64, 4096, 16, {}, {}};
    for (int i = 0; i < 16; ++i) full.seq.push_back(i), full.pos.push_back(4095 - 37 * i);
    check_attention(full, true, false, true);
    // Shapes it refuses (more than 1024 row-heads): nothing launched, false.
    EXPECT_FALSE(rz::cuda::attention_decode_rows(nullptr, 0, nullptr, nullptr, true, 64, 8, 64, 96, nullptr, nullptr, 17, 1.0f, 0, nullptr, 0,
                                                 nullptr, nullptr, 0));
}

}  // namespace
}  // namespace rz::cuda::batch
#endif  // RZ_HAVE_CUDA

namespace rz::runtime {
namespace {

const std::string& kShared = test::cuda_shared_dir();
const std::string kStories = kShared + "/data/tinystories-260K/stories260K-f32.gguf";
bool have_device() { return test::cuda_device_present(); }
using test::env_list;

#define REQUIRE_DEVICE() \
    if (!have_device()) GTEST_SKIP() << "no CUDA device"

using test::ScopedEnv;

std::unique_ptr<Context> make_ctx(const std::shared_ptr<Model>& m, bool gpu, DType cache, int n_ctx, int n_seq = 1) {
    return test::make_context(m, gpu ? 999 : 0, n_ctx, cache, n_seq, 4);
}

std::shared_ptr<Model> load(const std::string& path) {
    auto m = Model::load(path);
    EXPECT_TRUE(m.ok()) << m.status().message();
    return m.ok() ? *m : nullptr;
}

using test::logits_error;

// Runs the batch on both contexts and returns their logits error.
double run_both(Context& gpu, Context& ref, const Batch& b) {
    Status sg = gpu.decode(b), sr = ref.decode(b);
    EXPECT_TRUE(sg.ok()) << sg.message();
    EXPECT_TRUE(sr.ok()) << sr.message();
    if (!sg.ok() || !sr.ok()) return 1e9;
    return logits_error(gpu, ref, b);
}

Batch prompt_batch(const std::vector<int32_t>& toks, int32_t seq = 0, int32_t start = 0, bool all_logits = true) {
    Batch b;
    for (size_t i = 0; i < toks.size(); ++i) b.add(toks[i], start + static_cast<int32_t>(i), seq, all_logits || i + 1 == toks.size());
    return b;
}

std::vector<int32_t> tokens(int n, int vocab, uint32_t seed) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    uint32_t s = seed;
    for (auto& x : t) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<int32_t>((s >> 8) % static_cast<uint32_t>(vocab - 1)) + 1;
    }
    return t;
}

bool cuda_gemm_f16(const std::shared_ptr<Model>& m) {
#ifdef RZ_HAVE_CUDA
    const auto* mi = dynamic_cast<const ModelImpl*>(m.get());
    return mi && cuda::batch::gemm_f16(mi->weights().output().dtype, cuda::batch::GemmMode::kAuto);
#else
    (void)m;
    return false;
#endif
}

using test::greedy;

// A batched prompt (every row asks for logits) on the GPU against the CPU, then greedy continuations.
double prompt_vs_cpu(const std::string& path, DType cache, int n_prompt, int n_gen, int n_ctx = 256) {
    auto m = load(path);
    if (!m) return 1e9;
    auto cpu = make_ctx(m, false, cache, n_ctx), gpu = make_ctx(m, true, cache, n_ctx);
    if (!cpu || !gpu) return 1e9;
    const Batch b = prompt_batch(tokens(n_prompt, m->info().n_vocab, 7u));
    const double err = run_both(*gpu, *cpu, b);
    const int32_t first = argmax(cpu->logits(b.size() - 1));
    EXPECT_EQ(first, argmax(gpu->logits(b.size() - 1))) << path;
    if (n_gen > 0) {
        EXPECT_EQ(greedy(*gpu, first, n_prompt, n_gen), greedy(*cpu, first, n_prompt, n_gen)) << path;
    }
    return err;
}

TEST(CudaBatch, Stories260KPrefillMatchesCpu) {
    REQUIRE_DEVICE();
    // Auto precision: f32 weights run f32 GEMMs, the strict bound holds. 300 tokens: several key tiles; with
    // 128-token chunks also several chunks (later chunks attend to the cache the earlier ones wrote).
    for (DType cache : {DType::F32, DType::F16}) {
        const double e = prompt_vs_cpu(kStories, cache, 40, 48);
        std::printf("[batch-vs-cpu] stories260K cache=%s 40-token prompt: %.3g\n", std::string(dtype_name(cache)).c_str(), e);
        EXPECT_LE(e, 1e-3);
    }
    ScopedEnv env{{"RZ_CUDA_BATCH_CHUNK", "128"}};
    const double e = prompt_vs_cpu(kStories, DType::F32, 300, 16, 512);
    std::printf("[batch-vs-cpu] stories260K 300-token prompt in 128-token chunks: %.3g\n", e);
    EXPECT_LE(e, 1e-3);
}

// f16 GEMM inputs for every matrix (what quantized models use): the float models then differ from the CPU by
// the f16 rounding of activations and weights: measured on an H200 1.3e-3 (stories260K) and 2.9e-3 (llama_gqa)
// of the logits' std (docs/perf/cuda-prefill.md); the bound keeps a 3x margin.
TEST(CudaBatch, F16GemmBound) {
    REQUIRE_DEVICE();
    ScopedEnv env{{"RZ_CUDA_GEMM", "f16"}};
    for (const std::string& path : {kStories, kShared + "/golden/llama_gqa"}) {
        const double e = prompt_vs_cpu(path, DType::F32, 40, 0);
        std::printf("[batch-vs-cpu] %s f16 GEMM: %.3g\n", path.c_str(), e);
        EXPECT_LE(e, 1e-2) << path;
    }
}

TEST(CudaBatch, GoldenLlamaGqaPrefillMatchesCpu) {
    REQUIRE_DEVICE();
    const double e32 = prompt_vs_cpu(kShared + "/golden/llama_gqa", DType::F32, 40, 24);
    const double e16 = prompt_vs_cpu(kShared + "/golden/llama_gqa/bf16", DType::F16, 40, 24);
    std::printf("[batch-vs-cpu] llama_gqa f32: %.3g, bf16 + f16 cache: %.3g\n", e32, e16);
    EXPECT_LE(e32, 1e-3);
    EXPECT_LE(e16, 1e-3);
}

// Mixed batches: three sequences' prompts interleaved, then batched decode steps (one token per sequence,
// the server's continuous batching), one sequence joining late, against the CPU running the same batches.
// The decode steps (one token per sequence) take attention_decode_rows, or with RZ_CUDA_DECODE_ROWS=0 the
// prefill attention kernel.
TEST(CudaBatch, MixedSequencesMatchCpu) {
    REQUIRE_DEVICE();
    auto m = load(kStories);
    ASSERT_TRUE(m);
    for (const char* rows : {"1", "0"}) {
        SCOPED_TRACE(std::string("RZ_CUDA_DECODE_ROWS=") + rows);
        ScopedEnv env{{"RZ_CUDA_DECODE_ROWS", rows}};
        auto cpu = make_ctx(m, false, DType::F16, 128, 4), gpu = make_ctx(m, true, DType::F16, 128, 4);
        ASSERT_TRUE(cpu && gpu);
        const int V  = m->info().n_vocab;
        const auto a = tokens(20, V, 1u), b = tokens(7, V, 2u), c = tokens(33, V, 3u);
        Batch mixed;
        for (int i = 0; i < 33; ++i) {  // interleaved, uneven lengths; only some rows ask for logits
            if (i < 20) mixed.add(a[i], i, 0, i % 3 == 0);
            if (i < 7) mixed.add(b[i], i, 2, true);
            mixed.add(c[i], i, 1, i == 32);
        }
        double worst              = run_both(*gpu, *cpu, mixed);
        std::vector<int32_t> next = {argmax(cpu->logits(mixed.size() - 1)), 5, 9};
        for (int step = 0; step < 12; ++step) {
            Batch d;
            d.add(next[0], 33 + step, 1, true);
            d.add(next[1], 20 + step, 0, true);
            d.add(next[2], 7 + step, 2, true);
            if (step >= 4) d.add(1 + step, step - 4, 3, true);  // a fourth sequence starts mid-way
            worst = std::max(worst, run_both(*gpu, *cpu, d));
            for (size_t i = 0; i < 3; ++i) next[i] = argmax(cpu->logits(i));
        }
        std::printf("[batch-vs-cpu] stories260K mixed sequences + batched decode (decode rows %s): %.3g\n", rows,
                    worst);
        EXPECT_LE(worst, 1e-3);
        EXPECT_EQ(gpu->seq_len(1), 45);
        EXPECT_EQ(gpu->seq_len(3), 8);
    }
}

// Every weight type the decode path reads, on the small llama-shaped models llama.cpp quantized
// (../shared/golden/quant; their deliberately extreme weights make the logits very sensitive: on the CPU alone,
// f16 instead of f32 weights moves them by 0.03 of their std, bf16 by 0.2). The exact-math comparison: the GEMM
// path with f32 GEMMs (weights dequantized exactly, f32 activations) against the GPU's token-by-token kernels
// with f32 activations. Then the f16-GEMM path against it, chunked against one chunk, and the CPU (printed).
TEST(CudaBatch, GoldenQuantModelsMatchExactMath) {
    REQUIRE_DEVICE();
    for (const char* type : {"Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "F16", "BF16"}) {
        const std::string path = kShared + "/golden/quant/q-" + type + ".gguf";
        auto m = load(path);
        ASSERT_TRUE(m) << path;
        const Batch b = prompt_batch(tokens(48, m->info().n_vocab, 11u));
        auto cpu = make_ctx(m, false, DType::F16, 128), gpu = make_ctx(m, true, DType::F16, 128);
        std::unique_ptr<Context> tbt, exact, chunked;
        {
            // Token by token through the unfused kernels: the fused decode layer always takes int8 activations.
            ScopedEnv env{{"RZ_CUDA_BATCH_MIN", "100000"}, {"RZ_CUDA_FUSED", "0"}};
            tbt = make_ctx(m, true, DType::F16, 128);
        }
        {
            ScopedEnv env{{"RZ_CUDA_GEMM", "f32"}};
            exact = make_ctx(m, true, DType::F16, 128);
        }
        {
            ScopedEnv env{{"RZ_CUDA_BATCH_CHUNK", "10"}, {"RZ_CUDA_GEMM", "f32"}};
            chunked = make_ctx(m, true, DType::F16, 128);
        }
        ASSERT_TRUE(cpu && gpu && tbt && exact && chunked);
        const double e_cpu = run_both(*gpu, *cpu, b);
#ifdef RZ_HAVE_CUDA
        cuda::set_int8_activations(false);
#endif
        Status st = tbt->decode(b);
#ifdef RZ_HAVE_CUDA
        cuda::set_int8_activations(true);
#endif
        ASSERT_TRUE(st.ok()) << st.message();
        ASSERT_TRUE(exact->decode(b).ok());
        ASSERT_TRUE(chunked->decode(b).ok());
        const double e_exact = logits_error(*exact, *tbt, b), e_f16 = logits_error(*gpu, *exact, b), e_chunk = logits_error(*chunked, *exact, b);
        std::printf("[batch] %s: f32-GEMM path vs token-by-token f32 kernels %.3g; default (%s GEMM) vs f32 GEMM %.3g; chunked(10) vs one "
                    "chunk %.3g; default vs cpu %.3g\n",
                    type, e_exact, cuda_gemm_f16(m) ? "f16" : "f32", e_f16, e_chunk, e_cpu);
        // Measured on an H200: exact <= 4.5e-4, chunked <= 4e-4, f16 GEMM + tensor-core attention <= 0.055.
        EXPECT_LE(e_exact, 3e-3) << type;
        EXPECT_LE(e_chunk, 3e-3) << type;
        EXPECT_LE(e_f16, 0.2) << type;
    }
}

// Decode steps of 2-32 sequences through the fused rows kernels (cuda::matvec_rows: the default for such steps)
// against the same steps token by token through the one-token fused layer. Both take the same int8 activations
// and dot products, so their logits differ only by float rounding (RoPE tables, attention kernel, summation
// order) and the odd activation code it moves across a rounding edge; the multi-vector float mat-vec
// (RZ_CUDA_FUSED_ROWS=0, the batched path before) differs from the one-token layer by its int8 rounding. The
// prompts go in token by token in every context, so the three KV caches start equal. Golden quant models of the
// types the rows kernels read (one layer: the strict check), and the models in RZ_CUDA_QUANT_MODELS (e.g.
// synthetic tinyllama Q4_K_M, Q8_0: a bound only, see below).
TEST(CudaBatch, FusedRowsDecodeMatchesOneTokenLayer) {
    REQUIRE_DEVICE();
    std::vector<std::string> paths, types = env_list("RZ_CUDA_ROWS_GOLDEN");  // e.g. Q4_K_M (a shorter run under racecheck)
    if (types.empty()) types = {"Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q3_K_M", "Q2_K", "IQ4_XS", "IQ4_NL", "Q4_1", "Q5_0", "Q5_1"};
    for (const auto& t : types) paths.push_back(kShared + "/golden/quant/q-" + t + ".gguf");
    for (const auto& p : env_list("RZ_CUDA_QUANT_MODELS")) paths.push_back(p);
    constexpr int kSeqs = 32;
    for (const char* mma : {"1", "0"})  // the tensor-core rows kernels (Q4_K / Q5_K / Q6_K launches of 3-8 tokens), then dp4a
    for (const auto& path : paths) {
        SCOPED_TRACE(path + " RZ_CUDA_ROWS_MMA=" + mma);
        auto m = load(path);
        ASSERT_TRUE(m);
        const int V = m->info().n_vocab;
        // Steps of 9-32 sequences take the rows kernels only where every matrix is Q4_K, Q5_K, Q6_K or Q8_0 (tensor cores).
        bool wide = true;
        if (const auto* mi = dynamic_cast<const ModelImpl*>(m.get())) {
            for (const auto& L : mi->weights().layers)
                for (const auto& w : L.w)
                    if (w && w.n_rows > 1)
                        wide = wide && (w.dtype == DType::Q4_K || w.dtype == DType::Q5_K || w.dtype == DType::Q6_K || w.dtype == DType::Q8_0);
        }
        // Read at each launch (the graphs of these contexts capture them). The decode-rows attention runs by kv head
        // where it takes the shape (the defaults: the second pass); the first pass turns that off and takes the
        // tensor-core kernel from position 0 (the prompts are short), where shapes by kv head would otherwise not.
        const bool first = std::strcmp(mma, "1") == 0;
        ScopedEnv env_mma{{"RZ_CUDA_ROWS_MMA", mma}, {"RZ_CUDA_ROWS_TC_FROM", first ? "0" : "400"}, {"RZ_CUDA_ROWS_GQA", first ? "0" : "1"}};
        std::unique_ptr<Context> rows = make_ctx(m, true, DType::F16, 160, kSeqs), one, mmv, att32;
        {
            ScopedEnv env{{"RZ_CUDA_BATCH_MIN", "100000"}};
            one = make_ctx(m, true, DType::F16, 160, kSeqs);
        }
        {
            ScopedEnv env{{"RZ_CUDA_FUSED_ROWS", "0"}};
            mmv = make_ctx(m, true, DType::F16, 160, kSeqs);
        }
        {  // o quantizes the float attention rows itself (before the attention wrote its int8 rows): the same bits
            ScopedEnv env{{"RZ_CUDA_ATT_ROWS_Q8", "0"}};
            att32 = make_ctx(m, true, DType::F16, 160, kSeqs);
        }
        ASSERT_TRUE(rows && one && mmv && att32);
#ifdef RZ_HAVE_CUDA
        const auto* gr = dynamic_cast<const gpu::GpuContext*>(rows.get());
        ASSERT_TRUE(gr);
        // Models up to 2048 wide (the goldens, TinyLlama, Llama-3.2-1B): steps of all 32 sequences on the rows kernels too
        // (much wider ones may stop at 16 or 8: a block's shared memory, the fused activation buffer).
        if (wide && m->info().n_embd <= 2048) {
            EXPECT_EQ(gr->fused_rows_max(), kSeqs);
        }
#endif
        std::vector<int32_t> len(kSeqs), next(kSeqs);
        for (int s = 0; s < kSeqs; ++s) {  // prompts of 3..49 tokens, one token per batch everywhere
            const auto t = tokens(3 + 3 * (s % 16) + s / 16, V, 40u + static_cast<uint32_t>(s));
            for (size_t i = 0; i < t.size(); ++i) {
                Batch b;
                b.add(t[i], static_cast<int32_t>(i), s, i + 1 == t.size());
                for (Context* c : {rows.get(), one.get(), mmv.get(), att32.get()}) ASSERT_TRUE(c->decode(b).ok());
            }
            len[static_cast<size_t>(s)] = static_cast<int32_t>(t.size());
            next[static_cast<size_t>(s)] = argmax(one->logits(0));
        }
        // Steps of m sequences (S = 2, 4, 8, 16 kernels; 12 and 16 as two token groups of 8 where the type set has the
        // 8-token kernel, 21 and 32 as two of 16; padding rows for 3, 5, 7, 12 and 21), not in sequence order.
        double e_rows = 0.0, e_mmv = 0.0;
        int n_steps = 0, off = 0;  // steps, and steps whose rows error is past float rounding
        std::string steps;
        for (int m_step : {2, 3, 5, 8, 8, 4, 7, 12, 16, 16, 21, 32, 32}) {
            if (m_step > 8 && !wide) continue;
            Batch b;
            for (int i = 0; i < m_step; ++i) {
                const int s = (5 * i + m_step) % kSeqs;  // distinct for i < 32 (5 is odd)
                b.add(next[static_cast<size_t>(s)], len[static_cast<size_t>(s)]++, s, true);
            }
            for (Context* c : {rows.get(), one.get(), mmv.get(), att32.get()}) ASSERT_TRUE(c->decode(b).ok());
            EXPECT_EQ(logits_error(*rows, *att32, b), 0.0) << "step of " << m_step << ": the attention's int8 rows vs o's own quantization";
            const double er = logits_error(*rows, *one, b), em = logits_error(*mmv, *one, b);
            e_rows = std::max(e_rows, er);
            e_mmv = std::max(e_mmv, em);
            ++n_steps;
            off += er > 1e-3 ? 1 : 0;
            char buf[64];
            std::snprintf(buf, sizeof buf, " %.2g/%.2g", er, em);
            steps += buf;
            for (int i = 0; i < m_step; ++i) next[static_cast<size_t>(b.seq_id[static_cast<size_t>(i)])] = argmax(one->logits(static_cast<size_t>(i)));
        }
        std::printf("[fused-rows] %s (RZ_CUDA_ROWS_MMA=%s): decode steps of 2-32 sequences, rows kernels vs one token at a time %.3g of std; "
                    "multi-vector float mat-vec vs one token at a time %.3g (per step:%s)\n",
                    path.c_str(), mma, e_rows, e_mmv, steps.c_str());
        if (path.find("/golden/quant/") != std::string::npos) {
            // One layer: the two paths' float rounding stays at float rounding (measured on an H200: <= 8.2e-5 of
            // std, the float mat-vec 0.58-1.09), except where it moves an activation across an int8 rounding edge:
            // the paths sum the RMS statistics and attention in different orders, and one code of the final norm's
            // output times the golden head's special rows (alternating +-3) moved the Q2_K file's logits by 0.05
            // of std at 2 of 7 steps (Q3_K_M: 0.002 at 1). A wrong kernel is off at every step and by more (the
            // kernel tests bound each rows kernel against float64).
            EXPECT_LE(off * 3, n_steps) << "rows kernels off the one-token path at most steps";
            EXPECT_LE(e_rows, 0.1 * e_mmv) << "the rows kernels should reproduce the one-token int8 arithmetic";
        } else {
            // 22 layers of random synthetic weights amplify any rounding difference: the batched attention path
            // alone (shared by both batched modes) moves tinyllama's logits by 0.02-0.06 of std from the one-token
            // path already at the first step (H200), so only a bound here.
            EXPECT_LE(e_rows, 0.15);
        }
    }
}

// Errors of the batched path are the context's usual errors, and a failed batch leaves no logits.
TEST(CudaBatch, OverflowInsideABatchIsAnError) {
    REQUIRE_DEVICE();
    auto m = load(kStories);
    ASSERT_TRUE(m);
    auto gpu = make_ctx(m, true, DType::F32, 16);
    ASSERT_TRUE(gpu);
    Status st = gpu->decode(prompt_batch(tokens(17, m->info().n_vocab, 1u)));
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("context overflow"), std::string::npos) << st.message();
    ASSERT_TRUE(gpu->decode(prompt_batch(tokens(16, m->info().n_vocab, 1u))).ok());
    EXPECT_EQ(gpu->seq_len(0), 16);
    EXPECT_EQ(gpu->logits(15).size(), static_cast<size_t>(m->info().n_vocab));
}

// Prompt processing (pp512) and batched decode (S sequences, one token each per step) in tok/s, GEMM path
// against the token-by-token path in the same run. RZ_CUDA_BENCH_MODELS=a.gguf:b.gguf.
TEST(CudaBatch, PrefillBenchmark) {
    REQUIRE_DEVICE();
    const auto models = env_list("RZ_CUDA_BENCH_MODELS");
    if (models.empty()) GTEST_SKIP() << "set RZ_CUDA_BENCH_MODELS";
    using clk = std::chrono::steady_clock;
    const bool pp_only = std::getenv("RZ_CUDA_BENCH_PP_ONLY") != nullptr;  // one pp512 per model (for a profiler)
    // RZ_CUDA_BENCH_DECODE_S=S: only the batched decode of S sequences, the server's default paths (for a profiler and
    // for A/B runs with RZ_CUDA_FUSED_ROWS=0).
    const int decode_only = std::getenv("RZ_CUDA_BENCH_DECODE_S") ? std::atoi(std::getenv("RZ_CUDA_BENCH_DECODE_S")) : 0;
#ifdef RZ_HAVE_CUDA
    if (!pp_only && decode_only == 0) {  // Parts: dequantization into the f16 scratch, and linear() (dequantize + GEMM) at several batch sizes, for
       // TinyLlama's gate|up shape [11264 x 2048] in Q4_K and Q8_0.
        namespace cb = cuda::batch;
        const int rows = 11264, cols = 2048;
        for (DType t : {DType::Q4_K, DType::Q8_0}) {
            const size_t wb = cuda::row_bytes(t, cols) * rows;
            auto w = cuda::alloc(wb, "bench"), s = cuda::alloc(size_t{rows} * cols * 2, "bench"), x = cuda::alloc(size_t{512} * cols * 2, "bench"),
                 y = cuda::alloc(size_t{512} * rows * 4, "bench");
            ASSERT_TRUE(w.ok() && s.ok() && x.ok() && y.ok());
            const std::vector<uint8_t> zero(std::max(wb, size_t{512} * cols * 2), 0);
            ASSERT_TRUE(cuda::upload(*w, zero.data(), wb).ok());
            ASSERT_TRUE(cuda::upload(*x, zero.data(), size_t{512} * cols * 2).ok());
            auto time_it = [&](auto&& f) {
                f();
                EXPECT_TRUE(cb::finish("bench").ok());
                const auto t0 = clk::now();
                for (int r = 0; r < 10; ++r) f();
                EXPECT_TRUE(cb::finish("bench").ok());
                return std::chrono::duration<double>(clk::now() - t0).count() / 10;
            };
            const double dq = time_it([&] { cb::dequant_rows(t, *w, cols, 0, rows, nullptr, true, *s); });
            std::printf("[bench-part] %s [%d x %d] dequantize to f16: %.1f us (%.0f GB/s read+write)\n", std::string(dtype_name(t)).c_str(), rows,
                        cols, dq * 1e6, (static_cast<double>(wb) + 2.0 * rows * cols) / dq / 1e9);
            for (int n : {1, 2, 4, 8, 16, 64, 512}) {
                const double lt = time_it([&] {
                    EXPECT_TRUE(cb::linear(t, *w, rows, cols, *x, n, 0.0f, static_cast<float*>(*y), rows, true, *s, size_t{rows} * cols * 2).ok());
                });
                std::printf("[bench-part] %s linear n=%d: dequantize + GEMM %.1f us (GEMM part ~%.0f TFLOP/s)", std::string(dtype_name(t)).c_str(), n,
                            lt * 1e6, 2.0 * n * rows * cols / std::max(lt - dq, 1e-7) / 1e12);
                if (n <= 16) {
                    const double mt = time_it([&] {
                        EXPECT_TRUE(cb::linear(t, *w, rows, cols, *x, n, 0.0f, static_cast<float*>(*y), rows, true, *s, size_t{rows} * cols * 2, 16).ok());
                    });
                    std::printf("; multi-vector mat-vec %.1f us (%.0f GB/s of weights)", mt * 1e6, static_cast<double>(wb) / mt / 1e9);
                }
                std::printf("\n");
            }
            for (void* p : {*w, *s, *x, *y}) cuda::free(p);
        }
        // The other kernels of one TinyLlama layer at pp512 (512 tokens of one sequence, f16 cache, f16 GEMM inputs).
        const int n = 512, E = 2048, H = 32, HKV = 4, hd = 64, F = 5632, QKV = (H + 2 * HKV) * hd, n_ctx = 1024;
        std::vector<int32_t> ints(static_cast<size_t>(4 * n), 0);
        const int TB = cb::tile_rows(H, HKV, hd);
        int n_tiles = 0;
        for (int i = 0; i < n; ++i) {
            ints[static_cast<size_t>(n + i)] = i;  // positions; sequences (first n) are 0
            if (i % TB == 0) ints[static_cast<size_t>(2 * n + 2 * n_tiles)] = i, ints[static_cast<size_t>(2 * n + 2 * n_tiles + 1)] = std::min(TB, n - i), ++n_tiles;
        }
        auto di = cuda::alloc(ints.size() * 4, "bench"), dq = cuda::alloc(size_t{n} * QKV * 4, "bench"), dk = cuda::alloc(size_t{HKV} * n_ctx * hd * 2, "bench"),
             dv = cuda::alloc(size_t{HKV} * n_ctx * hd * 2, "bench"), dx = cuda::alloc(size_t{n} * 2 * F * 4, "bench"), dh = cuda::alloc(size_t{n} * F * 2, "bench"),
             dinv = cuda::alloc(32 * sizeof(double), "bench");
        ASSERT_TRUE(di.ok() && dq.ok() && dk.ok() && dv.ok() && dx.ok() && dh.ok() && dinv.ok());
        ASSERT_TRUE(cuda::upload(*di, ints.data(), ints.size() * 4).ok());
        const std::vector<uint8_t> zero(size_t{n} * 2 * F * 4, 0);
        for (auto* b : {&dq, &dk, &dv, &dx}) ASSERT_TRUE(cuda::upload(**b, zero.data(), b == &dq ? size_t{n} * QKV * 4 : b == &dx ? zero.size() : size_t{HKV} * n_ctx * hd * 2).ok());
        ASSERT_TRUE(cuda::upload(*dinv, zero.data(), 32 * sizeof(double)).ok());
        const auto* seqs = static_cast<const int32_t*>(*di);
        const int32_t* poss = seqs + n;
        const int32_t* tls = seqs + 2 * n;
        auto time_op = [&](const char* what, auto&& f) {
            f();
            EXPECT_TRUE(cb::finish("bench").ok());
            const auto t0 = clk::now();
            for (int r = 0; r < 10; ++r) f();
            EXPECT_TRUE(cb::finish("bench").ok());
            std::printf("[bench-part] %s (n=%d): %.1f us\n", what, n, std::chrono::duration<double>(clk::now() - t0).count() / 10 * 1e6);
        };
        float* xf = static_cast<float*>(*dx);
        float* qf = static_cast<float*>(*dq);
        time_op(cb::attention_tensor_cores(true, false, hd) ? "prefill attention (tensor cores), 32/4 heads of 64, causal over 512"
                                                            : "prefill attention (CUDA cores: RZ_CUDA_ATT=simt), 32/4 heads of 64, causal over 512",
                [&] { cb::attention_prefill(qf, QKV, *dk, *dv, true, H, HKV, hd, n_ctx, seqs, poss, tls, n_tiles, 0.125f, nullptr, *dh); });
        time_op("prefill attention (CUDA cores, f32 output), same", [&] {
            cb::attention_prefill(qf, QKV, *dk, *dv, true, H, HKV, hd, n_ctx, seqs, poss, tls, n_tiles, 0.125f, xf, nullptr);
        });
        time_op("rms_norm_rows [512 x 2048]", [&] { cb::rms_norm_rows(xf, E, nullptr, n, xf, E, 1e-5f, nullptr, *dh); });
        time_op("rope_rows", [&] { cb::rope_rows(qf, QKV, H * hd, n, H, HKV, hd, hd, static_cast<const double*>(*dinv), poss, false); });
        time_op("kv_store_rows (f16)", [&] { cb::kv_store_rows(qf, QKV, H * hd, (H + HKV) * hd, n, *dk, *dv, true, HKV, n_ctx, hd, seqs, poss); });
        time_op("swiglu_rows [512 x 5632]", [&] { cb::swiglu_rows(xf, n, F, nullptr, *dh); });
        for (void* p : {*di, *dq, *dk, *dv, *dx, *dh, *dinv}) cuda::free(p);
    }
#endif
    for (const auto& path : models) {
        auto m = load(path);
        ASSERT_TRUE(m);
        const int V = m->info().n_vocab;
        // mmv: multi-vector mat-vecs up to 16 tokens, GEMMs beyond; gemm-only: GEMMs from 2 tokens; batches up to 64
        // tokens replay CUDA graphs unless "no graphs".
        for (const char* mode : {"mmv<=16", "gemm-only", "mmv<=16 no graphs", "gemm-only no graphs", "token-by-token"}) {
            const std::string md = mode;
            if ((pp_only || decode_only > 0) && md != "mmv<=16") continue;
            const bool mmv = md.find("mmv") != std::string::npos, graphs = md.find("no graphs") == std::string::npos;
            // RZ_CUDA_BENCH_DECODE_S runs the server's default (multi-vector mat-vec up to 8 tokens, GEMMs beyond), so
            // that RZ_CUDA_FUSED_ROWS=0 compares the rows kernels with the path a server would take instead (session 9:
            // against mmv<=16, steps of 16 looked faster on the rows kernels than they are against the GEMMs).
            ScopedEnv env{{"RZ_CUDA_BATCH_MIN", md == "token-by-token" ? "100000" : "2"},
                          {"RZ_CUDA_MMV_MAX", decode_only > 0 ? "8" : mmv ? "16" : "0"}, {"RZ_CUDA_GRAPHS", graphs ? "1" : "0"}};
            const bool gemm = md != "token-by-token";
            if ((md == "mmv<=16" || md == "token-by-token") && decode_only == 0) {  // pp512 (one 512-token prompt, last logits: llama-bench's pp512); GEMMs in both batched modes
                auto g = make_ctx(m, true, DType::F16, 1024);
                ASSERT_TRUE(g);
                const Batch pp = prompt_batch(tokens(512, V, 3u), 0, 0, false);
                ASSERT_TRUE(g->decode(pp).ok());  // warm-up (scratch, cuBLAS)
                const int reps = gemm ? 5 : 1;
                const auto t0 = clk::now();
                for (int r = 0; r < reps; ++r) {
                    g->seq_clear(0);
                    ASSERT_TRUE(g->decode(pp).ok());
                }
                const double pp_s = std::chrono::duration<double>(clk::now() - t0).count() / reps;
                std::printf("[bench] %s %s: pp512 %.0f tok/s (%.2f ms)\n", path.c_str(), mode, 512 / pp_s, pp_s * 1e3);
                if (gemm) {  // a 2048-token prompt: four 512-token chunks, the later ones attending to up to 2048 positions
                    auto g2 = make_ctx(m, true, DType::F16, 2048);
                    ASSERT_TRUE(g2);
                    const Batch pp2 = prompt_batch(tokens(2048, V, 4u), 0, 0, false);
                    ASSERT_TRUE(g2->decode(pp2).ok());
                    g2->seq_clear(0);
                    const auto t1 = clk::now();
                    ASSERT_TRUE(g2->decode(pp2).ok());
                    const double s2 = std::chrono::duration<double>(clk::now() - t1).count();
                    std::printf("[bench] %s %s: pp2048 %.0f tok/s (%.2f ms)\n", path.c_str(), mode, 2048 / s2, s2 * 1e3);
                }
            }
            // Batched decode: S sequences with a P-token prompt each (RZ_CUDA_BENCH_DECODE_PROMPT, default 64: longer
            // prompts time the attention of long contexts), then 32 steps of one token per sequence.
            const char* dp = std::getenv("RZ_CUDA_BENCH_DECODE_PROMPT");
            const int P = dp && std::atoi(dp) > 0 ? std::atoi(dp) : 64;
            const std::vector<int> seqs = decode_only > 0 ? std::vector<int>{decode_only} : std::vector<int>{2, 4, 8, 16};
            for (int S : seqs) {
                if (pp_only) break;
                auto d = make_ctx(m, true, DType::F16, std::max(256, P + 64), S);
                ASSERT_TRUE(d);
                for (int s = 0; s < S; ++s) ASSERT_TRUE(d->decode(prompt_batch(tokens(P, V, 5u + s), s, 0, false)).ok());
                const int steps = 32;
                std::vector<int32_t> next(static_cast<size_t>(S), 1);
                for (int i = 0; i < 2; ++i) {  // warm-up steps: the step's graph is captured at its second sighting
                    Batch w;
                    for (int s = 0; s < S; ++s) w.add(1, P + i, s, true);
                    ASSERT_TRUE(d->decode(w).ok());
                }
                // RZ_CUDA_BENCH_PROFILE_STEP: the last step alone inside cudaProfilerStart/Stop, for `ncu
                // --profile-from-start off` (a per-kernel breakdown of one step without the prompts' launches).
                [[maybe_unused]] const bool profile_step = std::getenv("RZ_CUDA_BENCH_PROFILE_STEP") != nullptr;
                const auto t0 = clk::now();
                for (int i = 0; i < steps; ++i) {
                    Batch b;
                    for (int s = 0; s < S; ++s) b.add(next[static_cast<size_t>(s)], P + 2 + i, s, true);
#ifdef RZ_HAVE_CUDA
                    if (profile_step && i == steps - 1) cudaProfilerStart();
#endif
                    ASSERT_TRUE(d->decode(b).ok());
#ifdef RZ_HAVE_CUDA
                    if (profile_step && i == steps - 1) cudaProfilerStop();
#endif
                    // The next tokens as the server picks greedy ones: top-1 on the device (the logits rows stay there;
                    // before session 25 this read every row back and took argmax on the host: 2 MB a step of 16
                    // TinyLlama rows, 8-10 MB for 128k-152k vocabularies, which made those steps mostly the copy).
                    for (int s = 0; s < S; ++s) {
                        std::vector<TokenLogit> top;
                        ASSERT_TRUE(d->top_k(static_cast<size_t>(s), 1, top).ok());
                        next[static_cast<size_t>(s)] = top[0].id;
                    }
                }
                const double sec = std::chrono::duration<double>(clk::now() - t0).count();
                std::printf("[bench] %s %s: batched decode S=%d: %.0f tok/s (%.2f ms/step)\n", path.c_str(), decode_only > 0 ? "default (mmv<=8)" : mode, S,
                            S * steps / sec, sec / steps * 1e3);
            }
        }
    }
}

}  // namespace
}  // namespace rz::runtime
