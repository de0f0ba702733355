// llama2.c checkpoint reader (layouts in llama2c.h). The format has no magic in version 0, so the reader
// is strict: every size is computed with overflow checks and must add up to the exact file size.
#include <cstring>

#include <fmt/format.h>

#include "realizar/formats/llama2c.h"

namespace rz::formats {
namespace {

struct Config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

Status l2_err(std::string_view file, std::string_view field, std::string_view what) {
    return corrupt(fmt::format("llama2c: {}: {}: {}", file, field, what));
}

// Builds tensor descriptors while walking the file; all arithmetic is checked.
class Layout {
public:
    Layout(std::span<const uint8_t> bytes, uint64_t pos, std::string_view name)
        : bytes_(bytes), pos_(pos), name_(name) {}

    // Appends a [rows, cols] (or [cols] when rows == 0) f32 tensor at the current position.
    Status add(ModelFile& mf, std::string tensor_name, int64_t rows, int64_t cols) {
        uint64_t n = 0;
        if (rows > 0) {
            if (__builtin_mul_overflow(static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), &n)) return overflow();
        } else {
            n = static_cast<uint64_t>(cols);
        }
        uint64_t nb = 0;
        if (__builtin_mul_overflow(n, uint64_t{4}, &nb)) return overflow();
        if (pos_ > bytes_.size() || nb > bytes_.size() - pos_) {
            return l2_err(name_, tensor_name, fmt::format("needs {} bytes at offset {} but the file has {} bytes", nb,
                                                          pos_, bytes_.size()));
        }
        TensorInfo t;
        t.name = std::move(tensor_name);
        t.dtype = DType::F32;
        if (rows > 0) {
            t.shape = {rows, cols};
        } else {
            t.shape = {cols};
        }
        t.offset = pos_;
        t.n_bytes = nb;
        t.data = bytes_.data() + pos_;
        pos_ += nb;
        mf.tensors.push_back(std::move(t));
        return Status::Ok();
    }

    Status skip(std::string_view what, uint64_t n_floats) {
        uint64_t nb = 0;
        if (__builtin_mul_overflow(n_floats, uint64_t{4}, &nb)) return overflow();
        if (pos_ > bytes_.size() || nb > bytes_.size() - pos_) {
            return l2_err(name_, what, fmt::format("needs {} bytes at offset {} but the file has {} bytes", nb, pos_,
                                                   bytes_.size()));
        }
        pos_ += nb;
        return Status::Ok();
    }

    uint64_t pos() const { return pos_; }

private:
    Status overflow() const { return l2_err(name_, "header", "tensor sizes overflow"); }
    std::span<const uint8_t> bytes_;
    uint64_t pos_;
    std::string_view name_;
};

std::string blk(int il, const char* what) { return fmt::format("blk.{}.{}.weight", il, what); }

}  // namespace

