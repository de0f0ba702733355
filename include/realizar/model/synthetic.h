#pragma once
// Synthetic llama-, qwen3-, gemma-, phi2-, phi3- or gpt2-architecture GGUF files with random weights, for benchmarks and tests of quantized paths
// (the speed of a model does not depend on its weight values, only on shapes and storage types).
// Rows are drawn at random from a pool of independently generated and quantized random rows, which keeps
// writing a 1B-parameter file to seconds instead of minutes of reference quantization.
#include <cstdint>
#include <string>

#include "realizar/core/dtype.h"
#include "realizar/core/status.h"

namespace rz::model {

struct SyntheticSpec {
    int n_vocab = 32000;  // TinyLlama-1.1B shape by default
    int n_embd = 2048;
    int n_layer = 22;
    int n_head = 32;
    int n_head_kv = 4;
    int n_ff = 5632;
    int n_ctx = 2048;
    double rope_theta = 10000.0;
    // "llama", "qwen3" (adds the per-head q/k RMSNorm weights [head_dim]; NEOX RoPE, as its GGUF files say), "phi2"
    // (LayerNorm with bias feeding attention and a plain GELU MLP in parallel, fused q|k|v, biases on every
    // projection and the output head), "gpt2" (the same parts as phi2 in sequence, a LayerNorm each, learned
    // positions [n_ctx, n_embd] in F32, no RoPE; use tied as its models do), "phi3" (llama's block with llama.cpp's
    // fused attn_qkv [q + 2 kv rows] and ffn_up [2 n_ff rows: gate | up]; NEOX RoPE), or "gemma" (llama's tensors; the loader
    // applies gemma's embedding scale, GELU-gated FFN and NEOX RoPE; use tied and head_dim as its models do).
    std::string arch = "llama";
    int head_dim = 0;    // 0: n_embd / n_head; else written as key_length / value_length (q is n_head * head_dim wide)
    int n_rot = 0;       // rotated dims per head (rope.dimension_count; phi-2 rotates 32 of 80); 0: head_dim
    bool tied = false;   // no output.weight: the head reads token_embd, which then takes the output's type in the mixes
    // "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K_M" (llama.cpp's mix: Q4_K, with Q6_K for the output and
    // for attn_v/ffn_down of the layers llama.cpp gives more bits, Q5_K for a fused attn_qkv), "Q5_K_M", "Q6_K",
    // or any ggml type name.
    std::string ftype = "Q4_K_M";
    uint64_t seed = 1234;
    int pool_rows = 64;  // distinct random rows per (type, row length)
};

// Storage type of one tensor under an ftype (the mix rules above). Errors on unknown ftypes.
Result<DType> synthetic_tensor_type(const std::string& ftype, const std::string& tensor_name, int layer, int n_layer);

Status write_synthetic_gguf(const std::string& path, const SyntheticSpec& spec);

}  // namespace rz::model
