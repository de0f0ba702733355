// The batched GPU path (forward_batch) on the non-llama blocks: its row kernels (LayerNorm rows, per-head q/k
// RMSNorm, embedding scale / position add, activations) against float64 references; every ../shared/golden
// architecture's batched prompt against the GPU's token-by-token path and the CPU, with a check that the batch
// really took the batched path; partial offload of those models; and small qwen3- and gemma-shaped models
// (written here as Hugging Face safetensors directories with random weights) against the CPU. Skips without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "realizar/core/fp16.h"
#include "cuda/cuda_test_util.h"
#include "realizar/runtime/context.h"
#include "runtime/model_impl.h"
#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/batch.h"
#include "realizar/backend/cuda/cuda.h"
#endif

namespace {

bool have_device() { return rz::test::cuda_device_present(); }

using rz::test::random_floats;

}  // namespace

#ifdef RZ_HAVE_CUDA
namespace rz::cuda::batch {
namespace {

struct Dev {
    void* p = nullptr;
    explicit Dev(size_t bytes) {
        auto r = alloc(std::max<size_t>(bytes, 4), "test");
        EXPECT_TRUE(r.ok());
        if (r.ok()) p = *r;
    }
    template <typename T>
    explicit Dev(const std::vector<T>& v) : Dev(v.size() * sizeof(T)) {
        EXPECT_TRUE(upload(p, v.data(), v.size() * sizeof(T)).ok());
    }
    ~Dev() { rz::cuda::free(p); }
    Dev(const Dev&) = delete;
    Dev& operator=(const Dev&) = delete;
    float* f() const { return static_cast<float*>(p); }
    int32_t* i() const { return static_cast<int32_t*>(p); }
};

std::vector<float> down_f32(const void* p, size_t n) {
    std::vector<float> v(n);
    EXPECT_TRUE(finish("test").ok());
    EXPECT_TRUE(download(v.data(), p, n * sizeof(float)).ok());
    return v;
}

std::vector<float> down_f16(const void* p, size_t n) {
    std::vector<uint16_t> h(n);
    EXPECT_TRUE(finish("test").ok());
    EXPECT_TRUE(download(h.data(), p, n * 2).ok());
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = fp16_to_fp32(h[i]);
    return v;
}

// max |got - want| / max(1, |want|).
double max_rel(const std::vector<float>& got, const std::vector<double>& want) {
    if (got.size() != want.size()) return 1e9;
    double w = 0.0;
    for (size_t i = 0; i < got.size(); ++i) w = std::max(w, std::fabs(got[i] - want[i]) / std::max(1.0, std::fabs(want[i])));
    return w;
}

double half_round(double v) { return fp16_to_fp32(fp32_to_fp16(static_cast<float>(v))); }

// Row gather, weights and bias present or absent, a width that is not a multiple of the block size, f32 and
// f16 outputs, rows with a large mean (where a one-pass variance would lose digits).
TEST(CudaBatchArchKernels, LayerNormRowsMatchFloat64) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    const int ld = 333, n_cols = 300, n_src = 7, n = 5;
    auto x = random_floats(static_cast<size_t>(n_src) * ld, 11u, 3.0f);
    for (int c = 0; c < ld; ++c) x[static_cast<size_t>(2 * ld + c)] += 1000.0f;  // row 2: large mean
    const auto w = random_floats(n_cols, 12u), b = random_floats(n_cols, 13u);
    const std::vector<int32_t> rows = {6, 2, 0, 2, 5};
    Dev dx(x), dw(w), db(b), drows(rows), o32(static_cast<size_t>(n) * n_cols * 4), o16(static_cast<size_t>(n) * n_cols * 2);
    for (int variant = 0; variant < 3; ++variant) {  // w + b, w only, neither
        const float* pw = variant < 2 ? dw.f() : nullptr;
        const float* pb = variant == 0 ? db.f() : nullptr;
        layer_norm_rows(dx.f(), ld, drows.i(), n, pw, pb, n_cols, 1e-5f, o32.f(), o16.p);
        std::vector<double> want(static_cast<size_t>(n) * n_cols), want16(want.size());
        for (int i = 0; i < n; ++i) {
            const float* xr = x.data() + static_cast<size_t>(rows[static_cast<size_t>(i)]) * ld;
            double mean = 0.0, var = 0.0;
            for (int c = 0; c < n_cols; ++c) mean += xr[c];
            mean /= n_cols;
            for (int c = 0; c < n_cols; ++c) var += (xr[c] - mean) * (xr[c] - mean);
            const double sc = 1.0 / std::sqrt(var / n_cols + 1e-5);
            for (int c = 0; c < n_cols; ++c) {
                double o = (xr[c] - mean) * sc;
                if (pw) o *= w[static_cast<size_t>(c)];
                if (pb) o += b[static_cast<size_t>(c)];
                want[static_cast<size_t>(i) * n_cols + c] = o;
                want16[static_cast<size_t>(i) * n_cols + c] = half_round(o);
            }
        }
        const double e32 = max_rel(down_f32(o32.p, want.size()), want), e16 = max_rel(down_f16(o16.p, want.size()), want16);
        std::printf("[batch-arch-kernel] layer_norm_rows variant %d: f32 %.3g, f16 %.3g\n", variant, e32, e16);
        EXPECT_LE(e32, 1e-6) << variant;
        EXPECT_LE(e16, 1e-3) << variant;  // one half ulp of rounding difference at most
    }
    // Without a gather (rows == nullptr): row i of x.
    layer_norm_rows(dx.f(), ld, nullptr, 1, nullptr, nullptr, n_cols, 1e-5f, o32.f(), nullptr);
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < n_cols; ++c) mean += x[static_cast<size_t>(c)];
    mean /= n_cols;
    for (int c = 0; c < n_cols; ++c) var += (x[static_cast<size_t>(c)] - mean) * (x[static_cast<size_t>(c)] - mean);
    std::vector<double> want(static_cast<size_t>(n_cols));
    for (int c = 0; c < n_cols; ++c) want[static_cast<size_t>(c)] = (x[static_cast<size_t>(c)] - mean) / std::sqrt(var / n_cols + 1e-5);
    EXPECT_LE(max_rel(down_f32(o32.p, want.size()), want), 1e-6);
}

