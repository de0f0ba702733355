// Picks the kernel table for this CPU (cpuid via GCC's __builtin_cpu_supports). RZ_CLASSICAL_ISA may narrow
// the choice (scalar, avx2, avx512) for testing and benchmarking; it can never widen it.
#include <cstdlib>
#include <string_view>

#include "classical/kernels.h"
#include "classical/packed.h"
#include "realizar/classical/model.h"

namespace rz::classical {

std::string_view isa_name(Isa isa) {
    switch (isa) {
        case Isa::kScalar: return "scalar";
        case Isa::kAvx2: return "avx2";
        case Isa::kAvx512: return "avx512";
    }
    return "?";
}

bool isa_supported(Isa isa) {
    switch (isa) {
        case Isa::kScalar: return true;
#if defined(__x86_64__) || defined(__i386__)
        case Isa::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        case Isa::kAvx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
        default: return false;
#endif
    }
    return false;
}

Isa best_isa() {
    Isa best = isa_supported(Isa::kAvx512) ? Isa::kAvx512 : isa_supported(Isa::kAvx2) ? Isa::kAvx2 : Isa::kScalar;
    if (const char* env = std::getenv("RZ_CLASSICAL_ISA")) {
        const std::string_view want(env);
        if (want == "scalar") best = Isa::kScalar;
        if (want == "avx2" && best == Isa::kAvx512) best = Isa::kAvx2;
    }
    return best;
}

namespace detail {

const KernelTable& kernels_for(Isa isa) {
    RZ_ASSERT(isa_supported(isa), "kernel table requested for an ISA this CPU lacks");
    switch (isa) {
        case Isa::kAvx512: return avx512_kernels();
        case Isa::kAvx2: return avx2_kernels();
        case Isa::kScalar: break;
    }
    return scalar_kernels();
}

}  // namespace detail
}  // namespace rz::classical
