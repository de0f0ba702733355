// The CUDA Context. Weights are uploaded once, as stored (quantized blocks stay quantized); the KV cache,
// activations and logits live on the device. A decode() of >= 2 tokens takes the batched path (GEMMs over all
// tokens, forward_batch in gpu_batch.cpp); one token goes through the fused decode layer (llama block) or the per-operation
// kernels (other blocks). Only the requested logits rows come back. Partial offload: HybridContext, at the end.
// A one-token decode with logits (the generation loop's step) replays a CUDA graph captured per sequence:
// token and position live in device memory, so one graph serves every step (RZ_CUDA_GRAPHS=0 disables it).
// The logits rows stay on the device until read: logits() copies them, top_k() selects there (DeviceLogits).
#include "runtime/gpu/gpu_context.h"

#ifdef RZ_HAVE_CUDA
#include "runtime/gpu/gpu_context_impl.h"
#endif

namespace rz::runtime {

#ifndef RZ_HAVE_CUDA

Result<std::unique_ptr<Context>> create_gpu_context(std::shared_ptr<const Model>, const ContextOptions&) {
    return unsupported("GPU context: this build of realizar has no CUDA backend (configure with -DRZ_CUDA=ON on a machine with nvcc)");
}

#else

namespace gpu {

Result<DevWeight> GpuContext::upload(const model::Weight& w) {
    if (!w) return DevWeight{};
    if (auto it = uploaded_.find(w.data); it != uploaded_.end()) return it->second;
    if (!cuda::weight_supported(w.dtype))
        return unsupported(fmt::format("GPU context: tensor {} has type {}, which the CUDA kernels do not read (f32, f16, bf16, q8_0, "
                                       "q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs)", w.name, dtype_name(w.dtype)));
    const bool plain = w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16;
    if ((!plain && w.n_cols % 32 != 0) || w.n_rows > (1 << 30) || w.n_cols > (1 << 30))
        return unsupported(fmt::format("GPU context: tensor {} [{}, {}]: quantized rows must be a multiple of 32", w.name, w.n_rows, w.n_cols));
    const size_t bytes = cuda::row_bytes(w.dtype, w.n_cols) * static_cast<size_t>(w.n_rows);
    RZ_ASSIGN_OR_RETURN(void* p, dev_alloc(bytes, "tensor " + w.name));
    RZ_RETURN_IF_ERROR(cuda::upload_rows(p, w.dtype, w.n_cols, w.n_rows, w.data));  // into the device layout (Q6_K repacked)
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
        RZ_RETURN_IF_ERROR(cuda::upload_rows(static_cast<uint8_t*>(p) + off, w0.dtype, w0.n_cols, w->n_rows, w->data));
        off += rb * static_cast<size_t>(w->n_rows);
    }
    return DevWeight{w0.dtype, p, static_cast<int>(rows), static_cast<int>(w0.n_cols)};
}

Result<DevWeight> GpuContext::upload_concat(std::initializer_list<const model::Weight*> ws) {
    std::vector<float> all;
    for (const model::Weight* w : ws) {
        if (!*w || w->dtype != DType::F32 || w->n_rows != 1) return DevWeight{};
        all.insert(all.end(), w->f32(), w->f32() + w->n_cols);
    }
    RZ_ASSIGN_OR_RETURN(void* p, dev_alloc(all.size() * sizeof(float), "tensor " + (*ws.begin())->name + " (concatenated)"));
    RZ_RETURN_IF_ERROR(cuda::upload(p, all.data(), all.size() * sizeof(float)));
    return DevWeight{DType::F32, p, 1, static_cast<int>(all.size())};
}

Result<std::unique_ptr<GpuContext>> GpuContext::create(std::shared_ptr<const Model> model, const ContextOptions& opts, int layer_end) {
    if (!model) return invalid_argument("GPU context: no model");
    const auto* m = dynamic_cast<const ModelImpl*>(model.get());
    if (!m) return invalid_argument("GPU context: model was not loaded by realizar's runtime");
    if (cuda::device_count() <= 0) return unavailable("GPU context: no CUDA device is available");
    const model::HParams& hp = m->hp();
    const model::ModelWeights& W = m->weights();
    const std::string arch = m->info().arch;
    // RMSNorm/LayerNorm, sequential or parallel blocks, gated or plain FFNs with any activation, RoPE or learned
    // positions, biases, q/k norms: what the decode kernels do not cover is refused up front.
    if (hp.head_dim > 256 || hp.head_dim % 2 != 0 || hp.n_head % hp.n_head_kv != 0)
        return unsupported(fmt::format("GPU context: head_dim {} with {} / {} heads is not supported", hp.head_dim, hp.n_head, hp.n_head_kv));
    if (opts.n_ctx < 0) return invalid_argument(fmt::format("context size {} is negative", opts.n_ctx));
    if (opts.n_seq_max < 1 || opts.n_seq_max > 4096) return invalid_argument(fmt::format("n_seq_max {} is not in [1, 4096]", opts.n_seq_max));
    if (opts.cache_type != DType::F16 && opts.cache_type != DType::F32)
        return invalid_argument(fmt::format("cache type {} is not supported (f16, f32)", dtype_name(opts.cache_type)));
    const int n_ctx = opts.n_ctx > 0 ? opts.n_ctx : std::min(hp.n_ctx_train, 4096);
    if (n_ctx > (1 << 24)) return invalid_argument(fmt::format("context size {} is too large", n_ctx));
    if (hp.learned_pos && n_ctx > hp.n_ctx_train)
        return invalid_argument(fmt::format("context size {} exceeds the {} learned positions of this {} model", n_ctx, hp.n_ctx_train, arch));

    auto c = std::unique_ptr<GpuContext>(new GpuContext());
    c->model_ = std::move(model);
    c->m_ = m;
    c->n_ctx_ = n_ctx;
    c->n_seq_ = opts.n_seq_max;
    c->layer_end_ = layer_end;
    c->kv_f16_ = opts.cache_type == DType::F16;
    c->len_.assign(static_cast<size_t>(opts.n_seq_max), 0);

    RZ_ASSIGN_OR_RETURN(c->tok_embd_, c->upload(W[Role::kTokenEmbd]));
    RZ_ASSIGN_OR_RETURN(c->pos_embd_, c->upload(W[Role::kPosEmbd]));
    if (hp.learned_pos != static_cast<bool>(c->pos_embd_)) return unsupported("GPU context: learned positions without their table");
    const bool full = layer_end == hp.n_layer;
    if (full) {
        RZ_ASSIGN_OR_RETURN(c->out_norm_, c->upload(W[Role::kOutputNorm]));
        RZ_ASSIGN_OR_RETURN(c->out_norm_b_, c->upload(W[Role::kOutputNormB]));
        RZ_ASSIGN_OR_RETURN(c->output_, c->upload(W.output()));
        RZ_ASSIGN_OR_RETURN(c->output_b_, c->upload(W[Role::kOutputB]));
    }
    for (int il = 0; il < layer_end; ++il) {
        const model::LayerWeights& L = W.layers[static_cast<size_t>(il)];
        Layer d;
        RZ_ASSIGN_OR_RETURN(d.attn_norm, c->upload(L[Role::kAttnNorm]));
        RZ_ASSIGN_OR_RETURN(d.attn_norm_b, c->upload(L[Role::kAttnNormB]));
        if (L[Role::kAttnQkv]) {  // stored fused (gpt2): q | k | v rows
            RZ_ASSIGN_OR_RETURN(d.qkv, c->upload(L[Role::kAttnQkv]));
            RZ_ASSIGN_OR_RETURN(d.qkv_b, c->upload(L[Role::kAttnQkvB]));
        } else if (!L[Role::kAttnQB] && !L[Role::kAttnKB] && !L[Role::kAttnVB]) {
            RZ_ASSIGN_OR_RETURN(d.qkv, c->upload_stacked({&L[Role::kAttnQ], &L[Role::kAttnK], &L[Role::kAttnV]}));
        } else if (L[Role::kAttnQB].dtype == DType::F32 && L[Role::kAttnKB].dtype == DType::F32 && L[Role::kAttnVB].dtype == DType::F32 &&
                   L[Role::kAttnQB] && L[Role::kAttnKB] && L[Role::kAttnVB]) {  // qwen2, phi2: stack the biases too
            RZ_ASSIGN_OR_RETURN(d.qkv, c->upload_stacked({&L[Role::kAttnQ], &L[Role::kAttnK], &L[Role::kAttnV]}));
            if (d.qkv) {
                RZ_ASSIGN_OR_RETURN(d.qkv_b, c->upload_concat({&L[Role::kAttnQB], &L[Role::kAttnKB], &L[Role::kAttnVB]}));
            }
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
        RZ_ASSIGN_OR_RETURN(d.q_norm, c->upload(L[Role::kAttnQNorm]));
        RZ_ASSIGN_OR_RETURN(d.k_norm, c->upload(L[Role::kAttnKNorm]));
        RZ_ASSIGN_OR_RETURN(d.ffn_norm, c->upload(L[Role::kFfnNorm]));
        RZ_ASSIGN_OR_RETURN(d.ffn_norm_b, c->upload(L[Role::kFfnNormB]));
        const bool gated = hp.ffn == model::FfnType::kGated;
        if (L[Role::kFfnGateUp]) {  // stored fused (phi3): gate | up rows
            RZ_ASSIGN_OR_RETURN(d.gate_up, c->upload(L[Role::kFfnGateUp]));
        } else if (gated) {
            RZ_ASSIGN_OR_RETURN(d.gate_up, c->upload_stacked({&L[Role::kFfnGate], &L[Role::kFfnUp]}));
        }
        if (!d.gate_up) {
            RZ_ASSIGN_OR_RETURN(d.gate, c->upload(L[Role::kFfnGate]));
            RZ_ASSIGN_OR_RETURN(d.up, c->upload(L[Role::kFfnUp]));
        }
        RZ_ASSIGN_OR_RETURN(d.up_b, c->upload(L[Role::kFfnUpB]));
        RZ_ASSIGN_OR_RETURN(d.down, c->upload(L[Role::kFfnDown]));
        RZ_ASSIGN_OR_RETURN(d.down_b, c->upload(L[Role::kFfnDownB]));
        const bool has_ffn = gated ? (d.gate_up || (d.gate && d.up)) : static_cast<bool>(d.up);
        if (!d.attn_norm || (!d.qkv && (!d.q || !d.k || !d.v)) || !d.o || (!hp.parallel_block && !d.ffn_norm) || !has_ffn || !d.down)
            return unsupported(fmt::format("GPU context: layer {} lacks one of the tensors of its {} block", il, arch));
        if ((d.gate_up || d.gate) && d.up_b) return unsupported("GPU context: a gated FFN with an up bias is not supported on the GPU yet");
        for (const DevWeight* n : {&d.attn_norm, &d.attn_norm_b, &d.ffn_norm, &d.ffn_norm_b, &d.qb, &d.kb, &d.vb, &d.qkv_b, &d.ob, &d.q_norm,
                                   &d.k_norm, &d.up_b, &d.down_b})
            if (*n && n->dtype != DType::F32) return unsupported("GPU context: norm weights and biases must be f32");
        c->layers_.push_back(d);
    }
    if (full && (!c->out_norm_ || c->out_norm_.dtype != DType::F32 || !c->output_ || (c->out_norm_b_ && c->out_norm_b_.dtype != DType::F32) ||
                 (c->output_b_ && c->output_b_.dtype != DType::F32)))
        return unsupported("GPU context: output norm (f32) and output projection are required");

    const size_t E = static_cast<size_t>(hp.n_embd), Q = static_cast<size_t>(hp.n_embd_q()), KV = static_cast<size_t>(hp.n_embd_kv());
    const size_t F = static_cast<size_t>(hp.n_ff);
    // The KV caches first: a context larger than the device holds fails here, with the sizes in the error, before
    // the host builds its n_ctx-long RoPE table (8.6 GB of floats for head_dim 128 at the largest n_ctx).
    const size_t kv_bytes = static_cast<size_t>(layer_end) * c->n_seq_ * KV * static_cast<size_t>(n_ctx) * (c->kv_f16_ ? 2 : 4);
    RZ_ASSIGN_OR_RETURN(void* kp, c->dev_alloc(kv_bytes, "K cache"));
    RZ_ASSIGN_OR_RETURN(void* vp, c->dev_alloc(kv_bytes, "V cache"));
    c->kc_ = static_cast<uint8_t*>(kp);
    c->vc_ = static_cast<uint8_t*>(vp);
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
    if (const char* e = std::getenv("RZ_CUDA_PINNED")) c->pinned_ = std::strcmp(e, "0") != 0;
    const char* et = std::getenv("RZ_CUDA_TOPK");  // 0: top_k() copies the row and selects on the host
    RZ_RETURN_IF_ERROR(c->out_.configure(hp.n_vocab, c->pinned_, !(et && std::strcmp(et, "0") == 0)));
    c->graphs_.assign(static_cast<size_t>(c->n_seq_) * kAttnVariants, nullptr);
    if (const char* e = std::getenv("RZ_CUDA_BATCH_MIN")) c->batch_min_ = std::max(1, std::atoi(e));
    if (const char* e = std::getenv("RZ_CUDA_BATCH_CHUNK")) c->batch_chunk_ = std::clamp(std::atoi(e), 1, 1 << 16);
    if (const char* e = std::getenv("RZ_CUDA_MMV_MAX")) c->mmv_max_ = std::max(0, std::atoi(e));
    if (const char* e = std::getenv("RZ_CUDA_GEMM_QUANTUM")) c->gemm_quantum_ = std::clamp(std::atoi(e), 1, 512);
    if (const char* e = std::getenv("RZ_CUDA_GRAPH_SIGHTINGS")) c->graph_sightings_ = std::clamp(std::atoi(e), 1, 1000);
    if (const char* e = std::getenv("RZ_CUDA_DECODE_ROWS")) c->decode_rows_ = std::strcmp(e, "0") != 0;
    if (const char* e = std::getenv("RZ_CUDA_ATT_ROWS_Q8")) c->att_rows_q8_ = std::strcmp(e, "0") != 0;
    if (const char* e = std::getenv("RZ_CUDA_PAR_MERGE")) c->par_merge_ = std::strcmp(e, "0") != 0;
    if (const char* e = std::getenv("RZ_CUDA_PAR_PAIR")) c->par_pair_ = std::strcmp(e, "0") != 0;
    if (const char* e = std::getenv("RZ_CUDA_ROWS_ROPE")) c->rows_rope_ = std::strcmp(e, "0") != 0;
    const char* er = std::getenv("RZ_CUDA_FUSED_ROWS");
    const bool rows_on = c->fused_mv_ && c->decode_rows_ && !(er && std::strcmp(er, "0") == 0);
    if (rows_on && c->rows_capable(cuda::kFusedRowsDp4a)) {
        // The most sequences of a decode step the rows kernels take (rows_capable: the activation buffers and a
        // block's shared memory). RZ_CUDA_ROWS_MAX caps it (8 / 16: larger steps take the GEMM path).
        const char* ec = std::getenv("RZ_CUDA_ROWS_MAX");
        const int cap = ec ? std::atoi(ec) : cuda::kFusedRowsMax;
        c->rows_max_ = cuda::kFusedRowsDp4a;
        for (int rows : {16, cuda::kFusedRowsMax})
            if (rows <= cap && c->rows_capable(rows)) c->rows_max_ = rows;
        for (int rows : {cuda::kFusedRowsDp4a, 16, cuda::kFusedRowsMax})
            if (rows <= c->rows_max_ && c->output_ && cuda::fused_rows_supported(c->output_.dtype, hp.n_embd, rows)) c->head_rows_max_ = rows;
    }
    if (const char* e = std::getenv("RZ_CUDA_GEMM"))
        c->gemm_mode_ = std::strcmp(e, "f16") == 0 ? cuda::batch::GemmMode::kF16 : std::strcmp(e, "f32") == 0 ? cuda::batch::GemmMode::kF32
                                                                                                               : cuda::batch::GemmMode::kAuto;
    // forward_batch implements every block the checks above accept (the same set forward_layers runs).
    c->batch_ok_ = true;
    RZ_RETURN_IF_ERROR(cuda::sync("GPU context creation"));
    return c;
}

bool GpuContext::rows_capable(int m) const {
    const model::HParams& p = hp();
    const int E = p.n_embd, Q = p.n_embd_q(), F = p.n_ff;
    auto ok = [m](const DevWeight& w, int cols) { return cuda::fused_rows_supported(w.dtype, cols, m); };
    // Separate q, k, v share one launch, which takes only some type mixes (cuda.h, fused_rows_mix).
    auto qkv_mix_ok = [](const Layer& L) {
        const DType t[3] = {L.q.dtype, L.k.dtype, L.v.dtype};
        return L.qkv || cuda::fused_rows_mix(t, 3);
    };
    // The attention rows [m, Q] go to bgu_ ([chunk, 2F] floats, idle until the FFN), and after them LayerNorm rows
    // [m, E] and a plain FFN's up projection [m, F] (gpu_batch.cpp rows_layer).
    const size_t scratch = static_cast<size_t>(Q) + (p.norm == model::NormType::kLayer ? E : 0) + (p.ffn == model::FfnType::kPlain ? F : 0);
    const size_t m_run = static_cast<size_t>(std::min(m, batch_chunk_));  // a step runs in chunks of at most batch_chunk_ tokens
    if (!cuda::fused_rows_fit(m, std::max(E, Q), F) || m_run * scratch > static_cast<size_t>(batch_chunk_) * 2 * static_cast<size_t>(F)) return false;
    for (const Layer& L : layers_)
        if (!layer_matrices(L, ok) || !qkv_mix_ok(L)) return false;
    return true;
}

bool GpuContext::fused_capable() const {
    const model::HParams& p = hp();
    const int E = p.n_embd, F = p.n_ff;
    const bool plain = p.ffn == model::FfnType::kPlain, layer_norm = p.norm == model::NormType::kLayer;
    if (E > cuda::kFusedMaxNormCols || F % 32 != 0 || (!layer_norm && (out_norm_b_ || p.norm != model::NormType::kRms))) return false;
    auto ok = [](const DevWeight& w, int cols) { return cuda::fused_supported(w.dtype, cols); };
    // qwen3's per-head q/k norms run inside the attention launch (one weight row of head_dim each).
    auto head_norm_ok = [&p](const DevWeight& w) { return !w || (w.rows == 1 && w.cols == p.head_dim && p.head_dim % 32 == 0); };
    for (const Layer& L : layers_) {
        if ((!layer_norm && (L.attn_norm_b || L.ffn_norm_b)) || !head_norm_ok(L.q_norm) || !head_norm_ok(L.k_norm) || (L.up_b && !plain)) return false;
        if (!layer_matrices(L, ok)) return false;
    }
    return !output_ || ok(output_, E);  // partial offload uploads no output head
}

Status GpuContext::validate(const Batch& b) const { return validate_batch(b, hp().n_vocab, n_ctx_, len_); }

void GpuContext::forward_token(const int32_t* tp, int32_t seq, int32_t pos_hint, float* logits_dst) {
    if (fused_mv_) return forward_fused(tp, seq, pos_hint, logits_dst);
    forward_layers(tp, seq, pos_hint);
    const model::HParams& p = hp();
    if (logits_dst) {
        norm(x_, out_norm_, out_norm_b_, h_);
        cuda::matvec(output_.dtype, output_.data, p.n_vocab, p.n_embd, h_, static_cast<const float*>(output_b_.data), false, logits_dst);
    }
}

void GpuContext::embed(const int32_t* tp) {
    const model::HParams& p = hp();
    cuda::get_row(tok_embd_.dtype, tok_embd_.data, p.n_embd, tp, p.embd_scale, x_);
    if (pos_embd_) {  // learned absolute positions (gpt2): x += P[pos]
        cuda::get_row(pos_embd_.dtype, pos_embd_.data, p.n_embd, tp + 1, 1.0f, h_);
        cuda::add(x_, h_, p.n_embd);
    }
}

void GpuContext::forward_fused(const int32_t* tp, int32_t seq, int32_t pos_hint, float* logits_dst) {
    const int32_t* pos = tp + 1;
    const model::HParams& p = hp();
    const int E = p.n_embd, Q = p.n_embd_q(), KV = p.n_embd_kv(), F = p.n_ff, hd = p.head_dim;
    const size_t esz = kv_f16_ ? 2 : 4;
    const float* rope_cs = p.rope_type != model::RopeType::kNone ? rope_cs_ : nullptr;
    const bool neox = p.rope_type == model::RopeType::kNeox;
    const bool plain = p.ffn == model::FfnType::kPlain, par = p.parallel_block;
    // The attention kernel quantizes its output into the fused activation buffer for o (matvec_act) when each head is
    // whole 32-element groups, and not in a parallel block, whose FFN (run between attention and o, below) writes
    // that buffer; else o quantizes the float output in its prologue.
    const bool att_q8 = hd % 32 == 0 && !par;
    // A parallel block's plain FFN (phi2) reads the attention's normed input: its up projection joins the q|k|v launch
    // as a second segment (bias and activation in the epilogue, floats into a_), and down quantizes a_ in its
    // prologue, as o does the attention's floats. One launch and one LayerNorm prologue a layer fewer than the
    // gate|up kernel's (session 21). Stacked q|k|v only (at most 3 segments a launch); RZ_CUDA_PAR_MERGE=0: off.
    const bool merged_up = up_merged();
    // With the up projection merged, o and down both read floats (the attention's, act(up)'s) and add to x: one
    // launch of both (cuda::matvec_pair, session 30), unless RZ_CUDA_PAR_PAIR=0 or the layer's types do not fit one kernel.
    const auto paired = [&](const Layer& L) {
        return merged_up && par_pair_ && !att_q8 && cuda::matvec_pair_supported(L.o.dtype, Q, L.down.dtype, F);
    };
    const auto f32 = [](const DevWeight& w) { return static_cast<const float*>(w.data); };
    const auto nspec = [&](const DevWeight& w, const DevWeight& b) {
        return cuda::NormSpec{p.norm == model::NormType::kLayer ? cuda::NormKind::kLayer : cuda::NormKind::kRms, f32(w), f32(b), p.norm_eps};
    };
    // Cross-kernel L2 prefetch (cuda.h): the weight ranges of every launch below in launch order (5 per layer,
    // then the head), planned into a slice per launch that set_l2_prefetch hands to that launch.
    std::vector<std::vector<cuda::ByteRange>> plan;
    if (cuda::l2_prefetch_mode() != 0) {
        const auto br = [](const DevWeight& w) {
            return cuda::ByteRange{w.data, w ? cuda::row_bytes(w.dtype, w.cols) * static_cast<size_t>(w.rows) : 0};
        };
        std::vector<std::vector<cuda::ByteRange>> launches;
        for (int il = 0; il < layer_end_; ++il) {
            const Layer& L = layers_[static_cast<size_t>(il)];
            if (merged_up) {
                launches.push_back({br(L.qkv), br(L.up)});
                launches.emplace_back();  // attention: no weights
                if (paired(L)) launches.push_back({br(L.o), br(L.down)});
                else launches.push_back({br(L.o)}), launches.push_back({br(L.down)});
                continue;
            }
            launches.push_back(L.qkv ? std::vector{br(L.qkv)} : std::vector{br(L.q), br(L.k), br(L.v)});
            launches.emplace_back();  // attention: no weights
            const std::vector<cuda::ByteRange> o{br(L.o)};
            const std::vector<cuda::ByteRange> ffn = plain ? std::vector{br(L.up)} : L.gate_up ? std::vector{br(L.gate_up)} : std::vector{br(L.gate), br(L.up)};
            launches.push_back(par ? ffn : o);
            launches.push_back(par ? o : ffn);
            launches.push_back({br(L.down)});
        }
        if (logits_dst) launches.push_back({br(output_)});
        plan = cuda::plan_l2_prefetch(launches, cuda::l2_prefetch_window());
    }
    size_t li = 0;
    const auto prefetch_next = [&] {  // before each fused launch, in the order above
        if (li < plan.size()) cuda::set_l2_prefetch(plan[li].data(), static_cast<int>(plan[li].size()));
        ++li;
    };
    embed(tp);
    for (int il = 0; il < layer_end_; ++il) {  // 5 launches per layer (cuda.h, "Fused decode layer"; 4 with merged_up, 3 paired)
        const Layer& L = layers_[static_cast<size_t>(il)];
        prefetch_next();
        if (merged_up) {  // q|k|v and act(up + b) [F] floats into a_
            const cuda::MatvecSeg s[2] = {{L.qkv.dtype, L.qkv.data, Q + 2 * KV, f32(L.qkv_b), q_},
                                          {L.up.dtype, L.up.data, F, f32(L.up_b), a_, static_cast<int>(act(p.act))}};
            cuda::matvec_prologue(s, 2, E, x_, nspec(L.attn_norm, L.attn_norm_b), false);
        } else if (L.qkv) {
            const cuda::MatvecSeg s{L.qkv.dtype, L.qkv.data, Q + 2 * KV, f32(L.qkv_b), q_};
            cuda::matvec_prologue(&s, 1, E, x_, nspec(L.attn_norm, L.attn_norm_b), false);
        } else {
            const cuda::MatvecSeg s[3] = {{L.q.dtype, L.q.data, Q, f32(L.qb), q_},
                                          {L.k.dtype, L.k.data, KV, f32(L.kb), k_},
                                          {L.v.dtype, L.v.data, KV, f32(L.vb), v_}};
            cuda::matvec_prologue(s, 3, E, x_, nspec(L.attn_norm, L.attn_norm_b), false);
        }
        uint8_t* kc = kc_ + kv_offset(il, seq) * esz;
        uint8_t* vc = vc_ + kv_offset(il, seq) * esz;
        prefetch_next();
        cuda::attention_fused(q_, k_, v_, kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, p.n_rot, rope_cs, neox, pos, p.softmax_scale(),
                              scores_, att_q8, att_, p.n_swa, f32(L.q_norm), f32(L.k_norm), p.norm_eps, pos_hint);
        const auto o_proj = [&] {  // x += o
            prefetch_next();
            const cuda::MatvecSeg s{L.o.dtype, L.o.data, E, f32(L.ob), x_};
            if (att_q8) cuda::matvec_act(s, Q, true);
            else cuda::matvec_prologue(&s, 1, Q, att_, cuda::NormSpec{cuda::NormKind::kNone}, true);
        };
        // The FFN's first half into the fused activation buffer. A parallel block's FFN normalises the layer's input
        // with the attention's norm, so it runs before o adds to x.
        const auto ffn_in = [&] {
            prefetch_next();
            const cuda::NormSpec n = par ? nspec(L.attn_norm, L.attn_norm_b) : nspec(L.ffn_norm, L.ffn_norm_b);
            if (plain) {
                cuda::matvec_ffn_norm(L.up.dtype, nullptr, L.up.dtype, L.up.data, f32(L.up_b), F, E, x_, n, act(p.act), nullptr);
            } else {
                const GluMats g = glu_mats(L);
                cuda::matvec_ffn_norm(g.tg, g.g, g.tu, g.u, nullptr, F, E, x_, n, act(p.act), nullptr);
            }
        };
        if (paired(L)) {  // x += o(q8(att_)) + down(q8(a_))
            prefetch_next();
            cuda::matvec_pair({L.o.dtype, L.o.data, E, f32(L.ob), x_}, Q, att_, {L.down.dtype, L.down.data, E, f32(L.down_b), x_}, F, a_, true);
            continue;
        }
        if (merged_up) {
            o_proj();
            prefetch_next();
            const cuda::MatvecSeg d{L.down.dtype, L.down.data, E, f32(L.down_b), x_};
            cuda::matvec_prologue(&d, 1, F, a_, cuda::NormSpec{cuda::NormKind::kNone}, true);  // x += down(q8(a_))
            continue;
        }
        if (par) ffn_in(), o_proj();
        else o_proj(), ffn_in();
        prefetch_next();
        cuda::matvec_act({L.down.dtype, L.down.data, E, f32(L.down_b), x_}, F, true);  // x += down(act(...))
    }
    if (logits_dst) {
        prefetch_next();
        const cuda::MatvecSeg s{output_.dtype, output_.data, p.n_vocab, f32(output_b_), logits_dst};
        cuda::matvec_prologue(&s, 1, E, x_, nspec(out_norm_, out_norm_b_), false);
    }
    RZ_ASSERT(plan.empty() || li == plan.size(), "forward_fused: prefetch plan and launches differ");
}

void GpuContext::forward_layers(const int32_t* tp, int32_t seq, int32_t pos_hint) {
    const int32_t* pos = tp + 1;
    const model::HParams& p = hp();
    const int E = p.n_embd, Q = p.n_embd_q(), KV = p.n_embd_kv(), F = p.n_ff, hd = p.head_dim;
    const size_t esz = kv_f16_ ? 2 : 4;
    const auto f32 = [](const DevWeight& w) { return static_cast<const float*>(w.data); };
    const double* inv_freq = p.rope_type != model::RopeType::kNone ? inv_freq_ : nullptr;
    const float* rope_cs = p.rope_type != model::RopeType::kNone ? rope_cs_ : nullptr;
    const bool neox = p.rope_type == model::RopeType::kNeox;
    embed(tp);
    for (int il = 0; il < layer_end_; ++il) {
        const Layer& L = layers_[static_cast<size_t>(il)];
        norm(x_, L.attn_norm, L.attn_norm_b, h_);
        if (L.qkv) {
            cuda::matvec(L.qkv.dtype, L.qkv.data, Q + 2 * KV, E, h_, f32(L.qkv_b), false, q_);
        } else {
            cuda::matvec(L.q.dtype, L.q.data, Q, E, h_, f32(L.qb), false, q_);
            cuda::matvec(L.k.dtype, L.k.data, KV, E, h_, f32(L.kb), false, k_);
            cuda::matvec(L.v.dtype, L.v.data, KV, E, h_, f32(L.vb), false, v_);
        }
        if (L.q_norm) cuda::head_rms_norm(q_, f32(L.q_norm), p.n_head, hd, p.norm_eps);
        if (L.k_norm) cuda::head_rms_norm(k_, f32(L.k_norm), p.n_head_kv, hd, p.norm_eps);
        uint8_t* kc = kc_ + kv_offset(il, seq) * esz;
        uint8_t* vc = vc_ + kv_offset(il, seq) * esz;
        if (fused_attn_) {  // float output: the o mat-vec below quantizes att_ itself
            cuda::attention_fused(q_, k_, v_, kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, p.n_rot, rope_cs, neox, pos, p.softmax_scale(),
                                  scores_, false, att_, p.n_swa, nullptr, nullptr, 0.0f, pos_hint);
        } else {
            if (inv_freq) cuda::rope(q_, p.n_head, k_, p.n_head_kv, hd, p.n_rot, inv_freq, pos, neox);
            cuda::kv_store(k_, v_, kc, vc, kv_f16_, p.n_head_kv, n_ctx_, hd, pos);
            cuda::attention_decode(q_, kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, pos, p.softmax_scale(), scores_, att_, p.n_swa);
        }
        // x += o. A parallel block's FFN reads the same h_ (norm of the layer's input), so adding first is exact.
        cuda::matvec(L.o.dtype, L.o.data, E, Q, att_, f32(L.ob), true, x_);
        if (!p.parallel_block) norm(x_, L.ffn_norm, L.ffn_norm_b, h_);
        if (p.ffn == model::FfnType::kPlain) {  // x += down(act(up h + b_up)) + b_down
            cuda::matvec(L.up.dtype, L.up.data, F, E, h_, f32(L.up_b), false, a_);
            cuda::activate(a_, F, act(p.act));
            cuda::matvec(L.down.dtype, L.down.data, E, F, a_, f32(L.down_b), true, x_);
            continue;
        }
        if (L.gate_up) {
            cuda::matvec(L.gate_up.dtype, L.gate_up.data, 2 * F, E, h_, nullptr, false, a_);
        } else {
            cuda::matvec(L.gate.dtype, L.gate.data, F, E, h_, nullptr, false, a_);
            cuda::matvec(L.up.dtype, L.up.data, F, E, h_, nullptr, false, b_);
        }
        if (p.act == model::Activation::kSilu) {
            cuda::matvec_glu(L.down.dtype, L.down.data, E, F, a_, b_, f32(L.down_b), true, x_);  // x += down(silu(gate) * up)
        } else {
            cuda::gated_act(a_, b_, F, act(p.act), a_);
            cuda::matvec(L.down.dtype, L.down.data, E, F, a_, f32(L.down_b), true, x_);
        }
    }
}

Status GpuContext::seq_copy(int32_t src, int32_t dst) {
    if (src < 0 || src >= n_seq_ || dst < 0 || dst >= n_seq_)
        return out_of_range(fmt::format("seq_copy: sequence ids {} -> {} outside [0, {})", src, dst, n_seq_));
    if (src == dst) return Status::Ok();
    const size_t esz = kv_f16_ ? 2 : 4, hd = static_cast<size_t>(hp().head_dim), head = static_cast<size_t>(n_ctx_) * hd;
    const size_t bytes = static_cast<size_t>(len_[static_cast<size_t>(src)]) * hd * esz;  // positions [0, len) of a head
    for (int il = 0; il < layer_end_ && bytes > 0; ++il)
        for (int g = 0; g < hp().n_head_kv; ++g) {
            const size_t s_off = (kv_offset(il, src) + static_cast<size_t>(g) * head) * esz;
            const size_t d_off = (kv_offset(il, dst) + static_cast<size_t>(g) * head) * esz;
            RZ_RETURN_IF_ERROR(cuda::copy_async(kc_ + d_off, kc_ + s_off, bytes));
            RZ_RETURN_IF_ERROR(cuda::copy_async(vc_ + d_off, vc_ + s_off, bytes));
        }
    RZ_RETURN_IF_ERROR(cuda::sync("seq_copy"));
    len_[static_cast<size_t>(dst)] = len_[static_cast<size_t>(src)];
    return Status::Ok();
}

Status GpuContext::upload_batch(const Batch& b) {
    const size_t n = b.size();
    if (static_cast<int>(n) > dtp_cap_) {
        RZ_ASSIGN_OR_RETURN(void* t, dev_alloc(2 * n * sizeof(int32_t), "token/position"));  // old one freed with the context
        dtp_ = static_cast<int32_t*>(t);
        dtp_cap_ = static_cast<int>(n);
    }
    std::vector<int32_t> tp(2 * n);
    for (size_t i = 0; i < n; ++i) tp[2 * i] = b.token[i], tp[2 * i + 1] = b.pos[i];
    return cuda::upload(dtp_, tp.data(), tp.size() * sizeof(int32_t));
}

Status GpuContext::decode_hidden(const Batch& b, float* x_out) {
    RZ_RETURN_IF_ERROR(validate(b));
    if (batch_ok_ && static_cast<int>(b.size()) >= batch_min_) return forward_batch(b, x_out);
    RZ_RETURN_IF_ERROR(upload_batch(b));
    const size_t E = static_cast<size_t>(hp().n_embd);
    for (size_t i = 0; i < b.size(); ++i) {
        forward_token(dtp_ + 2 * i, b.seq_id[i], b.pos[i], nullptr);  // no logits: the hidden state stays in x_
        // The next token overwrites x_: each hidden state comes back before it (download synchronises).
        RZ_RETURN_IF_ERROR(cuda::download(x_out + i * E, x_, E * sizeof(float)));
        int32_t& l = len_[static_cast<size_t>(b.seq_id[i])];
        l = std::max(l, b.pos[i] + 1);
    }
    return cuda::sync("decode");
}

Status GpuContext::decode(const Batch& b) {
    RZ_RETURN_IF_ERROR(validate(b));
    const size_t n = b.size();
    const size_t V = static_cast<size_t>(hp().n_vocab);
    logit_row_.assign(n, -1);
    out_.begin_step();
    if (n == 1 && b.logits[0] && use_graphs_) {
        const int32_t tp[2] = {b.token[0], b.pos[0]};
        // A graph per sequence and attention kernel: the one-token attention takes fewer query heads a block while
        // the context is short (cuda.h, attention_fused_heads), and a graph fixes the launch it was captured with.
        void*& g = graphs_[static_cast<size_t>(b.seq_id[0]) * kAttnVariants + attn_variant(b.pos[0])];
        if (!g) {  // captured before this step's copies are queued (the capture records launches only)
            RZ_RETURN_IF_ERROR(cuda::capture_begin());
            forward_token(dtp1_, b.seq_id[0], b.pos[0], dlogits1_);
            RZ_ASSIGN_OR_RETURN(g, cuda::capture_end());
        }
        // Pinned step buffers (RZ_CUDA_PINNED=0: the pageable copies with a synchronisation each): {token, pos}
        // in, and what out_ brings back (the row or the top-k results), as stream-ordered DMA around the graph,
        // one synchronisation per step.
        if (pinned_ && !hstep_) {
            auto h = cuda::host_alloc(sizeof(tp));
            if (h.ok()) hstep_ = *h;
            else pinned_ = false;  // no pinned memory: the pageable copies
        }
        if (int32_t* htp = pinned_ ? static_cast<int32_t*>(hstep_) : nullptr) {
            htp[0] = tp[0], htp[1] = tp[1];  // the previous step's copy of it completed at that step's sync
            RZ_RETURN_IF_ERROR(cuda::copy_async(dtp1_, htp, sizeof(tp)));
        } else {
            RZ_RETURN_IF_ERROR(cuda::upload(dtp1_, tp, sizeof(tp)));
        }
        RZ_RETURN_IF_ERROR(cuda::graph_launch(g));
        RZ_RETURN_IF_ERROR(out_.end_step(dlogits1_, 1));
        int32_t& l = len_[static_cast<size_t>(b.seq_id[0])];
        l = std::max(l, b.pos[0] + 1);
        logit_row_[0] = 0;
        return Status::Ok();
    }
    int64_t n_out = 0;
    for (size_t i = 0; i < n; ++i)
        if (b.logits[i]) logit_row_[i] = n_out++;
    RZ_RETURN_IF_ERROR(upload_batch(b));
    if (n_out > dlogits_rows_) {
        RZ_ASSIGN_OR_RETURN(dlogits_, dev_floats(static_cast<size_t>(n_out) * V, "logits"));  // old buffer freed with the context
        dlogits_rows_ = static_cast<int>(n_out);
    }
    if (batch_ok_ && static_cast<int>(n) >= batch_min_) {  // GEMM path (also advances the sequence lengths)
        if (Status st = forward_batch(b); !st.ok()) {
            logit_row_.assign(n, -1);
            return st;
        }
    } else {
        for (size_t i = 0; i < n; ++i) {
            float* dst = logit_row_[i] >= 0 ? dlogits_ + static_cast<size_t>(logit_row_[i]) * V : nullptr;
            forward_token(dtp_ + 2 * i, b.seq_id[i], b.pos[i], dst);
            int32_t& l = len_[static_cast<size_t>(b.seq_id[i])];
            l = std::max(l, b.pos[i] + 1);
        }
    }
    Status st = out_.end_step(dlogits_, static_cast<int>(n_out));
    if (!st.ok()) logit_row_.assign(n, -1);
    return st;
}

}  // namespace gpu

namespace {

using gpu::GpuContext;

// Partial offload (0 < n_gpu_layers < n_layer): layers [0, N) on the device, [N, n_layer) and the output
// head on the CPU. Each decode() runs the batch through the GPU layers, brings the hidden states [n, n_embd]
// to the host, and hands them to a CPU context over the remaining layers. Both halves keep their own KV cache
// for their layers and track the same sequence lengths.
class HybridContext final : public Context {
public:
    HybridContext(std::unique_ptr<GpuContext> gpu, std::unique_ptr<ContextImpl> cpu) : gpu_(std::move(gpu)), cpu_(std::move(cpu)) {}