// q [n_head, hd] | k [n_head_kv, hd] | v rows: q and k heads normalised with their own weights, v untouched;
// with only the k weight, q stays as it was.
TEST(CudaBatchArchKernels, HeadRmsNormRowsMatchFloat64) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    const int n = 3, n_head = 4, n_head_kv = 2, hd = 80, Q = n_head * hd, KV = n_head_kv * hd, ld = Q + 2 * KV;
    const auto x = random_floats(static_cast<size_t>(n) * ld, 21u, 2.0f);
    const auto wq = random_floats(hd, 22u), wk = random_floats(hd, 23u);
    for (int variant = 0; variant < 2; ++variant) {
        Dev dx(x), dwq(wq), dwk(wk);
        const bool with_q = variant == 0;
        head_rms_norm_rows(dx.f(), ld, Q, n, n_head, n_head_kv, hd, with_q ? dwq.f() : nullptr, dwk.f(), 1e-6f);
        std::vector<double> want(x.begin(), x.end());
        for (int t = 0; t < n; ++t)
            for (int h = 0; h < n_head + n_head_kv; ++h) {
                if (h < n_head && !with_q) continue;
                const size_t o = static_cast<size_t>(t) * ld + (h < n_head ? h * hd : Q + (h - n_head) * hd);
                const auto& w = h < n_head ? wq : wk;
                double ss = 0.0;
                for (int d = 0; d < hd; ++d) ss += static_cast<double>(x[o + d]) * x[o + d];
                const double sc = 1.0 / std::sqrt(ss / hd + 1e-6);
                for (int d = 0; d < hd; ++d) want[o + d] = x[o + d] * sc * w[static_cast<size_t>(d)];
            }
        const double e = max_rel(down_f32(dx.p, want.size()), want);
        std::printf("[batch-arch-kernel] head_rms_norm_rows %s: %.3g\n", with_q ? "q and k" : "k only", e);
        EXPECT_LE(e, 1e-6);
    }
}

