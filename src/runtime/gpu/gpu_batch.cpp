// The CUDA Context's batched path (any batch of >= 2 tokens: prompts, and the server's decode steps of several
// sequences): GEMMs over all tokens, the multi-vector mat-vec up to 8 tokens, and decode steps of 2-32 sequences
// through the fused int8 kernels (docs/cuda.md "Batched path").
#ifdef RZ_HAVE_CUDA
#include "runtime/gpu/gpu_context_impl.h"

namespace rz::runtime::gpu {

Status GpuContext::batch_alloc() {
    namespace cb = cuda::batch;
    const model::HParams& p = hp();
    const size_t C = static_cast<size_t>(batch_chunk_), E = static_cast<size_t>(p.n_embd), Q = static_cast<size_t>(p.n_embd_q()),
                 KV = static_cast<size_t>(p.n_embd_kv()), F = static_cast<size_t>(p.n_ff);
    // The GEMM input precisions in use and the largest weight conversion decide what is allocated.
    bool any16 = false, any32 = false;
    size_t scratch = 0, row_max = 0;
    auto scan = [&](const DevWeight& w) {
        if (!w) return;
        const bool f16 = cb::gemm_f16(w.dtype, gemm_mode_);
        (f16 ? any16 : any32) = true;
        const size_t rb = cb::scratch_row_bytes(w.dtype, w.cols, f16);
        scratch = std::max(scratch, rb * static_cast<size_t>(w.rows));
        row_max = std::max(row_max, rb);
    };
    scan(output_);
    for (const Layer& L : layers_)
        for (const DevWeight* w : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down, &L.qkv, &L.gate_up}) scan(*w);
    const size_t in = C * std::max({E, Q, F});
    bscratch_bytes_ = std::max(row_max, std::min<size_t>(scratch, size_t{64} << 20));
    if (bscratch_bytes_ > 0) {
        RZ_ASSIGN_OR_RETURN(bscratch_, dev_alloc(bscratch_bytes_, "batched GEMM weight scratch"));
    }
    if (any32) {
        RZ_ASSIGN_OR_RETURN(bin32_, dev_floats(in, "batched GEMM inputs (f32)"));
    }
    if (any16) {
        RZ_ASSIGN_OR_RETURN(bin16_, dev_alloc(in * 2, "batched GEMM inputs (f16)"));
    }
    RZ_ASSIGN_OR_RETURN(bqkv_, dev_floats(C * (Q + 2 * KV), "batched q|k|v"));
    RZ_ASSIGN_OR_RETURN(bgu_, dev_floats(C * 2 * F, "batched gate|up"));
    if (decode_rows_) {
        // A decode step holds a token of each of at most n_seq_ sequences (a batch of more rows fails the scratch
        // check and takes the prefill attention). The partials grow with n_ctx_ (at most 512 positions a split).
        const int m_max = std::min(kDecodeRowsMax, n_seq_);
        bdec_floats_ = cuda::attention_decode_rows_scratch(m_max, kv_f16_, p.n_head, p.n_head_kv, p.head_dim, n_ctx_);
        RZ_ASSIGN_OR_RETURN(bdec_, dev_floats(bdec_floats_, "batched decode attention partials"));
    }
    if (pos_embd_) {
        RZ_ASSIGN_OR_RETURN(bpe_, dev_floats(C * E, "batched position embeddings"));
    }
    RZ_ASSIGN_OR_RETURN(void* ints, dev_alloc(C * 6 * sizeof(int32_t), "batch tokens/positions"));
    bints_ = static_cast<int32_t*>(ints);
    RZ_ASSIGN_OR_RETURN(bx_, dev_floats(C * E, "batched activations"));  // last: its presence marks the path as ready
    return Status::Ok();
}

