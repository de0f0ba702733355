// Weight rows -> "panel form" for the prefill GEMM (see kernels.h): every weight as ws * u - wm with u an
// unsigned byte, so one u8 x s8 dot instruction (vpdpbusd) covers every format; signed formats are shifted
// by +128 (or their natural zero point) and the shift goes into wm.
#include <cstring>

#include "backend/cpu/kernels.h"
#include "realizar/core/fp16.h"
#include "realizar/quant/blocks.h"
#include "realizar/quant/quant.h"

namespace rz::cpu::kern {
namespace {

using namespace rz::quant;

void unpack_q4_0(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ4_0*>(w);
    for (int64_t i = 0; i < n / 32; ++i, u += 32) {
        for (int j = 0; j < 16; ++j) {
            u[j] = x[i].qs[j] & 0xF;
            u[j + 16] = x[i].qs[j] >> 4;
        }
        const float d = fp16_to_fp32(x[i].d);
        ws[i] = d;
        wm[i] = 8.0f * d;
    }
}

void unpack_q4_1(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ4_1*>(w);
    for (int64_t i = 0; i < n / 32; ++i, u += 32) {
        for (int j = 0; j < 16; ++j) {
            u[j] = x[i].qs[j] & 0xF;
            u[j + 16] = x[i].qs[j] >> 4;
        }
        ws[i] = fp16_to_fp32(x[i].d);
        wm[i] = -fp16_to_fp32(x[i].m);
    }
}

template <typename Block>
void unpack_q5_bits(const Block& b, uint8_t* u) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < 16; ++j) {
        u[j] = static_cast<uint8_t>((b.qs[j] & 0xF) | (((qh >> j) << 4) & 0x10));
        u[j + 16] = static_cast<uint8_t>((b.qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
    }
}

void unpack_q5_0(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ5_0*>(w);
    for (int64_t i = 0; i < n / 32; ++i, u += 32) {
        unpack_q5_bits(x[i], u);
        const float d = fp16_to_fp32(x[i].d);
        ws[i] = d;
        wm[i] = 16.0f * d;
    }
}

void unpack_q5_1(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ5_1*>(w);
    for (int64_t i = 0; i < n / 32; ++i, u += 32) {
        unpack_q5_bits(x[i], u);
        ws[i] = fp16_to_fp32(x[i].d);
        wm[i] = -fp16_to_fp32(x[i].m);
    }
}

void unpack_q8_0(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    for (int64_t i = 0; i < n / 32; ++i, u += 32) {
        for (int j = 0; j < 32; ++j) u[j] = static_cast<uint8_t>(static_cast<uint8_t>(x[i].qs[j]) ^ 0x80u);
        const float d = fp16_to_fp32(x[i].d);
        ws[i] = d;
        wm[i] = 128.0f * d;
    }
}

void unpack_iq4_nl(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    for (int64_t i = 0; i < n / 32; ++i, u += 32) {
        for (int j = 0; j < 16; ++j) {
            u[j] = static_cast<uint8_t>(kIQ4NLValues[x[i].qs[j] & 0xF] + 128);
            u[j + 16] = static_cast<uint8_t>(kIQ4NLValues[x[i].qs[j] >> 4] + 128);
        }
        const float d = fp16_to_fp32(x[i].d);
        ws[i] = d;
        wm[i] = 128.0f * d;
    }
}

void unpack_q4_k(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ4_K*>(w);
    for (int64_t i = 0; i < n / kQK_K; ++i, u += kQK_K, ws += 8, wm += 8) {
        const float d = fp16_to_fp32(x[i].d), dmin = fp16_to_fp32(x[i].dmin);
        for (int j = 0; j < 4; ++j) {
            const uint8_t* q = x[i].qs + 32 * j;
            for (int l = 0; l < 32; ++l) {
                u[64 * j + l] = q[l] & 0xF;
                u[64 * j + 32 + l] = q[l] >> 4;
            }
        }
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[i].scales, &sc, &m);
            ws[j] = d * sc;
            wm[j] = dmin * m;
        }
    }
}

void unpack_q5_k(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ5_K*>(w);
    for (int64_t i = 0; i < n / kQK_K; ++i, u += kQK_K, ws += 8, wm += 8) {
        const float d = fp16_to_fp32(x[i].d), dmin = fp16_to_fp32(x[i].dmin);
        for (int j = 0; j < 4; ++j) {
            const uint8_t* q = x[i].qs + 32 * j;
            for (int l = 0; l < 32; ++l) {
                u[64 * j + l] = static_cast<uint8_t>((q[l] & 0xF) | (((x[i].qh[l] >> (2 * j)) & 1) << 4));
                u[64 * j + 32 + l] = static_cast<uint8_t>((q[l] >> 4) | (((x[i].qh[l] >> (2 * j + 1)) & 1) << 4));
            }
        }
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[i].scales, &sc, &m);
            ws[j] = d * sc;
            wm[j] = dmin * m;
        }
    }
}