TEST(CudaBatchArchKernels, ScaleAddRowsMatchesFloat64) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    const int n = 6, cols = 100;
    const auto x = random_floats(static_cast<size_t>(n) * cols, 31u), y = random_floats(x.size(), 32u);
    Dev dx(x), dy(y);
    const float scale = std::sqrt(100.0f);
    scale_add_rows(dx.f(), n, cols, scale, dy.f());
    std::vector<double> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = static_cast<double>(x[i]) * scale + y[i];
    EXPECT_LE(max_rel(down_f32(dx.p, want.size()), want), 1e-6);
    scale_add_rows(dx.f(), n, cols, 1.0f, nullptr);  // nothing to do
    EXPECT_LE(max_rel(down_f32(dx.p, want.size()), want), 1e-6);
}

// Every activation, plain (with a bias) and gated (gate | up rows), f32 and f16 outputs, against float64
// versions of the formulas (ops.cpp's definitions).
TEST(CudaBatchArchKernels, ActRowsMatchFloat64) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    const int n = 5, F = 200;
    const auto gu = random_floats(static_cast<size_t>(n) * 2 * F, 41u, 4.0f), bias = random_floats(F, 42u);
    Dev dgu(gu), db(bias), o32(static_cast<size_t>(n) * F * 4), o16(static_cast<size_t>(n) * F * 2);
    auto ref = [](double x, Act a) {
        switch (a) {
            case Act::kSilu: return x / (1.0 + std::exp(-x));
            case Act::kGeluTanh: return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
            case Act::kGeluErf: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
            case Act::kRelu: return x > 0.0 ? x : 0.0;
        }
        return x;
    };
    for (Act a : {Act::kSilu, Act::kGeluTanh, Act::kGeluErf, Act::kRelu})
        for (bool gated : {false, true}) {
            const int ld = gated ? 2 * F : F;  // plain: the up rows [n, F] at stride F
            if (gated) act_rows(dgu.f(), dgu.f() + F, ld, n, F, nullptr, a, o32.f(), o16.p);
            else act_rows(dgu.f(), nullptr, ld, n, F, db.f(), a, o32.f(), o16.p);
            std::vector<double> want(static_cast<size_t>(n) * F), want16(want.size());
            for (int t = 0; t < n; ++t)
                for (int i = 0; i < F; ++i) {
                    const size_t at = static_cast<size_t>(t) * ld + static_cast<size_t>(i);
                    const double v = gated ? ref(gu[at], a) * gu[at + F] : ref(static_cast<double>(gu[at]) + bias[static_cast<size_t>(i)], a);
                    want[static_cast<size_t>(t) * F + i] = v;
                    want16[static_cast<size_t>(t) * F + i] = half_round(v);
                }
            const double e32 = max_rel(down_f32(o32.p, want.size()), want), e16 = max_rel(down_f16(o16.p, want.size()), want16);
            std::printf("[batch-arch-kernel] act_rows act %d %s: f32 %.3g, f16 %.3g\n", static_cast<int>(a), gated ? "gated" : "plain+bias", e32, e16);
            EXPECT_LE(e32, 1e-5) << static_cast<int>(a) << gated;  // float formulas vs float64
            EXPECT_LE(e16, 1e-3) << static_cast<int>(a) << gated;
        }
}

}  // namespace
}  // namespace rz::cuda::batch
#endif  // RZ_HAVE_CUDA

