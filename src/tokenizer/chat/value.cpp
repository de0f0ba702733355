#include "tokenizer/chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace rz::tokenizer::jinja {

void fail(std::string message, int line) { throw JinjaError{std::move(message), line}; }

std::string str_cat(std::initializer_list<std::string_view> parts) {
    size_t n = 0;
    for (auto p : parts) n += p.size();
    std::string out;
    out.reserve(n);
    for (auto p : parts) out.append(p);
    return out;
}

const Value* CallArgs::get(size_t i, std::string_view name) const {
    if (i < positional.size()) return &positional[i];
    for (const auto& [k, v] : kwargs)
        if (k == name) return &v;
    return nullptr;
}

void CallArgs::check(std::string_view fn, size_t max_positional, std::initializer_list<std::string_view> allowed) const {
    if (positional.size() > max_positional)
        fail(std::string(fn) + "() takes at most " + std::to_string(max_positional) + " positional argument(s) (" +
             std::to_string(positional.size()) + " given)");
    for (const auto& [k, v] : kwargs) {
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
            fail(std::string(fn) + "() got an unexpected keyword argument '" + k + "'");
    }
}

// ---------------------------------------------------------------------------------------------------- Value

Value Value::undefined(std::string hint) {
    Value v;
    v.s_ = std::move(hint);
    return v;
}
Value Value::none() {
    Value v;
    v.kind_ = Kind::kNone;
    return v;
}
Value Value::boolean(bool b) {
    Value v;
    v.kind_ = Kind::kBool;
    v.b_ = b;
    return v;
}
Value Value::integer(int64_t i) {
    Value v;
    v.kind_ = Kind::kInt;
    v.i_ = i;
    return v;
}
Value Value::number(double f) {
    Value v;
    v.kind_ = Kind::kFloat;
    v.f_ = f;
    return v;
}
Value Value::string(std::string s) {
    Value v;
    v.kind_ = Kind::kString;
    v.s_ = std::move(s);
    return v;
}
Value Value::list(List items, bool tuple) {
    Value v;
    v.kind_ = Kind::kList;
    v.tuple_ = tuple;
    v.list_ = std::make_shared<const List>(std::move(items));
    return v;
}
Value Value::dict(Dict d) {
    Value v;
    v.kind_ = Kind::kDict;
    v.dict_ = std::make_shared<Dict>(std::move(d));
    return v;
}
Value Value::make_namespace(Dict d) {
    Value v;
    v.kind_ = Kind::kNamespace;
    v.dict_ = std::make_shared<Dict>(std::move(d));
    return v;
}
Value Value::callable(std::string name, NativeFn fn) {
    Value v;
    v.kind_ = Kind::kCallable;
    v.s_ = std::move(name);
    v.fn_ = std::make_shared<const NativeFn>(std::move(fn));
    return v;
}

double Value::as_double() const {
    switch (kind_) {
        case Kind::kFloat: return f_;
        case Kind::kInt: return static_cast<double>(i_);
        case Kind::kBool: return b_ ? 1.0 : 0.0;
        default: return 0.0;
    }
}

const void* Value::identity() const {
    if (list_) return list_.get();
    if (dict_) return dict_.get();
    if (fn_) return fn_.get();
    return nullptr;
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::kUndefined:
        case Kind::kNone: return false;
        case Kind::kBool: return b_;
        case Kind::kInt: return i_ != 0;
        case Kind::kFloat: return f_ != 0.0;
        case Kind::kString: return !s_.empty();
        case Kind::kList: return !list_->empty();
        case Kind::kDict: return !dict_->items.empty();
        case Kind::kNamespace:
        case Kind::kCallable: return true;
    }
    return false;
}

const Value* Dict::find(const Value& key) const {
    if (key.is_string()) return find(std::string_view(key.str()));
    for (const auto& [k, v] : items)
        if (values_equal(k, key)) return &v;
    return nullptr;
}
const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : items)
        if (k.is_string() && k.str() == key) return &v;
    return nullptr;
}
void Dict::set(Value key, Value value) {
    for (auto& [k, v] : items) {
        if (values_equal(k, key)) {
            v = std::move(value);
            return;
        }
    }
    items.emplace_back(std::move(key), std::move(value));
}

