// The CUDA Context. Weights are uploaded once, as stored (quantized blocks stay quantized); the KV cache,
// activations and logits live on the device. A decode() runs its tokens one after another through the
// decode kernels (prefill is token-by-token for now) and copies back only the requested logits rows.
// A one-token decode with logits (the generation loop's step) replays a CUDA graph captured per sequence:
// token and position live in device memory, so one graph serves every step (RZ_CUDA_GRAPHS=0 disables it).
#include "runtime/gpu/gpu_context.h"

#ifdef RZ_HAVE_CUDA
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "realizar/backend/cuda/cuda.h"
#include "runtime/model_impl.h"
#include "runtime/ops.h"
#endif

namespace rz::runtime {

#ifndef RZ_HAVE_CUDA

Result<std::unique_ptr<Context>> create_gpu_context(std::shared_ptr<const Model>, const ContextOptions&) {
    return unsupported("GPU context: this build of realizar has no CUDA backend (configure with -DRZ_CUDA=ON on a machine with nvcc)");
}

#else

namespace {

using model::Role;

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
    }

    static Result<std::unique_ptr<Context>> create(std::shared_ptr<const Model> model, const ContextOptions& opts);

    Status decode(const Batch& b) override;
    std::span<const float> logits(size_t i) const override {
        if (i >= logit_row_.size() || logit_row_[i] < 0) return {};
        const size_t V = static_cast<size_t>(hp().n_vocab);
        return {logits_.data() + static_cast<size_t>(logit_row_[i]) * V, V};
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
    Status validate(const Batch& b) const;
    // tp: device {token, position}.
    void forward_token(const int32_t* tp, int32_t seq, float* logits_dst);
    // Whether every layer matrix and the output head can take the fused int8 kernels (cuda::matvec_norm & co).
    bool fused_capable() const;
    size_t kv_offset(int il, int seq) const {  // elements to the [n_head_kv][n_ctx][hd] slab of (layer, seq)
        return (static_cast<size_t>(il) * n_seq_ + static_cast<size_t>(seq)) * static_cast<size_t>(hp().n_head_kv) * n_ctx_ * hp().head_dim;
    }

    std::shared_ptr<const Model> model_;
    const ModelImpl* m_ = nullptr;
    int n_ctx_ = 0;
    int n_seq_ = 1;
    bool kv_f16_ = true;
    std::vector<int32_t> len_;
    std::vector<void*> owned_;
    std::unordered_map<const void*, DevWeight> uploaded_;  // host data -> device copy (tied embeddings upload once)

    struct Layer {
        DevWeight attn_norm, q, k, v, o, qb, kb, vb, ob, ffn_norm, gate, up, down;
        DevWeight qkv, gate_up;  // stacked when the parts share a dtype (then q/k/v, gate/up stay empty)
    };
    std::vector<Layer> layers_;
    DevWeight tok_embd_, out_norm_, output_;
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
    // Graph path: fixed buffers the captured graphs point at.
    bool use_graphs_ = true;
    std::vector<void*> graphs_;  // per sequence, captured on first use
    int32_t* dtp1_ = nullptr;
    float* dlogits1_ = nullptr;
    std::vector<float> logits_;
    std::vector<int64_t> logit_row_;
};

Result<DevWeight> GpuContext::upload(const model::Weight& w) {
    if (!w) return DevWeight{};
    if (auto it = uploaded_.find(w.data); it != uploaded_.end()) return it->second;
    if (!cuda::weight_supported(w.dtype))
        return unsupported(fmt::format("GPU context: tensor {} has type {}, which the CUDA kernels do not read (f32, f16, bf16, q8_0, "
                                       "q4_0, q4_K, q5_K, q6_K)", w.name, dtype_name(w.dtype)));
    const bool plain = w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16;
    if ((!plain && w.n_cols % 32 != 0) || w.n_rows > (1 << 30) || w.n_cols > (1 << 30))
        return unsupported(fmt::format("GPU context: tensor {} [{}, {}]: quantized rows must be a multiple of 32", w.name, w.n_rows, w.n_cols));
    const size_t bytes = cuda::row_bytes(w.dtype, w.n_cols) * static_cast<size_t>(w.n_rows);
    RZ_ASSIGN_OR_RETURN(void* p, dev_alloc(bytes, "tensor " + w.name));
    RZ_RETURN_IF_ERROR(cuda::upload(p, w.data, bytes));
    DevWeight d{w.dtype, p, static_cast<int>(w.n_rows), static_cast<int>(w.n_cols)};
    uploaded_[w.data] = d;
    return d;
}

Result<DevWeight> GpuContext::upload_stacked(std::initializer_list<const model::Weight*> ws) {
    const model::Weight& w0 = **ws.begin();
    int64_t rows = 0;
    for (const model::Weight* w : ws) {
        if (!*w || w->dtype != w0.dtype || w->n_cols != w0.n_cols) return DevWeight{};
        rows += w->n_rows;
    }
    if (!cuda::weight_supported(w0.dtype) || w0.n_cols % 32 != 0 || rows > (1 << 30)) return DevWeight{};
    const size_t rb = cuda::row_bytes(w0.dtype, w0.n_cols);
    RZ_ASSIGN_OR_RETURN(void* p, dev_alloc(rb * static_cast<size_t>(rows), "tensor " + w0.name + " (stacked)"));
    size_t off = 0;
    for (const model::Weight* w : ws) {
        RZ_RETURN_IF_ERROR(cuda::upload(static_cast<uint8_t*>(p) + off, w->data, rb * static_cast<size_t>(w->n_rows)));
        off += rb * static_cast<size_t>(w->n_rows);
    }
    return DevWeight{w0.dtype, p, static_cast<int>(rows), static_cast<int>(w0.n_cols)};
}

Result<std::unique_ptr<Context>> GpuContext::create(std::shared_ptr<const Model> model, const ContextOptions& opts) {
    if (!model) return invalid_argument("GPU context: no model");
    const auto* m = dynamic_cast<const ModelImpl*>(model.get());
    if (!m) return invalid_argument("GPU context: model was not loaded by realizar's runtime");
    if (cuda::device_count() <= 0) return unavailable("GPU context: no CUDA device is available");
    const model::HParams& hp = m->hp();
    const model::ModelWeights& W = m->weights();
    const std::string arch = m->info().arch;
    // The decode kernels implement the llama-family block; anything else is refused up front.
    if (hp.norm != model::NormType::kRms || hp.ffn != model::FfnType::kGated || hp.act != model::Activation::kSilu ||
        hp.parallel_block || hp.learned_pos || hp.n_swa != 0 || hp.embd_scale != 1.0f)
        return unsupported(fmt::format("GPU context: the {} architecture is not supported on the GPU yet (llama-family blocks only)", arch));
    if (hp.head_dim > 256 || hp.head_dim % 2 != 0 || hp.n_head % hp.n_head_kv != 0)
        return unsupported(fmt::format("GPU context: head_dim {} with {} / {} heads is not supported", hp.head_dim, hp.n_head, hp.n_head_kv));
    for (Role r : {Role::kPosEmbd, Role::kOutputNormB, Role::kOutputB})
        if (W[r]) return unsupported(fmt::format("GPU context: tensor {} is not supported on the GPU yet", W[r].name));
    for (const auto& L : W.layers)
        for (Role r : {Role::kAttnQkv, Role::kFfnGateUp, Role::kAttnQNorm, Role::kAttnKNorm, Role::kAttnNormB, Role::kFfnNormB,
                       Role::kFfnUpB, Role::kFfnDownB})
            if (L[r]) return unsupported(fmt::format("GPU context: tensor {} is not supported on the GPU yet", L[r].name));
    if (opts.n_ctx < 0) return invalid_argument(fmt::format("context size {} is negative", opts.n_ctx));
    if (opts.n_seq_max < 1 || opts.n_seq_max > 4096) return invalid_argument(fmt::format("n_seq_max {} is not in [1, 4096]", opts.n_seq_max));
    if (opts.cache_type != DType::F16 && opts.cache_type != DType::F32)
        return invalid_argument(fmt::format("cache type {} is not supported (f16, f32)", dtype_name(opts.cache_type)));
    const int n_ctx = opts.n_ctx > 0 ? opts.n_ctx : std::min(hp.n_ctx_train, 4096);
    if (n_ctx > (1 << 24)) return invalid_argument(fmt::format("context size {} is too large", n_ctx));

    auto c = std::unique_ptr<GpuContext>(new GpuContext());
    c->model_ = std::move(model);
    c->m_ = m;
    c->n_ctx_ = n_ctx;
    c->n_seq_ = opts.n_seq_max;
    c->kv_f16_ = opts.cache_type == DType::F16;
    c->len_.assign(static_cast<size_t>(opts.n_seq_max), 0);

    RZ_ASSIGN_OR_RETURN(c->tok_embd_, c->upload(W[Role::kTokenEmbd]));
    RZ_ASSIGN_OR_RETURN(c->out_norm_, c->upload(W[Role::kOutputNorm]));
    RZ_ASSIGN_OR_RETURN(c->output_, c->upload(W.output()));
    for (const auto& L : W.layers) {
        Layer d;
        RZ_ASSIGN_OR_RETURN(d.attn_norm, c->upload(L[Role::kAttnNorm]));
        if (!L[Role::kAttnQB] && !L[Role::kAttnKB] && !L[Role::kAttnVB]) {
            RZ_ASSIGN_OR_RETURN(d.qkv, c->upload_stacked({&L[Role::kAttnQ], &L[Role::kAttnK], &L[Role::kAttnV]}));
        }
        if (!d.qkv) {
            RZ_ASSIGN_OR_RETURN(d.q, c->upload(L[Role::kAttnQ]));
            RZ_ASSIGN_OR_RETURN(d.k, c->upload(L[Role::kAttnK]));
            RZ_ASSIGN_OR_RETURN(d.v, c->upload(L[Role::kAttnV]));
        }
        RZ_ASSIGN_OR_RETURN(d.o, c->upload(L[Role::kAttnOut]));
        RZ_ASSIGN_OR_RETURN(d.qb, c->upload(L[Role::kAttnQB]));
        RZ_ASSIGN_OR_RETURN(d.kb, c->upload(L[Role::kAttnKB]));
        RZ_ASSIGN_OR_RETURN(d.vb, c->upload(L[Role::kAttnVB]));
        RZ_ASSIGN_OR_RETURN(d.ob, c->upload(L[Role::kAttnOutB]));
        RZ_ASSIGN_OR_RETURN(d.ffn_norm, c->upload(L[Role::kFfnNorm]));
        RZ_ASSIGN_OR_RETURN(d.gate_up, c->upload_stacked({&L[Role::kFfnGate], &L[Role::kFfnUp]}));
        if (!d.gate_up) {
            RZ_ASSIGN_OR_RETURN(d.gate, c->upload(L[Role::kFfnGate]));
            RZ_ASSIGN_OR_RETURN(d.up, c->upload(L[Role::kFfnUp]));
        }
        RZ_ASSIGN_OR_RETURN(d.down, c->upload(L[Role::kFfnDown]));
        if (!d.attn_norm || (!d.qkv && (!d.q || !d.k || !d.v)) || !d.o || !d.ffn_norm || (!d.gate_up && (!d.gate || !d.up)) || !d.down)
            return unsupported("GPU context: a layer lacks one of the llama-family tensors (attn_norm, q, k, v, o, ffn_norm, gate, up, down)");
        for (const DevWeight* n : {&d.attn_norm, &d.ffn_norm, &d.qb, &d.kb, &d.vb, &d.ob})
            if (*n && n->dtype != DType::F32) return unsupported("GPU context: norm weights and biases must be f32");
        c->layers_.push_back(d);
    }
    if (!c->out_norm_ || c->out_norm_.dtype != DType::F32 || !c->output_)
        return unsupported("GPU context: output norm (f32) and output projection are required");

    const size_t E = static_cast<size_t>(hp.n_embd), Q = static_cast<size_t>(hp.n_embd_q()), KV = static_cast<size_t>(hp.n_embd_kv());
    const size_t F = static_cast<size_t>(hp.n_ff);
    if (hp.rope_type != model::RopeType::kNone) {
        const auto& fr = m->rope_inv_freq();
        RZ_ASSIGN_OR_RETURN(void* p, c->dev_alloc(fr.size() * sizeof(double), "RoPE frequencies"));
        RZ_RETURN_IF_ERROR(cuda::upload(p, fr.data(), fr.size() * sizeof(double)));
        c->inv_freq_ = static_cast<double*>(p);
        const int n_half = hp.n_rot / 2;
        std::vector<float> cs(static_cast<size_t>(n_ctx) * n_half * 2);
        for (int pos = 0; pos < n_ctx; ++pos) ops::rope_cos_sin(pos, fr.data(), n_half, cs.data() + static_cast<size_t>(pos) * n_half * 2);
        RZ_ASSIGN_OR_RETURN(c->rope_cs_, c->dev_floats(cs.size(), "RoPE cos/sin table"));
        RZ_RETURN_IF_ERROR(cuda::upload(c->rope_cs_, cs.data(), cs.size() * sizeof(float)));
    }
    const size_t kv_bytes = static_cast<size_t>(hp.n_layer) * c->n_seq_ * KV * static_cast<size_t>(n_ctx) * (c->kv_f16_ ? 2 : 4);
    RZ_ASSIGN_OR_RETURN(void* kp, c->dev_alloc(kv_bytes, "K cache"));
    RZ_ASSIGN_OR_RETURN(void* vp, c->dev_alloc(kv_bytes, "V cache"));
    c->kc_ = static_cast<uint8_t*>(kp);
    c->vc_ = static_cast<uint8_t*>(vp);
    RZ_ASSIGN_OR_RETURN(c->x_, c->dev_floats(E, "activations"));
    RZ_ASSIGN_OR_RETURN(c->h_, c->dev_floats(E, "activations"));
    RZ_ASSIGN_OR_RETURN(c->q_, c->dev_floats(Q + 2 * KV, "activations"));  // q | k | v, as a stacked projection writes them
    c->k_ = c->q_ + Q;
    c->v_ = c->k_ + KV;
    RZ_ASSIGN_OR_RETURN(c->att_, c->dev_floats(Q, "activations"));
    RZ_ASSIGN_OR_RETURN(c->a_, c->dev_floats(2 * F, "activations"));  // gate | up
    c->b_ = c->a_ + F;
    RZ_ASSIGN_OR_RETURN(c->scores_, c->dev_floats(static_cast<size_t>(hp.n_head) * n_ctx, "attention scores"));
    RZ_ASSIGN_OR_RETURN(void* t1, c->dev_alloc(2 * sizeof(int32_t), "token/position"));
    c->dtp1_ = static_cast<int32_t*>(t1);
    RZ_ASSIGN_OR_RETURN(c->dlogits1_, c->dev_floats(static_cast<size_t>(hp.n_vocab), "logits"));
    const char* ef = std::getenv("RZ_CUDA_FUSED");
    c->fused_attn_ = !(ef && std::strcmp(ef, "0") == 0);
    c->fused_mv_ = c->fused_attn_ && cuda::int8_activations() && c->fused_capable();
    const char* eg = std::getenv("RZ_CUDA_GRAPHS");
    c->use_graphs_ = !(eg && std::strcmp(eg, "0") == 0);
    c->graphs_.assign(static_cast<size_t>(c->n_seq_), nullptr);
    RZ_RETURN_IF_ERROR(cuda::sync("GPU context creation"));
    return std::unique_ptr<Context>(std::move(c));
}

bool GpuContext::fused_capable() const {
    const model::HParams& p = hp();
    const int E = p.n_embd, Q = p.n_embd_q(), F = p.n_ff;
    if (E > cuda::kFusedMaxNormCols || p.head_dim % 32 != 0 || F % 32 != 0) return false;
    auto ok = [](const DevWeight& w, int cols) { return cuda::fused_supported(w.dtype, cols); };
    for (const Layer& L : layers_) {
        if (L.qkv ? !ok(L.qkv, E) : !(ok(L.q, E) && ok(L.k, E) && ok(L.v, E))) return false;
        if (L.gate_up ? !ok(L.gate_up, E) : !(ok(L.gate, E) && ok(L.up, E) && L.gate.dtype == L.up.dtype)) return false;
        if (!ok(L.o, Q) || !ok(L.down, F)) return false;
    }
    return ok(output_, E);
}

Status GpuContext::validate(const Batch& b) const {
    const size_t n = b.token.size();
    if (b.pos.size() != n || b.seq_id.size() != n || b.logits.size() != n)
        return invalid_argument(fmt::format("batch arrays differ in length (token {}, pos {}, seq_id {}, logits {})", n, b.pos.size(),
                                            b.seq_id.size(), b.logits.size()));
    if (n == 0) return invalid_argument("empty batch");
    std::vector<int32_t> next = len_;
    for (size_t i = 0; i < n; ++i) {
        if (b.token[i] < 0 || b.token[i] >= hp().n_vocab)
            return out_of_range(fmt::format("batch entry {}: token id {} is outside the vocabulary [0, {})", i, b.token[i], hp().n_vocab));
        const int32_t s = b.seq_id[i];
        if (s < 0 || s >= n_seq_) return out_of_range(fmt::format("batch entry {}: sequence id {} is outside [0, {})", i, s, n_seq_));
        int32_t& nx = next[static_cast<size_t>(s)];
        if (nx >= n_ctx_)
            return out_of_range(fmt::format("context overflow: sequence {} holds {} of {} positions", s, len_[static_cast<size_t>(s)], n_ctx_));
        if (b.pos[i] != nx)
            return invalid_argument(fmt::format("batch entry {}: position {} does not continue sequence {} (expected {})", i, b.pos[i], s, nx));
        ++nx;
    }
    return Status::Ok();
}

void GpuContext::forward_token(const int32_t* tp, int32_t seq, float* logits_dst) {
    const int32_t* pos = tp + 1;
    const model::HParams& p = hp();
    const int E = p.n_embd, Q = p.n_embd_q(), KV = p.n_embd_kv(), F = p.n_ff, hd = p.head_dim;
    const size_t esz = kv_f16_ ? 2 : 4;
    const double* inv_freq = p.rope_type != model::RopeType::kNone ? inv_freq_ : nullptr;
    const float* rope_cs = p.rope_type != model::RopeType::kNone ? rope_cs_ : nullptr;
    const bool neox = p.rope_type == model::RopeType::kNeox;
    cuda::get_row(tok_embd_.dtype, tok_embd_.data, E, tp, 1.0f, x_);
    if (fused_mv_) {  // 5 launches per layer (cuda.h, "Fused decode layer")
        for (int il = 0; il < p.n_layer; ++il) {
            const Layer& L = layers_[static_cast<size_t>(il)];
            auto f32 = [](const DevWeight& w) { return static_cast<const float*>(w.data); };
            if (L.qkv) {
                const cuda::MatvecSeg s{L.qkv.dtype, L.qkv.data, Q + 2 * KV, nullptr, q_};
                cuda::matvec_norm(&s, 1, E, x_, f32(L.attn_norm), p.norm_eps, false);
            } else {
                const cuda::MatvecSeg s[3] = {{L.q.dtype, L.q.data, Q, f32(L.qb), q_},
                                              {L.k.dtype, L.k.data, KV, f32(L.kb), k_},
                                              {L.v.dtype, L.v.data, KV, f32(L.vb), v_}};
                cuda::matvec_norm(s, 3, E, x_, f32(L.attn_norm), p.norm_eps, false);
            }
            uint8_t* kc = kc_ + kv_offset(il, seq) * esz;
            uint8_t* vc = vc_ + kv_offset(il, seq) * esz;
            cuda::attention_fused(q_, k_, v_, kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, p.n_rot, rope_cs, neox, pos, p.softmax_scale(),
                                  scores_, true, att_);
            cuda::matvec_act({L.o.dtype, L.o.data, E, f32(L.ob), x_}, Q, true);  // x += o
            if (L.gate_up) {
                const auto* up = static_cast<const uint8_t*>(L.gate_up.data) + cuda::row_bytes(L.gate_up.dtype, E) * static_cast<size_t>(F);
                cuda::matvec_glu_norm(L.gate_up.dtype, L.gate_up.data, L.gate_up.dtype, up, F, E, x_, f32(L.ffn_norm), p.norm_eps, nullptr);
            } else {
                cuda::matvec_glu_norm(L.gate.dtype, L.gate.data, L.up.dtype, L.up.data, F, E, x_, f32(L.ffn_norm), p.norm_eps, nullptr);
            }
            cuda::matvec_act({L.down.dtype, L.down.data, E, nullptr, x_}, F, true);  // x += down(silu(gate) * up)
        }
        if (logits_dst) {
            const cuda::MatvecSeg s{output_.dtype, output_.data, p.n_vocab, nullptr, logits_dst};
            cuda::matvec_norm(&s, 1, E, x_, static_cast<const float*>(out_norm_.data), p.norm_eps, false);
        }
        return;
    }
    for (int il = 0; il < p.n_layer; ++il) {
        const Layer& L = layers_[static_cast<size_t>(il)];
        cuda::rms_norm(x_, static_cast<const float*>(L.attn_norm.data), E, p.norm_eps, h_);
        if (L.qkv) {
            cuda::matvec(L.qkv.dtype, L.qkv.data, Q + 2 * KV, E, h_, nullptr, false, q_);
        } else {
            cuda::matvec(L.q.dtype, L.q.data, Q, E, h_, static_cast<const float*>(L.qb.data), false, q_);
            cuda::matvec(L.k.dtype, L.k.data, KV, E, h_, static_cast<const float*>(L.kb.data), false, k_);
            cuda::matvec(L.v.dtype, L.v.data, KV, E, h_, static_cast<const float*>(L.vb.data), false, v_);
        }
        uint8_t* kc = kc_ + kv_offset(il, seq) * esz;
        uint8_t* vc = vc_ + kv_offset(il, seq) * esz;
        if (fused_attn_) {  // float output: the o mat-vec below quantizes att_ itself
            cuda::attention_fused(q_, k_, v_, kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, p.n_rot, rope_cs, neox, pos, p.softmax_scale(),
                                  scores_, false, att_);
        } else {
            if (inv_freq) cuda::rope(q_, p.n_head, k_, p.n_head_kv, hd, p.n_rot, inv_freq, pos, neox);
            cuda::kv_store(k_, v_, kc, vc, kv_f16_, p.n_head_kv, n_ctx_, hd, pos);
            cuda::attention_decode(q_, kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, pos, p.softmax_scale(), scores_, att_);
        }
        cuda::matvec(L.o.dtype, L.o.data, E, Q, att_, static_cast<const float*>(L.ob.data), true, x_);  // x += o
        cuda::rms_norm(x_, static_cast<const float*>(L.ffn_norm.data), E, p.norm_eps, h_);
        if (L.gate_up) {
            cuda::matvec(L.gate_up.dtype, L.gate_up.data, 2 * F, E, h_, nullptr, false, a_);
        } else {
            cuda::matvec(L.gate.dtype, L.gate.data, F, E, h_, nullptr, false, a_);
            cuda::matvec(L.up.dtype, L.up.data, F, E, h_, nullptr, false, b_);
        }
        cuda::matvec_glu(L.down.dtype, L.down.data, E, F, a_, b_, nullptr, true, x_);  // x += down(silu(gate) * up)
    }
    if (logits_dst) {
        cuda::rms_norm(x_, static_cast<const float*>(out_norm_.data), E, p.norm_eps, h_);
        cuda::matvec(output_.dtype, output_.data, p.n_vocab, E, h_, nullptr, false, logits_dst);
    }
}

Status GpuContext::decode(const Batch& b) {
    RZ_RETURN_IF_ERROR(validate(b));
    const size_t n = b.size();
    const size_t V = static_cast<size_t>(hp().n_vocab);
    logit_row_.assign(n, -1);
    if (n == 1 && b.logits[0] && use_graphs_) {
        const int32_t tp[2] = {b.token[0], b.pos[0]};
        RZ_RETURN_IF_ERROR(cuda::upload(dtp1_, tp, sizeof(tp)));
        void*& g = graphs_[static_cast<size_t>(b.seq_id[0])];
        if (!g) {
            RZ_RETURN_IF_ERROR(cuda::capture_begin());
            forward_token(dtp1_, b.seq_id[0], dlogits1_);
            RZ_ASSIGN_OR_RETURN(g, cuda::capture_end());
        }
        RZ_RETURN_IF_ERROR(cuda::graph_launch(g));
        logits_.resize(V);
        RZ_RETURN_IF_ERROR(cuda::download(logits_.data(), dlogits1_, V * sizeof(float)));
        RZ_RETURN_IF_ERROR(cuda::sync("decode"));
        int32_t& l = len_[static_cast<size_t>(b.seq_id[0])];
        l = std::max(l, b.pos[0] + 1);
        logit_row_[0] = 0;
        return Status::Ok();
    }
    int64_t n_out = 0;
    for (size_t i = 0; i < n; ++i)
        if (b.logits[i]) logit_row_[i] = n_out++;
    if (static_cast<int>(n) > dtp_cap_) {
        RZ_ASSIGN_OR_RETURN(void* t, dev_alloc(2 * n * sizeof(int32_t), "token/position"));  // old one freed with the context
        dtp_ = static_cast<int32_t*>(t);
        dtp_cap_ = static_cast<int>(n);
    }
    std::vector<int32_t> tp(2 * n);
    for (size_t i = 0; i < n; ++i) tp[2 * i] = b.token[i], tp[2 * i + 1] = b.pos[i];
    RZ_RETURN_IF_ERROR(cuda::upload(dtp_, tp.data(), tp.size() * sizeof(int32_t)));
    if (n_out > dlogits_rows_) {
        RZ_ASSIGN_OR_RETURN(dlogits_, dev_floats(static_cast<size_t>(n_out) * V, "logits"));  // old buffer freed with the context
        dlogits_rows_ = static_cast<int>(n_out);
    }
    for (size_t i = 0; i < n; ++i) {
        float* dst = logit_row_[i] >= 0 ? dlogits_ + static_cast<size_t>(logit_row_[i]) * V : nullptr;
        forward_token(dtp_ + 2 * i, b.seq_id[i], dst);
        int32_t& l = len_[static_cast<size_t>(b.seq_id[i])];
        l = std::max(l, b.pos[i] + 1);
    }
    logits_.resize(static_cast<size_t>(n_out) * V);
    Status st = n_out > 0 ? cuda::download(logits_.data(), dlogits_, logits_.size() * sizeof(float)) : cuda::sync("decode");
    if (st.ok()) st = cuda::sync("decode");
    if (!st.ok()) logit_row_.assign(n, -1);
    return st;
}

}  // namespace

Result<std::unique_ptr<Context>> create_gpu_context(std::shared_ptr<const Model> model, const ContextOptions& opts) {
    return GpuContext::create(std::move(model), opts);
}

#endif  // RZ_HAVE_CUDA

}  // namespace rz::runtime