namespace rz::runtime {
namespace {

const std::string& kShared = test::cuda_shared_dir();

using Env = test::ScopedEnv;  // environment variables for the contexts created in its scope

std::unique_ptr<Context> ctx(const std::shared_ptr<Model>& m, int n_gpu_layers, DType cache = DType::F32) {
    return test::make_context(m, n_gpu_layers, 128, cache);
}

// All rows' logits of one prompt batch.
std::vector<float> run(Context* c, const std::vector<int32_t>& toks) {
    if (!c) return {};
    Batch b;
    for (size_t i = 0; i < toks.size(); ++i) b.add(toks[i], static_cast<int32_t>(i), 0, true);
    Status st = c->decode(b);
    EXPECT_TRUE(st.ok()) << st.message();
    std::vector<float> out;
    for (size_t i = 0; st.ok() && i < toks.size(); ++i) out.insert(out.end(), c->logits(i).begin(), c->logits(i).end());
    return out;
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

struct Comparison {
    double batched_vs_tokens = 0, f16_vs_tokens = 0, batched_vs_cpu = 0, offload_vs_cpu = 0;
};

// One prompt through: the GPU token by token (RZ_CUDA_BATCH_MIN above the prompt), the batched path as the
// default configures it and with GEMMs at every size (RZ_CUDA_MMV_MAX=0), the batched path with f16 GEMM inputs
// (which only the batched path reads: a difference from the token-by-token logits proves that the batch did
// not fall back to it), partial offload (layer 0 on the GPU, batched), and the CPU.
Comparison compare(const std::shared_ptr<Model>& m, const std::vector<int32_t>& toks, DType cache) {
    const size_t V = static_cast<size_t>(m->info().n_vocab);
    Comparison r;
    std::vector<float> tok;
    {
        Env e{{"RZ_CUDA_BATCH_MIN", "1000000"}};
        auto g = ctx(m, -1, cache);
        tok = run(g.get(), toks);
    }
    auto cpu = ctx(m, 0, cache);
    const auto c = run(cpu.get(), toks);
    for (const char* mmv : {"8", "0"}) {
        Env e{{"RZ_CUDA_MMV_MAX", mmv}};
        auto g = ctx(m, -1, cache);
        const auto b = run(g.get(), toks);
        r.batched_vs_tokens = std::max(r.batched_vs_tokens, test::rows_error(b, tok, V));
        r.batched_vs_cpu = std::max(r.batched_vs_cpu, test::rows_error(b, c, V));
    }
    {
        Env e{{"RZ_CUDA_GEMM", "f16"}, {"RZ_CUDA_MMV_MAX", "0"}};
        auto g = ctx(m, -1, cache);
        r.f16_vs_tokens = test::rows_error(run(g.get(), toks), tok, V);
    }
    if (m->info().n_layer > 1) {
        auto h = ctx(m, 1, cache);
        r.offload_vs_cpu = test::rows_error(run(h.get(), toks), c, V);
    }
    return r;
}

void check(const std::string& name, const Comparison& r, double tol_tokens, double tol_cpu) {
    std::printf("[batch-arch] %s: batched vs token-by-token %.3g, vs CPU %.3g; f16 GEMM vs token-by-token %.3g; offload vs CPU %.3g\n",
                name.c_str(), r.batched_vs_tokens, r.batched_vs_cpu, r.f16_vs_tokens, r.offload_vs_cpu);
    EXPECT_LE(r.batched_vs_tokens, tol_tokens) << name;
    EXPECT_LE(r.batched_vs_cpu, tol_cpu) << name;
    EXPECT_LE(r.offload_vs_cpu, tol_cpu) << name;
    // f16 rounding of the GEMM inputs moves logits by ~1e-3 of their std (docs/perf/cuda-prefill.md); exactly
    // the token-by-token numbers would mean the batched path was not taken.
    EXPECT_GT(r.f16_vs_tokens, 1e-6) << name << ": the batch did not run through forward_batch";
    EXPECT_LE(r.f16_vs_tokens, 2e-2) << name;
}

// Test names carry the model (filters like *phi2* select them).
std::string param_name(const testing::TestParamInfo<std::string>& i) { return i.param; }

class CudaBatchGolden : public testing::TestWithParam<std::string> {};

// Each golden architecture's sequences (f32 and bf16 weights) plus a 40-token prompt (several mat-vec/GEMM sizes).
TEST_P(CudaBatchGolden, BatchedPathMatchesTokenByTokenAndCpu) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    const std::string dir = kShared + "/golden/" + GetParam();
    std::ifstream jf(dir + "/golden.json");
    ASSERT_TRUE(jf) << dir;
    const auto j = nlohmann::json::parse(jf);
    for (const char* variant : {"", "bf16"}) {
        auto m = Model::load(*variant ? dir + "/" + variant : dir);
        ASSERT_TRUE(m.ok()) << m.status().message();
        std::vector<std::vector<int32_t>> seqs;
        for (const auto& s : j["sequences"]) seqs.push_back(s.get<std::vector<int32_t>>());
        seqs.push_back(tokens(40, (*m)->info().n_vocab, 5u));
        for (size_t k = 0; k < seqs.size(); ++k) {
            if (seqs[k].size() < 2) continue;
            check(GetParam() + (*variant ? "/bf16" : "") + " seq " + std::to_string(k) + " (" + std::to_string(seqs[k].size()) + " tokens)",
                  compare(*m, seqs[k], DType::F32), 1e-5, 1e-4);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaBatchGolden, testing::Values("llama_gqa", "qwen2", "phi2", "gpt2"), param_name);

// ---- qwen3- and gemma-shaped models: HF safetensors directories with random f32 weights ----

struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
};

void write_hf_dir(const std::string& dir, const nlohmann::json& config, const std::vector<Tensor>& ts) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/config.json") << config.dump(2);
    nlohmann::json h;
    h["__metadata__"] = {{"format", "pt"}};
    size_t off = 0;
    for (const auto& t : ts) {
        const size_t bytes = t.data.size() * 4;
        h[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {off, off + bytes}}};
        off += bytes;
    }
    std::string hs = h.dump();
    while (hs.size() % 8 != 0) hs += ' ';
    std::ofstream f(dir + "/model.safetensors", std::ios::binary);
    const uint64_t n = hs.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(hs.data(), static_cast<std::streamsize>(hs.size()));
    for (const auto& t : ts) f.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size() * 4));
}

