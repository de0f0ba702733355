// Resolves an architecture's tensor roles in a ModelFile, checks every shape against the hyper-parameters,
// and prepares the few tensors that cannot be used in place (1-D -> f32, HF Conv1D -> [n_out, n_in]).
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "realizar/backend/cpu/matmul.h"
#include "realizar/core/fp16.h"
#include "realizar/model/weights.h"

namespace rz::model {
namespace {

struct Expected {
    int64_t rows = 0;  // 0 for 1-D tensors
    int64_t cols = 0;
};

Expected expected_shape(Role r, const HParams& hp) {
    const int64_t e = hp.n_embd, q = hp.n_embd_q(), kv = hp.n_embd_kv(), ff = hp.n_ff;
    switch (r) {
        case Role::kTokenEmbd: return {hp.n_vocab, e};
        case Role::kPosEmbd: return {hp.n_ctx_train, e};
        case Role::kOutputNorm: case Role::kOutputNormB: return {0, e};
        case Role::kOutput: return {hp.n_vocab, e};
        case Role::kOutputB: return {0, hp.n_vocab};
        case Role::kRopeFreqs: return {0, hp.n_rot / 2};
        case Role::kAttnNorm: case Role::kAttnNormB: return {0, e};
        case Role::kAttnQ: return {q, e};
        case Role::kAttnQB: return {0, q};
        case Role::kAttnK: case Role::kAttnV: return {kv, e};
        case Role::kAttnKB: case Role::kAttnVB: return {0, kv};
        case Role::kAttnQkv: return {q + 2 * kv, e};
        case Role::kAttnQkvB: return {0, q + 2 * kv};
        case Role::kAttnOut: return {e, q};
        case Role::kAttnOutB: return {0, e};
        case Role::kAttnQNorm: case Role::kAttnKNorm: return {0, hp.head_dim};
        case Role::kFfnNorm: case Role::kFfnNormB: return {0, e};
        case Role::kFfnGate: case Role::kFfnUp: return {ff, e};
        case Role::kFfnUpB: return {0, ff};
        case Role::kFfnGateUp: return {2 * ff, e};
        case Role::kFfnDown: return {e, ff};
        case Role::kFfnDownB: return {0, e};
        case Role::kCount: break;
    }
    return {};
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(s[i]);
    }
    return out + "]";
}

std::string hp_context(const HParams& hp) {
    return fmt::format("n_vocab={} n_embd={} n_head={} n_head_kv={} head_dim={} n_ff={} n_ctx_train={}", hp.n_vocab, hp.n_embd, hp.n_head,
                       hp.n_head_kv, hp.head_dim, hp.n_ff, hp.n_ctx_train);
}

// Finds the tensor for a pattern (alternatives separated by '|', %d = layer).
const formats::TensorInfo* find(const formats::ModelFile& f, const char* pattern, int il, std::string& name_out) {
    if (!pattern) return nullptr;
    std::string_view pats(pattern);
    std::string first;
    while (!pats.empty()) {
        const size_t bar = pats.find('|');
        const std::string pat(pats.substr(0, bar));
        std::string name = pat;
        if (const size_t at = name.find("%d"); at != std::string::npos && il >= 0) name.replace(at, 2, std::to_string(il));
        if (first.empty()) first = name;
        if (const auto* t = f.find_tensor(name)) {
            name_out = name;
            return t;
        }
        if (bar == std::string_view::npos) break;
        pats.remove_prefix(bar + 1);
    }
    name_out = first;
    return nullptr;
}

bool is_matrix_role(Role r) {
    switch (r) {
        case Role::kTokenEmbd: case Role::kPosEmbd: case Role::kOutput: case Role::kAttnQ: case Role::kAttnK:
        case Role::kAttnV: case Role::kAttnQkv: case Role::kAttnOut: case Role::kFfnGate: case Role::kFfnUp:
        case Role::kFfnGateUp: case Role::kFfnDown:
            return true;
        default:
            return false;
    }
}

bool is_norm_role(Role r) { return r == Role::kOutputNorm || r == Role::kAttnNorm || r == Role::kFfnNorm; }

class Loader {
public:
    Loader(const formats::ModelFile& f, LoadedModel& m) : f_(f), m_(m) {}

