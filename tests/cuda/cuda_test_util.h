#pragma once
// Helpers shared by the test_cuda files: the ../shared path (RZ_SHARED_DIR in the environment overrides the
// build-time path: the GPU machine gets a carried copy), whether a device is present, ':'-separated model lists
// from the environment, contexts, the logits error every GPU-vs-reference test reports, reproducible random
// inputs and an owning device buffer, quantized test matrices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "realizar/core/fp16.h"
#include "realizar/model/synthetic.h"
#include "realizar/runtime/context.h"
#include "realizar/runtime/sampler.h"
#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/batch.h"
#include "realizar/backend/cuda/cuda.h"
#include "realizar/quant/quant.h"
#endif

namespace rz::test {

inline const std::string& cuda_shared_dir() {
    static const std::string d = std::getenv("RZ_SHARED_DIR") ? std::getenv("RZ_SHARED_DIR") : RZ_SHARED_DIR;
    return d;
}

inline bool cuda_device_present() {
#ifdef RZ_HAVE_CUDA
    return cuda::device_count() > 0;
#else
    return false;
#endif
}

// The small synthetic blocks the tests write (model::write_synthetic_gguf; the caller sets ftype, seed and may
// change n_ctx):
// - qwen3: head_dim 64 with q twice the residual width (8 heads, 2 kv heads), tied head;
// - gemma: GELU-gated FFN, embeddings scaled by sqrt(n_embd), tied head, head_dim > n_embd / n_head, one kv head;
// - phi3: the llama block stored as llama.cpp's fused q|k|v and gate|up tensors, head_dim 96, no grouped-query attention;
// - gpt2: learned positions, sequential LayerNorms, plain GELU MLP, no RoPE, tied head;
// - anything else, phi2: phi-2's head_dim 80 and rotary 32, the fused kernels' smallest multiple of 256 for the
//   width.
inline model::SyntheticSpec synthetic_spec(const std::string& arch) {
    model::SyntheticSpec sp;
    sp.arch = arch;
    if (arch == "qwen3") {
        sp.n_vocab = 1024, sp.n_embd = 256, sp.n_layer = 3, sp.n_head = 8, sp.n_head_kv = 2, sp.head_dim = 64,
        sp.n_ff = 768, sp.n_ctx = 256;
        sp.tied = true;
    } else if (arch == "gemma") {
        sp.n_vocab = 1024, sp.n_embd = 256, sp.n_layer = 3, sp.n_head = 4, sp.n_head_kv = 1, sp.head_dim = 128, sp.n_ff = 1024,
        sp.n_ctx = 256;
        sp.tied = true;
    } else if (arch == "phi3") {  // head_dim 96 (Phi-3-mini's), groups of 1, fused q|k|v and gate|up tensors
        sp.n_vocab = 1024, sp.n_embd = 768, sp.n_layer = 3, sp.n_head = 8, sp.n_head_kv = 8, sp.n_ff = 1024, sp.n_ctx = 256;
    } else if (arch == "gpt2") {
        sp.n_vocab = 1024, sp.n_embd = 256, sp.n_layer = 3, sp.n_head = 4, sp.n_head_kv = 4, sp.n_ff = 1024, sp.n_ctx = 256;
        sp.tied = true;
    } else {
        sp.n_vocab = 1024, sp.n_embd = 1280, sp.n_layer = 3, sp.n_head = 16, sp.n_head_kv = 16, sp.n_ff = 1024, sp.n_ctx = 256;
        sp.n_rot = 32;
    }
    return sp;
}

inline std::vector<std::string> env_list(const char* name) {
    std::vector<std::string> out;
    const char* v = std::getenv(name);
    if (!v) return out;
    std::stringstream ss(v);
    std::string s;
    while (std::getline(ss, s, ':'))
        if (!s.empty()) out.push_back(s);
    return out;
}

// Sets environment variables for the contexts created in its scope (the GPU context reads them at create()).
struct ScopedEnv {
    std::vector<std::string> names;
    ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> kv) {
        for (const auto& [k, v] : kv) {
            setenv(k, v, 1);
            names.emplace_back(k);
        }
    }
    ~ScopedEnv() {
        for (const auto& k : names) unsetenv(k.c_str());
    }
};