struct Shape {
    int V, E, L, H, KV, hd, F, n_pos;
};

// A Hugging Face directory of random f32 weights for `kind`: "llama", "qwen3" (q/k RMSNorm per head), "gemma"
// (sqrt(n_embd) embedding scale, GeGLU with the tanh GELU, RMSNorm x (1 + w), tied output) or "phi2" (LayerNorm
// with bias feeding attention and a plain GELU MLP in parallel, partial rotary 0.5, biases everywhere).
void write_model(const std::string& kind, const Shape& s, const std::string& dir) {
    std::vector<Tensor> ts;
    uint32_t seed = 100;
    auto mat = [&](const std::string& name, int rows, int cols) {
        ts.push_back({name, {rows, cols}, random_floats(static_cast<size_t>(rows) * cols, ++seed, 1.0f / std::sqrt(static_cast<float>(cols)))});
    };
    auto vec = [&](const std::string& name, int n, float offset, float scale = 0.2f) {
        auto v = random_floats(static_cast<size_t>(n), ++seed, scale);
        for (auto& x : v) x += offset;
        ts.push_back({name, {n}, v});
    };
    const bool phi = kind == "phi2", gemma = kind == "gemma";
    const float norm_one = gemma ? 0.0f : 1.0f;  // gemma's HF norms hold w of x (1 + w)
    const int Q = s.H * s.hd, KVD = s.KV * s.hd;
    ts.push_back({"model.embed_tokens.weight", {s.V, s.E}, random_floats(static_cast<size_t>(s.V) * s.E, ++seed, 0.5f)});
    for (int l = 0; l < s.L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        vec(p + "input_layernorm.weight", s.E, norm_one);
        if (phi) vec(p + "input_layernorm.bias", s.E, 0.0f, 0.1f);
        for (const auto& [nm, rows] : {std::pair<const char*, int>{"q_proj", Q}, {"k_proj", KVD}, {"v_proj", KVD}}) {
            mat(p + "self_attn." + nm + ".weight", rows, s.E);
            if (phi) vec(p + "self_attn." + nm + ".bias", rows, 0.0f, 0.1f);
        }
        if (kind == "qwen3") {
            vec(p + "self_attn.q_norm.weight", s.hd, 1.0f);
            vec(p + "self_attn.k_norm.weight", s.hd, 1.0f);
        }
        if (phi) {
            mat(p + "self_attn.dense.weight", s.E, Q);
            vec(p + "self_attn.dense.bias", s.E, 0.0f, 0.1f);
            mat(p + "mlp.fc1.weight", s.F, s.E);
            vec(p + "mlp.fc1.bias", s.F, 0.0f, 0.1f);
            mat(p + "mlp.fc2.weight", s.E, s.F);
            vec(p + "mlp.fc2.bias", s.E, 0.0f, 0.1f);
            continue;
        }
        mat(p + "self_attn.o_proj.weight", s.E, Q);
        vec(p + "post_attention_layernorm.weight", s.E, norm_one);
        mat(p + "mlp.gate_proj.weight", s.F, s.E);
        mat(p + "mlp.up_proj.weight", s.F, s.E);
        mat(p + "mlp.down_proj.weight", s.E, s.F);
    }
    if (phi) {
        vec("model.final_layernorm.weight", s.E, 1.0f);
        vec("model.final_layernorm.bias", s.E, 0.0f, 0.1f);
        mat("lm_head.weight", s.V, s.E);
        vec("lm_head.bias", s.V, 0.0f, 0.1f);
    } else {
        vec("model.norm.weight", s.E, norm_one);
        if (!gemma) mat("lm_head.weight", s.V, s.E);
    }
    nlohmann::json cfg = {{"vocab_size", s.V},         {"hidden_size", s.E},          {"num_hidden_layers", s.L},
                          {"num_attention_heads", s.H}, {"num_key_value_heads", s.KV}, {"head_dim", s.hd},
                          {"intermediate_size", s.F},   {"max_position_embeddings", s.n_pos}, {"rope_theta", 10000.0},
                          {"tie_word_embeddings", gemma}};
    if (phi) {
        cfg["model_type"] = "phi", cfg["architectures"] = {"PhiForCausalLM"};
        cfg["hidden_act"] = "gelu_new", cfg["layer_norm_eps"] = 1e-5, cfg["partial_rotary_factor"] = 0.5;
    } else {
        cfg["rms_norm_eps"] = 1e-6, cfg["hidden_act"] = "silu";
        cfg["model_type"] = kind;
        cfg["architectures"] = {kind == "llama" ? "LlamaForCausalLM" : kind == "qwen3" ? "Qwen3ForCausalLM" : "GemmaForCausalLM"};
        if (gemma) cfg["hidden_activation"] = "gelu_pytorch_tanh";
    }
    write_hf_dir(dir, cfg, ts);
}