Result<ModelFile> read_llama2c(std::span<const uint8_t> bytes, const std::string& name) {
    ModelFile mf;
    mf.format = Format::kLlama2c;
    mf.path = name;
    mf.alignment = 4;

    uint32_t version = 0;
    uint64_t header_size = 28;
    Config c{};
    bool shared = false;
    uint32_t magic = 0;
    if (bytes.size() >= 4) std::memcpy(&magic, bytes.data(), 4);
    if (magic == kLlama2cMagic) {
        if (bytes.size() < 256) return l2_err(name, "header", "file shorter than the 256-byte version 1 header");
        int32_t v = 0;
        std::memcpy(&v, bytes.data() + 4, 4);
        if (v != 1) {
            return unsupported(fmt::format("llama2c: {}: version: {} is not supported (only 0 and 1, float32)", name, v));
        }
        version = 1;
        std::memcpy(&c, bytes.data() + 8, sizeof(c));
        const uint8_t flag = bytes[8 + sizeof(c)];
        if (flag > 1) return l2_err(name, "shared_classifier", fmt::format("flag {} is neither 0 nor 1", flag));
        shared = flag == 1;
        header_size = 256;
    } else {
        if (bytes.size() < 28) return l2_err(name, "header", "file shorter than the 28-byte header");
        std::memcpy(&c, bytes.data(), sizeof(c));
        shared = c.vocab_size > 0;
        if (c.vocab_size < 0) c.vocab_size = -c.vocab_size;
    }
    mf.version = version;

    const std::pair<const char*, int32_t> fields[] = {{"dim", c.dim},           {"hidden_dim", c.hidden_dim},
                                                      {"n_layers", c.n_layers}, {"n_heads", c.n_heads},
                                                      {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size},
                                                      {"seq_len", c.seq_len}};
    for (const auto& [field, v] : fields) {
        if (v <= 0) return l2_err(name, field, fmt::format("{} is not positive", v));
    }
    if (c.dim % c.n_heads != 0) return l2_err(name, "n_heads", fmt::format("dim {} is not a multiple of n_heads {}", c.dim, c.n_heads));
    if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0) {
        return l2_err(name, "n_kv_heads", fmt::format("{} does not divide n_heads {}", c.n_kv_heads, c.n_heads));
    }
    const int64_t head_size = c.dim / c.n_heads;
    if (head_size % 2 != 0) return l2_err(name, "n_heads", fmt::format("head size {} is odd (RoPE needs pairs)", head_size));
    const int64_t kv_dim = head_size * c.n_kv_heads;
    const int64_t dim = c.dim, hidden = c.hidden_dim, vocab = c.vocab_size;
    const int n_layers = c.n_layers;
    // Cheap plausibility bound before building thousands of descriptors: every layer holds at least
    // 4*dim*dim/n_heads floats, so n_layers cannot exceed the file size over that.
    if (static_cast<uint64_t>(n_layers) > bytes.size() / 16) {
        return l2_err(name, "n_layers", fmt::format("{} layers cannot fit in {} bytes", n_layers, bytes.size()));
    }

    Layout lay(bytes, header_size, name);
    // Descriptors are created in file order and then reordered into GGUF order (see below).
    if (version == 0) {
        RZ_RETURN_IF_ERROR(lay.add(mf, "token_embd.weight", vocab, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_norm"), 0, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_q"), dim, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_k"), kv_dim, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_v"), kv_dim, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_output"), dim, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "ffn_norm"), 0, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "ffn_gate"), hidden, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "ffn_down"), dim, hidden));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "ffn_up"), hidden, dim));
        RZ_RETURN_IF_ERROR(lay.add(mf, "output_norm.weight", 0, dim));
        // Legacy RoPE tables: seq_len x head_size/2, real then imaginary. Not tensors of the model.
        RZ_RETURN_IF_ERROR(lay.skip("freq_cis", static_cast<uint64_t>(c.seq_len) * static_cast<uint64_t>(head_size)));
    } else {
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_norm"), 0, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "ffn_norm"), 0, dim));
        RZ_RETURN_IF_ERROR(lay.add(mf, "output_norm.weight", 0, dim));
        RZ_RETURN_IF_ERROR(lay.add(mf, "token_embd.weight", vocab, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_q"), dim, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_k"), kv_dim, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_v"), kv_dim, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "attn_output"), dim, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "ffn_gate"), hidden, dim));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "ffn_down"), dim, hidden));
        for (int il = 0; il < n_layers; ++il) RZ_RETURN_IF_ERROR(lay.add(mf, blk(il, "ffn_up"), hidden, dim));
    }
    if (!shared) RZ_RETURN_IF_ERROR(lay.add(mf, "output.weight", vocab, dim));
    if (lay.pos() != bytes.size()) {
        return l2_err(name, "size", fmt::format("header implies {} bytes but the file has {}", lay.pos(), bytes.size()));
    }

    // Present tensors in the order a llama.cpp conversion lists them.
    std::vector<TensorInfo> ordered;
    ordered.reserve(mf.tensors.size());
    mf.build_index();
    auto take = [&](const std::string& n) {
        if (const TensorInfo* t = mf.find_tensor(n)) ordered.push_back(*t);
    };
    take("token_embd.weight");
    for (int il = 0; il < n_layers; ++il) {
        for (const char* w : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                              "ffn_down", "ffn_up"}) {
            take(blk(il, w));
        }
    }
    take("output_norm.weight");
    take("output.weight");
    RZ_ASSERT(ordered.size() == mf.tensors.size());
    mf.tensors = std::move(ordered);

    auto u32 = [](int64_t v) { return MetaValue::u32(static_cast<uint32_t>(v)); };
    mf.metadata = {
        {"general.architecture", MetaValue::str("llama")},
        {"general.name", MetaValue::str("llama2.c")},
        {"llama.context_length", u32(c.seq_len)},
        {"llama.embedding_length", u32(dim)},
        {"llama.feed_forward_length", u32(hidden)},
        {"llama.block_count", u32(n_layers)},
        {"llama.attention.head_count", u32(c.n_heads)},
        {"llama.attention.head_count_kv", u32(c.n_kv_heads)},
        {"llama.attention.layer_norm_rms_epsilon", MetaValue::f32(1e-5f)},
        {"llama.rope.freq_base", MetaValue::f32(10000.0f)},
        {"llama.rope.dimension_count", u32(head_size)},
        {"llama.vocab_size", u32(vocab)},
        {"llama2c.version", MetaValue::u32(version)},
        {"llama2c.shared_classifier", MetaValue::boolean(shared)},
    };
    mf.build_index();
    return mf;
}

Result<ModelFile> open_llama2c(const std::string& path) {
    RZ_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
    auto file = std::make_shared<MappedFile>(std::move(map));
    RZ_ASSIGN_OR_RETURN(ModelFile mf, read_llama2c(file->bytes(), path));
    mf.files.push_back(std::move(file));
    return mf;
}

}  // namespace rz::formats