// A context of m for the tests: n_gpu_layers 0 runs it on the CPU, 999 (or -1) all on the GPU, anything between
// splits it. A failed creation fails the test and gives null.
inline std::unique_ptr<runtime::Context> make_context(const std::shared_ptr<runtime::Model>& m, int n_gpu_layers, int n_ctx = 128,
                                                      DType cache = DType::F32, int n_seq = 1, int n_threads = 2) {
    runtime::ContextOptions o;
    o.n_ctx = n_ctx;
    o.n_seq_max = n_seq;
    o.cache_type = cache;
    o.n_threads = n_threads;
    o.n_gpu_layers = n_gpu_layers;
    auto c = runtime::Context::create(m, o);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
}

// max |got - ref| / std(ref) over one logits row (mean and variance in double).
inline double row_error(std::span<const float> got, std::span<const float> ref) {
    double mean = 0.0, var = 0.0, md = 0.0;
    for (float v : ref) mean += v;
    mean /= static_cast<double>(ref.size());
    for (float v : ref) var += (v - mean) * (v - mean);
    for (size_t j = 0; j < ref.size(); ++j) md = std::max(md, std::fabs(static_cast<double>(got[j]) - ref[j]));
    return md / std::sqrt(var / static_cast<double>(ref.size()));
}

// The worst row_error over rows of V of two [rows, V] buffers; 1e9 when the sizes differ or ref is empty.
inline double rows_error(const std::vector<float>& got, const std::vector<float>& ref, size_t V) {
    if (got.size() != ref.size() || ref.empty()) return 1e9;
    double w = 0.0;
    for (size_t r = 0; r < ref.size() / V; ++r)
        w = std::max(w, row_error(std::span<const float>(got).subspan(r * V, V), std::span<const float>(ref).subspan(r * V, V)));
    return w;
}

// The worst row_error of got's logits against ref's over entries [0, rows) of the last decode, skipping those
// that `asked` (when given) marks as without logits; 1e9, and a failure, when a row is missing or the sizes differ.
inline double logits_error(runtime::Context& got, runtime::Context& ref, size_t rows, const std::vector<uint8_t>* asked = nullptr) {
    double worst = 0.0;
    for (size_t i = 0; i < rows; ++i) {
        if (asked && !(*asked)[i]) continue;
        auto x = got.logits(i), y = ref.logits(i);
        EXPECT_EQ(x.size(), y.size()) << "entry " << i;
        if (x.size() != y.size() || y.empty()) return 1e9;
        worst = std::max(worst, row_error(x, y));
    }
    return worst;
}
// The same over the entries of `batch` that asked for logits.
inline double logits_error(runtime::Context& got, runtime::Context& ref, const runtime::Batch& batch) {
    return logits_error(got, ref, batch.size(), &batch.logits);
}

// Greedy continuation of sequence 0 after its prompt: n tokens from `first` at positions start, start + 1, ...,
// each the argmax of the step before (runtime::argmax, the generation loop's pick). Stops at a failed decode.
inline std::vector<int32_t> greedy(runtime::Context& ctx, int32_t first, int32_t start, int n) {
    std::vector<int32_t> out;
    int32_t t = first;
    for (int i = 0; i < n; ++i) {
        runtime::Batch b;
        b.add(t, start + i, 0, true);
        Status st = ctx.decode(b);
        EXPECT_TRUE(st.ok()) << st.message();
        if (!st.ok()) break;
        t = runtime::argmax(ctx.logits(0));
        out.push_back(t);
    }
    return out;
}

// The tests' linear congruential generator: the next state (its high bits are the usable ones).
inline uint32_t lcg(uint32_t& s) { return s = s * 1664525u + 1013904223u; }

// n reproducible floats, uniform in [-scale, scale).
inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
    std::vector<float> v(n);
    uint32_t s = seed;
    for (auto& x : v) x = (static_cast<float>(lcg(s) >> 8) / static_cast<float>(1u << 24) - 0.5f) * 2.0f * scale;
    return v;
}

