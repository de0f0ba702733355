#include "backend/cpu/dispatch.h"

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif


namespace rz::cpu {
namespace {

struct Tables {
    kern::KernelTable generic, avx2, avx512;
    bool has_avx2 = false, has_avx512 = false;
    Tables() {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        unsigned a = 0, b = 0, c = 0, d = 0;  // F16C from CPUID leaf 1 (clang 14's __builtin_cpu_supports lacks "f16c")
        const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
        has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
        has_avx512 = has_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                     __builtin_cpu_supports("avx512vnni");  // no BF16 instructions are used (docs/quantization.md)
#endif
        kern::fill_generic(generic);
        avx2 = generic;
        kern::fill_avx2(avx2);
        avx512 = avx2;
        kern::fill_avx512(avx512);
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

bool cpu_has_isa(Isa isa) {
    switch (isa) {
        case Isa::kGeneric: return true;
        case Isa::kAvx2: return tables().has_avx2;
        case Isa::kAvx512: return tables().has_avx512;
    }
    return false;
}

const kern::KernelTable* kernel_table(Isa isa) {
    if (!cpu_has_isa(isa)) return nullptr;
    switch (isa) {
        case Isa::kGeneric: return &tables().generic;
        case Isa::kAvx2: return &tables().avx2;
        case Isa::kAvx512: return &tables().avx512;
    }
    return nullptr;
}

const kern::KernelTable& active_kernels() {
    static const kern::KernelTable* active = [] {
        Isa best = cpu_has_isa(Isa::kAvx512) ? Isa::kAvx512 : cpu_has_isa(Isa::kAvx2) ? Isa::kAvx2 : Isa::kGeneric;
        if (const char* env = std::getenv("RZ_CPU_ISA")) {
            Isa want = best;
            if (std::strcmp(env, "generic") == 0) want = Isa::kGeneric;
            else if (std::strcmp(env, "avx2") == 0) want = Isa::kAvx2;
            else if (std::strcmp(env, "avx512") == 0) want = Isa::kAvx512;
            if (static_cast<int>(want) <= static_cast<int>(best)) best = want;
        }
        return kernel_table(best);
    }();
    return *active;
}

}  // namespace rz::cpu
