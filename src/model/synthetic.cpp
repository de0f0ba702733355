#include "realizar/model/synthetic.h"

#include <cmath>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "realizar/formats/gguf.h"
#include "realizar/quant/quant.h"

namespace rz::model {
namespace {

struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    float normal() {  // Box-Muller
        const double u1 = uniform() + 1e-300, u2 = uniform();
        return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
};

// llama.cpp's use_more_bits(): the first and last eighth of the layers and every third one in between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

}  // namespace

Result<DType> synthetic_tensor_type(const std::string& ftype, const std::string& name, int layer, int n_layer) {
    const bool is_output = name == "output.weight";
    const bool more = layer >= 0 && use_more_bits(layer, n_layer) &&
                      (name.find("attn_v") != std::string::npos || name.find("ffn_down") != std::string::npos);
    // llama.cpp gives a fused q|k|v (phi2) one step more than the base type in these mixes.
    const bool qkv = name.find("attn_qkv") != std::string::npos;
    if (ftype == "Q4_K_M") return is_output || more ? DType::Q6_K : qkv ? DType::Q5_K : DType::Q4_K;
    if (ftype == "Q5_K_M") return is_output || more || qkv ? DType::Q6_K : DType::Q5_K;
    if (ftype == "Q4_0") return is_output ? DType::Q6_K : DType::Q4_0;
    auto t = dtype_from_name(ftype);
    if (!t) return invalid_argument(fmt::format("synthetic model: unknown ftype '{}'", ftype));
    return *t;
}

Status write_synthetic_gguf(const std::string& path, const SyntheticSpec& sp) {
    if (sp.n_embd <= 0 || sp.n_head <= 0 || sp.n_head_kv <= 0 || sp.head_dim < 0 || (sp.head_dim == 0 && sp.n_embd % sp.n_head != 0) ||
        sp.n_head % sp.n_head_kv != 0 || sp.n_layer <= 0 || sp.n_ff <= 0 || sp.n_vocab <= 0 || sp.pool_rows <= 0)
        return invalid_argument("synthetic model: inconsistent shape");
    if (sp.arch != "llama" && sp.arch != "qwen3" && sp.arch != "phi2" && sp.arch != "phi3" && sp.arch != "gemma" && sp.arch != "gpt2")
        return invalid_argument(fmt::format("synthetic model: unknown architecture '{}'", sp.arch));
    const bool qwen3 = sp.arch == "qwen3", phi2 = sp.arch == "phi2", phi3 = sp.arch == "phi3", gpt2 = sp.arch == "gpt2";
    const bool ln = phi2 || gpt2;  // LayerNorm with bias, fused q|k|v, biased projections, plain GELU MLP
    const int64_t hd = sp.head_dim > 0 ? sp.head_dim : sp.n_embd / sp.n_head;
    const int64_t q = hd * sp.n_head, kv = hd * sp.n_head_kv;
    if (sp.n_rot < 0 || sp.n_rot > hd || sp.n_rot % 2 != 0) return invalid_argument("synthetic model: n_rot outside [0, head_dim] or odd");
    struct T {
        std::string name;
        int layer;
        int64_t rows, cols;
        DType type;
        bool vec;      // a norm weight or bias vector (F32): center + spread * N(0, 1)
        float center;  // 1 for norm weights, 0 for biases
        float spread;
    };
    std::vector<T> ts;
    auto add = [&](std::string name, int layer, int64_t rows, int64_t cols) -> Status {
        // a tied token_embd is the output matrix too: llama.cpp's mixes give it the output's type
        const bool as_output = sp.tied && name == "token_embd.weight";
        RZ_ASSIGN_OR_RETURN(DType t, synthetic_tensor_type(sp.ftype, as_output ? "output.weight" : name, layer, sp.n_layer));
        ts.push_back({std::move(name), layer, rows, cols, t, false, 0.0f, 0.0f});
        return Status::Ok();
    };
    auto add_vec = [&](std::string name, int64_t n, float center, float spread = 0.1f) {
        ts.push_back({std::move(name), -1, 1, n, DType::F32, true, center, spread});
    };
    RZ_RETURN_IF_ERROR(add("token_embd.weight", -1, sp.n_vocab, sp.n_embd));
    if (gpt2) ts.push_back({"position_embd.weight", -1, sp.n_ctx, sp.n_embd, DType::F32, false, 0.0f, 0.0f});  // learned positions
    for (int il = 0; il < sp.n_layer; ++il) {
        const std::string b = fmt::format("blk.{}.", il);
        if (ln) {  // phi2: one LayerNorm feeding attention and the MLP in parallel; gpt2: a LayerNorm before each
            add_vec(b + "attn_norm.weight", sp.n_embd, 1.0f);
            add_vec(b + "attn_norm.bias", sp.n_embd, 0.0f);
            RZ_RETURN_IF_ERROR(add(b + "attn_qkv.weight", il, q + 2 * kv, sp.n_embd));
            add_vec(b + "attn_qkv.bias", q + 2 * kv, 0.0f);
            RZ_RETURN_IF_ERROR(add(b + "attn_output.weight", il, sp.n_embd, q));
            add_vec(b + "attn_output.bias", sp.n_embd, 0.0f);
            if (gpt2) {
                add_vec(b + "ffn_norm.weight", sp.n_embd, 1.0f);
                add_vec(b + "ffn_norm.bias", sp.n_embd, 0.0f);
            }
            RZ_RETURN_IF_ERROR(add(b + "ffn_up.weight", il, sp.n_ff, sp.n_embd));
            add_vec(b + "ffn_up.bias", sp.n_ff, 0.0f);
            RZ_RETURN_IF_ERROR(add(b + "ffn_down.weight", il, sp.n_embd, sp.n_ff));
            add_vec(b + "ffn_down.bias", sp.n_embd, 0.0f);
            continue;
        }
        add_vec(b + "attn_norm.weight", sp.n_embd, 1.0f);
        if (phi3) {  // llama's block with llama.cpp's fused tensors: attn_qkv rows q | k | v, ffn_up rows gate | up
            RZ_RETURN_IF_ERROR(add(b + "attn_qkv.weight", il, q + 2 * kv, sp.n_embd));
            RZ_RETURN_IF_ERROR(add(b + "attn_output.weight", il, sp.n_embd, q));
            add_vec(b + "ffn_norm.weight", sp.n_embd, 1.0f);
            RZ_RETURN_IF_ERROR(add(b + "ffn_up.weight", il, 2 * sp.n_ff, sp.n_embd));
            RZ_RETURN_IF_ERROR(add(b + "ffn_down.weight", il, sp.n_embd, sp.n_ff));
            continue;
        }
        RZ_RETURN_IF_ERROR(add(b + "attn_q.weight", il, q, sp.n_embd));
        RZ_RETURN_IF_ERROR(add(b + "attn_k.weight", il, kv, sp.n_embd));
        RZ_RETURN_IF_ERROR(add(b + "attn_v.weight", il, kv, sp.n_embd));
        if (qwen3) {  // spread wider than the other norms: a path that skipped them moves the logits clearly (tests)
            add_vec(b + "attn_q_norm.weight", hd, 1.0f, 0.5f);
            add_vec(b + "attn_k_norm.weight", hd, 1.0f, 0.5f);
        }
        RZ_RETURN_IF_ERROR(add(b + "attn_output.weight", il, sp.n_embd, q));
        add_vec(b + "ffn_norm.weight", sp.n_embd, 1.0f);
        RZ_RETURN_IF_ERROR(add(b + "ffn_gate.weight", il, sp.n_ff, sp.n_embd));
        RZ_RETURN_IF_ERROR(add(b + "ffn_down.weight", il, sp.n_embd, sp.n_ff));
        RZ_RETURN_IF_ERROR(add(b + "ffn_up.weight", il, sp.n_ff, sp.n_embd));
    }
    add_vec("output_norm.weight", sp.n_embd, 1.0f);
    if (ln) add_vec("output_norm.bias", sp.n_embd, 0.0f);
    if (!sp.tied) RZ_RETURN_IF_ERROR(add("output.weight", -1, sp.n_vocab, sp.n_embd));
    if (phi2 && !sp.tied) add_vec("output.bias", sp.n_vocab, 0.0f);

    formats::GgufWriter w(path);
    using formats::MetaValue;
    const std::string a = sp.arch;
    const auto u32 = [](int64_t v) { return MetaValue::u32(static_cast<uint32_t>(v)); };
    w.add_metadata("general.architecture", MetaValue::str(a));
    w.add_metadata("general.name", MetaValue::str(fmt::format("synthetic-{}-{}L-{}d-{}", a, sp.n_layer, sp.n_embd, sp.ftype)));
    w.add_metadata(a + ".context_length", u32(sp.n_ctx));
    w.add_metadata(a + ".embedding_length", u32(sp.n_embd));
    w.add_metadata(a + ".block_count", u32(sp.n_layer));
    w.add_metadata(a + ".feed_forward_length", u32(sp.n_ff));
    w.add_metadata(a + ".attention.head_count", u32(sp.n_head));
    w.add_metadata(a + ".attention.head_count_kv", u32(sp.n_head_kv));
    if (sp.head_dim > 0) {
        w.add_metadata(a + ".attention.key_length", u32(hd));
        w.add_metadata(a + ".attention.value_length", u32(hd));
    }
    w.add_metadata(a + (ln ? ".attention.layer_norm_epsilon" : ".attention.layer_norm_rms_epsilon"), MetaValue::f32(qwen3 ? 1e-6f : 1e-5f));
    w.add_metadata(a + ".rope.freq_base", MetaValue::f32(static_cast<float>(sp.rope_theta)));
    w.add_metadata(a + ".rope.dimension_count", u32(sp.n_rot > 0 ? sp.n_rot : hd));
    w.add_metadata(a + ".vocab_size", u32(sp.n_vocab));
    for (const T& t : ts) w.add_tensor(t.name, t.type, t.vec ? std::vector<int64_t>{t.cols} : std::vector<int64_t>{t.rows, t.cols});
    RZ_RETURN_IF_ERROR(w.begin());

    Rng rng{sp.seed * 0x9E3779B97F4A7C15ull + 1};
    // Pools of encoded random rows, per (type, row length). Weights ~ N(0, 1/sqrt(n_in)) keep activations O(1).
    std::map<std::pair<DType, int64_t>, std::vector<uint8_t>> pools;
    std::vector<float> row;
    for (const T& t : ts) {
        if (t.vec) {
            row.resize(static_cast<size_t>(t.cols));
            for (auto& x : row) x = t.center + t.spread * rng.normal();
            RZ_RETURN_IF_ERROR(w.write_tensor({reinterpret_cast<const uint8_t*>(row.data()), row.size() * 4}));
            continue;
        }
        RZ_ASSIGN_OR_RETURN(const uint64_t row_bytes, dtype_bytes(t.type, static_cast<uint64_t>(t.cols)));
        auto& pool = pools[{t.type, t.cols}];
        if (pool.empty()) {
            pool.resize(row_bytes * static_cast<size_t>(sp.pool_rows));
            row.resize(static_cast<size_t>(t.cols));
            const float sd = 1.0f / std::sqrt(static_cast<float>(t.cols));
            for (int r = 0; r < sp.pool_rows; ++r) {
                for (auto& x : row) x = sd * rng.normal();
                RZ_RETURN_IF_ERROR(quant::quantize_row(t.type, row.data(), pool.data() + row_bytes * static_cast<size_t>(r), t.cols));
            }
        }
        std::vector<uint8_t> chunk;
        constexpr int64_t kRowsPerWrite = 256;
        for (int64_t r0 = 0; r0 < t.rows; r0 += kRowsPerWrite) {
            const int64_t n = std::min(kRowsPerWrite, t.rows - r0);
            chunk.resize(row_bytes * static_cast<size_t>(n));
            for (int64_t r = 0; r < n; ++r) {
                const size_t pick = static_cast<size_t>(rng.next() % static_cast<uint64_t>(sp.pool_rows));
                std::memcpy(chunk.data() + row_bytes * static_cast<size_t>(r), pool.data() + row_bytes * pick, row_bytes);
            }
            RZ_RETURN_IF_ERROR(w.write(chunk));
        }
    }
    return w.finish();
}

}  // namespace rz::model
