// libFuzzer target: the safetensors parser on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_common.h"
#include "realizar/formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    rz::formats::fuzz::exercise(rz::formats::read_safetensors(std::span<const uint8_t>(data, size), "fuzz.safetensors"));
    return 0;
}
