#pragma once
// The CUDA Context's class (gpu_context.cpp: upload, the one-token paths, decode; gpu_batch.cpp: the batched path).
// Internal to src/runtime/gpu; only with RZ_HAVE_CUDA.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "realizar/backend/cuda/arch.h"
#include "realizar/backend/cuda/batch.h"
#include "realizar/backend/cuda/cuda.h"
#include "runtime/context_impl.h"
#include "runtime/gpu/device_logits.h"
#include "runtime/model_impl.h"
#include "runtime/ops.h"
#include "runtime/warm_up.h"

namespace rz::runtime::gpu {

using model::Role;

inline cuda::Act act(model::Activation a) {
    static_assert(static_cast<int>(model::Activation::kSilu) == static_cast<int>(cuda::Act::kSilu) &&
                  static_cast<int>(model::Activation::kGeluTanh) == static_cast<int>(cuda::Act::kGeluTanh) &&
                  static_cast<int>(model::Activation::kGeluErf) == static_cast<int>(cuda::Act::kGeluErf) &&
                  static_cast<int>(model::Activation::kRelu) == static_cast<int>(cuda::Act::kRelu));
    return static_cast<cuda::Act>(a);
}

struct DevWeight {
    DType dtype = DType::F32;
    void* data = nullptr;
    int rows = 0;
    int cols = 0;
    explicit operator bool() const { return data != nullptr; }
};

class GpuContext final : public Context {
public:
    ~GpuContext() override {
        for (void* g : graphs_) cuda::graph_destroy(g);
        for (void* p : owned_) cuda::free(p);
        cuda::host_free(hstep_);
    }

    // layer_end: layers [0, layer_end) run here; below n_layer the pass ends with the hidden states
    // (decode_hidden) and the output head is not uploaded (partial offload: the CPU runs the rest).
    static Result<std::unique_ptr<GpuContext>> create(std::shared_ptr<const Model> model, const ContextOptions& opts, int layer_end);

