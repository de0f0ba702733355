// Tiled online-softmax attention. Work is split into items (sequence, KV head, block of up to kQB query
// tokens of that sequence); an item walks its keys in tiles of kTile positions, converts each K/V tile to
// f32 once (F16 cache) and reuses it for every query row of the block (kQB tokens x the GQA group's heads),
// so the conversion and the K/V memory traffic are amortised over up to kQB * group rows.
#include "runtime/attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <vector>

#include "realizar/core/fp16.h"
#include "runtime/simd_avx2.h"

namespace rz::runtime {
namespace {

using simd::exp256;
using simd::hmax;
using simd::hsum;

constexpr int kTile = 64;
constexpr int kQB = 16;

// One query row's running softmax state.
struct RowState {
    float m;
    float s;
};

// ---- generic ----------------------------------------------------------------------------------------
// Tiles: K and V as row-major [n][hd] f32.

void prep_rows_generic(const uint8_t* src, DType type, int n, int hd, float* dst) {
    const int64_t m = static_cast<int64_t>(n) * hd;
    if (type == DType::F32) {
        std::memcpy(dst, src, static_cast<size_t>(m) * sizeof(float));
        return;
    }
    const auto* h = reinterpret_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < m; ++i) dst[i] = fp16_to_fp32(h[i]);
}

// Folds keys [c0, c1) of the tile into the state of one query row.
void tile_generic(const float* q, const float* K, const float* V, int c0, int c1, int hd, float scale, RowState& st, float* acc) {
    float sc[kTile];
    float tile_max = -std::numeric_limits<float>::infinity();
    for (int j = c0; j < c1; ++j) {
        const float* kr = K + static_cast<int64_t>(j) * hd;
        float d = 0.0f;
        for (int i = 0; i < hd; ++i) d += q[i] * kr[i];
        sc[j] = d * scale;
        tile_max = std::max(tile_max, sc[j]);
    }
    const float m_new = std::max(st.m, tile_max);
    const float corr = std::exp(st.m - m_new);  // 0 on the first tile (m = -inf)
    st.s *= corr;
    for (int i = 0; i < hd; ++i) acc[i] *= corr;
    for (int j = c0; j < c1; ++j) {
        const float w = std::exp(sc[j] - m_new);
        st.s += w;
        const float* vr = V + static_cast<int64_t>(j) * hd;
        for (int i = 0; i < hd; ++i) acc[i] += w * vr[i];
    }
    st.m = m_new;
}

// ---- AVX2 + FMA + F16C --------------------------------------------------------------------------------
// K tiles are stored transposed, KT[hd][kTile], so the scores of 64 keys accumulate in 8 independent vector
// registers without horizontal sums; V stays row-major and the output accumulates in registers too.

#define RZ_AVX2 __attribute__((target("avx2,fma,f16c")))

RZ_AVX2 void prep_rows_avx2(const uint8_t* src, DType type, int n, int hd, float* dst) {
    const int64_t m = static_cast<int64_t>(n) * hd;
    if (type == DType::F32) {
        std::memcpy(dst, src, static_cast<size_t>(m) * sizeof(float));
        return;
    }
    const auto* h = reinterpret_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= m; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
    for (; i < m; ++i) dst[i] = fp16_to_fp32(h[i]);
}

// KT[i][j] = K[j][i] for j < n; columns n..kTile are zero.
RZ_AVX2 void prep_kt_avx2(const uint8_t* src, DType type, int n, int hd, float* kt) {
    for (int i = 0; i < hd; ++i) std::fill(kt + static_cast<int64_t>(i) * kTile + n, kt + static_cast<int64_t>(i + 1) * kTile, 0.0f);
    float row[1024];
    for (int j = 0; j < n; ++j) {
        const float* r;
        if (type == DType::F32) {
            r = reinterpret_cast<const float*>(src) + static_cast<int64_t>(j) * hd;
        } else {
            prep_rows_avx2(src + static_cast<int64_t>(j) * hd * 2, type, 1, hd, row);
            r = row;
        }
        for (int i = 0; i < hd; ++i) kt[static_cast<int64_t>(i) * kTile + j] = r[i];
    }
}

template <int NV>
RZ_AVX2 inline void accumulate_v(const float* sc, const float* V, int c0, int c1, int hd, __m256 corr, float* acc) {
    __m256 a[NV];
    for (int v = 0; v < NV; ++v) a[v] = _mm256_mul_ps(_mm256_loadu_ps(acc + 8 * v), corr);
    for (int j = c0; j < c1; ++j) {
        const __m256 w = _mm256_set1_ps(sc[j]);
        const float* vr = V + static_cast<int64_t>(j) * hd;
        for (int v = 0; v < NV; ++v) a[v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vr + 8 * v), a[v]);
    }
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(acc + 8 * v, a[v]);
}

