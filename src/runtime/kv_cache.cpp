#include "runtime/kv_cache.h"

#include <sys/mman.h>

#include <cstring>

#include <fmt/format.h>

#include "realizar/core/fp16.h"
#include "runtime/simd_avx2.h"

namespace rz::runtime {

KvCache::~KvCache() {
    if (base_) munmap(base_, bytes_);
}

Status KvCache::init(int n_layer, int n_seq, int n_head_kv, int n_ctx, int head_dim, DType type) {
    RZ_ASSERT(base_ == nullptr, "KvCache::init twice");
    if (type != DType::F16 && type != DType::F32)
        return invalid_argument(fmt::format("cache type {} is not supported (f16, f32)", dtype_name(type)));
    type_ = type;
    elem_ = type == DType::F16 ? 2 : 4;
    n_layer_ = n_layer;
    n_seq_ = n_seq;
    n_head_kv_ = n_head_kv;
    n_ctx_ = n_ctx;
    head_dim_ = head_dim;
    // Bound in floating point first: the product of five untrusted ints can overflow 64 bits.
    const double half = static_cast<double>(n_layer) * n_seq * n_head_kv * n_ctx * head_dim * static_cast<double>(elem_);
    if (!(half > 0.0) || half > static_cast<double>(uint64_t{1} << 46))
        return resource_exhausted(fmt::format("KV cache of {} layers x {} sequences x {} positions would need more than 64 TiB", n_layer, n_seq, n_ctx));
    half_ = static_cast<size_t>(n_layer) * static_cast<size_t>(n_seq) * static_cast<size_t>(n_head_kv) * static_cast<size_t>(n_ctx) *
            static_cast<size_t>(head_dim) * elem_;
    bytes_ = 2 * half_;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return resource_exhausted(fmt::format("cannot reserve {:.1f} MiB for the KV cache ({} sequences x {} positions)",
                                              static_cast<double>(bytes_) / (1 << 20), n_seq, n_ctx));
    base_ = static_cast<uint8_t*>(p);
    len_.assign(static_cast<size_t>(n_seq), 0);
    return Status::Ok();
}

int64_t KvCache::cells_used() const {
    int64_t n = 0;
    for (int32_t l : len_) n += l;
    return n;
}

void KvCache::store(uint8_t* head_base, int pos, const float* src) const {
    if (type_ == DType::F32) {
        std::memcpy(head_base + static_cast<size_t>(pos) * head_dim_ * 4, src, static_cast<size_t>(head_dim_) * 4);
        return;
    }
    auto* dst = reinterpret_cast<uint16_t*>(head_base) + static_cast<size_t>(pos) * head_dim_;
    if (simd::have_avx2()) {
        simd::f32_to_f16_row(src, dst, head_dim_, fp32_to_fp16);
        return;
    }
    for (int i = 0; i < head_dim_; ++i) dst[i] = fp32_to_fp16(src[i]);
}

void KvCache::copy_seq(int src_seq, int dst_seq, int32_t n) {
    const size_t row = static_cast<size_t>(head_dim_) * elem_;
    for (int il = 0; il < n_layer_; ++il)
        for (int h = 0; h < n_head_kv_; ++h) {
            std::memcpy(k(il, dst_seq, h), k(il, src_seq, h), row * static_cast<size_t>(n));
            std::memcpy(v(il, dst_seq, h), v(il, src_seq, h), row * static_cast<size_t>(n));
        }
    set_len(dst_seq, n);
}

}  // namespace rz::runtime