// --------------------------------------------------------------------------------------- Python semantics

bool values_equal(const Value& a, const Value& b) {
    using K = Value::Kind;
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case K::kUndefined:
        case K::kNone: return true;
        case K::kString: return a.str() == b.str();
        case K::kList: {
            const List& x = a.items();
            const List& y = b.items();
            if (a.is_tuple() != b.is_tuple() || x.size() != y.size()) return false;
            for (size_t i = 0; i < x.size(); ++i)
                if (!values_equal(x[i], y[i])) return false;
            return true;
        }
        case K::kDict: {
            const Dict& x = a.entries();
            const Dict& y = b.entries();
            if (x.items.size() != y.items.size()) return false;
            for (const auto& [k, v] : x.items) {
                const Value* o = y.find(k);
                if (!o || !values_equal(v, *o)) return false;
            }
            return true;
        }
        default: return a.identity() == b.identity();
    }
}

int compare_values(const Value& a, const Value& b, std::string_view op) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            double x = a.as_double(), y = b.as_double();
            return x < y ? -1 : (x > y ? 1 : 0);
        }
        int64_t x = a.as_int(), y = b.as_int();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
        // Byte order of UTF-8 equals code point order, which is what Python compares.
        int c = a.str().compare(b.str());
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        const List& x = a.items();
        const List& y = b.items();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (values_equal(x[i], y[i])) continue;
            return compare_values(x[i], y[i], op);
        }
        return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
    if (a.is_undefined() || b.is_undefined()) {
        const Value& u = a.is_undefined() ? a : b;
        fail(u.str().empty() ? "undefined value used in a comparison" : u.str());
    }
    fail(str_cat({"'", op, "' not supported between instances of '", type_name(a), "' and '", type_name(b), "'"}));
}

std::string type_name(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined: return "Undefined";
        case Value::Kind::kNone: return "NoneType";
        case Value::Kind::kBool: return "bool";
        case Value::Kind::kInt: return "int";
        case Value::Kind::kFloat: return "float";
        case Value::Kind::kString: return "str";
        case Value::Kind::kList: return v.is_tuple() ? "tuple" : "list";
        case Value::Kind::kDict: return "dict";
        case Value::Kind::kNamespace: return "Namespace";
        case Value::Kind::kCallable: return "function";
    }
    return "object";
}

std::string object_type_repr(const Value& v) {
    if (v.is_none()) return "None";
    std::string r = "'";  // built step by step: GCC 12 warns (-Wrestrict) on the one-expression form
    r += type_name(v);
    r += " object'";
    return r;
}

std::string format_float(double f) {
    if (std::isnan(f)) return "nan";
    if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
    if (f == 0.0) return std::signbit(f) ? "-0.0" : "0.0";
    // Shortest round-trip digits, then Python's repr layout: positional for 1e-4 <= |f| < 1e16.
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
    std::string sci(buf, res.ptr);
    bool neg = sci[0] == '-';
    if (neg) sci.erase(0, 1);
    size_t epos = sci.find('e');
    std::string mant = sci.substr(0, epos);
    int exp = std::atoi(sci.c_str() + epos + 1);
    std::string digits;
    for (char c : mant)
        if (c != '.') digits += c;
    std::string out = neg ? "-" : "";
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out += "0.";
            out.append(static_cast<size_t>(-exp - 1), '0');
            out += digits;
        } else {
            size_t int_len = static_cast<size_t>(exp) + 1;
            if (digits.size() <= int_len) {
                out += digits;
                out.append(int_len - digits.size(), '0');
                out += ".0";
            } else {
                out += digits.substr(0, int_len);
                out += '.';
                out += digits.substr(int_len);
            }
        }
        return out;
    }
    // Python switches to exponent notation below 1e-4 and from 1e16 on: 0.0001 but 1e-05, 1e+16.
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
        out += '.';
        out += digits.substr(1);
    }
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += ebuf;
    return out;
}

std::string repr_string(std::string_view s) {
    bool has_single = s.find('\'') != std::string_view::npos;
    bool has_double = s.find('"') != std::string_view::npos;
    char q = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, q);
    for (unsigned char c : s) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c == static_cast<unsigned char>(q)) {
                    out += '\\';
                    out += static_cast<char>(c);
                } else if (c < 0x20 || c == 0x7f) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\x%02x", c);
                    out += b;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += q;
    return out;
}

