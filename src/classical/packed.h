#pragma once
// Internal: a ClassicalModel's weights packed for the kernels (layout in kernels.h), in 64-byte aligned
// storage, plus the kernel table chosen for it.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "classical/kernels.h"
#include "realizar/classical/model.h"

namespace rz::classical {

struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;

// n floats, zero-filled, 64-byte aligned; the size is rounded up to a whole cache line.
AlignedFloats make_aligned_floats(int64_t n);

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

class PackedLayers {
public:
    std::vector<AlignedFloats> weights;  // per layer, tiles as in kernels.h
    std::vector<AlignedFloats> biases;   // per layer, [n_out_pad]
    std::vector<detail::LayerView> views;
    const detail::KernelTable* kernels = nullptr;
    int64_t max_width = 0;  // largest n_out_pad over layers: the workspace row stride
    int64_t n_in = 0;       // model inputs
    int64_t n_out = 0;      // model outputs
};

namespace detail {
const KernelTable& kernels_for(Isa isa);
}

}  // namespace rz::classical