Status GpuContext::forward_batch(const Batch& b, float* x_host) {
    namespace cb = cuda::batch;
    if (!bx_) RZ_RETURN_IF_ERROR(batch_alloc());
    RZ_RETURN_IF_ERROR(cuda::sync("batched decode"));  // surfaces an earlier step's asynchronous error here
    const model::HParams& p = hp();
    const int E = p.n_embd, Q = p.n_embd_q(), KV = p.n_embd_kv(), F = p.n_ff, hd = p.head_dim, QKV = Q + 2 * KV, V = p.n_vocab;
    const size_t esz = kv_f16_ ? 2 : 4;
    const int n = static_cast<int>(b.size()), TB = cb::tile_rows(p.n_head, p.n_head_kv, p.head_dim);
    bool rows_tc = true;  // per chunk: a decode step's attention on tensor cores (cuda::rows_tc_from)
    int rows_gqa = 0;     // per chunk: query heads a block of a decode step's attention by kv head (0: the other kernels)
    // Decode steps' attention may apply RoPE and store k, v itself (RowsRope): it has the cos/sin table it needs.
    const bool rows_rope = rows_rope_ && (rope_cs_ || p.rope_type == model::RopeType::kNone);
    // GEMM inputs: the producer writes the f32 and/or f16 copy its consumers read.
    auto ins = [&](std::initializer_list<const DevWeight*> ws) {
        std::pair<float*, void*> o{nullptr, nullptr};
        for (const DevWeight* w : ws) {
            if (!*w) continue;
            if (cb::gemm_f16(w->dtype, gemm_mode_)) o.second = bin16_;
            else o.first = bin32_;
        }
        return o;
    };
    // A GEMM's first call with a new token count costs cuBLAS 15-20 ms (its kernel choice for that shape; measured on
    // the H200 after a warm-up: first prompts of 335 / 622 / 989 tokens took 19-22 / 24 / 28-32 ms against 4.0 / 7.7
    // / 9.1 ms with these sizes warmed up). So GEMMs into the chunk buffers (every one but the output head's) run over
    // gemm_rows(n) tokens, a set of 11 sizes that warm_up() meets all. The padded rows read stale inputs and write rows
    // past the chunk's tokens that nothing reads (a GEMM's output row depends on its input row only).
    auto lin = [&](const DevWeight& w, int rows_in, float beta, float* y, int ldy, bool pad = true) {
        const bool f16 = cb::gemm_f16(w.dtype, gemm_mode_);
        const int n_gemm = pad && rows_in > mmv_max_ ? gemm_rows(rows_in) : rows_in;
        return cb::linear(w.dtype, w.data, w.rows, w.cols, f16 ? bin16_ : static_cast<const void*>(bin32_), n_gemm, beta, y, ldy, f16, bscratch_,
                          bscratch_bytes_, mmv_max_);
    };
    const bool par = p.parallel_block, gated = p.ffn == model::FfnType::kGated;
    // Row-wise norm of the model (RMSNorm, or LayerNorm with optional bias) into the GEMM input copies `o`.
    auto bnorm = [&](const float* x, const int32_t* rows, int rn, const DevWeight& w, const DevWeight& bias, std::pair<float*, void*> o) {
        if (p.norm == model::NormType::kRms)
            cb::rms_norm_rows(x, E, rows, rn, static_cast<const float*>(w.data), E, p.norm_eps, o.first, o.second);
        else
            cb::layer_norm_rows(x, E, rows, rn, static_cast<const float*>(w.data), static_cast<const float*>(bias.data), E, p.norm_eps, o.first,
                                o.second);
    };
    // The FFN's input projections of the normed rows (the current GEMM inputs) into bgu_: gate | up [m, 2F]
    // for gated FFNs, up [m, F] for plain ones (its bias goes with the activation).
    int m_cur = 0;
    auto ffn_up = [&](const Layer& L) -> Status {
        if (!gated) return lin(L.up, m_cur, 0.0f, bgu_, F);
        if (L.gate_up) return lin(L.gate_up, m_cur, 0.0f, bgu_, 2 * F);
        RZ_RETURN_IF_ERROR(lin(L.gate, m_cur, 0.0f, bgu_, 2 * F));
        return lin(L.up, m_cur, 0.0f, bgu_ + F, 2 * F);
    };
    // A decode step of 2..rows_max_ sequences (one token each) through the fused int8 kernels (cuda.h,
    // matvec_rows): each weight is read once for all m tokens, as in the one-token layer, in 6 launches a layer
    // (RoPE + KV store in one launch, and the split-KV attention of the batched path, between q|k|v and o).
    const auto f32 = [](const DevWeight& w) { return static_cast<const float*>(w.data); };
    // From q|k|v rows to x += o(att): qwen3's q/k norm (its own launch on this path), RoPE and the KV store in one
    // launch, the split-KV decode attention (the prefill kernel for shapes it does not take) into att = bgu_ ([m, Q]
    // floats, free until the FFN, which writes the fused buffer or bgu_ beyond m Q), and o.
    auto rows_attention = [&](const Layer& L, int il, int m, const int32_t* dpos, const int32_t* dseq, int n_tiles, const int32_t* dtiles,
                              bool with_o) {
        uint8_t* kc = kc_ + kv_offset(il, 0) * esz;
        uint8_t* vc = vc_ + kv_offset(il, 0) * esz;
        float* att = bgu_;
        // The decode attention also writes q8(att) into the fused activation buffer's rows, which o then reads: one
        // quantization of att instead of a launch for it (8+ tokens) or each o block's (fewer). Not in a parallel
        // block, whose FFN (run before) leaves its activation there for down.
        const bool q8 = att_rows_q8_ && !par && hd % 32 == 0 && cuda::fused_rows_fit(m, std::max(E, Q), std::max(F, Q));
        // The CUDA-core kernels (by kv head where rows_gqa > 0, at every position; else by query head below rows_tc's
        // positions) also apply qwen3's q/k norms and RoPE (the one-token path's cos/sin table) and store k and v, as
        // the one-token attention does: no norm and no RoPE + store launch (RZ_CUDA_ROWS_ROPE=0: those launches, then
        // a kernel over the stored cache). Shapes they do not take (false, nothing done) continue below.
        const auto decode_rows = [&](bool tensor_cores, const cuda::RowsRope* rope) {
            return cuda::attention_decode_rows(bqkv_, static_cast<int>(QKV), kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, dseq, dpos, m,
                                               p.softmax_scale(), p.n_swa, bdec_, bdec_floats_, att, nullptr, static_cast<int>(Q), tensor_cores, q8,
                                               rope, rope ? rows_gqa : 0);
        };
        bool dec = false;
        if (rows_rope && (rows_gqa > 0 || !rows_tc)) {
            const cuda::RowsRope r{p.rope_type != model::RopeType::kNone ? rope_cs_ : nullptr, p.n_rot, p.rope_type == model::RopeType::kNeox,
                                   f32(L.q_norm), f32(L.k_norm), p.norm_eps};
            dec = decode_rows(false, &r);
        }
        if (!dec) {
            if (L.q_norm || L.k_norm)
                cb::head_rms_norm_rows(bqkv_, QKV, Q, m, p.n_head, p.n_head_kv, hd, f32(L.q_norm), f32(L.k_norm), p.norm_eps);
            cb::rope_store_rows(bqkv_, QKV, Q, Q + KV, m, p.n_head, p.n_head_kv, hd, p.n_rot,
                                p.rope_type != model::RopeType::kNone ? inv_freq_ : nullptr, p.rope_type == model::RopeType::kNeox, kc, vc, kv_f16_,
                                n_ctx_, dseq, dpos);
            dec = decode_rows(rows_tc, nullptr);
        }
        if (!dec)
            cb::attention_prefill(bqkv_, QKV, kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, dseq, dpos, dtiles, n_tiles, p.softmax_scale(), att,
                                  nullptr, p.n_swa);
        if (!with_o) return;  // (a parallel block's o goes with down: rows_layer)
        const cuda::MatvecSeg o{L.o.dtype, L.o.data, E, f32(L.ob), bx_};
        cuda::matvec_rows(&o, 1, Q, dec && q8 ? nullptr : att, Q, nullptr, 0.0f, m, E, true);  // x += o(att)
    };
    // One layer of the step. The other blocks' parts (LayerNorm, a plain FFN, parallel attention and FFN: phi2, gpt2)
    // are composed of the same kernels and the batched path's row kernels: LayerNorm rows of their own launch (the
    // rows kernels then quantize them as they are), and a plain FFN's up projection in float, its bias and activation
    // quantized into the fused buffer by act_rows_q8. Scratch in bgu_ (GpuContext::rows_capable checks the fit):
    // att [m, Q] | LayerNorm rows [m, E] | up [m, F].
    // x' rows of m tokens for the rows kernels: x and the RMS weights (their prologue), or LayerNorm rows (into bgu_
    // after the attention rows) and no weights.
    auto normed = [&](int m, const DevWeight& w, const DevWeight& wb) -> std::pair<const float*, const float*> {
        if (p.norm == model::NormType::kRms) return {bx_, f32(w)};
        float* hn = bgu_ + static_cast<size_t>(m) * Q;
        cb::layer_norm_rows(bx_, E, nullptr, m, f32(w), f32(wb), E, p.norm_eps, hn, nullptr);
        return {hn, nullptr};
    };
    auto rows_layer = [&](const Layer& L, int il, int m, const int32_t* dpos, const int32_t* dseq, int n_tiles, const int32_t* dtiles) {
        float* fu = bgu_ + static_cast<size_t>(m) * (Q + E);
        auto ffn = [&](std::pair<const float*, const float*> xn) {  // activation rows [m, F] into the fused buffer
            if (gated) {
                const GluMats g = glu_mats(L);  // one type (rows_capable)
                cuda::matvec_glu_rows(g.tg, g.g, g.u, F, E, xn.first, E, xn.second, p.norm_eps, m, act(p.act));
                return;
            }
            const cuda::MatvecSeg u{L.up.dtype, L.up.data, F, nullptr, fu};
            cuda::matvec_rows(&u, 1, E, xn.first, E, xn.second, p.norm_eps, m, F, false);
            cuda::act_rows_q8(fu, F, m, F, f32(L.up_b), act(p.act));
        };
        const auto xa = normed(m, L.attn_norm, L.attn_norm_b);
        // A parallel block's plain FFN reads the same normed rows: its up projection is a second segment of the q|k|v
        // launch (its own row stride F), which also quantizes those rows once for both (session 21).
        const DType mix[2] = {L.qkv.dtype, L.up.dtype};
        const bool merged = par && !gated && L.qkv && par_merge_ && cuda::fused_rows_mix(mix, 2);
        if (merged) {
            const cuda::MatvecSeg s[2] = {{L.qkv.dtype, L.qkv.data, QKV, f32(L.qkv_b), bqkv_, -1, QKV}, {L.up.dtype, L.up.data, F, nullptr, fu, -1, F}};
            cuda::matvec_rows(s, 2, E, xa.first, E, xa.second, p.norm_eps, m, QKV, false);
            cuda::act_rows_q8(fu, F, m, F, f32(L.up_b), act(p.act));
        } else if (L.qkv) {
            const cuda::MatvecSeg s{L.qkv.dtype, L.qkv.data, QKV, f32(L.qkv_b), bqkv_};
            cuda::matvec_rows(&s, 1, E, xa.first, E, xa.second, p.norm_eps, m, QKV, false);
        } else {
            const cuda::MatvecSeg s[3] = {{L.q.dtype, L.q.data, Q, f32(L.qb), bqkv_},
                                          {L.k.dtype, L.k.data, KV, f32(L.kb), bqkv_ + Q},
                                          {L.v.dtype, L.v.data, KV, f32(L.vb), bqkv_ + Q + KV}};
            cuda::matvec_rows(s, 3, E, xa.first, E, xa.second, p.norm_eps, m, QKV, false);
        }
        if (par && !merged) ffn(xa);  // the FFN of a parallel block reads the attention's normed input
        // A parallel block's o (over the attention's float rows, att = bgu_) and down (over the FFN's activation rows,
        // already in the fused buffer) both add to x: one launch (matvec_rows_pair; RZ_CUDA_PAR_PAIR=0: two).
        const bool pair = par && par_pair_ && cuda::matvec_rows_pair_supported(L.o.dtype, Q, L.down.dtype, F, E, m);
        rows_attention(L, il, m, dpos, dseq, n_tiles, dtiles, !pair);
        if (!par) ffn(normed(m, L.ffn_norm, L.ffn_norm_b));
        const cuda::MatvecSeg d{L.down.dtype, L.down.data, E, f32(L.down_b), bx_};
        if (pair) {
            const cuda::MatvecSeg o{L.o.dtype, L.o.data, E, f32(L.ob), bx_};
            cuda::matvec_rows_pair(o, Q, bgu_, Q, d, F, m);  // x += o(att) + down(act(...))
            return;
        }
        cuda::matvec_rows(&d, 1, F, nullptr, 0, nullptr, 0.0f, m, E, true);  // x += down(act(...))
    };
    // The launches of one chunk of m tokens (bints_ holds its token | pos | seq | logits rows | tiles); only these
    // counts and device pointers enter a launch, so a small batch's sequence can be captured once and replayed.
    auto run_chunk = [&](int m, int n_tiles, int n_out, float* logits) -> Status {
        const int32_t *dtok = bints_, *dpos = bints_ + m, *dseq = dpos + m, *dl = dseq + m, *dtiles = dl + m;
        m_cur = m;
        const bool rows = m <= rows_max_ && n_tiles == m && cuda::fused_rows_fit(m, std::max(E, Q), F);
        cb::dequant_rows(tok_embd_.dtype, tok_embd_.data, E, 0, m, dtok, false, bx_);
        if (pos_embd_) cb::dequant_rows(pos_embd_.dtype, pos_embd_.data, E, 0, m, dpos, false, bpe_);
        cb::scale_add_rows(bx_, m, E, p.embd_scale, pos_embd_ ? bpe_ : nullptr);  // x = x * scale (gemma) + P[pos] (gpt2)
        for (int il = 0; il < layer_end_; ++il) {
            const Layer& L = layers_[static_cast<size_t>(il)];
            if (rows) {
                rows_layer(L, il, m, dpos, dseq, n_tiles, dtiles);
                continue;
            }
            // A parallel block's FFN reads the attention's input: its up projections run before the attention
            // overwrites the GEMM inputs, so the normed rows need not be kept.
            auto h = par ? ins({&L.qkv, &L.q, &L.k, &L.v, &L.gate_up, &L.gate, &L.up}) : ins({&L.qkv, &L.q, &L.k, &L.v});
            bnorm(bx_, nullptr, m, L.attn_norm, L.attn_norm_b, h);
            if (L.qkv) {
                RZ_RETURN_IF_ERROR(lin(L.qkv, m, 0.0f, bqkv_, QKV));
                cb::add_bias_rows(bqkv_, QKV, m, QKV, static_cast<const float*>(L.qkv_b.data));
            } else {
                RZ_RETURN_IF_ERROR(lin(L.q, m, 0.0f, bqkv_, QKV));
                RZ_RETURN_IF_ERROR(lin(L.k, m, 0.0f, bqkv_ + Q, QKV));
                RZ_RETURN_IF_ERROR(lin(L.v, m, 0.0f, bqkv_ + Q + KV, QKV));
                cb::add_bias_rows(bqkv_, QKV, m, Q, static_cast<const float*>(L.qb.data));
                cb::add_bias_rows(bqkv_ + Q, QKV, m, KV, static_cast<const float*>(L.kb.data));
                cb::add_bias_rows(bqkv_ + Q + KV, QKV, m, KV, static_cast<const float*>(L.vb.data));
            }
            if (L.q_norm || L.k_norm)  // qwen3: per-head RMSNorm of q and k before RoPE
                cb::head_rms_norm_rows(bqkv_, QKV, Q, m, p.n_head, p.n_head_kv, hd, static_cast<const float*>(L.q_norm.data),
                                       static_cast<const float*>(L.k_norm.data), p.norm_eps);
            if (par) RZ_RETURN_IF_ERROR(ffn_up(L));
            if (p.rope_type != model::RopeType::kNone)
                cb::rope_rows(bqkv_, QKV, Q, m, p.n_head, p.n_head_kv, hd, p.n_rot, inv_freq_, dpos, p.rope_type == model::RopeType::kNeox);
            uint8_t* kc = kc_ + kv_offset(il, 0) * esz;
            uint8_t* vc = vc_ + kv_offset(il, 0) * esz;
            cb::kv_store_rows(bqkv_, QKV, Q, Q + KV, m, kc, vc, kv_f16_, p.n_head_kv, n_ctx_, hd, dseq, dpos);
            auto a = ins({&L.o});
            // A decode step (every attention tile one row: each row a lone query over its own cached positions) takes
            // the split-KV decode kernel: the prefill kernel pads each single query into a tile of rows (18.6 vs ~6 us
            // a layer at 4 sequences).
            const bool decode_rows = n_tiles == m && m <= kDecodeRowsMax && bdec_ &&
                                     cuda::attention_decode_rows(bqkv_, static_cast<int>(QKV), kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_,
                                                                 dseq, dpos, m, p.softmax_scale(), p.n_swa, bdec_, bdec_floats_, a.first, a.second,
                                                                 static_cast<int>(Q), rows_tc);
            if (!decode_rows)
                cb::attention_prefill(bqkv_, QKV, kc, vc, kv_f16_, p.n_head, p.n_head_kv, hd, n_ctx_, dseq, dpos, dtiles, n_tiles, p.softmax_scale(),
                                      a.first, a.second, p.n_swa, m, static_cast<float*>(bscratch_), bscratch_bytes_ / sizeof(float));
            RZ_RETURN_IF_ERROR(lin(L.o, m, 1.0f, bx_, E));  // x += o(att)
            cb::add_bias_rows(bx_, E, m, E, static_cast<const float*>(L.ob.data));
            if (!par) {
                auto h2 = ins({&L.gate_up, &L.gate, &L.up});
                bnorm(bx_, nullptr, m, L.ffn_norm, L.ffn_norm_b, h2);
                RZ_RETURN_IF_ERROR(ffn_up(L));
            }
            auto d = ins({&L.down});
            if (!gated) {  // act(up h + b_up)
                cb::act_rows(bgu_, nullptr, F, m, F, static_cast<const float*>(L.up_b.data), act(p.act), d.first, d.second);
            } else if (p.act == model::Activation::kSilu) {
                cb::swiglu_rows(bgu_, m, F, d.first, d.second);
            } else {
                cb::act_rows(bgu_, bgu_ + F, 2 * F, m, F, nullptr, act(p.act), d.first, d.second);
            }
            RZ_RETURN_IF_ERROR(lin(L.down, m, 1.0f, bx_, E));  // x += down(act(gate) * up) or down(act(up))
            cb::add_bias_rows(bx_, E, m, E, static_cast<const float*>(L.down_b.data));
        }
        if (rows && n_out == m && m <= head_rows_max_) {  // every row asked for logits (then dl is 0..m-1)
            const cuda::MatvecSeg s{output_.dtype, output_.data, V, f32(output_b_), logits};
            const auto xo = normed(m, out_norm_, out_norm_b_);  // LayerNorm rows go to the FFN scratch, free now
            cuda::matvec_rows(&s, 1, E, xo.first, E, xo.second, p.norm_eps, m, V, false);
        } else if (n_out > 0) {  // the output head only for the rows that asked for logits
            auto h = ins({&output_});
            bnorm(bx_, dl, n_out, out_norm_, out_norm_b_, h);
            RZ_RETURN_IF_ERROR(lin(output_, n_out, 0.0f, logits, V, false));  // the logits buffer holds n_out rows
            cb::add_bias_rows(logits, V, n_out, V, static_cast<const float*>(output_b_.data));
        }
        return Status::Ok();
    };
    int64_t out_row = 0;
    std::vector<int32_t> hi;
    for (int c0 = 0, m = 0; c0 < n; c0 += m) {
        m = std::min(batch_chunk_, n - c0);
        hi.assign(static_cast<size_t>(6 * m), 0);
        int32_t *tok = hi.data(), *pos = tok + m, *seq = pos + m, *lrows = seq + m, *tiles = lrows + m;
        int n_out = 0, n_tiles = 0, pos_max = 0;
        for (int i = 0; i < m; ++i) {
            const size_t k = static_cast<size_t>(c0 + i);
            tok[i] = b.token[k], pos[i] = b.pos[k], seq[i] = b.seq_id[k];
            pos_max = std::max(pos_max, pos[i]);
            if (b.logits[k] && !x_host) lrows[n_out++] = i;
            // Attention tiles: runs of one sequence at consecutive positions, at most TB rows.
            if (i > 0 && seq[i] == seq[i - 1] && pos[i] == pos[i - 1] + 1 && tiles[2 * n_tiles - 1] < TB) ++tiles[2 * n_tiles - 1];
            else tiles[2 * n_tiles] = i, tiles[2 * n_tiles + 1] = 1, ++n_tiles;
        }
        if (c0 > 0) RZ_RETURN_IF_ERROR(cb::finish("batched decode"));  // the previous chunk's kernels still read bints_
        RZ_RETURN_IF_ERROR(cuda::upload(bints_, hi.data(), hi.size() * sizeof(int32_t)));
        float* logits = dlogits_ + out_row * V;
        rows_tc = pos_max >= cuda::rows_tc_from();
        // The attention by kv head takes every position where it takes the shape: it beat the tensor-core kernel
        // after 1000-2000 tokens (TinyLlama steps of 4 / 16 sequences 1.04-1.10 / 1.97-2.16 vs 1.31-1.35 / 2.12-2.24 ms,
        // H200) and was within 2% after 4000 (16 sequences 2.58-2.61 vs 2.51-2.56).
        rows_gqa = rows_rope ? cuda::attention_decode_rows_heads(kv_f16_, p.n_head, p.n_head_kv, hd,
                                                                 p.rope_type != model::RopeType::kNone ? p.n_rot : 0, m, pos_max, p.n_swa)
                             : 0;
        // Small batches (batched decode steps) are launch-bound: replay a graph per batch shape. The key holds
        // everything a launch depends on besides the fixed buffers. A shape is captured the second time it comes
        // (RZ_CUDA_GRAPH_SIGHTINGS, default 2): decode steps repeat theirs every step, while a short prompt, alone or
        // among other sequences' decode tokens, rarely does, and its capture cost more than running it eagerly.
        const auto key = std::make_tuple(m, n_tiles, n_out, static_cast<void*>(logits), rows_tc, rows_gqa);
        bool eager = !use_graphs_ || !bgraphs_.ok || n > std::min(batch_chunk_, kBatchGraphMaxTokens);
        if (!eager && !bgraphs_.g.contains(key)) {
            if (bgraphs_.seen.size() >= 4096) bgraphs_.seen.clear();  // bounded
            eager = ++bgraphs_.seen[key] < graph_sightings_;
        }
        if (eager) {
            RZ_RETURN_IF_ERROR(run_chunk(m, n_tiles, n_out, logits));
        } else {
            auto it = bgraphs_.g.find(key);
            if (it == bgraphs_.g.end()) {
                if (bgraphs_.g.size() >= 64) bgraphs_.clear();  // bounded: shapes beyond 64 recycle the cache
                const bool began = cb::capture_begin().ok();
                const Status st = began ? run_chunk(m, n_tiles, n_out, logits) : Status::Ok();
                auto g = began ? cb::capture_end() : Result<void*>(Status(StatusCode::kInternal, "no capture"));
                if (!st.ok() || !g.ok()) {  // capture unsupported here: run eagerly from now on
                    if (g.ok()) cb::graph_destroy(*g);
                    bgraphs_.ok = false;
                    RZ_RETURN_IF_ERROR(run_chunk(m, n_tiles, n_out, logits));
                    it = bgraphs_.g.end();
                } else {
                    it = bgraphs_.g.emplace(key, *g).first;
                }
            }
            if (it != bgraphs_.g.end()) RZ_RETURN_IF_ERROR(cb::graph_launch(it->second));
        }
        out_row += n_out;
        if (x_host) {  // partial offload: this chunk's hidden states go to the CPU layers
            RZ_RETURN_IF_ERROR(cb::finish("batched decode"));
            RZ_RETURN_IF_ERROR(cuda::download(x_host + static_cast<size_t>(c0) * E, bx_, static_cast<size_t>(m) * E * sizeof(float)));
        }
    }
    RZ_RETURN_IF_ERROR(cb::finish("batched decode"));
    for (int i = 0; i < n; ++i) {
        int32_t& l = len_[static_cast<size_t>(b.seq_id[static_cast<size_t>(i)])];
        l = std::max(l, b.pos[static_cast<size_t>(i)] + 1);
    }
    return Status::Ok();
}

}  // namespace rz::runtime::gpu
#endif  // RZ_HAVE_CUDA