std::string repr(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kString: return repr_string(v.str());
        case Value::Kind::kList: {
            std::string out = v.is_tuple() ? "(" : "[";
            const List& items = v.items();
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += ", ";
                out += repr(items[i]);
            }
            if (v.is_tuple() && items.size() == 1) out += ",";
            out += v.is_tuple() ? ")" : "]";
            return out;
        }
        case Value::Kind::kDict: {
            std::string out = "{";
            bool first = true;
            for (const auto& [k, val] : v.entries().items) {
                if (!first) out += ", ";
                first = false;
                out += repr(k) + ": " + repr(val);
            }
            return out + "}";
        }
        case Value::Kind::kNamespace: {
            std::string out = "<Namespace {";
            bool first = true;
            for (const auto& [k, val] : v.entries().items) {
                if (!first) out += ", ";
                first = false;
                out += repr(k) + ": " + repr(val);
            }
            return out + "}>";
        }
        case Value::Kind::kUndefined: return "Undefined";
        default: return to_str(v);
    }
}

std::string to_str(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined: return "";
        case Value::Kind::kNone: return "None";
        case Value::Kind::kBool: return v.as_bool() ? "True" : "False";
        case Value::Kind::kInt: return std::to_string(v.as_int());
        case Value::Kind::kFloat: return format_float(v.as_double());
        case Value::Kind::kString: return v.str();
        case Value::Kind::kCallable: return "<function " + v.str() + ">";
        default: return repr(v);
    }
}

// --------------------------------------------------------------------------------------------- json.dumps

namespace {

void json_string(std::string& out, std::string_view s, bool ensure_ascii) {
    out += '"';
    auto hex4 = [&](uint32_t u) {
        char b[16];
        std::snprintf(b, sizeof b, "\\u%04x", u & 0xFFFFu);
        out += b;
    };
    if (!ensure_ascii) {
        for (unsigned char c : s) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                default:
                    if (c < 0x20) hex4(c);
                    else out += static_cast<char>(c);
            }
        }
    } else {
        for (char32_t cp : utf8_decode(s)) {
            switch (cp) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                default:
                    if (cp < 0x20 || (cp >= 0x7f && cp < 0x10000)) {
                        if (cp == 0x7f) out += static_cast<char>(cp);
                        else hex4(cp);
                    } else if (cp >= 0x10000) {
                        uint32_t u = cp - 0x10000;
                        hex4(0xD800 + (u >> 10));
                        hex4(0xDC00 + (u & 0x3FF));
                    } else {
                        out += static_cast<char>(cp);
                    }
            }
        }
    }
    out += '"';
}

void json_value(std::string& out, const Value& v, const JsonOptions& o, int depth) {
    if (depth > 500) fail("tojson: nesting too deep");
    const bool indented = o.indent >= 0 || !o.indent_str.empty();
    std::string unit = o.indent_str.empty() ? std::string(static_cast<size_t>(std::max(o.indent, 0)), ' ') : o.indent_str;
    std::string item_sep = o.item_sep ? *o.item_sep : (indented ? "," : ", ");
    std::string key_sep = o.key_sep ? *o.key_sep : ": ";
    auto newline = [&](int d) {
        if (!indented) return;
        out += '\n';
        for (int i = 0; i < d; ++i) out += unit;
    };
    switch (v.kind()) {
        case Value::Kind::kNone: out += "null"; return;
        case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
        case Value::Kind::kInt: out += std::to_string(v.as_int()); return;
        case Value::Kind::kFloat: {
            double f = v.as_double();
            if (std::isnan(f)) out += "NaN";
            else if (std::isinf(f)) out += f < 0 ? "-Infinity" : "Infinity";
            else out += format_float(f);
            return;
        }
        case Value::Kind::kString: json_string(out, v.str(), o.ensure_ascii); return;
        case Value::Kind::kList: {
            const List& items = v.items();
            if (items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += item_sep;
                newline(depth + 1);
                json_value(out, items[i], o, depth + 1);
            }
            newline(depth);
            out += ']';
            return;
        }
        case Value::Kind::kDict:
        case Value::Kind::kNamespace: {
            if (v.is_namespace()) fail("Object of type Namespace is not JSON serializable");
            std::vector<const std::pair<Value, Value>*> entries;
            for (const auto& e : v.entries().items) entries.push_back(&e);
            if (entries.empty()) {
                out += "{}";
                return;
            }
            if (o.sort_keys)
                std::stable_sort(entries.begin(), entries.end(),
                                 [](auto* a, auto* b) { return compare_values(a->first, b->first, "<") < 0; });
            out += '{';
            bool first = true;
            for (const auto* e : entries) {
                if (!first) out += item_sep;
                first = false;
                newline(depth + 1);
                const Value& k = e->first;
                if (k.is_string()) json_string(out, k.str(), o.ensure_ascii);
                else if (k.is_bool()) out += k.as_bool() ? "\"true\"" : "\"false\"";
                else if (k.is_none()) out += "\"null\"";
                else if (k.is_int() || k.is_float()) {
                    out += '"';  // appended piecewise: GCC 12 -Wrestrict misfires on "\"" + s + "\""
                    out += to_str(k);
                    out += '"';
                }
                else fail("keys must be str, int, float, bool or None, not " + type_name(k));
                out += key_sep;
                json_value(out, e->second, o, depth + 1);
            }
            newline(depth);
            out += '}';
            return;
        }
        default: fail("Object of type " + type_name(v) + " is not JSON serializable");
    }
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& opts) {
    std::string out;
    json_value(out, v, opts, 0);
    return out;
}

