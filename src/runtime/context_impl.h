#pragma once
// The CPU Context: KV cache, scratch buffers and the eager forward pass over a Batch.
#include <memory>
#include <vector>

#include "realizar/core/thread_pool.h"
#include "realizar/runtime/context.h"
#include "runtime/kv_cache.h"
#include "runtime/model_impl.h"

namespace rz::runtime {

// The Context contract's batch checks (equal array lengths, token and sequence ids in range, positions that
// continue each sequence, context overflow) against the sequences' current lengths; shared by every Context.
Status validate_batch(const Batch& b, int n_vocab, int n_ctx, std::vector<int32_t> seq_len);

class ContextImpl final : public Context {
public:
    static Result<std::unique_ptr<Context>> create(std::shared_ptr<const Model> model, const ContextOptions& opts);
    // A context that runs only layers [layer_begin, layer_end) (partial GPU offload puts the first layers on the
    // device and the rest here). Its KV cache holds only those layers. decode() needs the full range.
    static Result<std::unique_ptr<ContextImpl>> create_range(std::shared_ptr<const Model> model, const ContextOptions& opts,
                                                             int layer_begin, int layer_end);
    // One forward pass over the layer range: x_in [n, n_embd] replaces the embeddings when layer_begin > 0
    // (else it must be null); x_out [n, n_embd] receives the hidden states after layer_end - 1 when the range
    // ends before the last layer (then no logits are computed); with the full tail, logits as decode() gives.
    Status decode_hidden(const Batch& batch, const float* x_in, float* x_out);
    int layer_begin() const { return layer_begin_; }
    int layer_end() const { return layer_end_; }

    Status decode(const Batch& batch) override;
    std::span<const float> logits(size_t i) const override;
    void seq_clear(int32_t seq_id) override;
    int32_t seq_len(int32_t seq_id) const override;
    Status seq_truncate(int32_t seq_id, int32_t n_keep) override;
    Status seq_copy(int32_t src_seq, int32_t dst_seq) override;
    int n_ctx() const override { return n_ctx_; }
    int n_seq_max() const override { return kv_.n_seq(); }
    int64_t kv_cells_used() const override { return kv_.cells_used(); }
    int64_t kv_cells_total() const override { return static_cast<int64_t>(kv_.n_seq()) * n_ctx_; }
    const Model& model() const override { return *model_; }

private:
    Status validate(const Batch& b) const;
    // One forward pass over n tokens; rows of `logits_out` receive the logits of tokens with out_row >= 0.
    Status forward(const int32_t* tok, const int32_t* pos, const int32_t* seq, const int64_t* out_row, int n, float* logits_out,
                   const float* x_in = nullptr, float* x_out = nullptr);
    Status attention_block(int il, int n, const int32_t* pos, const int32_t* seq);
    Status ffn_block(int il, int n, const float* in, float* out);
    Status ffn_chunk(int il, int n, const float* in, float* out);
    void ensure_scratch(int n_tokens);
    static constexpr int kFfnChunk = 128;
    Status matmul(const model::Weight& w, const float* x, int n, float* y);
    void norm_rows(const float* x, const model::Weight& w, const model::Weight& b, int n, float* out);

    std::shared_ptr<const Model> model_;
    const ModelImpl* m_ = nullptr;
    int n_ctx_ = 0;
    int n_batch_ = 0;
    int layer_begin_ = 0, layer_end_ = 0;  // layers this context runs; the KV cache holds layer il at il - layer_begin_
    KvCache kv_;
    std::unique_ptr<ThreadPool> pool_;

    int scratch_tokens_ = 0;
    // Scratch, sized for the largest chunk so far (row-major [n_tokens, width]).
    std::vector<float> x_, h_, q_, k_, v_, qkv_, attn_, o_, a_, b_, f_, cs_;
    // Logits of the last decode(): row index per batch entry (-1 = not requested).
    std::vector<float> logits_;
    std::vector<int64_t> logit_row_;
};

}  // namespace rz::runtime
