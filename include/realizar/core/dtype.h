#pragma once
// Tensor element types. Values equal ggml's type ids (as stored in GGUF), so GGUF tensors map without
// translation; APR uses the same ids plus two APR-native ones (128, 129); SafeTensors-only types that
// ggml lacks get ids >= 200. This file only knows block geometry (what parsers need to bound sizes);
// the numeric traits (to_float / from_float, kernels) live in rz_quant and the backends.
#include <cstdint>
#include <optional>
#include <string_view>

#include "realizar/core/status.h"

namespace rz {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    // APR-native (see docs/formats/apr.md)
    APR_Q4 = 128,
    APR_Q8 = 129,
    // SafeTensors dtypes with no ggml id
    U8 = 200,
    BOOL = 201,
    F8_E4M3 = 202,
    F8_E5M2 = 203,
    U16 = 204,
    U32 = 205,
    U64 = 206,
};

struct DTypeInfo {
    DType id;
    std::string_view name;  // ggml spelling: "f32", "q4_K", ...
    uint32_t block_size;    // elements per block (1 for plain types)
    uint32_t type_size;     // bytes per block
    bool is_quantized;
};

// nullptr for an id we do not know (callers turn that into a kUnsupported Status naming the file).
const DTypeInfo* dtype_info(uint32_t id);
inline const DTypeInfo* dtype_info(DType t) { return dtype_info(static_cast<uint32_t>(t)); }
std::string_view dtype_name(DType t);  // "?" when unknown
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive ggml name ("q4_k", "F16")

// Bytes for n_elements of type t, checking that n_elements is a multiple of the block size and that
// nothing overflows. Used by every parser to validate sizes before trusting them.
Result<uint64_t> dtype_bytes(DType t, uint64_t n_elements);

// Product of dims with overflow check (each dim must be >= 0; product must stay below 2^62).
Result<uint64_t> checked_element_count(const int64_t* dims, size_t n_dims);

}  // namespace rz
