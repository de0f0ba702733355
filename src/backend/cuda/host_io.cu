// Pinned host buffers and non-synchronising copies on the backend stream (cuda.h). Why: the one-token decode
// step of the generation loop uploaded 8 bytes and downloaded n_vocab floats through pageable memory, each copy
// followed by a stream synchronisation; with pinned buffers both copies are plain DMA in stream order around
// the graph launch and the step synchronises once.
#include <cuda_runtime.h>

#include <string>

#include "backend/cuda/common.cuh"
#include "realizar/backend/cuda/cuda.h"

namespace rz::cuda {

namespace {
Status cuda_status(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return Status::Ok();
    return Status(StatusCode::kInternal, std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
}  // namespace

Result<void*> host_alloc(size_t bytes) {
    void* p = nullptr;
    RZ_RETURN_IF_ERROR(cuda_status(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "pinned host allocation"));
    return p;
}

void host_free(void* p) {
    if (p) (void)cudaFreeHost(p);
}

Status copy_async(void* dst, const void* src, size_t bytes) {
    return cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, detail::stream()), "async copy");
}

}  // namespace rz::cuda
