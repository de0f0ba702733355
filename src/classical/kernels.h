#pragma once
// Internal kernel interface of rz_classical. Each ISA (scalar, AVX2, AVX-512) implements the same table in
// its own translation unit compiled with its own flags; dispatch.cpp picks one from cpuid at first use.
//
// This header is included by the ISA translation units, so it must stay free of standard-library templates
// and inline functions: an inline function instantiated in an AVX-512 TU could be the copy the linker keeps
// and then run on a CPU without AVX-512 (the classic multi-ISA ODR trap).
#include <cstdint>

namespace rz::classical::detail {

// Width of one output tile in the packed weight layout (floats). Every tile but the last is kTile wide;
// the last is the remainder rounded up to kLane. Padded output columns have zero weights and bias.
inline constexpr int kTile = 64;
inline constexpr int kLane = 16;  // every padded width is a multiple of this (one AVX-512 register)

// Activation codes shared by all kernels (numbering equals rz::classical::Activation).
enum ActCode : int {
    kActRelu = 0,
    kActTanh = 1,
    kActSigmoid = 2,
    kActGelu = 3,
    kActIdentity = 4,
    // Last layer only: identity, then softmax over the first n_out outputs, fused so a small classifier's
    // logits never leave the registers (saves a store/reload and the loop overhead of a separate pass).
    kActSoftmax = 5,
};

// One dense layer, packed for SIMD: y = act(W x + b).
//   w: for tile t (columns [kTile*t, kTile*t + width_t)), a block [n_in][width_t] row-major, starting at
//      float offset kTile*t*n_in. width_t = min(kTile, n_out_pad - kTile*t).
//   b: [n_out_pad], zero beyond n_out.
struct LayerView {
    const float* w;
    const float* b;
    int n_in;
    int n_out_pad;  // multiple of kLane
    int n_out;      // real outputs (<= n_out_pad); kActSoftmax normalises over these only
    int act;        // ActCode
};

// Single sample: x [n_in] (any alignment), y [n_out_pad] (64-byte aligned).
using DenseFn = void (*)(const LayerView& layer, const float* x, float* y);
// n samples: x rows of x_stride floats (first n_in used), y rows of y_stride floats (64-byte aligned rows,
// y_stride >= n_out_pad, a multiple of kLane).
using DenseBatchFn = void (*)(const LayerView& layer, const float* x, int x_stride, float* y, int y_stride, int n);
// In place over y[0..n); y is readable/writable up to round_up(n, kLane) (padding is scratch).
using VecFn = void (*)(float* y, int n);

struct KernelTable {
    const char* name;  // "scalar", "avx2", "avx512"
    DenseFn dense;
    DenseBatchFn dense_batch;
    VecFn softmax;
};

const KernelTable& scalar_kernels();
const KernelTable& avx2_kernels();    // only call when the CPU has AVX2 + FMA
const KernelTable& avx512_kernels();  // only call when the CPU has AVX-512 F/DQ/BW/VL

}  // namespace rz::classical::detail
