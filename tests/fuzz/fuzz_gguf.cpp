// libFuzzer target: the gguf parser on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_common.h"
#include "realizar/formats/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    rz::formats::fuzz::exercise(rz::formats::read_gguf(std::span<const uint8_t>(data, size), "fuzz.gguf"));
    return 0;
}
