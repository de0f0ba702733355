#pragma once
// KV cache: one slab of n_ctx cells per sequence (n_seq_max sequences), per layer, per KV head:
//   K, V: [n_layer][n_seq][n_head_kv][n_ctx][head_dim] in F16 or F32.
// Positions of a head are contiguous so attention streams them. The memory is an anonymous mapping: pages
// are only backed (and count in RSS) once a sequence reaches them.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "realizar/core/dtype.h"
#include "realizar/core/status.h"

namespace rz::runtime {

class KvCache {
public:
    KvCache() = default;
    ~KvCache();
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    Status init(int n_layer, int n_seq, int n_head_kv, int n_ctx, int head_dim, DType type);

    DType type() const { return type_; }
    int n_ctx() const { return n_ctx_; }
    int n_seq() const { return n_seq_; }
    int32_t len(int seq) const { return len_[static_cast<size_t>(seq)]; }
    void set_len(int seq, int32_t n) { len_[static_cast<size_t>(seq)] = n; }
    int64_t cells_used() const;

    // Start of [n_ctx][head_dim] for (layer, seq, kv head); element size 2 (F16) or 4 (F32).
    uint8_t* k(int il, int seq, int h) const { return base_ + offset(il, seq, h); }
    uint8_t* v(int il, int seq, int h) const { return base_ + half_ + offset(il, seq, h); }
    size_t elem_size() const { return elem_; }
    size_t head_stride() const { return static_cast<size_t>(n_ctx_) * static_cast<size_t>(head_dim_) * elem_; }

    // Writes a head_dim row at position pos (converting from f32).
    void store(uint8_t* head_base, int pos, const float* src) const;
    // Copies cached positions [0, n) of src_seq into dst_seq.
    void copy_seq(int src_seq, int dst_seq, int32_t n);

private:
    size_t offset(int il, int seq, int h) const {
        return ((static_cast<size_t>(il) * n_seq_ + static_cast<size_t>(seq)) * n_head_kv_ + static_cast<size_t>(h)) * head_stride();
    }
    uint8_t* base_ = nullptr;
    size_t bytes_ = 0;  // whole mapping (K then V)
    size_t half_ = 0;   // offset of V
    size_t elem_ = 2;
    DType type_ = DType::F16;
    int n_layer_ = 0, n_seq_ = 0, n_head_kv_ = 0, n_ctx_ = 0, head_dim_ = 0;
    std::vector<int32_t> len_;
};

}  // namespace rz::runtime
