#include "model/config_view.h"

#include <cmath>

namespace rz::model {

std::optional<double> ConfigView::float_of(std::initializer_list<std::string_view> keys) const {
    for (auto k : keys)
        if (auto v = get_float(k)) return v;
    return std::nullopt;
}
std::optional<int64_t> ConfigView::int_of(std::initializer_list<std::string_view> keys) const {
    for (auto k : keys)
        if (auto v = get_int(k)) return v;
    return std::nullopt;
}
std::optional<std::string> ConfigView::string_of(std::initializer_list<std::string_view> keys) const {
    for (auto k : keys)
        if (auto v = get_string(k)) return v;
    return std::nullopt;
}

const nlohmann::json* JsonConfigView::find(std::string_view key) const {
    const nlohmann::json* cur = &j_;
    size_t start = 0;
    while (true) {
        if (!cur->is_object()) return nullptr;
        const size_t dot = key.find('.', start);
        const std::string part(key.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        auto it = cur->find(part);
        if (it == cur->end()) return nullptr;
        cur = &*it;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return cur->is_null() ? nullptr : cur;
}

static const nlohmann::json* first_scalar(const nlohmann::json* v) {
    if (v && v->is_array()) return v->empty() ? nullptr : &(*v)[0];
    return v;
}

std::optional<double> JsonConfigView::get_float(std::string_view key) const {
    const nlohmann::json* v = first_scalar(find(key));
    if (!v) return std::nullopt;
    if (v->is_number()) return v->get<double>();
    if (v->is_boolean()) return v->get<bool>() ? 1.0 : 0.0;
    return std::nullopt;
}

std::optional<int64_t> JsonConfigView::get_int(std::string_view key) const {
    const nlohmann::json* v = first_scalar(find(key));
    if (!v) return std::nullopt;
    if (v->is_number_integer()) return v->get<int64_t>();
    if (v->is_number_float()) {
        const double d = v->get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) return static_cast<int64_t>(d);
        return std::nullopt;
    }
    if (v->is_boolean()) return v->get<bool>() ? 1 : 0;
    return std::nullopt;
}

std::optional<std::string> JsonConfigView::get_string(std::string_view key) const {
    const nlohmann::json* v = find(key);
    if (v && v->is_string()) return v->get<std::string>();
    return std::nullopt;
}

const formats::MetaValue* MetaConfigView::find(std::string_view key) const {
    if (!key.empty() && key.front() == '.') return f_.find_meta(arch_prefix_ + std::string(key));
    return f_.find_meta(key);
}

std::optional<double> MetaConfigView::get_float(std::string_view key) const {
    const formats::MetaValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto* a = v->as_array()) return a->items.empty() ? std::nullopt : a->items[0].as_float();
    return v->as_float();
}

std::optional<int64_t> MetaConfigView::get_int(std::string_view key) const {
    const formats::MetaValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto* a = v->as_array()) return a->items.empty() ? std::nullopt : a->items[0].as_int();
    if (v->is_float()) {
        auto d = v->as_float();
        if (!d || !std::isfinite(*d) || *d != std::floor(*d) || std::fabs(*d) > 9e18) return std::nullopt;
        return static_cast<int64_t>(*d);
    }
    return v->as_int();
}

std::optional<std::string> MetaConfigView::get_string(std::string_view key) const {
    const formats::MetaValue* v = find(key);
    if (!v) return std::nullopt;
    if (const std::string* s = v->as_string()) return *s;
    return std::nullopt;
}

}  // namespace rz::model