    // Fills dst from the tensor named by row (or leaves it empty when absent and optional).
    Status resolve(const TensorName& row, int il, Weight& dst) {
        const char* pattern = m_.w.naming == Naming::kGguf ? row.gguf : row.hf;
        std::string name;
        const formats::TensorInfo* t = find(f_, pattern, il, name);
        if (!t) {
            if (row.required)
                return not_found(fmt::format("{}: missing tensor '{}' ({} of {})", f_.path, name, role_name(row.role), m_.spec->name));
            return Status::Ok();
        }
        const Expected ex = expected_shape(row.role, m_.hp);
        const bool conv1d = m_.spec->hf_conv1d && m_.w.naming == Naming::kHf && is_layer_role(row.role) && ex.rows > 0;
        std::vector<int64_t> want = ex.rows > 0 ? std::vector<int64_t>{ex.rows, ex.cols} : std::vector<int64_t>{ex.cols};
        if (conv1d) std::swap(want[0], want[1]);
        if (t->shape != want)
            return invalid_argument(fmt::format("{}: tensor '{}' has shape {} but the hyper-parameters ({}) require {}", f_.path, name,
                                                shape_str(t->shape), hp_context(m_.hp), shape_str(want)));
        dst.name = name;
        dst.dtype = t->dtype;
        dst.data = t->data;
        dst.n_rows = ex.rows > 0 ? ex.rows : 1;
        dst.n_cols = ex.cols;
        m_.w.n_params += t->n_elements();
        m_.w.weight_bytes += t->n_bytes;
        if (ex.rows == 0) return to_f32_vector(dst, is_norm_role(row.role) && m_.spec->hf_norm_plus_one && m_.w.naming == Naming::kHf);
        if (is_matrix_role(row.role) && !cpu::matmul_supports(t->dtype))
            return unsupported(fmt::format("{}: tensor '{}' has type {}, which the CPU backend cannot multiply", f_.path, name, dtype_name(t->dtype)));
        if (conv1d) return transpose(dst);
        return Status::Ok();
    }

private:
    Status to_f32_vector(Weight& w, bool plus_one) {
        auto buf = std::make_unique<uint8_t[]>(static_cast<size_t>(w.n_cols) * sizeof(float));
        auto* out = reinterpret_cast<float*>(buf.get());
        const auto* src = static_cast<const uint8_t*>(w.data);
        for (int64_t i = 0; i < w.n_cols; ++i) {
            uint16_t h;
            switch (w.dtype) {
                case DType::F32: std::memcpy(&out[i], src + 4 * i, 4); break;
                case DType::F16: std::memcpy(&h, src + 2 * i, 2); out[i] = fp16_to_fp32(h); break;
                case DType::BF16: std::memcpy(&h, src + 2 * i, 2); out[i] = bf16_to_fp32(h); break;
                default:
                    return unsupported(fmt::format("{}: 1-D tensor '{}' has type {} (expected f32, f16 or bf16)", f_.path, w.name, dtype_name(w.dtype)));
            }
            if (plus_one) out[i] += 1.0f;
        }
        w.dtype = DType::F32;
        w.data = buf.get();
        m_.w.owned.push_back(std::move(buf));
        return Status::Ok();
    }

    // HF Conv1D [n_in, n_out] -> [n_out, n_in] in the same (unquantized) dtype.
    Status transpose(Weight& w) {
        size_t es;
        switch (w.dtype) {
            case DType::F32: es = 4; break;
            case DType::F16: case DType::BF16: es = 2; break;
            default: return unsupported(fmt::format("{}: Conv1D tensor '{}' of type {} cannot be transposed", f_.path, w.name, dtype_name(w.dtype)));
        }
        const int64_t n_out = w.n_rows, n_in = w.n_cols;
        auto buf = std::make_unique<uint8_t[]>(static_cast<size_t>(n_out * n_in) * es);
        const auto* src = static_cast<const uint8_t*>(w.data);
        for (int64_t i = 0; i < n_in; ++i)
            for (int64_t o = 0; o < n_out; ++o)
                std::memcpy(buf.get() + (o * n_in + i) * es, src + (i * n_out + o) * es, es);
        w.data = buf.get();
        m_.w.owned.push_back(std::move(buf));
        return Status::Ok();
    }