#ifdef RZ_HAVE_CUDA
// Device memory for one test, freed at scope exit (a failed allocation fails the test and leaves p null).
struct DevBuf {
    void* p = nullptr;
    explicit DevBuf(size_t bytes) {
        auto r = cuda::alloc(bytes, "test");
        EXPECT_TRUE(r.ok());
        if (r.ok()) p = *r;
    }
    ~DevBuf() { cuda::free(p); }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;
    float* f() const { return static_cast<float*>(p); }
    int32_t* i() const { return static_cast<int32_t*>(p); }
};

// Byte offsets of the f16 fields (d, m, dmin) in each block (realizar/quant/blocks.h).
inline std::vector<int> half_fields(DType t) {
    switch (t) {
        case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: return {0, 2};
        case DType::Q5_0: case DType::IQ4_NL: case DType::IQ4_XS: case DType::Q8_0: case DType::Q4_0: return {0};
        case DType::Q2_K: return {80, 82};
        case DType::Q3_K: return {108};
        case DType::Q6_K: return {208};
        default: return {};
    }
}

// Bytes of one row in the file's layout (what rz::quant reads and writes; cuda::row_bytes is the device layout's).
inline size_t file_row_bytes(DType t, int cols) {
    const DTypeInfo* in = dtype_info(t);
    return static_cast<size_t>(cols / in->block_size) * in->type_size;
}

struct Matrix {
    std::vector<uint8_t> q;    // as stored in a file
    std::vector<uint8_t> dev;  // the device layout of q (cuda::pack_rows): what the kernels read
    std::vector<float> deq;    // rz::quant::dequantize_row of q
};

// rows x cols of a quantized type t: random bytes (every scale, high-bit and mask pattern) with finite random
// halves of either sign in the d / m / dmin fields, or (quantized) random floats through the reference quantizer.
inline Matrix make_matrix(DType t, int rows, int cols, uint32_t seed, bool quantized) {
    Matrix m;
    const size_t rb = file_row_bytes(t, cols);
    m.q.resize(rb * rows);
    m.deq.resize(static_cast<size_t>(rows) * cols);
    if (quantized) {
        const auto src = random_floats(static_cast<size_t>(rows) * cols, seed);
        for (int r = 0; r < rows; ++r)
            EXPECT_TRUE(quant::quantize_row(t, src.data() + static_cast<size_t>(r) * cols, m.q.data() + rb * r, cols).ok());
    } else {
        uint32_t s = seed;
        for (auto& b : m.q) b = static_cast<uint8_t>(lcg(s) >> 24);
        const DTypeInfo* in = dtype_info(t);
        for (size_t b = 0; b < m.q.size(); b += in->type_size)
            for (int off : half_fields(t)) {
                const float v = (static_cast<float>(lcg(s) >> 8) / static_cast<float>(1u << 24) - 0.5f) * 0.1f;
                const uint16_t h = fp32_to_fp16(v);
                m.q[b + off] = static_cast<uint8_t>(h & 0xFF), m.q[b + off + 1] = static_cast<uint8_t>(h >> 8);
            }
    }
    for (int r = 0; r < rows; ++r)
        EXPECT_TRUE(quant::dequantize_row(t, m.q.data() + rb * r, m.deq.data() + static_cast<size_t>(r) * cols, cols).ok());
    m.dev.resize(cuda::row_bytes(t, cols) * rows);
    cuda::pack_rows(t, cols, rows, m.q.data(), m.dev.data());
    return m;
}

// Host copy of the GPU's activation quantization (per 32: d = amax / 127, q = round-to-even(x / d)), same
// float operations, so the int8 path is checked against the exact dot product it is meant to compute.
inline std::vector<float> quantize_like_gpu(const std::vector<float>& x) {
    std::vector<float> out(x.size());
    for (size_t b = 0; b + 32 <= x.size(); b += 32) {
        float amax = 0.0f;
        for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        for (size_t i = b; i < b + 32; ++i) out[i] = d * std::nearbyint(x[i] * id);
    }
    return out;
}

