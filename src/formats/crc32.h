#pragma once
// CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, init 0xFFFFFFFF, final xor 0xFFFFFFFF), the
// checksum APR uses for its header and (our PAYLOAD_CRC flag) its payload. Incremental: pass the previous
// result back in to continue a running checksum.
#include <cstddef>
#include <cstdint>

namespace rz::formats::detail {

uint32_t crc32(const void* data, size_t n, uint32_t prev = 0);      // fastest available (PCLMULQDQ on x86)
uint32_t crc32_portable(const void* data, size_t n, uint32_t prev = 0);  // table-driven reference

}  // namespace rz::formats::detail