    Status decode(const Batch& b) override {
        x_.resize(b.size() * static_cast<size_t>(cpu_->model().info().n_embd));
        std::vector<int32_t> before(static_cast<size_t>(n_seq_max()));
        for (int s = 0; s < n_seq_max(); ++s) before[static_cast<size_t>(s)] = gpu_->seq_len(s);
        RZ_RETURN_IF_ERROR(gpu_->decode_hidden(b, x_.data()));
        Status st = cpu_->decode_hidden(b, x_.data(), nullptr);
        if (!st.ok())  // keep both halves at the same lengths: the GPU's new cells are dropped again
            for (int s = 0; s < n_seq_max(); ++s) (void)gpu_->seq_truncate(s, before[static_cast<size_t>(s)]);
        return st;
    }
    std::span<const float> logits(size_t i) const override { return cpu_->logits(i); }
    void seq_clear(int32_t s) override {
        gpu_->seq_clear(s);
        cpu_->seq_clear(s);
    }
    Status seq_truncate(int32_t s, int32_t n_keep) override {
        RZ_RETURN_IF_ERROR(gpu_->seq_truncate(s, n_keep));
        return cpu_->seq_truncate(s, n_keep);
    }
    Status seq_copy(int32_t src, int32_t dst) override {
        RZ_RETURN_IF_ERROR(gpu_->seq_copy(src, dst));
        return cpu_->seq_copy(src, dst);
    }
    int32_t seq_len(int32_t s) const override { return cpu_->seq_len(s); }
    int n_ctx() const override { return cpu_->n_ctx(); }
    int n_seq_max() const override { return cpu_->n_seq_max(); }
    int64_t kv_cells_used() const override { return cpu_->kv_cells_used(); }
    int64_t kv_cells_total() const override { return cpu_->kv_cells_total(); }
    const Model& model() const override { return cpu_->model(); }

private:
    std::unique_ptr<GpuContext> gpu_;
    std::unique_ptr<ContextImpl> cpu_;
    std::vector<float> x_;  // [n, n_embd] hidden states handed from the GPU layers to the CPU layers
};

}  // namespace

Result<std::unique_ptr<Context>> create_gpu_context(std::shared_ptr<const Model> model, const ContextOptions& opts) {
    if (!model) return invalid_argument("GPU context: no model");
    const int L = model->info().n_layer;
    const int n_gpu = opts.n_gpu_layers < 0 || opts.n_gpu_layers >= L ? L : opts.n_gpu_layers;
    if (n_gpu == L) {
        RZ_ASSIGN_OR_RETURN(auto g, GpuContext::create(std::move(model), opts, L));
        return std::unique_ptr<Context>(std::move(g));
    }
    RZ_ASSIGN_OR_RETURN(auto g, GpuContext::create(model, opts, n_gpu));
    RZ_ASSIGN_OR_RETURN(auto c, ContextImpl::create_range(std::move(model), opts, n_gpu, L));
    return std::unique_ptr<Context>(std::make_unique<HybridContext>(std::move(g), std::move(c)));
}

#endif  // RZ_HAVE_CUDA

}  // namespace rz::runtime
