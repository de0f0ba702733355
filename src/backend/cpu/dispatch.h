#pragma once
// Start-up ISA selection of the CPU backend (internal; tests use it to compare kernels across ISAs).
#include "backend/cpu/kernels.h"

namespace rz::cpu {

enum class Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// What this CPU (and OS) can run.
bool cpu_has_isa(Isa isa);
// The table for one ISA (generic entries under any the ISA leaves empty); nullptr if the CPU cannot run it.
const kern::KernelTable* kernel_table(Isa isa);
// The table matmul() uses: the best ISA the CPU has, unless RZ_CPU_ISA=generic|avx2|avx512 asks for a
// lower one (for testing and for comparing speed).
const kern::KernelTable& active_kernels();

}  // namespace rz::cpu
