// The reference traits table and the checked entry points over it.
#include <array>

#include <fmt/format.h>

#include "quant/internal.h"

namespace rz::quant {
namespace {

constexpr std::array kCovered = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,  DType::Q5_0,
                                 DType::Q5_1, DType::Q8_0, DType::Q8_1, DType::Q2_K, DType::Q3_K,  DType::Q4_K,
                                 DType::Q5_K, DType::Q6_K, DType::Q8_K, DType::IQ4_NL, DType::IQ4_XS};

struct Table {
    std::array<QuantTraits, kCovered.size()> rows{};
    Table() {
        for (size_t i = 0; i < kCovered.size(); ++i) {
            rows[i] = QuantTraits{kCovered[i], reference_dequantizer(kCovered[i]), reference_quantizer(kCovered[i])};
        }
    }
};

const Table& table() {
    static const Table t;
    return t;
}

Status check_length(DType t, int64_t n, const char* what) {
    const DTypeInfo* info = dtype_info(t);
    if (!info) return unsupported(fmt::format("{}: unknown type id {}", what, static_cast<uint32_t>(t)));
    if (n < 0 || n % info->block_size != 0) {
        return invalid_argument(
            fmt::format("{}: {} elements is not a multiple of the {} block size {}", what, n, info->name, info->block_size));
    }
    return Status::Ok();
}

}  // namespace

const QuantTraits* quant_traits(DType t) {
    for (const auto& row : table().rows) {
        if (row.type == t) return &row;
    }
    return nullptr;
}

bool can_dequantize(DType t) { return quant_traits(t) != nullptr; }

bool can_quantize(DType t) {
    const QuantTraits* tr = quant_traits(t);
    return tr && tr->from_float_ref;
}

Status dequantize_row(DType t, const void* src, float* dst, int64_t n) {
    RZ_RETURN_IF_ERROR(check_length(t, n, "dequantize_row"));
    const QuantTraits* tr = quant_traits(t);
    if (!tr) return unsupported(fmt::format("dequantize_row: type {} cannot be decoded", dtype_name(t)));
    if (n > 0) tr->to_float(src, dst, n);
    return Status::Ok();
}

Status quantize_row(DType t, const float* src, void* dst, int64_t n) {
    RZ_RETURN_IF_ERROR(check_length(t, n, "quantize_row"));
    const QuantTraits* tr = quant_traits(t);
    if (!tr || !tr->from_float_ref) {
        return unsupported(fmt::format("quantize_row: no reference quantizer for type {}", dtype_name(t)));
    }
    if (n > 0) tr->from_float_ref(src, dst, n);
    return Status::Ok();
}

}  // namespace rz::quant
