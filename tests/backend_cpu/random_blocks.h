#pragma once
// Random but well-formed weight rows of any supported type: random bytes with every fp16 scale field
// replaced by a finite half of modest size, so kernels see all bit patterns of the quants.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "realizar/core/dtype.h"
#include "realizar/core/fp16.h"

namespace rz::test {

struct HalfField {
    size_t offset;
    float scale;
};

inline std::vector<HalfField> half_fields(DType t) {
    switch (t) {
        case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: case DType::IQ4_NL: case DType::IQ4_XS:
            return {{0, 0.01f}};
        case DType::Q4_1: case DType::Q5_1: return {{0, 0.01f}, {2, 0.1f}};
        case DType::Q2_K: return {{80, 0.01f}, {82, 0.01f}};
        case DType::Q3_K: return {{108, 0.01f}};
        case DType::Q4_K: case DType::Q5_K: return {{0, 0.01f}, {2, 0.01f}};
        case DType::Q6_K: return {{208, 0.001f}};
        default: return {};
    }
}

// n_rows rows of n_cols elements of type t, row-major.
inline std::vector<unsigned char> random_weights(DType t, int64_t n_rows, int64_t n_cols, uint32_t seed) {
    const DTypeInfo* info = dtype_info(t);
    const size_t n_blocks = static_cast<size_t>(n_rows * n_cols / info->block_size);
    std::vector<unsigned char> w(n_blocks * info->type_size);
    std::mt19937 rng(seed);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    if (t == DType::F32) {
        for (size_t i = 0; i < w.size() / 4; ++i) {
            const float v = gauss(rng);
            std::memcpy(w.data() + 4 * i, &v, 4);
        }
        return w;
    }
    if (t == DType::F16 || t == DType::BF16) {
        for (size_t i = 0; i < w.size() / 2; ++i) {
            const float v = gauss(rng);
            const uint16_t h = t == DType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
            std::memcpy(w.data() + 2 * i, &h, 2);
        }
        return w;
    }
    std::uniform_int_distribution<int> byte(0, 255);
    for (auto& b : w) b = static_cast<unsigned char>(byte(rng));
    const auto fields = half_fields(t);
    for (size_t b = 0; b < n_blocks; ++b) {
        if (t == DType::Q8_K) {  // f32 scale
            const float d = gauss(rng) * 0.01f;
            std::memcpy(w.data() + b * info->type_size, &d, 4);
        }
        for (const auto& f : fields) {
            const uint16_t h = fp32_to_fp16(gauss(rng) * f.scale);
            std::memcpy(w.data() + b * info->type_size + f.offset, &h, 2);
        }
    }
    return w;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> gauss(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = gauss(rng);
    return v;
}

}  // namespace rz::test