    Status decode(const Batch& b) override;
    // Every path a first request can take: a prompt of each GEMM size (gemm_rows: cuBLAS, the prefill attention), a
    // short prompt (the small-batch kernels and its graph), decode steps of up to kBatchGraphMaxTokens sequences (the
    // rows kernels and their graphs) and each sequence's one-token graph.
    Status warm_up() override {
        WarmUpPlan w{.prompts = {},
                     .max_step_seqs = std::min(n_seq_, kBatchGraphMaxTokens),
                     .step_repeats = use_graphs_ ? graph_sightings_ : 1,
                     .every_sequence = use_graphs_};
        for (int n = batch_chunk_; n > mmv_max_; --n)
            if (const int r = gemm_rows(n); w.prompts.empty() || r != w.prompts.back()) w.prompts.push_back(r);
        if (w.prompts.size() > 16)  // padding off (RZ_CUDA_GEMM_QUANTUM): the multiples of 64 only
            std::erase_if(w.prompts, [this](int r) { return r % 64 != 0 && r != batch_chunk_; });
        w.prompts.push_back(6);
        return run_warm_up(*this, w);
    }
    // Partial offload: runs the batch through layers [0, layer_end) and writes x_out [n, n_embd] (host).
    Status decode_hidden(const Batch& b, float* x_out);
    std::span<const float> logits(size_t i) const override {
        if (i >= logit_row_.size() || logit_row_[i] < 0) return {};
        return out_.row(static_cast<int>(logit_row_[i]));
    }
    Status top_k(size_t i, int k, std::vector<TokenLogit>& out) const override {
        RZ_RETURN_IF_ERROR(check_top_k(k, hp().n_vocab));
        if (i >= logit_row_.size() || logit_row_[i] < 0)
            return invalid_argument(fmt::format("top_k: batch entry {} of the last decode has no logits", i));
        return out_.top_k(static_cast<int>(logit_row_[i]), k, out);
    }
    void seq_clear(int32_t s) override {
        if (s >= 0 && s < n_seq_) len_[static_cast<size_t>(s)] = 0;
    }
    Status seq_truncate(int32_t s, int32_t n_keep) override {
        if (s < 0 || s >= n_seq_) return out_of_range(fmt::format("seq_truncate: sequence id {} is outside [0, {})", s, n_seq_));
        if (n_keep < 0) return invalid_argument(fmt::format("seq_truncate: n_keep {} is negative", n_keep));
        int32_t& l = len_[static_cast<size_t>(s)];
        l = std::min(l, n_keep);
        return Status::Ok();
    }
    // Device-to-device copy of src's cached positions into dst's slabs, every layer and KV head.
    Status seq_copy(int32_t src, int32_t dst) override;
    int32_t seq_len(int32_t s) const override { return s >= 0 && s < n_seq_ ? len_[static_cast<size_t>(s)] : 0; }
    int n_ctx() const override { return n_ctx_; }
    int n_seq_max() const override { return n_seq_; }
    int64_t kv_cells_used() const override {
        int64_t u = 0;
        for (int32_t l : len_) u += l;
        return u;
    }
    int64_t kv_cells_total() const override { return static_cast<int64_t>(n_seq_) * n_ctx_; }
    const Model& model() const override { return *model_; }
    // The decode paths this context takes (for tests): the fused one-token layer, and the most sequences of a decode
    // step the fused rows kernels take (0: none).
    bool fused_layer() const { return fused_mv_; }
    // Whether forward_fused runs a parallel block's plain FFN up projection in the q|k|v launch (its merged_up).
    bool up_merged() const {
        const model::HParams& p = hp();
        return fused_mv_ && par_merge_ && p.parallel_block && p.ffn == model::FfnType::kPlain && p.n_ff <= cuda::kFusedMaxNormCols &&
               std::all_of(layers_.begin(), layers_.end(), [](const Layer& L) { return static_cast<bool>(L.qkv); });
    }
    int fused_rows_max() const { return rows_max_; }

private:
    const model::HParams& hp() const { return m_->hp(); }
    Result<void*> dev_alloc(size_t bytes, const std::string& what) {
        RZ_ASSIGN_OR_RETURN(void* p, cuda::alloc(bytes, what));
        owned_.push_back(p);
        return p;
    }
    Result<float*> dev_floats(size_t n, const std::string& what) {
        RZ_ASSIGN_OR_RETURN(void* p, dev_alloc(n * sizeof(float), what));
        return static_cast<float*>(p);
    }
    Result<DevWeight> upload(const model::Weight& w);
    // Stacks matrices of one dtype and width into one device matrix (q|k|v, gate|up): one launch instead of several.
    Result<DevWeight> upload_stacked(std::initializer_list<const model::Weight*> ws);
    // Concatenates f32 vectors (q | k | v biases) into one device vector; empty when one is not f32.
    Result<DevWeight> upload_concat(std::initializer_list<const model::Weight*> ws);
    Status validate(const Batch& b) const;
    // x_ = the embedding row of token *tp (times embd_scale), plus the learned position row of tp[1] (gpt2).
    void embed(const int32_t* tp);
    // tp: device {token, position}; pos_hint: that position as the host knows it at launch or capture (it picks the
    // attention kernel: attn_variant).
    void forward_token(const int32_t* tp, int32_t seq, int32_t pos_hint, float* logits_dst);
    // The layers [0, layer_end_) of forward_token, from the embedding row; the hidden state is left in x_.
    void forward_layers(const int32_t* tp, int32_t seq, int32_t pos_hint);
    // The same through the fused decode layer (5 launches per layer), then the output head when logits_dst.
    void forward_fused(const int32_t* tp, int32_t seq, int32_t pos_hint, float* logits_dst);
    Status upload_batch(const Batch& b);  // {token, position} pairs into dtp_
    // Batches of >= batch_min_ tokens: one GEMM per weight matrix over batch_chunk_ tokens at a time (batch.h);
    // fills dlogits_ rows in batch order, or with x_host (partial offload) the hidden states [n, n_embd] after
    // layer layer_end_ - 1. Scratch is allocated on first use (batch_alloc). Only for blocks batch_ok_ covers.
    Status forward_batch(const Batch& b, float* x_host = nullptr);
    Status batch_alloc();
    // Whether every layer matrix and the output head can take the fused int8 kernels (cuda::matvec_norm & co) and the
    // block is one they implement: RMSNorm or LayerNorm (with biases), a gated FFN of any activation or a plain one
    // (biased up), sequential or parallel (phi2), learned positions (gpt2); biases on q|k|v, o, down, output.
    bool fused_capable() const;
    // Whether every layer matrix also has a rows kernel for m tokens (cuda::fused_rows_supported) and the shapes fit.
    bool rows_capable(int m) const;
    size_t kv_offset(int il, int seq) const {  // elements to the [n_head_kv][n_ctx][hd] slab of (layer, seq)
        return (static_cast<size_t>(il) * n_seq_ + static_cast<size_t>(seq)) * static_cast<size_t>(hp().n_head_kv) * n_ctx_ * hp().head_dim;
    }

    std::shared_ptr<const Model> model_;
    const ModelImpl* m_ = nullptr;
    int n_ctx_ = 0;
    int n_seq_ = 1;
    int layer_end_ = 0;  // layers on the device: [0, layer_end_)
    bool batch_ok_ = false;  // the batched path implements this block (since forward_batch covers forward_layers: every accepted model)
    bool kv_f16_ = true;
    std::vector<int32_t> len_;
    std::vector<void*> owned_;
    std::unordered_map<const void*, DevWeight> uploaded_;  // host data -> device copy (tied embeddings upload once)

