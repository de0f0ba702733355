// The eager forward pass. Every architecture runs through the same blocks; ArchSpec/HParams choose between
// RMSNorm and LayerNorm, separate or fused projections, gated or plain FFN, sequential or parallel block,
// RoPE or learned positions.
#include "runtime/context_impl.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "realizar/backend/cpu/matmul.h"
#include "runtime/attention.h"
#include "runtime/gpu/gpu_context.h"
#include "runtime/ops.h"

namespace rz::runtime {

using model::Role;

Result<std::unique_ptr<Context>> Context::create(std::shared_ptr<const Model> model, const ContextOptions& opts) {
    if (opts.n_gpu_layers != 0) return create_gpu_context(std::move(model), opts);
    return ContextImpl::create(std::move(model), opts);
}

Result<std::unique_ptr<Context>> ContextImpl::create(std::shared_ptr<const Model> model, const ContextOptions& opts) {
    RZ_ASSIGN_OR_RETURN(auto c, create_range(std::move(model), opts, 0, -1));
    return std::unique_ptr<Context>(std::move(c));
}

Result<std::unique_ptr<ContextImpl>> ContextImpl::create_range(std::shared_ptr<const Model> model, const ContextOptions& opts,
                                                               int layer_begin, int layer_end) {
    if (!model) return invalid_argument("Context::create: no model");
    const auto* m = dynamic_cast<const ModelImpl*>(model.get());
    if (!m) return invalid_argument("Context::create: model was not loaded by realizar's runtime");
    const model::HParams& hp = m->hp();
    if (layer_end < 0) layer_end = hp.n_layer;
    if (layer_begin < 0 || layer_begin >= layer_end || layer_end > hp.n_layer)
        return invalid_argument(fmt::format("layer range [{}, {}) is not within the model's {} layers", layer_begin, layer_end, hp.n_layer));
    if (opts.n_ctx < 0) return invalid_argument(fmt::format("context size {} is negative", opts.n_ctx));
    if (opts.n_seq_max < 1 || opts.n_seq_max > 4096) return invalid_argument(fmt::format("n_seq_max {} is not in [1, 4096]", opts.n_seq_max));
    if (opts.n_batch < 1 || opts.n_batch > 65536) return invalid_argument(fmt::format("n_batch {} is not in [1, 65536]", opts.n_batch));
    if (opts.n_threads < 0 || opts.n_threads > 1024) return invalid_argument(fmt::format("thread count {} is not in [0, 1024]", opts.n_threads));
    if (opts.cache_type != DType::F16 && opts.cache_type != DType::F32)
        return invalid_argument(fmt::format("cache type {} is not supported (f16, f32)", dtype_name(opts.cache_type)));
    int n_ctx = opts.n_ctx > 0 ? opts.n_ctx : std::min(hp.n_ctx_train, 4096);
    if (n_ctx > (1 << 24)) return invalid_argument(fmt::format("context size {} is too large", n_ctx));
    if (hp.learned_pos && n_ctx > hp.n_ctx_train)
        return invalid_argument(fmt::format("context size {} exceeds the {} learned positions of this {} model", n_ctx, hp.n_ctx_train,
                                            m->info().arch));

    auto c = std::unique_ptr<ContextImpl>(new ContextImpl());
    c->model_ = std::move(model);
    c->m_ = m;
    c->n_ctx_ = n_ctx;
    c->n_batch_ = opts.n_batch;
    c->layer_begin_ = layer_begin;
    c->layer_end_ = layer_end;
    RZ_RETURN_IF_ERROR(c->kv_.init(layer_end - layer_begin, opts.n_seq_max, hp.n_head_kv, n_ctx, hp.head_dim, opts.cache_type));
    c->pool_ = std::make_unique<ThreadPool>(opts.n_threads);
    return c;
}

// Scratch grows to the largest chunk seen (a decode-only context never pays for a 512-token prefill), and
// the FFN intermediates only ever hold kFfnChunk tokens: peak RSS stays near weights + KV cache.
void ContextImpl::ensure_scratch(int n) {
    if (n <= scratch_tokens_) return;
    const model::HParams& hp = m_->hp();
    const model::ModelWeights& W = m_->weights();
    const size_t nb = static_cast<size_t>(n);
    const size_t E = static_cast<size_t>(hp.n_embd), Q = static_cast<size_t>(hp.n_embd_q()), KV = static_cast<size_t>(hp.n_embd_kv());
    const size_t F = static_cast<size_t>(hp.n_ff), nf = std::min(nb, static_cast<size_t>(kFfnChunk));
    bool fused_qkv = false, fused_ffn = false;
    for (const auto& l : W.layers) {
        fused_qkv = fused_qkv || static_cast<bool>(l[Role::kAttnQkv]);
        fused_ffn = fused_ffn || static_cast<bool>(l[Role::kFfnGateUp]);
    }
    x_.resize(nb * E);
    h_.resize(nb * E);
    q_.resize(nb * Q);
    k_.resize(nb * KV);
    v_.resize(nb * KV);
    if (fused_qkv) qkv_.resize(nb * (Q + 2 * KV));
    attn_.resize(nb * Q);
    o_.resize(nb * E);
    a_.resize(nf * (fused_ffn ? 2 : 1) * F);
    b_.resize(hp.ffn == model::FfnType::kGated ? nf * F : 0);
    f_.resize(nb * E);
    cs_.resize(nb * static_cast<size_t>(std::max(hp.n_rot, 2)));
    scratch_tokens_ = n;
}

Status validate_batch(const Batch& b, int n_vocab, int n_ctx, std::vector<int32_t> next) {
    const size_t n = b.token.size();
    if (b.pos.size() != n || b.seq_id.size() != n || b.logits.size() != n)
        return invalid_argument(fmt::format("batch arrays differ in length (token {}, pos {}, seq_id {}, logits {})", n, b.pos.size(),
                                            b.seq_id.size(), b.logits.size()));
    if (n == 0) return invalid_argument("empty batch");
    const std::vector<int32_t> held = next;
    const int n_seq = static_cast<int>(next.size());
    for (size_t i = 0; i < n; ++i) {
        if (b.token[i] < 0 || b.token[i] >= n_vocab)
            return out_of_range(fmt::format("batch entry {}: token id {} is outside the vocabulary [0, {})", i, b.token[i], n_vocab));
        const int32_t s = b.seq_id[i];
        if (s < 0 || s >= n_seq) return out_of_range(fmt::format("batch entry {}: sequence id {} is outside [0, {})", i, s, n_seq));
        int32_t& nx = next[static_cast<size_t>(s)];
        if (b.pos[i] != nx) {
            if (b.pos[i] >= n_ctx && nx >= n_ctx)
                return out_of_range(fmt::format("context overflow: sequence {} holds {} of {} positions", s, held[static_cast<size_t>(s)], n_ctx));
            return invalid_argument(fmt::format("batch entry {}: position {} does not continue sequence {} (expected {})", i, b.pos[i], s, nx));
        }
        if (nx >= n_ctx)
            return out_of_range(fmt::format("context overflow: sequence {} holds {} of {} positions", s, held[static_cast<size_t>(s)], n_ctx));
        ++nx;
    }
    return Status::Ok();
}

Status ContextImpl::validate(const Batch& b) const {
    std::vector<int32_t> len(static_cast<size_t>(kv_.n_seq()));
    for (int s = 0; s < kv_.n_seq(); ++s) len[static_cast<size_t>(s)] = kv_.len(s);
    return validate_batch(b, m_->hp().n_vocab, n_ctx_, std::move(len));
}

Status ContextImpl::decode(const Batch& b) {
    if (layer_begin_ != 0 || layer_end_ != m_->hp().n_layer)
        return invalid_argument("decode(): this context runs only part of the layers; use decode_hidden()");
    return decode_hidden(b, nullptr, nullptr);
}

Status ContextImpl::decode_hidden(const Batch& b, const float* x_in, float* x_out) {
    if ((layer_begin_ > 0) != (x_in != nullptr) || (layer_end_ < m_->hp().n_layer) != (x_out != nullptr))
        return invalid_argument(fmt::format("decode_hidden: layers [{}, {}) of {} need {} input and {} output hidden states", layer_begin_,
                                            layer_end_, m_->hp().n_layer, layer_begin_ > 0 ? "" : "no", layer_end_ < m_->hp().n_layer ? "" : "no"));
    RZ_RETURN_IF_ERROR(validate(b));
    const size_t n = b.size();
    const size_t V = static_cast<size_t>(m_->hp().n_vocab);
    logit_row_.assign(n, -1);
    int64_t n_out = 0;
    for (size_t i = 0; i < n; ++i)
        if (b.logits[i]) logit_row_[i] = n_out++;
    logits_.resize(static_cast<size_t>(n_out) * V);
    for (size_t c0 = 0; c0 < n; c0 += static_cast<size_t>(n_batch_)) {
        const int cn = static_cast<int>(std::min(n - c0, static_cast<size_t>(n_batch_)));
        const size_t E = static_cast<size_t>(m_->hp().n_embd);
        Status st = forward(&b.token[c0], &b.pos[c0], &b.seq_id[c0], &logit_row_[c0], cn, logits_.data(), x_in ? x_in + c0 * E : nullptr,
                            x_out ? x_out + c0 * E : nullptr);
        if (!st.ok()) {
            logit_row_.assign(n, -1);
            return st;
        }
    }
    return Status::Ok();
}

std::span<const float> ContextImpl::logits(size_t i) const {
    if (i >= logit_row_.size() || logit_row_[i] < 0) return {};
    const size_t V = static_cast<size_t>(m_->hp().n_vocab);
    return {logits_.data() + static_cast<size_t>(logit_row_[i]) * V, V};
}

void ContextImpl::seq_clear(int32_t seq_id) {
    if (seq_id >= 0 && seq_id < kv_.n_seq()) kv_.set_len(seq_id, 0);
}

int32_t ContextImpl::seq_len(int32_t seq_id) const { return seq_id >= 0 && seq_id < kv_.n_seq() ? kv_.len(seq_id) : 0; }

Status ContextImpl::seq_truncate(int32_t seq_id, int32_t n_keep) {
    if (seq_id < 0 || seq_id >= kv_.n_seq()) return out_of_range(fmt::format("seq_truncate: sequence id {} is outside [0, {})", seq_id, kv_.n_seq()));
    if (n_keep < 0) return invalid_argument(fmt::format("seq_truncate: n_keep {} is negative", n_keep));
    if (n_keep < kv_.len(seq_id)) kv_.set_len(seq_id, n_keep);
    return Status::Ok();
}

Status ContextImpl::seq_copy(int32_t src, int32_t dst) {
    if (src < 0 || src >= kv_.n_seq() || dst < 0 || dst >= kv_.n_seq())
        return out_of_range(fmt::format("seq_copy: sequence ids {} -> {} outside [0, {})", src, dst, kv_.n_seq()));
    if (src != dst) kv_.copy_seq(src, dst, kv_.len(src));
    return Status::Ok();
}

Status ContextImpl::matmul(const model::Weight& w, const float* x, int n, float* y) {
    return cpu::matmul(w.dtype, w.data, w.n_rows, w.n_cols, x, n, y, *pool_);
}

// Tokens per thread for the element-wise parts of a layer: below ~16K elements per thread the hand-off costs
// more than it saves (decode of one token, or a few-token prompt of a small model, stays on one thread).
static int64_t tokens_per_thread(int64_t elements_per_token) {
    constexpr int64_t kMinElementsPerThread = int64_t{1} << 14;
    return std::max<int64_t>(1, kMinElementsPerThread / std::max<int64_t>(1, elements_per_token));
}

void ContextImpl::norm_rows(const float* x, const model::Weight& w, const model::Weight& b, int n, float* out) {
    const model::HParams& hp = m_->hp();
    const int E = hp.n_embd;
    pool_->parallel_for(n, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            if (hp.norm == model::NormType::kRms)
                ops::rms_norm(x + t * E, w.f32(), E, hp.norm_eps, out + t * E);
            else
                ops::layer_norm(x + t * E, w.f32(), b ? b.f32() : nullptr, E, hp.norm_eps, out + t * E);
        }
    }, tokens_per_thread(E));
}

