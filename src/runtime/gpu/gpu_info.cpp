// runtime::probe_gpu (include/realizar/runtime/gpu_info.h): the device's name and measured copy bandwidth.
#include "realizar/runtime/gpu_info.h"

#ifdef RZ_HAVE_CUDA
#include "realizar/backend/cuda/cuda.h"
#endif

namespace rz::runtime {

Result<GpuInfo> probe_gpu(uint64_t copy_bytes) {
#ifndef RZ_HAVE_CUDA
    (void)copy_bytes;
    return unsupported("this build of realizar has no CUDA backend");
#else
    if (cuda::device_count() <= 0) return unavailable("no CUDA device is available");
    if (copy_bytes < (uint64_t{1} << 20)) return invalid_argument("probe_gpu: copy buffers below 1 MiB measure the cache, not device memory");
    GpuInfo g;
    g.name = cuda::device_name(0);
    g.copy_bytes = copy_bytes;
    RZ_ASSIGN_OR_RETURN(g.copy_gbps, cuda::measure_copy_bandwidth(static_cast<size_t>(copy_bytes)));
    return g;
#endif
}

}  // namespace rz::runtime
