#include "runtime/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "realizar/core/fp16.h"

namespace rz::runtime {
namespace {

constexpr int kTile = 64;

template <typename T>
inline float load(const T* p, int64_t i) {
    if constexpr (std::is_same_v<T, float>) return p[i];
    else return fp16_to_fp32(p[i]);
}

template <typename T>
void attend_one(const T* K, const T* V, const float* q, int hd, float scale, int j0, int j1, float* out, float* acc) {
    float m = -std::numeric_limits<float>::infinity();
    float s = 0.0f;
    std::fill(acc, acc + hd, 0.0f);
    float sc[kTile];
    for (int t0 = j0; t0 <= j1; t0 += kTile) {
        const int t1 = std::min(j1 + 1, t0 + kTile);
        float tile_max = -std::numeric_limits<float>::infinity();
        for (int j = t0; j < t1; ++j) {
            const T* kr = K + static_cast<int64_t>(j) * hd;
            float d = 0.0f;
            for (int i = 0; i < hd; ++i) d += q[i] * load(kr, i);
            d *= scale;
            sc[j - t0] = d;
            tile_max = std::max(tile_max, d);
        }
        const float m_new = std::max(m, tile_max);
        const float corr = std::exp(m - m_new);  // 0 on the first tile (m = -inf)
        s *= corr;
        for (int i = 0; i < hd; ++i) acc[i] *= corr;
        for (int j = t0; j < t1; ++j) {
            const float w = std::exp(sc[j - t0] - m_new);
            s += w;
            const T* vr = V + static_cast<int64_t>(j) * hd;
            for (int i = 0; i < hd; ++i) acc[i] += w * load(vr, i);
        }
        m = m_new;
    }
    const float inv = 1.0f / s;
    for (int i = 0; i < hd; ++i) out[i] = acc[i] * inv;
}

}  // namespace

void attention(const KvCache& cache, const AttnParams& p, const float* q, const int32_t* seq, const int32_t* pos, int n_tokens,
               float* out, ThreadPool& pool) {
    const int hd = p.head_dim;
    const int group = p.n_head / p.n_head_kv;
    const int64_t n_items = static_cast<int64_t>(n_tokens) * p.n_head;
    const int64_t q_stride = static_cast<int64_t>(p.n_head) * hd;
    pool.parallel_for(n_items, [&](int64_t b, int64_t e) {
        std::vector<float> acc(static_cast<size_t>(hd));
        for (int64_t it = b; it < e; ++it) {
            const int t = static_cast<int>(it / p.n_head);
            const int h = static_cast<int>(it % p.n_head);
            const int g = h / group;
            const int j1 = pos[t];
            const int j0 = p.n_swa > 0 ? std::max(0, j1 - p.n_swa + 1) : 0;
            const float* qv = q + t * q_stride + static_cast<int64_t>(h) * hd;
            float* o = out + t * q_stride + static_cast<int64_t>(h) * hd;
            const uint8_t* kb = cache.k(p.il, seq[t], g);
            const uint8_t* vb = cache.v(p.il, seq[t], g);
            if (cache.type() == DType::F32)
                attend_one(reinterpret_cast<const float*>(kb), reinterpret_cast<const float*>(vb), qv, hd, p.scale, j0, j1, o, acc.data());
            else
                attend_one(reinterpret_cast<const uint16_t*>(kb), reinterpret_cast<const uint16_t*>(vb), qv, hd, p.scale, j0, j1, o, acc.data());
        }
    }, 1);
}

}  // namespace rz::runtime
