#pragma once
// Hyper-parameters of a transformer, read from GGUF metadata ({arch}.* keys), a Hugging Face config.json,
// APR metadata (keys with aliases, ../shared/docs/APR.md) or a llama2.c header, then completed from the
// tensor shapes where the metadata is silent (n_vocab, n_ff, ...).
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realizar/core/dtype.h"
#include "realizar/model/arch.h"

namespace rz::model {

struct RopeScaling {
    enum class Kind : uint8_t { kNone, kLinear, kLlama3 };
    Kind kind = Kind::kNone;
    double factor = 1.0;            // linear: positions / factor; llama3: long wavelengths / factor
    double low_freq_factor = 1.0;   // llama3
    double high_freq_factor = 4.0;  // llama3
    int64_t orig_ctx = 8192;        // llama3 original_max_position_embeddings
};

struct HParams {
    Arch arch = Arch::kLlama;
    int n_vocab = 0;
    int n_ctx_train = 0;
    int n_embd = 0;
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;   // per-head q/k/v width (n_embd / n_head unless stated)
    int n_ff = 0;
    int n_rot = 0;      // rotary dims per head (head_dim unless partial rotary); 0 = no RoPE
    RopeType rope_type = RopeType::kNone;
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    NormType norm = NormType::kRms;
    float norm_eps = 1e-5f;
    Activation act = Activation::kSilu;
    FfnType ffn = FfnType::kGated;
    bool parallel_block = false;
    bool learned_pos = false;
    float embd_scale = 1.0f;  // embeddings multiplied by this (gemma: sqrt(n_embd))
    float attn_scale = 0.0f;  // softmax scale; 0 = 1/sqrt(head_dim)
    int n_swa = 0;            // sliding-window size (0 = full attention)
    // transformers keeps RoPE's inv_freq buffer in the model's dtype: a checkpoint whose config.json says
    // "dtype": "bfloat16" (or float16) runs with inv_freq rounded to that type, which shifts the angles by
    // up to 2^-9 relative. We reproduce it for such HF folders (docs/conventions.md); F32 = exact.
    DType rope_freq_dtype = DType::F32;
    bool tied_output = false; // output projection reuses token_embd
    int32_t bos_token = -1;
    int32_t eos_token = -1;

    int n_embd_q() const { return n_head * head_dim; }
    int n_embd_kv() const { return n_head_kv * head_dim; }
    float softmax_scale() const;
    // Sanity of the numbers themselves (positive, divisible, bounded) -> clear error naming the field.
    Status validate() const;
    std::string describe() const;  // one line for logs
};

// Read-only key lookup over one metadata source. Keys are spelled as the source spells them; a GGUF view
// prefixes "{arch}." for keys that start with '.'; a JSON view accepts dotted paths into nested objects.
class ConfigView {
public:
    virtual ~ConfigView() = default;
    virtual std::optional<double> get_float(std::string_view key) const = 0;
    virtual std::optional<int64_t> get_int(std::string_view key) const = 0;
    virtual std::optional<std::string> get_string(std::string_view key) const = 0;
    virtual bool has(std::string_view key) const = 0;  // present and not null
    virtual bool is_gguf() const = 0;
    virtual std::string_view source() const = 0;  // "config.json", "gguf metadata", ... (for messages)

    // First present key of several aliases.
    std::optional<double> float_of(std::initializer_list<std::string_view> keys) const;
    std::optional<int64_t> int_of(std::initializer_list<std::string_view> keys) const;
    std::optional<std::string> string_of(std::initializer_list<std::string_view> keys) const;
};

// Per rotary pair i < n_rot/2: the angle per position, inv_freq[i] = theta^(-2i/n_rot) / scaling, in double
// so the angles match a float64 reference. rope_freqs (llama.cpp's divisors, may be null) overrides the
// llama3 formula.
std::vector<double> rope_inv_freq(const HParams& hp, const float* rope_freqs, int64_t n_rope_freqs);

}  // namespace rz::model