std::string tmp_dir(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("rz_batch_arch_" + name + "_" + std::to_string(::getpid()))).string();
}

// Small shapes for the correctness tests: qwen3 with head_dim 64 and n_embd / n_head = 32 (q wider than the
// residual), gemma with head_dim 128 over 2 / 1 heads, phi2 with head_dim 40 (rotary over 20 of them).
Shape small_shape(const std::string& kind) {
    if (kind == "qwen3") return {300, 128, 2, 4, 2, 64, 192, 256};
    if (kind == "gemma") return {300, 128, 2, 2, 1, 128, 256, 256};
    return {300, 160, 2, 4, 4, 40, 320, 256};
}

std::shared_ptr<Model> shaped_model(const std::string& kind, const std::string& dir) {
    write_model(kind, small_shape(kind), dir);
    auto m = Model::load(dir);
    EXPECT_TRUE(m.ok()) << kind << ": " << m.status().message();
    return m.ok() ? *m : nullptr;
}

// The written directories load as the architectures they stand for (no device needed): what the GPU tests
// below rely on to exercise q/k norms, the embedding scale, the gated GELU and the phi2 block.
TEST(CudaBatchArch, ShapedModelsLoadAsTheirArchitectures) {
    std::vector<std::shared_ptr<Model>> ms;
    for (const char* kind : {"qwen3", "gemma", "phi2"}) {
        const std::string dir = tmp_dir(std::string(kind) + "_load");
        ms.push_back(shaped_model(kind, dir));
        std::filesystem::remove_all(dir);  // the weights were read at load (mapped files stay valid until unmapped)
        ASSERT_TRUE(ms.back()) << kind;
    }
    const auto* q = dynamic_cast<const ModelImpl*>(ms[0].get());
    const auto* g = dynamic_cast<const ModelImpl*>(ms[1].get());
    const auto* f = dynamic_cast<const ModelImpl*>(ms[2].get());
    ASSERT_TRUE(q && g && f);
    EXPECT_EQ(ms[0]->info().arch, "qwen3");
    EXPECT_EQ(q->hp().head_dim, 64);
    EXPECT_TRUE(q->weights().layers[0][model::Role::kAttnQNorm]);
    EXPECT_TRUE(q->weights().layers[0][model::Role::kAttnKNorm]);
    EXPECT_EQ(ms[1]->info().arch, "gemma");
    EXPECT_EQ(g->hp().head_dim, 128);
    EXPECT_FLOAT_EQ(g->hp().embd_scale, std::sqrt(128.0f));
    EXPECT_EQ(g->hp().act, model::Activation::kGeluTanh);
    EXPECT_EQ(g->hp().ffn, model::FfnType::kGated);
    EXPECT_EQ(ms[2]->info().arch, "phi2");
    EXPECT_TRUE(f->hp().parallel_block);
    EXPECT_EQ(f->hp().norm, model::NormType::kLayer);
    EXPECT_EQ(f->hp().ffn, model::FfnType::kPlain);
    EXPECT_EQ(f->hp().n_rot, 20);
    EXPECT_TRUE(f->weights()[model::Role::kOutputB]);
    for (const auto& m : ms) {  // finite logits on the CPU
        auto c = ctx(m, 0);
        const auto l = run(c.get(), tokens(5, 300, 3u));
        ASSERT_EQ(l.size(), 5u * 300u);
        EXPECT_TRUE(std::all_of(l.begin(), l.end(), [](float v) { return std::isfinite(v); }));
    }
}