// A rows x cols matrix of type t (make_matrix) on the device in its layout, with its dequantised rows for references.
struct QMat {
    DType t;
    int rows, cols;
    std::vector<float> deq;  // [rows, cols]
    DevBuf dev;
    QMat(DType t_, int rows_, int cols_, uint32_t seed, bool quantized = true)
        : t(t_), rows(rows_), cols(cols_), dev(cuda::row_bytes(t_, cols_) * rows_) {
        Matrix m = make_matrix(t, rows, cols, seed, quantized);
        deq = std::move(m.deq);
        EXPECT_TRUE(cuda::upload(dev.p, m.dev.data(), m.dev.size()).ok());
    }
    // float64 W x over the dequantised rows, and sum |w x| (the scale of its rounding error).
    void ref(const std::vector<float>& x, std::vector<double>& y, std::vector<double>& mag) const {
        y.assign(static_cast<size_t>(rows), 0.0);
        mag.assign(static_cast<size_t>(rows), 0.0);
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c) {
                const double p = static_cast<double>(deq[static_cast<size_t>(r) * cols + c]) * x[static_cast<size_t>(c)];
                y[static_cast<size_t>(r)] += p;
                mag[static_cast<size_t>(r)] += std::fabs(p);
            }
    }
};

// batch::linear over m (rows x cols, test::make_matrix) for 13 tokens into output rows of rows + 3 (the 3 beyond the
// matrix must stay untouched): the multi-row mat-vec (mmv: a pass of 8 tokens and one of 5) or the GEMM through a
// 7-row scratch (W converted in chunks), f16 or f32 inputs, against float64 over the same (rounded) operands.
inline void check_batch_linear(DType t, const Matrix& m, int rows, int cols, bool f16, bool mmv) {
    namespace cb = cuda::batch;
    const int n = 13, ldy = rows + 3;
    const auto x = random_floats(static_cast<size_t>(n) * cols, 9u);
    const auto y0 = random_floats(static_cast<size_t>(n) * ldy, 4u);
    auto half_round = [](double v) { return static_cast<double>(fp16_to_fp32(fp32_to_fp16(static_cast<float>(v)))); };
    std::vector<uint16_t> xh(x.size());
    for (size_t i = 0; i < x.size(); ++i) xh[i] = fp32_to_fp16(x[i]);
    const size_t srb = cb::scratch_row_bytes(t, cols, f16);
    DevBuf dw(m.dev.size()), dx(sizeof(float) * x.size()), dy(sizeof(float) * y0.size()), ds(std::max<size_t>(7 * srb, 16));
    ASSERT_TRUE(cuda::upload(dw.p, m.dev.data(), m.dev.size()).ok());
    ASSERT_TRUE(cuda::upload(dx.p, f16 ? static_cast<const void*>(xh.data()) : x.data(), f16 ? 2 * xh.size() : 4 * x.size()).ok());
    ASSERT_TRUE(cuda::upload(dy.p, y0.data(), sizeof(float) * y0.size()).ok());
    ASSERT_TRUE(cb::linear(t, dw.p, rows, cols, dx.p, n, 1.0f, dy.f(), ldy, f16, ds.p, 7 * srb, mmv ? 64 : 0).ok());
    ASSERT_TRUE(cb::finish("test").ok());
    std::vector<float> y(y0.size());
    ASSERT_TRUE(cuda::download(y.data(), dy.p, sizeof(float) * y.size()).ok());
    for (int i = 0; i < n; ++i)
        for (int r = 0; r < ldy; ++r) {
            const size_t at = static_cast<size_t>(i) * ldy + r;
            if (r >= rows) {  // columns beyond the matrix are untouched
                ASSERT_EQ(y[at], y0[at]);
                continue;
            }
            double ref = y0[at], mag = std::fabs(y0[at]);
            for (int c = 0; c < cols; ++c) {
                double w = m.deq[static_cast<size_t>(r) * cols + c], xv = x[static_cast<size_t>(i) * cols + c];
                if (f16) xv = half_round(xv);
                if (f16 && !mmv) w = half_round(w);  // the GEMM reads f16 weights, the mat-vec exact ones
                ref += w * xv;
                mag += std::fabs(w * xv);
            }
            ASSERT_NEAR(y[at], ref, 1e-5 * mag) << "token " << i << " row " << r;
        }
}
#endif

}  // namespace rz::test
