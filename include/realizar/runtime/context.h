#pragma once
// CONTRACT between the runtime and its users (generation loop, server, bench, CLI). The runtime owner
// implements it and may add to it; changing what is here means updating every caller.
//
// Model: immutable weights (mmap'd, used in place), shareable by many contexts.
// Context: KV cache + scratch for up to n_seq_max sequences; decode() runs one forward pass over a
// Batch that may mix tokens of several sequences (continuous batching), llama.cpp-style.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "realizar/core/dtype.h"
#include "realizar/core/status.h"
#include "realizar/core/thread_pool.h"
#include "realizar/runtime/top_k.h"

namespace rz::formats {
class ModelFile;
}

namespace rz::runtime {

struct ModelOptions {
    int n_threads = 0;  // 0 = physical cores
    int n_gpu_layers = 0;  // CUDA backend (0 = CPU only)
};

struct ModelInfo {
    std::string arch;         // "llama", "qwen2", "phi2", "gpt2", ...
    std::string name;         // human name (general.name, folder name, ...)
    int n_vocab = 0;
    int n_ctx_train = 0;
    int n_embd = 0;
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    uint64_t n_params = 0;
    uint64_t weight_bytes = 0;
    uint64_t decode_weight_bytes = 0;  // weights one decode step of one token reads (model::decode_weight_bytes)
};

class Model {
public:
    virtual ~Model() = default;
    // path: a GGUF/APR/llama2.c file or a Hugging Face folder.
    static Result<std::shared_ptr<Model>> load(const std::string& path, const ModelOptions& opts = {});
    // From an already opened file (e.g. the demo model embedded in the binary and opened from memory).
    // The Model keeps the ModelFile (and so its mappings) alive.
    static Result<std::shared_ptr<Model>> from_model_file(formats::ModelFile file, const ModelOptions& opts = {});
    virtual const ModelInfo& info() const = 0;
    virtual const formats::ModelFile& file() const = 0;  // for tokenizer / chat template loading
};

struct ContextOptions {
    int n_ctx = 0;        // per sequence; 0 = min(n_ctx_train, 4096)
    int n_seq_max = 1;    // sequences that can be cached at once (server slots)
    DType cache_type = DType::F16;  // F16 or F32
    int n_batch = 512;    // max tokens per decode() call
    int n_threads = 0;    // 0 = physical cores
    // CUDA device (llama family; docs/cuda.md): N > 0 runs layers [0, N) on the device and the rest plus the
    // output head on the CPU (partial offload); -1 or N >= n_layer runs everything there. Errors at create()
    // when the build has no CUDA, no device is present or the model is unsupported.
    int n_gpu_layers = 0;
};

// Tokens to run in one forward pass. Token i sits at position pos[i] of sequence seq_id[i]; logits[i]
// asks for its output logits. Positions of one sequence must continue its cached length.
struct Batch {
    std::vector<int32_t> token;
    std::vector<int32_t> pos;
    std::vector<int32_t> seq_id;
    std::vector<uint8_t> logits;

    void add(int32_t tok, int32_t p, int32_t seq, bool want_logits) {
        token.push_back(tok);
        pos.push_back(p);
        seq_id.push_back(seq);
        logits.push_back(want_logits ? 1 : 0);
    }
    void clear() { token.clear(); pos.clear(); seq_id.clear(); logits.clear(); }
    size_t size() const { return token.size(); }
};

class Context {
public:
    virtual ~Context() = default;
    static Result<std::unique_ptr<Context>> create(std::shared_ptr<const Model> model, const ContextOptions& opts);

    // Errors (never aborts): token id out of range, seq id out of range, position not continuing the
    // sequence, context full ("context overflow: sequence 0 holds 4096 of 4096 positions").
    virtual Status decode(const Batch& batch) = 0;
    // Logits [n_vocab] of batch entry i of the last decode(); only for entries that asked for logits.
    // (The GPU context copies its rows to the host on the first call after a decode, so a caller that only
    // uses top_k() never pays for that copy.)
    virtual std::span<const float> logits(size_t i) const = 0;
    // The k largest logits of batch entry i of the last decode() (top_k.h: descending, the lower id on equal
    // logits, NaN as -infinity), the same entries top_k_row(logits(i), k) gives. Errors: k outside
    // [1, min(kMaxTopK, n_vocab)], entry i without logits. This default reads logits(i); the GPU context
    // selects on the device and copies back k pairs instead of the row.
    virtual Status top_k(size_t i, int k, std::vector<TokenLogit>& out) const;

    virtual void seq_clear(int32_t seq_id) = 0;        // drop a sequence's cache
    // Keep only the first n_keep cached positions of a sequence (prefix reuse; n_keep >= seq_len is a no-op).
    // (Not pure so that test doubles of Context need not implement them.)
    virtual Status seq_truncate(int32_t seq_id, int32_t n_keep) {
        (void)seq_id, (void)n_keep;
        return unsupported("seq_truncate");
    }
    // Replace dst's cache with a copy of src's (shared prompt prefixes). Errors on bad ids.
    virtual Status seq_copy(int32_t src_seq, int32_t dst_seq) {
        (void)src_seq, (void)dst_seq;
        return unsupported("seq_copy");
    }
    // Throwaway forward passes that pay one-time costs now instead of in the first request, as llama.cpp's warm-up
    // does: the first touch of the mapped weights (CPU); cuBLAS and its kernel choice for each GEMM size, kernel
    // loading, scratch buffers and CUDA graph captures (GPU: a first 989-token prompt took 80-110 ms against 9 ms
    // warm). Needs a context whose sequences are all empty (else an error) and leaves them empty. What each context
    // runs: runtime/warm_up.h.
    virtual Status warm_up();

    virtual int32_t seq_len(int32_t seq_id) const = 0; // cached positions of a sequence
    virtual int n_ctx() const = 0;                     // per sequence
    virtual int n_seq_max() const = 0;
    virtual int64_t kv_cells_used() const = 0;
    virtual int64_t kv_cells_total() const = 0;
    virtual const Model& model() const = 0;
};

}  // namespace rz::runtime