// hd must be a multiple of 8 and at most 1024 (checked by the dispatcher).
RZ_AVX2 void tile_avx2(const float* q, const float* KT, const float* V, int c0, int c1, int hd, float scale, RowState& st, float* acc) {
    static_assert(kTile == 64, "the score loop keeps 8 vectors of 8 keys");
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    for (int i = 0; i < hd; ++i) {
        const __m256 qi = _mm256_set1_ps(q[i]);
        const float* k = KT + static_cast<int64_t>(i) * kTile;
        s0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 0), s0);
        s1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 8), s1);
        s2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 16), s2);
        s3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 24), s3);
        s4 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 32), s4);
        s5 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 40), s5);
        s6 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 48), s6);
        s7 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 56), s7);
    }
    alignas(32) float sc[kTile];
    const __m256 vs = _mm256_set1_ps(scale);
    _mm256_store_ps(sc + 0, _mm256_mul_ps(s0, vs));
    _mm256_store_ps(sc + 8, _mm256_mul_ps(s1, vs));
    _mm256_store_ps(sc + 16, _mm256_mul_ps(s2, vs));
    _mm256_store_ps(sc + 24, _mm256_mul_ps(s3, vs));
    _mm256_store_ps(sc + 32, _mm256_mul_ps(s4, vs));
    _mm256_store_ps(sc + 40, _mm256_mul_ps(s5, vs));
    _mm256_store_ps(sc + 48, _mm256_mul_ps(s6, vs));
    _mm256_store_ps(sc + 56, _mm256_mul_ps(s7, vs));
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    const int b0 = c0 & ~7, b1 = (c1 + 7) & ~7;
    for (int j = b0; j < c0; ++j) sc[j] = kNegInf;
    for (int j = c1; j < b1; ++j) sc[j] = kNegInf;
    __m256 vmax = _mm256_set1_ps(kNegInf);
    for (int j = b0; j < b1; j += 8) vmax = _mm256_max_ps(vmax, _mm256_load_ps(sc + j));
    const float m_new = std::max(st.m, hmax(vmax));
    const float corr = std::exp(st.m - m_new);
    const __m256 vm = _mm256_set1_ps(m_new);
    __m256 vsum = _mm256_setzero_ps();
    for (int j = b0; j < b1; j += 8) {
        const __m256 w = exp256(_mm256_sub_ps(_mm256_load_ps(sc + j), vm));
        _mm256_store_ps(sc + j, w);
        vsum = _mm256_add_ps(vsum, w);
    }
    st.s = st.s * corr + hsum(vsum);
    st.m = m_new;
    const __m256 vc = _mm256_set1_ps(corr);
    for (int i0 = 0; i0 < hd; i0 += 64) {
        const float* v = V + i0;
        float* a = acc + i0;
        switch (std::min(8, (hd - i0) / 8)) {
            case 8: accumulate_v<8>(sc, v, c0, c1, hd, vc, a); break;
            case 7: accumulate_v<7>(sc, v, c0, c1, hd, vc, a); break;
            case 6: accumulate_v<6>(sc, v, c0, c1, hd, vc, a); break;
            case 5: accumulate_v<5>(sc, v, c0, c1, hd, vc, a); break;
            case 4: accumulate_v<4>(sc, v, c0, c1, hd, vc, a); break;
            case 3: accumulate_v<3>(sc, v, c0, c1, hd, vc, a); break;
            case 2: accumulate_v<2>(sc, v, c0, c1, hd, vc, a); break;
            default: accumulate_v<1>(sc, v, c0, c1, hd, vc, a); break;
        }
    }
}

#undef RZ_AVX2

struct Kernels {
    void (*prep_k)(const uint8_t*, DType, int, int, float*);
    void (*prep_v)(const uint8_t*, DType, int, int, float*);
    void (*tile)(const float*, const float*, const float*, int, int, int, float, RowState&, float*);
};

Kernels pick(int hd) {
    if (simd::have_avx2() && hd % 8 == 0 && hd <= 1024) return {prep_kt_avx2, prep_rows_avx2, tile_avx2};
    return {prep_rows_generic, prep_rows_generic, tile_generic};
}

struct Item {
    int32_t seq;
    int g;
    const int* tok;  // batch indices of this block (consecutive positions)
    int n_tok;
};

}  // namespace

