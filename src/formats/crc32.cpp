// CRC-32 (IEEE). Two implementations of the same function:
//  - slicing-by-8 tables (portable, ~1 GB/s): eight 256-entry tables consume 8 bytes per step;
//  - carry-less multiplication folding (x86 PCLMULQDQ, several GB/s), picked at run time from cpuid,
//    following Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" (bit-reflected
//    variant): fold 64-byte blocks with x^(4*128+-32) mod P, reduce 512 -> 128 -> 64 -> 32 bits, then a
//    Barrett reduction. The folding constants are those of the reflected polynomial 0xEDB88320.
// Multi-GB APR payloads are checked on open, so the fast path matters for load time.
#include "formats/crc32.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RZ_CRC_HAVE_X86 1
#endif

namespace rz::formats::detail {
namespace {

struct Tables {
    std::array<std::array<uint32_t, 256>, 8> t{};
    constexpr Tables() {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
            t[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; ++i) {
            for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffu];
        }
    }
};

constexpr Tables kTables;

// Raw register update (no pre/post inversion).
uint32_t crc_table(uint32_t c, const uint8_t* p, size_t n) {
    const auto& t = kTables.t;
    while (n >= 8) {
        uint32_t lo, hi;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + 4, 4);
        lo ^= c;
        c = t[7][lo & 0xffu] ^ t[6][(lo >> 8) & 0xffu] ^ t[5][(lo >> 16) & 0xffu] ^ t[4][lo >> 24] ^
            t[3][hi & 0xffu] ^ t[2][(hi >> 8) & 0xffu] ^ t[1][(hi >> 16) & 0xffu] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xffu];
    return c;
}

#ifdef RZ_CRC_HAVE_X86
#define RZ_CLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

RZ_CLMUL_TARGET inline __m128i load(const uint8_t* q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)); }

// x (128 bits) moved 'k' bits forward: x.lo * k.lo ^ x.hi * k.hi, plus the data it lands on.
RZ_CLMUL_TARGET inline __m128i fold(__m128i x, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

// Processes n bytes (n >= 64, a multiple of 16) and returns the raw register.
RZ_CLMUL_TARGET uint32_t crc_clmul(uint32_t c, const uint8_t* p, size_t n) {
    const __m128i k1k2 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);  // x^(4*128-32), x^(4*128+32) mod P
    const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);  // x^(128-32), x^(128+32) mod P
    const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124);               // x^64 mod P
    const __m128i poly = _mm_set_epi64x(0x1f7011641, 0x1db710641);   // mu, P (Barrett)
    const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);

    __m128i x1 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(c)));
    __m128i x2 = load(p + 16), x3 = load(p + 32), x4 = load(p + 48);
    p += 64;
    n -= 64;
    while (n >= 64) {  // four independent 128-bit lanes, each folded 512 bits forward
        x1 = fold(x1, k1k2, load(p));
        x2 = fold(x2, k1k2, load(p + 16));
        x3 = fold(x3, k1k2, load(p + 32));
        x4 = fold(x4, k1k2, load(p + 48));
        p += 64;
        n -= 64;
    }
    x1 = fold(x1, k3k4, x2);  // 512 -> 128 bits
    x1 = fold(x1, k3k4, x3);
    x1 = fold(x1, k3k4, x4);
    while (n >= 16) {
        x1 = fold(x1, k3k4, load(p));
        p += 16;
        n -= 16;
    }
    // 128 -> 64 bits.
    __m128i t = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    // 64 -> 32 bits.
    t = _mm_srli_si128(x1, 4);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5, 0x00), t);
    // Barrett reduction.
    t = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), poly, 0x00);
    x1 = _mm_xor_si128(x1, t);
    return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

bool have_clmul() {
    static const bool ok = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    return ok;
}
#endif

}  // namespace

uint32_t crc32_portable(const void* data, size_t n, uint32_t prev) {
    return ~crc_table(~prev, static_cast<const uint8_t*>(data), n);
}

uint32_t crc32(const void* data, size_t n, uint32_t prev) {
    const auto* p = static_cast<const uint8_t*>(data);
    uint32_t c = ~prev;
#ifdef RZ_CRC_HAVE_X86
    if (n >= 64 && have_clmul()) {
        const size_t m = n & ~size_t{15};
        c = crc_clmul(c, p, m);
        p += m;
        n -= m;
    }
#endif
    return ~crc_table(c, p, n);
}

}  // namespace rz::formats::detail