    const formats::ModelFile& f_;
    LoadedModel& m_;
};

// Fills hyper-parameters the metadata left open from the tensors themselves.
void infer_from_tensors(const formats::ModelFile& f, LoadedModel& m) {
    HParams& hp = m.hp;
    auto lookup = [&](Role role, int il) -> const formats::TensorInfo* {
        for (const TensorName& row : m.spec->tensors) {
            if (row.role != role) continue;
            std::string name;
            return find(f, m.w.naming == Naming::kGguf ? row.gguf : row.hf, il, name);
        }
        return nullptr;
    };
    const bool conv1d = m.spec->hf_conv1d && m.w.naming == Naming::kHf;
    if (hp.n_vocab == 0)
        if (const auto* t = lookup(Role::kTokenEmbd, -1); t && t->shape.size() == 2) hp.n_vocab = static_cast<int>(t->shape[0]);
    if (hp.n_ff == 0) {
        if (const auto* t = lookup(Role::kFfnUp, 0); t && t->shape.size() == 2) hp.n_ff = static_cast<int>(t->shape[conv1d ? 1 : 0]);
        else if (const auto* g = lookup(Role::kFfnGateUp, 0); g && g->shape.size() == 2) hp.n_ff = static_cast<int>(g->shape[0] / 2);
    }
    if (hp.n_ctx_train == 0) {
        if (const auto* t = lookup(Role::kPosEmbd, -1); t && t->shape.size() == 2) hp.n_ctx_train = static_cast<int>(t->shape[0]);
        else hp.n_ctx_train = 4096;  // metadata is silent: a conservative default (ContextOptions can go higher)
    }
}

}  // namespace

Result<LoadedModel> load_model(const formats::ModelFile& f) {
    LoadedModel m;
    RZ_ASSIGN_OR_RETURN(m.hp, read_hparams(f, m.spec, m.w.naming));
    infer_from_tensors(f, m);
    RZ_RETURN_IF_ERROR(m.hp.validate().with_context(f.path));
    m.name = f.meta_string("general.name").value_or("");
    if (m.name.empty()) m.name = f.meta_string("name").value_or("");

    Loader loader(f, m);
    m.w.layers.resize(static_cast<size_t>(m.hp.n_layer));
    for (const TensorName& row : m.spec->tensors) {
        if (!is_layer_role(row.role)) {
            RZ_RETURN_IF_ERROR(loader.resolve(row, -1, m.w[row.role]));
            continue;
        }
        for (int il = 0; il < m.hp.n_layer; ++il) RZ_RETURN_IF_ERROR(loader.resolve(row, il, m.w.layers[static_cast<size_t>(il)][row.role]));
    }
    // Structural alternatives the tables cannot state as "required".
    for (int il = 0; il < m.hp.n_layer; ++il) {
        const LayerWeights& l = m.w.layers[static_cast<size_t>(il)];
        const bool split = l[Role::kAttnQ] && l[Role::kAttnK] && l[Role::kAttnV];
        if (!split && !l[Role::kAttnQkv])
            return not_found(fmt::format("{}: layer {} has neither attn_q/attn_k/attn_v nor a fused attn_qkv tensor", f.path, il));
        if (m.hp.ffn == FfnType::kGated && !l[Role::kFfnGateUp] && !(l[Role::kFfnGate] && l[Role::kFfnUp]))
            return not_found(fmt::format("{}: layer {} has neither ffn_gate/ffn_up nor a fused gate_up tensor", f.path, il));
        if (m.hp.norm == NormType::kLayer && (!l[Role::kAttnNormB] || (!m.hp.parallel_block && !l[Role::kFfnNormB])))
            return not_found(fmt::format("{}: layer {} lacks a LayerNorm bias", f.path, il));
    }
    if (m.hp.learned_pos && !m.w[Role::kPosEmbd]) return not_found(fmt::format("{}: missing position embeddings", f.path));
    if (!m.w[Role::kOutput]) m.hp.tied_output = true;
    return m;
}

uint64_t decode_weight_bytes(const ModelWeights& w) {
    const auto bytes = [](const Weight& t, int64_t rows) -> uint64_t {  // `rows` rows of t as held
        if (!t) return 0;
        const Result<uint64_t> row = dtype_bytes(t.dtype, static_cast<uint64_t>(t.n_cols));
        RZ_ASSERT(row.ok(), "a loaded weight has a valid type and row length");
        return *row * static_cast<uint64_t>(rows);
    };
    uint64_t total = 0;
    for (const LayerWeights& l : w.layers)
        for (const Weight& t : l.w) total += bytes(t, t.n_rows);
    for (Role r : {Role::kOutputNorm, Role::kOutputNormB, Role::kOutput, Role::kOutputB, Role::kRopeFreqs}) total += bytes(w[r], w[r].n_rows);
    const Weight& emb = w[Role::kTokenEmbd];
    total += w[Role::kOutput] ? bytes(emb, 1) : bytes(emb, emb.n_rows);  // tied: the table is the output head
    total += bytes(w[Role::kPosEmbd], 1);
    return total;
}

}  // namespace rz::model