Status ContextImpl::attention_block(int il, int n, const int32_t* pos, const int32_t* seq) {
    const model::HParams& hp = m_->hp();
    const model::LayerWeights& L = m_->weights().layers[static_cast<size_t>(il)];
    const int Q = hp.n_embd_q(), KV = hp.n_embd_kv(), hd = hp.head_dim;
    float* q = q_.data();
    float* k = k_.data();
    float* v = v_.data();
    if (L[Role::kAttnQkv]) {
        const int W = Q + 2 * KV;
        RZ_RETURN_IF_ERROR(matmul(L[Role::kAttnQkv], h_.data(), n, qkv_.data()));
        const model::Weight& bias = L[Role::kAttnQkvB];
        for (int t = 0; t < n; ++t) {
            float* r = qkv_.data() + static_cast<int64_t>(t) * W;
            if (bias) ops::add_bias(r, bias.f32(), W);
            std::memcpy(q + static_cast<int64_t>(t) * Q, r, sizeof(float) * static_cast<size_t>(Q));
            std::memcpy(k + static_cast<int64_t>(t) * KV, r + Q, sizeof(float) * static_cast<size_t>(KV));
            std::memcpy(v + static_cast<int64_t>(t) * KV, r + Q + KV, sizeof(float) * static_cast<size_t>(KV));
        }
    } else {
        RZ_RETURN_IF_ERROR(matmul(L[Role::kAttnQ], h_.data(), n, q));
        RZ_RETURN_IF_ERROR(matmul(L[Role::kAttnK], h_.data(), n, k));
        RZ_RETURN_IF_ERROR(matmul(L[Role::kAttnV], h_.data(), n, v));
        const model::Weight &bq = L[Role::kAttnQB], &bk = L[Role::kAttnKB], &bv = L[Role::kAttnVB];
        for (int t = 0; t < n; ++t) {
            if (bq) ops::add_bias(q + static_cast<int64_t>(t) * Q, bq.f32(), Q);
            if (bk) ops::add_bias(k + static_cast<int64_t>(t) * KV, bk.f32(), KV);
            if (bv) ops::add_bias(v + static_cast<int64_t>(t) * KV, bv.f32(), KV);
        }
    }
    const model::Weight &qn = L[Role::kAttnQNorm], &kn = L[Role::kAttnKNorm];
    const int n_half = hp.n_rot / 2;
    pool_->parallel_for(n, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            float* qt = q + t * Q;
            float* kt = k + t * KV;
            if (qn)
                for (int h = 0; h < hp.n_head; ++h) ops::rms_norm(qt + h * hd, qn.f32(), hd, hp.norm_eps, qt + h * hd);
            if (kn)
                for (int h = 0; h < hp.n_head_kv; ++h) ops::rms_norm(kt + h * hd, kn.f32(), hd, hp.norm_eps, kt + h * hd);
            if (hp.rope_type != model::RopeType::kNone) {
                float* cs = cs_.data() + t * hp.n_rot;
                ops::rope_cos_sin(pos[t], m_->rope_inv_freq().data(), n_half, cs);
                ops::rope(qt, hp.n_head, hd, hp.n_rot, cs, hp.rope_type);
                ops::rope(kt, hp.n_head_kv, hd, hp.n_rot, cs, hp.rope_type);
            }
            for (int g = 0; g < hp.n_head_kv; ++g) {
                kv_.store(kv_.k(il - layer_begin_, seq[t], g), pos[t], kt + g * hd);
                kv_.store(kv_.v(il - layer_begin_, seq[t], g), pos[t], v + t * KV + g * hd);
            }
        }
    }, tokens_per_thread(Q + KV));
    AttnParams ap{il - layer_begin_, hp.n_head, hp.n_head_kv, hd, hp.softmax_scale(), hp.n_swa};
    attention(kv_, ap, q, seq, pos, n, attn_.data(), *pool_);
    RZ_RETURN_IF_ERROR(matmul(L[Role::kAttnOut], attn_.data(), n, o_.data()));
    if (const model::Weight& bo = L[Role::kAttnOutB])
        for (int t = 0; t < n; ++t) ops::add_bias(o_.data() + static_cast<int64_t>(t) * hp.n_embd, bo.f32(), hp.n_embd);
    return Status::Ok();
}

