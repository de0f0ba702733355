#include "realizar/core/dtype.h"

#include <array>
#include <cctype>
#include <string>

#include <fmt/format.h>

namespace rz {
namespace {

// Block geometry of every type, checked against ggml's block structs (rz_quant static_asserts its
// structs against this table). QK_K = 256 for the K- and IQ-families.
constexpr std::array kTypes = {
    DTypeInfo{DType::F32, "f32", 1, 4, false},          DTypeInfo{DType::F16, "f16", 1, 2, false},
    DTypeInfo{DType::Q4_0, "q4_0", 32, 18, true},       DTypeInfo{DType::Q4_1, "q4_1", 32, 20, true},
    DTypeInfo{DType::Q5_0, "q5_0", 32, 22, true},       DTypeInfo{DType::Q5_1, "q5_1", 32, 24, true},
    DTypeInfo{DType::Q8_0, "q8_0", 32, 34, true},       DTypeInfo{DType::Q8_1, "q8_1", 32, 36, true},
    DTypeInfo{DType::Q2_K, "q2_K", 256, 84, true},      DTypeInfo{DType::Q3_K, "q3_K", 256, 110, true},
    DTypeInfo{DType::Q4_K, "q4_K", 256, 144, true},     DTypeInfo{DType::Q5_K, "q5_K", 256, 176, true},
    DTypeInfo{DType::Q6_K, "q6_K", 256, 210, true},     DTypeInfo{DType::Q8_K, "q8_K", 256, 292, true},
    DTypeInfo{DType::IQ2_XXS, "iq2_xxs", 256, 66, true}, DTypeInfo{DType::IQ2_XS, "iq2_xs", 256, 74, true},
    DTypeInfo{DType::IQ3_XXS, "iq3_xxs", 256, 98, true}, DTypeInfo{DType::IQ1_S, "iq1_s", 256, 50, true},
    DTypeInfo{DType::IQ4_NL, "iq4_nl", 32, 18, true},   DTypeInfo{DType::IQ3_S, "iq3_s", 256, 110, true},
    DTypeInfo{DType::IQ2_S, "iq2_s", 256, 82, true},    DTypeInfo{DType::IQ4_XS, "iq4_xs", 256, 136, true},
    DTypeInfo{DType::I8, "i8", 1, 1, false},            DTypeInfo{DType::I16, "i16", 1, 2, false},
    DTypeInfo{DType::I32, "i32", 1, 4, false},          DTypeInfo{DType::I64, "i64", 1, 8, false},
    DTypeInfo{DType::F64, "f64", 1, 8, false},          DTypeInfo{DType::IQ1_M, "iq1_m", 256, 56, true},
    DTypeInfo{DType::BF16, "bf16", 1, 2, false},        DTypeInfo{DType::TQ1_0, "tq1_0", 256, 54, true},
    DTypeInfo{DType::TQ2_0, "tq2_0", 256, 66, true},    DTypeInfo{DType::MXFP4, "mxfp4", 32, 17, true},
    DTypeInfo{DType::APR_Q4, "apr_q4", 32, 18, true},
    // APR_Q8: one f32 scale for the whole tensor then N int8; per element it is 1 byte (+4 per tensor,
    // which the APR reader accounts for itself).
    DTypeInfo{DType::APR_Q8, "apr_q8", 1, 1, true},
    DTypeInfo{DType::U8, "u8", 1, 1, false},            DTypeInfo{DType::BOOL, "bool", 1, 1, false},
    DTypeInfo{DType::F8_E4M3, "f8_e4m3", 1, 1, false},  DTypeInfo{DType::F8_E5M2, "f8_e5m2", 1, 1, false},
    DTypeInfo{DType::U16, "u16", 1, 2, false},          DTypeInfo{DType::U32, "u32", 1, 4, false},
    DTypeInfo{DType::U64, "u64", 1, 8, false},
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
}

}  // namespace

const DTypeInfo* dtype_info(uint32_t id) {
    for (const auto& t : kTypes) {
        if (static_cast<uint32_t>(t.id) == id) return &t;
    }
    return nullptr;
}

std::string_view dtype_name(DType t) {
    const DTypeInfo* info = dtype_info(t);
    return info ? info->name : std::string_view("?");
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& t : kTypes) {
        if (iequals(t.name, name)) return t.id;
    }
    return std::nullopt;
}

Result<uint64_t> dtype_bytes(DType t, uint64_t n_elements) {
    const DTypeInfo* info = dtype_info(t);
    if (!info) return unsupported(fmt::format("unknown tensor type id {}", static_cast<uint32_t>(t)));
    if (n_elements % info->block_size != 0) {
        return invalid_argument(fmt::format("{} elements is not a multiple of the {} block size {}", n_elements,
                                            info->name, info->block_size));
    }
    const uint64_t blocks = n_elements / info->block_size;
    if (blocks > (uint64_t{1} << 62) / info->type_size) {
        return out_of_range(fmt::format("{} elements of {} overflow a 64-bit byte count", n_elements, info->name));
    }
    return blocks * info->type_size;
}

Result<uint64_t> checked_element_count(const int64_t* dims, size_t n_dims) {
    uint64_t n = 1;
    for (size_t i = 0; i < n_dims; ++i) {
        if (dims[i] < 0) return corrupt(fmt::format("dimension {} is negative ({})", i, dims[i]));
        const auto d = static_cast<uint64_t>(dims[i]);
        if (d != 0 && n > (uint64_t{1} << 62) / d) {
            return out_of_range(fmt::format("tensor dimensions overflow (dimension {} = {})", i, dims[i]));
        }
        n *= d;
    }
    return n;
}

}  // namespace rz
