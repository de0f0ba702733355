#pragma once
// realizar convert: any model format realizar reads (Hugging Face folder / SafeTensors, GGUF, APR, llama2.c
// checkpoint + its tokenizer) to GGUF (llama.cpp tensor names, metadata and tokenizer keys), APR v2 (vocabulary
// embedded) or a Hugging Face SafeTensors folder, optionally quantized with llama.cpp's type mixes.
//
// Streaming: tensors are converted one at a time in row chunks (memory bounded by the chunk size, not the
// model size) and written through the formats' streaming writers; the source map's pages of a finished
// tensor are released. The output appears atomically (temporary name + rename); a failure or cancellation
// leaves nothing behind and never touches an existing OUTPUT.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "realizar/core/dtype.h"
#include "realizar/core/status.h"
#include "realizar/formats/model_file.h"

namespace rz::convert {

enum class OutFormat { kGguf, kApr, kSafeTensors };

struct Progress {
    uint64_t bytes_done = 0;   // output tensor bytes written so far
    uint64_t bytes_total = 0;  // output tensor bytes in all
    size_t tensor_index = 0;   // tensor being written (0-based)
    size_t n_tensors = 0;
    std::string tensor_name;
};

struct ConvertOptions {
    std::string input;
    std::string output;
    std::optional<OutFormat> to;  // default: from OUTPUT (.gguf, .apr; a folder or .safetensors -> SafeTensors)
    // "" keeps the source storage types; otherwise f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q2_k|q3_k_m|
    // q4_k_s|q4_k_m|q5_k_m|q6_k (llama.cpp ftype names, case-insensitive; plain q3_k/q4_k/q5_k = _M).
    std::string type;
    bool pure = false;      // one type for every 2-D tensor (no llama.cpp mix)
    int threads = 0;        // quantization threads; 0 = physical cores
    std::string tokenizer;  // explicit tokenizer file/folder; "" = found with the model
    std::function<void(const Progress&)> progress;  // called after every chunk
    const std::atomic<bool>* cancel = nullptr;       // set to stop (the result is then kCancelled)
    std::function<void(const std::string&)> note;     // one line per tensor that falls back to another type
    size_t chunk_bytes = size_t{32} << 20;           // f32 working set per chunk (bounds peak memory)
};

// One tensor of the conversion plan.
struct PlannedTensor {
    std::string name;
    std::vector<int64_t> shape;  // row-major, outermost first
    DType src_type = DType::F32;
    DType dst_type = DType::F32;
    std::string fallback;  // why dst_type differs from the requested type ("" when it does not)
};

// Opens INPUT and returns it in llama.cpp's GGUF layout (llama.cpp tensor names, {arch}.* keys, q/k in NORM
// order) with the tokenizer's tokenizer.ggml.* keys added (from the file's own metadata, the tokenizer files
// beside it, or `tokenizer_path`). Tensors point into the source's mappings (kept in the result).
Result<formats::ModelFile> open_as_gguf_layout(const std::string& input, const std::string& tokenizer_path = "");

// Storage type of each tensor of `mf` (GGUF layout) for an ftype name ("" = keep); see ConvertOptions::type.
Result<std::vector<PlannedTensor>> plan_types(const formats::ModelFile& mf, const std::string& type, bool pure);

// llama.cpp's per-tensor type under an ftype mix (llama_tensor_get_type for dense llama-like models), before
// the block-size fallback. `n_gqa` = n_head / n_head_kv; `tied` = the model has no output.weight.
Result<DType> mix_tensor_type(const std::string& ftype, const std::string& name, int layer, int n_layer, int n_gqa,
                              bool tied, bool pure);
// llama.cpp's fallback for a row length the type's block does not divide (Q4_K -> Q5_0, Q5_K -> Q5_1,
// Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, then F16 when even 32 does not divide it).
DType fallback_type(DType t, int64_t row_len);

Status convert_model(const ConvertOptions& opts);

// Writes the metadata of a GGUF-layout ModelFile as APR metadata (HF-style hyper-parameter keys, embedded
// vocabulary tokenizer.vocabulary/scores/token_type/merges/model/bos/eos, general.* strings) — used by the
// APR output path; exposed for tests.
Result<std::vector<std::pair<std::string, formats::MetaValue>>> apr_metadata_from_gguf(const formats::ModelFile& mf);

}  // namespace rz::convert

namespace rz::convert {

// `realizar convert --synthetic SHAPE`: a GGUF with the exact tensor shapes of a known model (tinyllama-1.1b,
// qwen2.5-0.5b, llama-3.2-1b as llama blocks (qwen2.5's q/k/v biases left out); phi-2 as phi2 blocks; phi-3-mini
// as phi3 blocks (fused q|k|v and gate|up); gemma-2b as gemma blocks (head_dim 256); qwen3-0.6b,
// qwen3-1.7b, qwen3-4b, qwen3-8b as qwen3 blocks with their q/k norms and head_dim 128: their n_vocab, n_embd,
// n_layer, heads, n_ff, n_ctx, rope theta and tied output heads),
// deterministic random weights (model::write_synthetic_gguf) and the real vocabulary of
// `vocab` (its token count must equal the shape's n_vocab). Written atomically like every conversion.
struct SyntheticOptions {
    std::string shape;
    std::string type = "q4_k_m";  // f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k, ...
    std::string vocab;            // tokenizer file or folder; "" = no tokenizer metadata
    std::string output;
    uint64_t seed = 1234;
    ConvertOptions convert;       // threads / progress / cancel for the final pass
};
std::vector<std::string> synthetic_shapes();
Status write_synthetic(const SyntheticOptions& o);
// How write_synthetic makes storage type `type` for a shape whose matrix rows have the given lengths: the
// synthetic writer's own mix (writer_ftype: Q4_K_M, Q5_K_M, Q4_0 as llama.cpp mixes them, or one type), or F16
// quantized by the conversion pass with the recipe (recipe_type, non-empty). The writer has no row-length
// fallbacks (fallback_type), so a row length that is not a multiple of 256 sends its K-quant types (and Q4_0's
// Q6_K head) through the recipe, which falls back as llama.cpp does (Qwen2.5-0.5B's 896: Q4_K -> Q5_0, Q6_K -> Q8_0).
struct SyntheticTypes {
    std::string writer_ftype;
    std::string recipe_type;
};
SyntheticTypes synthetic_types(const std::string& type, const std::vector<int64_t>& row_lengths);

}  // namespace rz::convert