class CudaBatchShaped : public testing::TestWithParam<std::string> {};

TEST_P(CudaBatchShaped, MatchesTokenByTokenAndCpu) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    const std::string dir = tmp_dir(GetParam());
    auto m = shaped_model(GetParam(), dir);
    ASSERT_TRUE(m);
    const auto toks = tokens(33, 300, 9u);
    check(GetParam() + "-shaped 33 tokens", compare(m, toks, DType::F32), 1e-5, 1e-4);
    check(GetParam() + "-shaped 33 tokens, f16 cache", compare(m, toks, DType::F16), 1e-3, 1e-3);
    std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Archs, CudaBatchShaped, testing::Values("qwen3", "gemma", "phi2"), param_name);

// Two sequences' prompts interleaved in one batch cut into 8-token chunks (later chunks: positions beyond the
// first chunk's, learned-position rows per chunk), then batched decode steps of one token per sequence (2-token
// batches: the multi-vector mat-vec, graphs), against the CPU running the same batches.
double mixed_vs_cpu(const std::shared_ptr<Model>& m) {
    Env e{{"RZ_CUDA_BATCH_CHUNK", "8"}};
    ContextOptions o;
    o.n_ctx = 64;
    o.n_seq_max = 2;
    o.cache_type = DType::F32;
    o.n_threads = 2;
    o.n_gpu_layers = -1;
    auto g = Context::create(m, o);
    o.n_gpu_layers = 0;
    auto c = Context::create(m, o);
    EXPECT_TRUE(g.ok() && c.ok());
    if (!g.ok() || !c.ok()) return 1e9;
    const int V = m->info().n_vocab;
    const auto t0 = tokens(20, V, 51u), t1 = tokens(13, V, 52u);
    Batch b;
    for (size_t i = 0; i < t0.size(); ++i) {
        b.add(t0[i], static_cast<int32_t>(i), 0, i % 3 == 0 || i + 1 == t0.size());
        if (i < t1.size()) b.add(t1[i], static_cast<int32_t>(i), 1, i % 2 == 0 || i + 1 == t1.size());
    }
    double w = 0.0;
    auto step = [&](const Batch& bb) {
        Status sg = (*g)->decode(bb), sc = (*c)->decode(bb);
        EXPECT_TRUE(sg.ok() && sc.ok()) << sg.message() << sc.message();
        if (!sg.ok() || !sc.ok()) return false;
        for (size_t i = 0; i < bb.size(); ++i) {
            if (!bb.logits[i]) continue;
            const auto gl = (*g)->logits(i), cl = (*c)->logits(i);
            w = std::max(w, test::rows_error(std::vector<float>(gl.begin(), gl.end()), std::vector<float>(cl.begin(), cl.end()), static_cast<size_t>(V)));
        }
        return true;
    };
    if (!step(b)) return 1e9;
    for (int k = 0; k < 6; ++k) {
        Batch d;
        d.add(tokens(1, V, 60u + k)[0], static_cast<int32_t>(t0.size()) + k, 0, true);
        d.add(tokens(1, V, 70u + k)[0], static_cast<int32_t>(t1.size()) + k, 1, true);
        if (!step(d)) return 1e9;
    }
    return w;
}