void attention(const KvCache& cache, const AttnParams& p, const float* q, const int32_t* seq, const int32_t* pos, int n_tokens,
               float* out, ThreadPool& pool) {
    const int hd = p.head_dim;
    const int group = p.n_head / p.n_head_kv;
    const int64_t q_stride = static_cast<int64_t>(p.n_head) * hd;
    const Kernels kern = pick(hd);

    // Batch indices grouped by sequence (in batch order, so positions ascend), then blocks x KV heads.
    std::map<int32_t, std::vector<int>> by_seq;
    for (int t = 0; t < n_tokens; ++t) by_seq[seq[t]].push_back(t);
    std::vector<Item> items;
    for (const auto& [s, idx] : by_seq)
        for (int g = 0; g < p.n_head_kv; ++g)
            for (size_t b = 0; b < idx.size(); b += kQB)
                items.push_back({s, g, idx.data() + b, static_cast<int>(std::min<size_t>(kQB, idx.size() - b))});

    // Work estimate (query rows x cached positions x head dim): a short context on a small model is cheaper
    // to run on one thread than to hand to another (and far cheaper when the machine is oversubscribed).
    int max_pos = 0;
    for (int t = 0; t < n_tokens; ++t) max_pos = std::max(max_pos, pos[t] + 1);
    const int64_t work = static_cast<int64_t>(n_tokens) * p.n_head * max_pos * hd;
    constexpr int64_t kMinParallelWork = int64_t{1} << 17;
    const int64_t min_items = work < kMinParallelWork ? static_cast<int64_t>(items.size()) : 1;
    pool.parallel_for(static_cast<int64_t>(items.size()), [&](int64_t i0, int64_t i1) {
        std::vector<float> kt(static_cast<size_t>(kTile * hd)), vt(static_cast<size_t>(kTile * hd));
        std::vector<float> acc(static_cast<size_t>(kQB * group * hd));
        RowState state[kQB * 64];  // group <= 64 (n_head / n_head_kv), asserted below
        for (int64_t it = i0; it < i1; ++it) {
            const Item& w = items[static_cast<size_t>(it)];
            RZ_ASSERT(group <= 64, "GQA group larger than 64");
            const int rows = w.n_tok * group;
            std::fill(acc.begin(), acc.begin() + static_cast<int64_t>(rows) * hd, 0.0f);
            for (int r = 0; r < rows; ++r) state[r] = {-std::numeric_limits<float>::infinity(), 0.0f};
            int j_lo = std::numeric_limits<int>::max(), j_hi = -1;
            for (int b = 0; b < w.n_tok; ++b) {
                const int t = w.tok[b];
                j_lo = std::min(j_lo, p.n_swa > 0 ? std::max(0, pos[t] - p.n_swa + 1) : 0);
                j_hi = std::max(j_hi, pos[t]);
            }
            const uint8_t* kb = cache.k(p.il, w.seq, w.g);
            const uint8_t* vb = cache.v(p.il, w.seq, w.g);
            const size_t es = cache.elem_size();
            for (int k0 = j_lo; k0 <= j_hi; k0 += kTile) {
                const int kn = std::min(kTile, j_hi + 1 - k0);
                kern.prep_k(kb + static_cast<size_t>(k0) * static_cast<size_t>(hd) * es, cache.type(), kn, hd, kt.data());
                kern.prep_v(vb + static_cast<size_t>(k0) * static_cast<size_t>(hd) * es, cache.type(), kn, hd, vt.data());
                for (int b = 0; b < w.n_tok; ++b) {
                    const int t = w.tok[b];
                    const int lo = std::max(k0, p.n_swa > 0 ? std::max(0, pos[t] - p.n_swa + 1) : 0);
                    const int hi = std::min(k0 + kn - 1, pos[t]);
                    if (lo > hi) continue;
                    for (int hg = 0; hg < group; ++hg) {
                        const int h = w.g * group + hg;
                        const int r = b * group + hg;
                        kern.tile(q + t * q_stride + static_cast<int64_t>(h) * hd, kt.data(), vt.data(), lo - k0, hi - k0 + 1, hd, p.scale,
                                  state[r], acc.data() + static_cast<int64_t>(r) * hd);
                    }
                }
            }
            for (int b = 0; b < w.n_tok; ++b)
                for (int hg = 0; hg < group; ++hg) {
                    const int r = b * group + hg;
                    const float inv = 1.0f / state[r].s;
                    float* o = out + w.tok[b] * q_stride + static_cast<int64_t>(w.g * group + hg) * hd;
                    const float* a = acc.data() + static_cast<int64_t>(r) * hd;
                    for (int i = 0; i < hd; ++i) o[i] = a[i] * inv;
                }
        }
    }, min_items);
}

}  // namespace rz::runtime