// ------------------------------------------------------------------------------------------------ Unicode

std::u32string utf8_decode(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
        bool ok = n > 0 && i + static_cast<size_t>(n) <= s.size();
        for (int k = 1; ok && k < n; ++k) {
            unsigned char cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
            if ((cc & 0xC0) != 0x80) ok = false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (ok && ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))))
            ok = false;
        if (!ok) {
            out.push_back(0xDC00 + c);
            ++i;
            continue;
        }
        out.push_back(cp);
        i += static_cast<size_t>(n);
    }
    return out;
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp >= 0xDC80 && cp <= 0xDCFF) {
        out += static_cast<char>(cp - 0xDC00);
    } else if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string utf8_encode(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) utf8_append(out, c);
    return out;
}

size_t utf8_length(std::string_view s) {
    bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    return ascii ? s.size() : utf8_decode(s).size();
}

bool is_py_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_py_digit(char32_t c) { return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19); }

bool is_py_alpha(char32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c == 0xAA || c == 0xB5 || c == 0xBA) return true;
    if (c < 0xC0 || c == 0xD7 || c == 0xF7) return false;
    if (is_py_space(c) || is_py_digit(c)) return false;
    if (c >= 0x2000 && c <= 0x2BFF) return false;     // punctuation, symbols, arrows, shapes
    if (c >= 0x3000 && c <= 0x303F) return false;     // CJK punctuation
    if (c >= 0xFF00 && c <= 0xFF20) return false;     // fullwidth punctuation
    if (c >= 0x1F000 && c <= 0x1FAFF) return false;   // emoji
    if (c >= 0xDC80 && c <= 0xDCFF) return false;     // undecodable bytes
    return true;
}

char32_t to_lower_cp(char32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x130) return 'i';
        if (c == 0x178) return 0xFF;
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
        if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
        return (c % 2 == 0) ? c + 1 : c;
    }
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
    return c;
}

char32_t to_upper_cp(char32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if (c == 0xB5) return 0x39C;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x131) return 'I';
        if (c == 0x17F) return 'S';
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 0) ? c - 1 : c;
        if (c == 0x130 || c == 0x138 || c == 0x149 || c == 0x178) return c;
        return (c % 2 == 1) ? c - 1 : c;
    }
    if (c == 0x3C2) return 0x3A3;
    if (c >= 0x3B1 && c <= 0x3CB) return c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
    return c;
}

std::string str_lower(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : utf8_decode(s)) utf8_append(out, to_lower_cp(c));
    return out;
}

std::string str_upper(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : utf8_decode(s)) {
        if (c == 0xDF) {  // ß -> SS, as Python does
            out += "SS";
            continue;
        }
        utf8_append(out, to_upper_cp(c));
    }
    return out;
}

}  // namespace rz::tokenizer::jinja