Status ContextImpl::ffn_block(int il, int n, const float* in, float* out) {
    const int64_t E = m_->hp().n_embd;
    for (int c0 = 0; c0 < n; c0 += kFfnChunk)
        RZ_RETURN_IF_ERROR(ffn_chunk(il, std::min(kFfnChunk, n - c0), in + c0 * E, out + c0 * E));
    return Status::Ok();
}

Status ContextImpl::ffn_chunk(int il, int n, const float* in, float* out) {
    const model::HParams& hp = m_->hp();
    const model::LayerWeights& L = m_->weights().layers[static_cast<size_t>(il)];
    const int64_t F = hp.n_ff;
    float* a = a_.data();
    if (hp.ffn == model::FfnType::kGated) {
        if (L[Role::kFfnGateUp]) {
            RZ_RETURN_IF_ERROR(matmul(L[Role::kFfnGateUp], in, n, a));  // [n, 2F]: gate | up
            pool_->parallel_for(n, [&](int64_t t0, int64_t t1) {
                for (int64_t t = t0; t < t1; ++t) ops::gated(a + t * 2 * F, a + t * 2 * F + F, F, hp.act, b_.data() + t * F);
            }, tokens_per_thread(3 * F));
            std::memcpy(a, b_.data(), sizeof(float) * static_cast<size_t>(n * F));
        } else {
            RZ_RETURN_IF_ERROR(matmul(L[Role::kFfnGate], in, n, a));
            RZ_RETURN_IF_ERROR(matmul(L[Role::kFfnUp], in, n, b_.data()));
            pool_->parallel_for(n, [&](int64_t t0, int64_t t1) { ops::gated(a + t0 * F, b_.data() + t0 * F, (t1 - t0) * F, hp.act, a + t0 * F); }, tokens_per_thread(3 * F));
        }
    } else {
        RZ_RETURN_IF_ERROR(matmul(L[Role::kFfnUp], in, n, a));
        const model::Weight& bu = L[Role::kFfnUpB];
        pool_->parallel_for(n, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
                if (bu) ops::add_bias(a + t * F, bu.f32(), F);
                ops::activate(a + t * F, F, hp.act);
            }
        }, tokens_per_thread(2 * F));
    }
    RZ_RETURN_IF_ERROR(matmul(L[Role::kFfnDown], a, n, out));
    if (const model::Weight& bd = L[Role::kFfnDownB])
        for (int t = 0; t < n; ++t) ops::add_bias(out + static_cast<int64_t>(t) * hp.n_embd, bd.f32(), hp.n_embd);
    return Status::Ok();
}

