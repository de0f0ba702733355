#pragma once
// llama2.c checkpoints (Karpathy's run.c format), presented exactly like a llama.cpp GGUF of arch "llama".
//   version 0 ("legacy"): 7 x i32 header {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size
//     (negative = separate classifier), seq_len}, then f32: token_embedding[vocab, dim], rms_att[L, dim],
//     wq[L, dim, dim], wk[L, kv_dim, dim], wv[L, kv_dim, dim], wo[L, dim, dim], rms_ffn[L, dim],
//     w1[L, hidden, dim], w2[L, dim, hidden], w3[L, hidden, dim], rms_final[dim],
//     freq_cis_real/imag[seq_len, head_size/2] (unused), then wcls[vocab, dim] if not shared.
//   version 1: u32 magic "ak42" (0x616b3432), i32 version = 1, the same 7 i32, u8 shared_classifier,
//     zero padding to 256 bytes, then f32: rms_att[L], rms_ffn[L], rms_final, token_embedding, wq[L], wk[L],
//     wv[L], wo[L], w1[L], w2[L], w3[L], wcls if not shared. (Version 2, int8 "Q8_0" groups, is rejected.)
// Tensors (row-major [out, in], zero-copy): token_embd.weight, blk.N.{attn_norm, attn_q, attn_k, attn_v,
// attn_output, ffn_norm, ffn_gate (w1), ffn_down (w2), ffn_up (w3)}.weight, output_norm.weight and
// output.weight only when the classifier is not shared. RoPE pairs are adjacent, as in GGUF: no permutation.
// Metadata: general.architecture = "llama", llama.{embedding_length, feed_forward_length, block_count,
// attention.head_count, attention.head_count_kv, context_length, vocab_size, rope.dimension_count}, and
// llama.attention.layer_norm_rms_epsilon = 1e-5, llama.rope.freq_base = 10000 (what run.c hard-codes).
#include <span>
#include <string>

#include "realizar/formats/model_file.h"

namespace rz::formats {

inline constexpr uint32_t kLlama2cMagic = 0x616b3432;  // "ak42"

// The header must validate and the tensor sizes must add up to exactly bytes.size().
Result<ModelFile> read_llama2c(std::span<const uint8_t> bytes, const std::string& name);
Result<ModelFile> open_llama2c(const std::string& path);

}  // namespace rz::formats
