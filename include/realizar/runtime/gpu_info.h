#pragma once
// The CUDA device a GPU context runs on, as `realizar bench` reports it: its name and the device memory bandwidth
// measured with a copy kernel, the denominator of the decode roofline (ModelInfo::decode_weight_bytes over it).
#include <cstdint>
#include <string>

#include "realizar/core/status.h"

namespace rz::runtime {

struct GpuInfo {
    std::string name;          // e.g. "NVIDIA H200"
    double copy_gbps = 0.0;    // device-to-device copy, (read + write) bytes / time, GB/s (1e9)
    uint64_t copy_bytes = 0;   // the size of each of the copy's two buffers
};

// Device 0's name and copy bandwidth, measured over two buffers of `copy_bytes` (far larger than the L2, so the
// copy streams device memory). Errors: no CUDA backend in this build, no device, the buffers do not fit (the
// caller may retry smaller).
Result<GpuInfo> probe_gpu(uint64_t copy_bytes = uint64_t{512} << 20);

}  // namespace rz::runtime
