#include "realizar/model/gguf_layout.h"

#include <cstring>
#include <set>

#include <fmt/format.h>

#include "realizar/core/fp16.h"
#include "realizar/model/weights.h"

namespace rz::model {
namespace {

using formats::MetaValue;

std::shared_ptr<std::vector<uint8_t>> bytes_of(const void* p, size_t n) {
    auto v = std::make_shared<std::vector<uint8_t>>(n);
    std::memcpy(v->data(), p, n);
    return v;
}

float load_elem(DType t, const uint8_t* p, int64_t i) {
    uint16_t h;
    switch (t) {
        case DType::F32: { float f; std::memcpy(&f, p + 4 * i, 4); return f; }
        case DType::F16: std::memcpy(&h, p + 2 * i, 2); return fp16_to_fp32(h);
        default: std::memcpy(&h, p + 2 * i, 2); return bf16_to_fp32(h);
    }
}

void store_elem(DType t, uint8_t* p, int64_t i, float v) {
    uint16_t h;
    switch (t) {
        case DType::F32: std::memcpy(p + 4 * i, &v, 4); return;
        case DType::F16: h = fp32_to_fp16(v); std::memcpy(p + 2 * i, &h, 2); return;
        default: h = fp32_to_bf16(v); std::memcpy(p + 2 * i, &h, 2); return;
    }
}

bool is_plain(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace

Result<formats::ModelFile> to_gguf_layout(const formats::ModelFile& src, const GgufLayoutOptions& opts) {
    RZ_ASSIGN_OR_RETURN(LoadedModel lm, load_model(src));
    const HParams& hp = lm.hp;
    const ArchSpec& spec = *lm.spec;
    if (opts.matrix_type && !is_plain(*opts.matrix_type))
        return unsupported(fmt::format("gguf layout: matrix type {} (quantize with the converter instead)", dtype_name(*opts.matrix_type)));
    // llama.cpp's llama arch (which Mistral uses too) expects NORM pairs; HF weights are NEOX-ordered.
    const bool permute_qk = lm.w.naming == Naming::kHf && spec.gguf_rope == RopeType::kNorm;
    if (permute_qk && hp.n_rot != hp.head_dim)
        return unsupported(fmt::format("{}: partial rotary with q/k permutation is not supported", src.path));
    const std::string arch = spec.arch == Arch::kMistral ? "llama" : std::string(spec.name);

    formats::ModelFile out;
    out.format = formats::Format::kGguf;
    out.version = 3;
    out.path = src.path;
    out.files = src.files;
    out.owned_buffers = src.owned_buffers;
    auto meta = [&](std::string key, MetaValue v) { out.metadata.emplace_back(std::move(key), std::move(v)); };
    auto u32 = [](int64_t v) { return MetaValue::u32(static_cast<uint32_t>(v)); };
    meta("general.architecture", MetaValue::str(arch));
    if (!lm.name.empty()) meta("general.name", MetaValue::str(lm.name));
    meta(arch + ".context_length", u32(hp.n_ctx_train));
    meta(arch + ".embedding_length", u32(hp.n_embd));
    meta(arch + ".block_count", u32(hp.n_layer));
    meta(arch + ".feed_forward_length", u32(hp.n_ff));
    meta(arch + ".attention.head_count", u32(hp.n_head));
    meta(arch + ".attention.head_count_kv", u32(hp.n_head_kv));
    if (hp.head_dim * hp.n_head != hp.n_embd) {
        meta(arch + ".attention.key_length", u32(hp.head_dim));
        meta(arch + ".attention.value_length", u32(hp.head_dim));
    }
    meta(arch + (hp.norm == NormType::kRms ? ".attention.layer_norm_rms_epsilon" : ".attention.layer_norm_epsilon"), MetaValue::f32(hp.norm_eps));
    if (hp.rope_type != RopeType::kNone) {
        meta(arch + ".rope.freq_base", MetaValue::f32(static_cast<float>(hp.rope_theta)));
        meta(arch + ".rope.dimension_count", u32(hp.n_rot));
        if (hp.rope_scaling.kind == RopeScaling::Kind::kLinear) {
            meta(arch + ".rope.scaling.type", MetaValue::str("linear"));
            meta(arch + ".rope.scaling.factor", MetaValue::f32(static_cast<float>(hp.rope_scaling.factor)));
        }
    }
    if (hp.n_swa > 0) meta(arch + ".attention.sliding_window", u32(hp.n_swa));
    meta(arch + ".vocab_size", u32(hp.n_vocab));
    if (hp.bos_token >= 0) meta("tokenizer.ggml.bos_token_id", u32(hp.bos_token));
    if (hp.eos_token >= 0) meta("tokenizer.ggml.eos_token_id", u32(hp.eos_token));

    std::set<const void*> owned;
    for (const auto& b : lm.w.owned) owned.insert(b.get());

    auto emit = [&](const TensorName& row, int il, const Weight& w) -> Status {
        if (!w || !row.gguf) return Status::Ok();
        formats::TensorInfo t;
        t.name = row.gguf;
        if (const size_t at = t.name.find("%d"); at != std::string::npos) t.name.replace(at, 2, std::to_string(il));
        const bool vec = w.n_rows == 1 && !(row.role == Role::kOutput || row.role == Role::kTokenEmbd);
        t.shape = vec ? std::vector<int64_t>{w.n_cols} : std::vector<int64_t>{w.n_rows, w.n_cols};
        const bool qk = permute_qk && (row.role == Role::kAttnQ || row.role == Role::kAttnK || row.role == Role::kAttnQB || row.role == Role::kAttnKB);
        DType dt = w.dtype;
        if (vec) dt = DType::F32;  // loader already made 1-D tensors f32
        else if (opts.matrix_type && is_plain(w.dtype)) dt = *opts.matrix_type;
        const bool rewrite = qk || dt != w.dtype;
        if (rewrite && !is_plain(w.dtype))
            return unsupported(fmt::format("{}: tensor '{}' of type {} cannot be permuted or converted", src.path, w.name, dtype_name(w.dtype)));
        RZ_ASSIGN_OR_RETURN(const uint64_t src_bytes, dtype_bytes(w.dtype, static_cast<uint64_t>(w.n_rows * w.n_cols)));
        if (!rewrite) {
            t.dtype = w.dtype;
            t.n_bytes = src_bytes;
            if (owned.count(w.data)) {
                auto buf = bytes_of(w.data, src_bytes);
                t.data = buf->data();
                out.owned_buffers.push_back(std::move(buf));
            } else {
                t.data = static_cast<const uint8_t*>(w.data);
            }
        } else {
            RZ_ASSIGN_OR_RETURN(t.n_bytes, dtype_bytes(dt, static_cast<uint64_t>(w.n_rows * w.n_cols)));
            auto buf = std::make_shared<std::vector<uint8_t>>(t.n_bytes);
            const auto* s = static_cast<const uint8_t*>(w.data);
            const int64_t rows = vec ? w.n_cols : w.n_rows;  // a bias permutes its elements like rows
            const int64_t cols = vec ? 1 : w.n_cols;
            const int64_t hd = hp.head_dim, half = hd / 2;
            for (int64_t r = 0; r < rows; ++r) {
                int64_t from = r;
                if (qk) {  // NORM row (h, 2i + p) <- HF row (h, p * half + i)
                    const int64_t h = r / hd, m = r % hd;
                    from = h * hd + (m % 2) * half + m / 2;
                }
                for (int64_t c = 0; c < cols; ++c) store_elem(dt, buf->data(), r * cols + c, load_elem(w.dtype, s, from * cols + c));
            }
            t.dtype = dt;
            t.data = buf->data();
            out.owned_buffers.push_back(std::move(buf));
        }
        out.tensors.push_back(std::move(t));
        return Status::Ok();
    };
    for (const TensorName& row : spec.tensors) {
        if (is_layer_role(row.role)) continue;
        if (row.role == Role::kRopeFreqs) continue;
        RZ_RETURN_IF_ERROR(emit(row, -1, lm.w[row.role]));
    }
    if (hp.rope_scaling.kind == RopeScaling::Kind::kLlama3 && hp.rope_type != RopeType::kNone) {
        // llama.cpp bakes Llama-3 scaling into per-frequency divisors.
        HParams plain = hp;
        plain.rope_scaling = {};
        plain.rope_freq_dtype = DType::F32;
        HParams scaled = hp;
        scaled.rope_freq_dtype = DType::F32;
        const auto a = rope_inv_freq(plain, nullptr, 0), b = rope_inv_freq(scaled, nullptr, 0);
        auto buf = std::make_shared<std::vector<uint8_t>>(a.size() * 4);
        for (size_t i = 0; i < a.size(); ++i) {
            const float d = static_cast<float>(a[i] / b[i]);
            std::memcpy(buf->data() + 4 * i, &d, 4);
        }
        formats::TensorInfo t;
        t.name = "rope_freqs.weight";
        t.dtype = DType::F32;
        t.shape = {static_cast<int64_t>(a.size())};
        t.n_bytes = buf->size();
        t.data = buf->data();
        out.owned_buffers.push_back(std::move(buf));
        out.tensors.push_back(std::move(t));
    }
    for (int il = 0; il < hp.n_layer; ++il)
        for (const TensorName& row : spec.tensors)
            if (is_layer_role(row.role)) RZ_RETURN_IF_ERROR(emit(row, il, lm.w.layers[static_cast<size_t>(il)][row.role]));
    out.build_index();
    return out;
}

}  // namespace rz::model
