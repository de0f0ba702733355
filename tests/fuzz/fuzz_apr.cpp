// libFuzzer target: the apr parser on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_common.h"
#include "realizar/formats/apr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    rz::formats::fuzz::exercise(rz::formats::read_apr(std::span<const uint8_t>(data, size), "fuzz.apr"));
    return 0;
}