    struct Layer {
        DevWeight attn_norm, attn_norm_b, q, k, v, o, qb, kb, vb, ob, q_norm, k_norm, ffn_norm, ffn_norm_b, gate, up, up_b, down, down_b;
        DevWeight qkv, qkv_b, gate_up;  // stacked (or stored fused) when the parts share a dtype (then q/k/v, gate/up stay empty)
    };
    // A gated FFN's gate and up matrices for the fused kernels: the two halves of a stacked gate_up (the gate its first
    // n_ff rows), or gate and up.
    struct GluMats {
        DType tg;
        const void* g;
        DType tu;
        const void* u;
    };
    GluMats glu_mats(const Layer& L) const {
        if (!L.gate_up) return {L.gate.dtype, L.gate.data, L.up.dtype, L.up.data};
        const auto* g = static_cast<const uint8_t*>(L.gate_up.data);
        return {L.gate_up.dtype, g, L.gate_up.dtype, g + cuda::row_bytes(L.gate_up.dtype, hp().n_embd) * static_cast<size_t>(hp().n_ff)};
    }
    // Whether ok(matrix, its column count) holds for every matrix of layer L: q|k|v (stacked or not), o, gate|up (of
    // one type when separate; up alone in a plain FFN), down. For fused_capable and rows_capable.
    template <typename Ok>
    bool layer_matrices(const Layer& L, Ok ok) const {
        const int E = hp().n_embd, Q = hp().n_embd_q(), F = hp().n_ff;
        if (L.qkv ? !ok(L.qkv, E) : !(ok(L.q, E) && ok(L.k, E) && ok(L.v, E))) return false;
        if (hp().ffn == model::FfnType::kPlain) {
            if (!ok(L.up, E)) return false;
        } else if (L.gate_up ? !ok(L.gate_up, E) : !(ok(L.gate, E) && ok(L.up, E) && L.gate.dtype == L.up.dtype)) {
            return false;
        }
        return ok(L.o, Q) && ok(L.down, F);
    }
    // out = norm(x) with the model's norm (RMSNorm, or LayerNorm with optional bias).
    void norm(const float* x, const DevWeight& w, const DevWeight& b, float* out) const {
        if (hp().norm == model::NormType::kRms)
            cuda::rms_norm(x, static_cast<const float*>(w.data), hp().n_embd, hp().norm_eps, out);
        else
            cuda::layer_norm(x, static_cast<const float*>(w.data), static_cast<const float*>(b.data), hp().n_embd, hp().norm_eps, out);
    }
    std::vector<Layer> layers_;
    DevWeight tok_embd_, pos_embd_, out_norm_, out_norm_b_, output_, output_b_;
    double* inv_freq_ = nullptr;
    float* rope_cs_ = nullptr;  // [n_ctx][n_rot / 2] (cos, sin) for the fused attention, from ops::rope_cos_sin
    uint8_t* kc_ = nullptr;
    uint8_t* vc_ = nullptr;
    // Activations (device): x [E], h [E], q [Q], k [KV], v [KV], att [Q], a/b [F], scores [n_head * n_ctx].
    float *x_ = nullptr, *h_ = nullptr, *q_ = nullptr, *k_ = nullptr, *v_ = nullptr, *att_ = nullptr, *a_ = nullptr, *b_ = nullptr,
          *scores_ = nullptr;
    float* dlogits_ = nullptr;
    int dlogits_rows_ = 0;
    int32_t* dtp_ = nullptr;  // {token, position} per batch entry
    int dtp_cap_ = 0;
    // Fused decode layer (5 launches: cuda.h): fused_mv_ when every matrix has a fused int8 kernel;
    // fused_attn_ (rope + kv store + attention in one launch) for every model. RZ_CUDA_FUSED=0 turns both off.
    bool fused_mv_ = false;
    bool fused_attn_ = true;
    bool par_merge_ = true;  // RZ_CUDA_PAR_MERGE (default 1): forward_fused's merged q|k|v + up launch (parallel plain FFN)
    bool par_pair_ = true;   // RZ_CUDA_PAR_PAIR (default 1): o and down in one launch (cuda::matvec_pair; steps: matvec_rows_pair)
    // Graph path: fixed buffers the captured graphs point at.
    bool use_graphs_ = true;
    // One-token graphs, [seq][attn_variant], captured on first use.
    static constexpr int kAttnVariants = 3;
    std::vector<void*> graphs_;
    // The graph slot of a step at position pos: the one-token attention's query heads a block (1 / 2 / 4, or 0 for
    // the split kernel, in slot 0).
    int attn_variant(int32_t pos) const {
        if (!fused_attn_) return 0;
        const model::HParams& p = hp();
        const int G = cuda::attention_fused_heads(kv_f16_, p.n_head, p.n_head_kv, p.head_dim, p.n_rot, pos, p.n_swa);
        return G == 4 ? 2 : G == 2 ? 1 : 0;
    }
    int32_t* dtp1_ = nullptr;
    float* dlogits1_ = nullptr;
    bool pinned_ = true;         // RZ_CUDA_PINNED (default 1): the pinned step buffers (below and out_'s)
    void* hstep_ = nullptr;      // pinned: {token, pos} of the one-token step
    // The host's view of the last decode's logits rows (lazy copies, device top-k): filled on read, so
    // mutable under the const logits() / top_k() of the contract.
    mutable DeviceLogits out_;
    std::vector<int64_t> logit_row_;
    // Batched path. RZ_CUDA_BATCH_MIN (tokens), RZ_CUDA_BATCH_CHUNK, RZ_CUDA_MMV_MAX, RZ_CUDA_GEMM=auto|f16|f32 (batch.h GemmMode).
    int batch_min_ = 2;
    int batch_chunk_ = 512;
    int mmv_max_ = 8;  // up to this many tokens a matrix runs as a multi-vector mat-vec (faster below 8 on H200), not a GEMM
    cuda::batch::GemmMode gemm_mode_ = cuda::batch::GemmMode::kAuto;
    void* bscratch_ = nullptr;  // weight rows converted for the GEMM, <= 64 MiB; the prefill attention's split partials
    size_t bscratch_bytes_ = 0;
    // [chunk, E] residual, [chunk, q|k|v], [chunk, gate|up], GEMM inputs [chunk, max(E, Q, F)] in f32 / f16.
    float *bx_ = nullptr, *bqkv_ = nullptr, *bgu_ = nullptr, *bin32_ = nullptr;
    float* bpe_ = nullptr;  // [chunk, E] learned position rows (models with a position table only)
    void* bin16_ = nullptr;
    bool decode_rows_ = true;  // RZ_CUDA_DECODE_ROWS (default 1): decode steps take attention_decode_rows
    // Decode steps of 2..rows_max_ sequences take the fused int8 mat-vecs (cuda::matvec_rows: 0, 8, 16 or 32, by the
    // types and widths; RZ_CUDA_FUSED_ROWS=0: 0, the multi-vector mat-vec of the batched path), the output head too up to
    // head_rows_max_ rows.
    int rows_max_ = 0;
    int head_rows_max_ = 0;
    float* bdec_ = nullptr;    // its split partials (allocated with the batched buffers when decode_rows_)
    bool att_rows_q8_ = true;  // RZ_CUDA_ATT_ROWS_Q8 (default 1): the rows path's attention writes o's int8 rows (gpu_batch.cpp)
    bool rows_rope_ = true;    // RZ_CUDA_ROWS_ROPE (default 1): ... and below rows_tc's positions applies RoPE and stores k, v itself
    size_t bdec_floats_ = 0;
    static constexpr int kDecodeRowsMax = 32;  // decode steps of up to this many sequences take attention_decode_rows
    int32_t* bints_ = nullptr;  // per chunk: token | pos | seq | logits rows [chunk each] | tiles [2 chunk]
    // Batched GEMMs of n tokens run over gemm_rows(n): a multiple of 16 up to 64 tokens, of gemm_quantum_ (64) above,
    // at most the chunk (forward_batch says why). RZ_CUDA_GEMM_QUANTUM=1: n itself.
    int gemm_quantum_ = 64;
    int gemm_rows(int n) const {
        const int q = n <= gemm_quantum_ ? std::min(16, gemm_quantum_) : gemm_quantum_;
        return std::max(n, std::min((n + q - 1) / q * q, batch_chunk_));
    }
    static constexpr int kBatchGraphMaxTokens = 64;  // batches up to this size replay CUDA graphs (RZ_CUDA_GRAPHS=0: never)
    int graph_sightings_ = 2;  // a batch shape is captured the time it comes this often (forward_batch)
    // (tokens, tiles, logits rows, logits buffer, rows_tc, rows_gqa) -> executable graph of the batched path
    struct BatchGraphs {
        using Key = std::tuple<int, int, int, void*, bool, int>;
        std::map<Key, void*> g;
        std::map<Key, int> seen;  // shapes not captured yet: how often they came
        bool ok = true;  // false after a capture failed: eager launches only
        void clear() {
            for (auto& [k, v] : g) cuda::batch::graph_destroy(v);
            g.clear();
        }
        ~BatchGraphs() { clear(); }
    } bgraphs_;
};

}  // namespace rz::runtime::gpu
