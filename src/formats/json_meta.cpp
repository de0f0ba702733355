#include "formats/json_meta.h"

#include <cmath>

#include <fmt/format.h>

#include "formats/byte_reader.h"

namespace rz::formats::detail {
namespace {

constexpr int kMaxDepth = 16;

std::optional<MetaValue> scalar(const OrderedJson& j) {
    if (j.is_boolean()) return MetaValue::boolean(j.get<bool>());
    if (j.is_number_unsigned()) return MetaValue::u64(j.get<uint64_t>());
    if (j.is_number_integer()) return MetaValue::i64(j.get<int64_t>());
    if (j.is_number_float()) return MetaValue::f64(j.get<double>());
    if (j.is_string()) return MetaValue::str(j.get<std::string>());
    return std::nullopt;
}

std::string json_text(const OrderedJson& j) { return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace); }

MetaValue array_value(const OrderedJson& arr, int depth) {
    // Pick one element type for the whole array.
    bool all_str = true, all_bool = true, all_uint = true, all_int = true, all_num = true, all_arr = true;
    for (const auto& e : arr) {
        all_str &= e.is_string();
        all_bool &= e.is_boolean();
        all_uint &= e.is_number_unsigned();
        all_int &= e.is_number_integer();
        all_num &= e.is_number();
        all_arr &= e.is_array();
    }
    std::vector<MetaValue> items;
    items.reserve(arr.size());
    if (arr.empty() || all_str) {
        for (const auto& e : arr) items.push_back(MetaValue::str(e.get<std::string>()));
        return MetaValue::array(MetaType::kString, std::move(items));
    }
    if (all_bool) {
        for (const auto& e : arr) items.push_back(MetaValue::boolean(e.get<bool>()));
        return MetaValue::array(MetaType::kBool, std::move(items));
    }
    if (all_uint) {
        for (const auto& e : arr) items.push_back(MetaValue::u64(e.get<uint64_t>()));
        return MetaValue::array(MetaType::kU64, std::move(items));
    }
    if (all_int) {
        for (const auto& e : arr) items.push_back(MetaValue::i64(e.get<int64_t>()));
        return MetaValue::array(MetaType::kI64, std::move(items));
    }
    if (all_num) {
        for (const auto& e : arr) items.push_back(MetaValue::f64(e.get<double>()));
        return MetaValue::array(MetaType::kF64, std::move(items));
    }
    if (all_arr && depth < kMaxDepth) {
        for (const auto& e : arr) items.push_back(array_value(e, depth + 1));
        return MetaValue::array(MetaType::kArray, std::move(items));
    }
    for (const auto& e : arr) items.push_back(MetaValue::str(e.is_string() ? e.get<std::string>() : json_text(e)));
    return MetaValue::array(MetaType::kString, std::move(items));
}

void object_to_meta(const OrderedJson& obj, const std::string& prefix, int depth,
                    std::vector<std::pair<std::string, MetaValue>>& out) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
        const OrderedJson& v = it.value();
        if (auto s = scalar(v)) {
            out.emplace_back(key, std::move(*s));
        } else if (v.is_array()) {
            out.emplace_back(key, array_value(v, 0));
        } else if (v.is_object()) {
            if (depth < kMaxDepth) {
                object_to_meta(v, key, depth + 1, out);
            } else {
                out.emplace_back(key, MetaValue::str(json_text(v)));
            }
        }
    }
}

}  // namespace

void json_object_to_meta(const OrderedJson& obj, const std::string& prefix,
                         std::vector<std::pair<std::string, MetaValue>>& out) {
    object_to_meta(obj, prefix, 0, out);
}

Result<OrderedJson> meta_to_json(const MetaValue& v) {
    if (const auto* s = std::get_if<std::string>(&v.v)) {
        if (!is_valid_utf8(*s)) return invalid_argument(fmt::format("string '{}' is not valid UTF-8", printable(*s)));
        return OrderedJson(*s);
    }
    if (const auto* u = std::get_if<uint64_t>(&v.v)) return OrderedJson(*u);
    if (const auto* i = std::get_if<int64_t>(&v.v)) return OrderedJson(*i);
    if (const auto* d = std::get_if<double>(&v.v)) {
        // f32 values print with float precision so 1e-5f stays 1e-05 rather than 9.99999974737875e-06.
        if (v.type == MetaType::kF32 && std::isfinite(*d)) {
            const std::string txt = fmt::format("{}", static_cast<float>(*d));
            return OrderedJson::parse(txt, nullptr, false);
        }
        return OrderedJson(*d);
    }
    if (const auto* b = std::get_if<bool>(&v.v)) return OrderedJson(*b);
    const MetaArray& a = std::get<MetaArray>(v.v);
    OrderedJson arr = OrderedJson::array();
    for (const MetaValue& item : a.items) {
        RZ_ASSIGN_OR_RETURN(OrderedJson j, meta_to_json(item));
        arr.push_back(std::move(j));
    }
    return arr;
}

}  // namespace rz::formats::detail