void unpack_iq4_xs(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockIQ4_XS*>(w);
    for (int64_t i = 0; i < n / kQK_K; ++i, u += kQK_K, ws += 8, wm += 8) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ++ib) {
            const uint8_t* qs = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                u[32 * ib + j] = static_cast<uint8_t>(kIQ4NLValues[qs[j] & 0xF] + 128);
                u[32 * ib + j + 16] = static_cast<uint8_t>(kIQ4NLValues[qs[j] >> 4] + 128);
            }
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            ws[ib] = d * static_cast<float>(ls - 32);
            wm[ib] = 128.0f * ws[ib];
        }
    }
}

void unpack_q6_k(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    for (int64_t i = 0; i < n / kQK_K; ++i, u += kQK_K, ws += 16, wm += 16) {
        const float d = fp16_to_fp32(x[i].d);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = x[i].ql + 64 * half;
            const uint8_t* qh = x[i].qh + 32 * half;
            uint8_t* o = u + 128 * half;
            for (int l = 0; l < 32; ++l) {
                o[l] = static_cast<uint8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
                o[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                o[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                o[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        }
        for (int j = 0; j < 16; ++j) {
            ws[j] = d * static_cast<float>(x[i].scales[j]);
            wm[j] = 32.0f * ws[j];
        }
    }
}

void unpack_q2_k(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ2_K*>(w);
    for (int64_t i = 0; i < n / kQK_K; ++i, u += kQK_K, ws += 16, wm += 16) {
        const float d = fp16_to_fp32(x[i].d), dmin = fp16_to_fp32(x[i].dmin);
        uint8_t* o = u;
        for (int half = 0; half < 2; ++half) {
            const uint8_t* q = x[i].qs + 32 * half;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int l = 0; l < 32; ++l) o[l] = (q[l] >> shift) & 3;
                o += 32;
            }
        }
        for (int j = 0; j < 16; ++j) {
            ws[j] = d * static_cast<float>(x[i].scales[j] & 0xF);
            wm[j] = dmin * static_cast<float>(x[i].scales[j] >> 4);
        }
    }
}

void unpack_q3_k(const void* __restrict w, int64_t n, uint8_t* __restrict u, float* __restrict ws, float* __restrict wm) {
    const auto* x = static_cast<const BlockQ3_K*>(w);
    for (int64_t i = 0; i < n / kQK_K; ++i, u += kQK_K, ws += 16, wm += 16) {
        const float d = fp16_to_fp32(x[i].d);
        int8_t sc[16];
        unpack_q3_k_scales(x[i].scales, sc);
        uint8_t* o = u;
        int bit = 0;
        for (int half = 0; half < 2; ++half) {
            const uint8_t* q = x[i].qs + 32 * half;
            for (int shift = 0; shift < 8; shift += 2, ++bit) {
                for (int l = 0; l < 32; ++l) {
                    o[l] = static_cast<uint8_t>(((q[l] >> shift) & 3) | (((x[i].hmask[l] >> bit) & 1) << 2));
                }
                o += 32;
            }
        }
        for (int j = 0; j < 16; ++j) {
            ws[j] = d * static_cast<float>(sc[j]);
            wm[j] = 4.0f * ws[j];
        }
    }
}

}  // namespace

int unpack_sub(int type_id) {
    switch (type_id) {
        case id::kQ4_0: case id::kQ4_1: case id::kQ5_0: case id::kQ5_1: case id::kQ8_0: case id::kIQ4_NL:
        case id::kQ4_K: case id::kQ5_K: case id::kIQ4_XS:
            return 32;
        case id::kQ2_K: case id::kQ3_K: case id::kQ6_K:
            return 16;
        default:
            return 0;
    }
}

int unpack_max_u(int type_id) {
    switch (type_id) {
        case id::kQ4_0: case id::kQ4_1: case id::kQ4_K: return 15;
        case id::kQ5_0: case id::kQ5_1: case id::kQ5_K: return 31;
        case id::kQ6_K: return 63;
        case id::kQ2_K: return 3;
        case id::kQ3_K: return 7;
        default: return 255;  // Q8_0, IQ4_NL, IQ4_XS: signed values shifted by +128
    }
}

UnpackRowFn unpack_row_fn(int type_id) {
    switch (type_id) {
        case id::kQ4_0: return unpack_q4_0;
        case id::kQ4_1: return unpack_q4_1;
        case id::kQ5_0: return unpack_q5_0;
        case id::kQ5_1: return unpack_q5_1;
        case id::kQ8_0: return unpack_q8_0;
        case id::kIQ4_NL: return unpack_iq4_nl;
        case id::kQ4_K: return unpack_q4_k;
        case id::kQ5_K: return unpack_q5_k;
        case id::kIQ4_XS: return unpack_iq4_xs;
        case id::kQ6_K: return unpack_q6_k;
        case id::kQ2_K: return unpack_q2_k;
        case id::kQ3_K: return unpack_q3_k;
        default: return nullptr;
    }
}

}  // namespace rz::cpu::kern