Status ContextImpl::forward(const int32_t* tok, const int32_t* pos, const int32_t* seq, const int64_t* out_row, int n, float* logits_out,
                            const float* x_in, float* x_out) {
    const model::HParams& hp = m_->hp();
    const model::ModelWeights& W = m_->weights();
    const int E = hp.n_embd;
    ensure_scratch(n);
    float* x = x_.data();

    // Embeddings (+ learned positions), or the hidden states of the layers before this context's range.
    const model::Weight& te = W[Role::kTokenEmbd];
    const model::Weight& pe = W[Role::kPosEmbd];
    if (x_in) std::memcpy(x, x_in, sizeof(float) * static_cast<size_t>(n) * static_cast<size_t>(E));
    for (int t = 0; t < n && !x_in; ++t) {
        float* xt = x + static_cast<int64_t>(t) * E;
        RZ_RETURN_IF_ERROR(cpu::get_row(te.dtype, te.data, E, tok[t], xt));
        if (hp.embd_scale != 1.0f)
            for (int i = 0; i < E; ++i) xt[i] *= hp.embd_scale;
        if (pe) {
            RZ_RETURN_IF_ERROR(cpu::get_row(pe.dtype, pe.data, E, pos[t], f_.data()));
            ops::add(xt, f_.data(), E);
        }
    }

    for (int il = layer_begin_; il < layer_end_; ++il) {
        const model::LayerWeights& L = W.layers[static_cast<size_t>(il)];
        norm_rows(x, L[Role::kAttnNorm], L[Role::kAttnNormB], n, h_.data());
        RZ_RETURN_IF_ERROR(attention_block(il, n, pos, seq));
        if (hp.parallel_block) {
            RZ_RETURN_IF_ERROR(ffn_block(il, n, h_.data(), f_.data()));
            ops::add(x, o_.data(), static_cast<int64_t>(n) * E);
            ops::add(x, f_.data(), static_cast<int64_t>(n) * E);
        } else {
            ops::add(x, o_.data(), static_cast<int64_t>(n) * E);
            norm_rows(x, L[Role::kFfnNorm], L[Role::kFfnNormB], n, h_.data());
            RZ_RETURN_IF_ERROR(ffn_block(il, n, h_.data(), f_.data()));
            ops::add(x, f_.data(), static_cast<int64_t>(n) * E);
        }
    }
    for (int t = 0; t < n; ++t) kv_.set_len(seq[t], std::max(kv_.len(seq[t]), pos[t] + 1));
    if (x_out) {
        std::memcpy(x_out, x, sizeof(float) * static_cast<size_t>(n) * static_cast<size_t>(E));
        return Status::Ok();
    }

    // Output head over the rows that asked for logits (gathered into h_).
    int n_out = 0;
    for (int t = 0; t < n; ++t)
        if (out_row[t] >= 0) {
            std::memcpy(o_.data() + static_cast<int64_t>(n_out) * E, x + static_cast<int64_t>(t) * E, sizeof(float) * static_cast<size_t>(E));
            ++n_out;
        }
    if (n_out == 0) return Status::Ok();
    norm_rows(o_.data(), W[Role::kOutputNorm], W[Role::kOutputNormB], n_out, h_.data());
    const int64_t V = hp.n_vocab;
    // Gathered rows are consecutive in out_row order within this chunk.
    int64_t first = -1;
    for (int t = 0; t < n && first < 0; ++t) first = out_row[t];
    float* dst = logits_out + first * V;
    RZ_RETURN_IF_ERROR(matmul(W.output(), h_.data(), n_out, dst));
    if (const model::Weight& bo = W[Role::kOutputB])
        for (int r = 0; r < n_out; ++r) ops::add_bias(dst + r * V, bo.f32(), V);
    return Status::Ok();
}

}  // namespace rz::runtime