TEST(CudaBatchArch, MixedSequencesInChunksMatchCpu) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    for (const char* name : {"gpt2", "phi2", "qwen2"}) {
        auto m = Model::load(kShared + "/golden/" + name);
        ASSERT_TRUE(m.ok()) << m.status().message();
        const double e = mixed_vs_cpu(*m);
        std::printf("[batch-arch] %s: 2 interleaved sequences in 8-token chunks + 6 batched decode steps vs CPU: %.3g\n", name, e);
        EXPECT_LE(e, 1e-4) << name;
    }
    for (const char* kind : {"qwen3", "gemma", "phi2"}) {
        const std::string dir = tmp_dir(std::string(kind) + "_mixed");
        auto m = shaped_model(kind, dir);
        ASSERT_TRUE(m);
        const double e = mixed_vs_cpu(m);
        std::printf("[batch-arch] %s-shaped: 2 interleaved sequences in 8-token chunks + 6 batched decode steps vs CPU: %.3g\n", kind, e);
        EXPECT_LE(e, 1e-4) << kind;
        std::filesystem::remove_all(dir);
    }
}

// pp512 (one 512-token prompt, last logits) batched and token by token for each block kind at one mid-size
// shape (f32 weights: f32 GEMMs), so the non-llama blocks' cost can be read against the llama block's in the
// same run. RZ_CUDA_ARCH_BENCH=1 to run.
TEST(CudaBatchArch, PrefillBenchmark) {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    if (!std::getenv("RZ_CUDA_ARCH_BENCH")) GTEST_SKIP() << "set RZ_CUDA_ARCH_BENCH=1";
    using clk = std::chrono::steady_clock;
    const Shape s{8192, 1024, 4, 16, 4, 64, 4096, 2048};
    for (const char* kind : {"llama", "qwen3", "gemma", "phi2"}) {
        const std::string dir = tmp_dir(std::string(kind) + "_bench");
        Shape sk = s;
        if (std::string(kind) == "phi2") sk.KV = sk.H;  // phi-2 has no GQA
        write_model(kind, sk, dir);
        auto m = Model::load(dir);
        ASSERT_TRUE(m.ok()) << m.status().message();
        const auto toks = tokens(512, s.V, 3u);
        Batch pp;
        for (size_t i = 0; i < toks.size(); ++i) pp.add(toks[i], static_cast<int32_t>(i), 0, i + 1 == toks.size());
        double tps[2] = {0, 0};
        for (int mode = 0; mode < 2; ++mode) {
            Env e{{"RZ_CUDA_BATCH_MIN", mode == 0 ? "2" : "1000000"}};
            ContextOptions o;
            o.n_ctx = 1024;
            o.cache_type = DType::F16;
            o.n_gpu_layers = -1;
            auto c = Context::create(*m, o);
            ASSERT_TRUE(c.ok()) << c.status().message();
            ASSERT_TRUE((*c)->decode(pp).ok());  // warm-up
            const int reps = mode == 0 ? 5 : 1;
            const auto t0 = clk::now();
            for (int r = 0; r < reps; ++r) {
                (*c)->seq_clear(0);
                ASSERT_TRUE((*c)->decode(pp).ok());
            }
            tps[mode] = 512.0 * reps / std::chrono::duration<double>(clk::now() - t0).count();
        }
        std::printf("[bench-arch] %s-shaped f32 (E %d, %d layers, F %d, V %d): pp512 batched %.0f tok/s, token-by-token %.0f tok/s (%.1fx)\n",
                    kind, s.E, s.L, s.F, s.V, tps[0], tps[1], tps[0] / tps[1]);
        std::filesystem::remove_all(dir);
    }
}

}  // namespace
}  // namespace rz::runtime
