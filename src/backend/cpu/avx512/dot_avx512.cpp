// AVX-512 (F/BW/VL/DQ + VNNI + BF16) kernels. The decode dot kernels of this ISA layer over the AVX2 ones;
// the prefill GEMM tile lives in gemm_avx512.cpp. See kernels.h for the rules of this folder.
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "realizar/quant/blocks.h"

namespace rz::cpu::kern {

void fill_avx512(KernelTable& t) {
    t.isa_name = "avx512";
    fill_avx512_gemm(t);
}

}  // namespace rz::cpu::kern
