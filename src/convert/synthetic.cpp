// `realizar convert --synthetic`: the runtime's synthetic GGUF writer (model::write_synthetic_gguf) with the
// exact shapes of well-known models, then one conversion pass that adds the real vocabulary and, for mixes
// the synthetic writer does not produce itself, quantizes with llama.cpp's recipe.
#include <algorithm>
#include <cctype>
#include <filesystem>

#include <fmt/format.h>
#include <unistd.h>

#include "realizar/convert/convert.h"
#include "realizar/model/synthetic.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::convert {

namespace {

struct Shape {
    const char* name;
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    double rope_theta;
    const char* arch = "llama";  // the others (qwen2.5, llama-3.2) are written as llama blocks of their shape
    int head_dim = 0;            // 0: n_embd / n_head
    bool tied = false;           // output head = token embeddings
    int n_rot = 0;               // rotated dims per head; 0: head_dim
};

// From each model's config.json (public model cards).
constexpr Shape kShapes[] = {
    {"tinyllama-1.1b", 32000, 2048, 22, 32, 4, 5632, 2048, 10000.0},
    {"qwen2.5-0.5b", 151936, 896, 24, 14, 2, 4864, 32768, 1000000.0, "llama", 0, true},
    {"llama-2-7b", 32000, 4096, 32, 32, 32, 11008, 4096, 10000.0},  // no grouped-query attention (32 / 32 heads)
    {"llama-3.2-1b", 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0, "llama", 0, true},
    {"phi-2", 51200, 2560, 32, 32, 32, 10240, 2048, 10000.0, "phi2", 0, false, 32},  // partial_rotary_factor 0.4 of 80
    {"qwen3-0.6b", 151936, 1024, 28, 16, 8, 3072, 40960, 1000000.0, "qwen3", 128, true},
    {"qwen3-1.7b", 151936, 2048, 28, 16, 8, 6144, 40960, 1000000.0, "qwen3", 128, true},
    {"qwen3-4b", 151936, 2560, 36, 32, 8, 9728, 40960, 1000000.0, "qwen3", 128, true},
    {"qwen3-8b", 151936, 4096, 36, 32, 8, 12288, 40960, 1000000.0, "qwen3", 128, false},
    {"phi-3-mini", 32064, 3072, 32, 32, 32, 8192, 4096, 10000.0, "phi3"},  // fused q|k|v and gate|up; head_dim 96, groups of 1
    {"gemma-2b", 256000, 2048, 18, 8, 1, 16384, 8192, 10000.0, "gemma", 256, true},  // head_dim 256, one kv head
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

std::vector<std::string> synthetic_shapes() {
    std::vector<std::string> out;
    for (const Shape& s : kShapes) out.emplace_back(s.name);
    return out;
}

SyntheticTypes synthetic_types(const std::string& type, const std::vector<int64_t>& row_lengths) {
    const std::string t = lower(type);
    const bool k256 = std::all_of(row_lengths.begin(), row_lengths.end(), [](int64_t n) { return n % 256 == 0; });
    if (k256) {
        if (t == "q4_k_m" || t == "q4_k") return {"Q4_K_M", ""};
        if (t == "q5_k_m" || t == "q5_k") return {"Q5_K_M", ""};
        if (t == "q4_0") return {"Q4_0", ""};
        if (t == "q6_k") return {t, ""};
    }
    if (t == "f32" || t == "f16" || t == "bf16" || t == "q8_0") return {t, ""};  // one type, 32-element blocks at most
    return {"F16", t};
}

Status write_synthetic(const SyntheticOptions& o) {
    const Shape* shape = nullptr;
    for (const Shape& s : kShapes)
        if (lower(o.shape) == s.name) shape = &s;
    if (!shape) {
        std::string names;
        for (const auto& n : synthetic_shapes()) names += (names.empty() ? "" : ", ") + n;
        return invalid_argument(fmt::format("--synthetic '{}' is not a known shape ({})", o.shape, names));
    }
    if (o.output.empty()) return invalid_argument("convert --synthetic: no OUTPUT given (-o)");
    // A quantized model of a known shape: a GGUF or APR file (a Hugging Face folder holds f32/f16/bf16 only).
    const std::string ext = lower(std::filesystem::path(o.output).extension().string());
    if (ext != ".gguf" && ext != ".apr")
        return invalid_argument(fmt::format("convert --synthetic writes a .gguf or .apr file, not '{}'", o.output));
    // Validate the type before the (long) synthetic pass.
    RZ_ASSIGN_OR_RETURN(DType probe, mix_tensor_type(o.type, "blk.0.attn_q.weight", 0, 1, 1, false, false));
    (void)probe;
    if (!o.vocab.empty()) {  // check the vocabulary before the long synthetic pass
        RZ_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::from_path(o.vocab));
        if (tok->n_vocab() > shape->n_vocab)
            return invalid_argument(fmt::format("--vocab {} has {} tokens but {} has n_vocab {}: use that model's tokenizer",
                                                o.vocab, tok->n_vocab(), shape->name, shape->n_vocab));
    }
    model::SyntheticSpec sp;
    sp.n_vocab = shape->n_vocab;
    sp.n_embd = shape->n_embd;
    sp.n_layer = shape->n_layer;
    sp.n_head = shape->n_head;
    sp.n_head_kv = shape->n_head_kv;
    sp.n_ff = shape->n_ff;
    sp.n_ctx = shape->n_ctx;
    sp.rope_theta = shape->rope_theta;
    sp.arch = shape->arch;
    sp.head_dim = shape->head_dim;
    sp.tied = shape->tied;
    sp.n_rot = shape->n_rot;
    sp.seed = o.seed;
    // The synthetic writer itself produces some types exactly as llama.cpp's mix would (fast: no F16 pass); the
    // others are written in F16 and quantized by the conversion pass with our recipe.
    const int64_t q_cols = static_cast<int64_t>(shape->head_dim > 0 ? shape->head_dim : shape->n_embd / shape->n_head) * shape->n_head;
    const SyntheticTypes types = synthetic_types(o.type, {shape->n_embd, q_cols, shape->n_ff});
    sp.ftype = types.writer_ftype;
    const std::string final_type = types.recipe_type;
    const std::string tmp = o.output + fmt::format(".rz-synthetic-{}.gguf", ::getpid());
    struct Remove {
        std::string p;
        ~Remove() {
            std::error_code ec;
            std::filesystem::remove(p, ec);
        }
    } remove_tmp{tmp};
    RZ_RETURN_IF_ERROR(model::write_synthetic_gguf(tmp, sp).with_context(o.output));
    ConvertOptions c = o.convert;
    c.input = tmp;
    c.output = o.output;
    c.to = ext == ".apr" ? OutFormat::kApr : OutFormat::kGguf;
    c.type = final_type;
    c.pure = false;
    c.tokenizer = o.vocab;
    return convert_model(c);
}

}  // namespace rz::convert
