// Filters and tests of the Jinja environment: jinja2 3.1's built-ins (same argument names and defaults)
// plus Hugging Face's tojson (ensure_ascii=False, indent, separators, sort_keys).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/interpreter.h"

namespace rz::tokenizer::jinja {
namespace {

const Value kNone = Value::none();

const Value& arg_or(const CallArgs& a, size_t i, std::string_view name, const Value& dflt) {
    const Value* v = a.get(i, name);
    return v ? *v : dflt;
}
int64_t int_arg(const CallArgs& a, size_t i, std::string_view name, int64_t dflt) {
    const Value* v = a.get(i, name);
    if (!v || v->is_none()) return dflt;
    if (!(v->is_int() || v->is_bool() || v->is_float())) fail("'" + std::string(name) + "' must be an integer");
    return v->is_float() ? static_cast<int64_t>(v->as_double()) : v->as_int();
}
bool bool_arg(const CallArgs& a, size_t i, std::string_view name, bool dflt) {
    const Value* v = a.get(i, name);
    return v ? v->truthy() : dflt;
}
std::string str_arg(const CallArgs& a, size_t i, std::string_view name, std::string dflt) {
    const Value* v = a.get(i, name);
    return v && !v->is_none() ? to_str(*v) : dflt;
}
void require_defined(const Value& v) {
    if (v.is_undefined()) fail(v.str().empty() ? "undefined value" : v.str());
}

// jinja2's make_attrgetter: "a.b.0" walks items/attributes; missing -> undefined (or `dflt` when given).
Value attr_path(Interpreter& in, const Value& item, const std::string& path, const Value* dflt = nullptr) {
    Value cur = item;
    size_t start = 0;
    while (start <= path.size()) {
        size_t dot = path.find('.', start);
        std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        cur = in.getitem(cur, digits ? Value::integer(std::atoll(part.c_str())) : Value::string(part));
        if (cur.is_undefined()) {
            if (dflt) return *dflt;
            return cur;
        }
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return cur;
}

// Sort key for sort/unique/min/max/dictsort: strings lowered unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return Value::string(str_lower(v.str()));
    return v;
}

// ------------------------------------------------------------------------------------------- filters

Value f_abs(Interpreter&, const Value& v, CallArgs&) {
    require_defined(v);
    if (v.is_float()) return Value::number(std::fabs(v.as_double()));
    if (v.is_int() || v.is_bool()) {
        if (v.as_int() == INT64_MIN) fail("integer overflow");
        return Value::integer(std::llabs(v.as_int()));
    }
    fail("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
    // Python getattr only: dict keys are not attributes (unlike `obj.name` in a template).
    std::string name = str_arg(a, 0, "name", "");
    if (v.is_dict() || v.is_string() || v.is_list()) {
        if (auto m = bound_method(v, name)) return *m;
        return Value::undefined(object_type_repr(v) + " has no attribute '" + name + "'");
    }
    return in.getattr(v, name);
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& a) {
    int64_t n = int_arg(a, 0, "linecount", 1);
    if (n <= 0) fail("batch(): linecount must be positive");
    const Value* fill = a.get(1, "fill_with");
    List items = in.iterate(v), out, cur;
    for (auto& x : items) {
        cur.push_back(std::move(x));
        if (static_cast<int64_t>(cur.size()) == n) out.push_back(Value::list(std::move(cur))), cur.clear();
    }
    if (!cur.empty()) {
        if (fill && !fill->is_none())
            while (static_cast<int64_t>(cur.size()) < n) cur.push_back(*fill);
        out.push_back(Value::list(std::move(cur)));
    }
    return Value::list(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs&) { return Value::string(py_capitalize(to_str(v))); }

Value f_center(Interpreter& in, const Value& v, CallArgs& a) {
    std::u32string s = utf8_decode(to_str(v));
    int64_t width = int_arg(a, 0, "width", 80);
    if (width <= static_cast<int64_t>(s.size())) return Value::string(utf8_encode(s));
    in.check_size(static_cast<size_t>(width) * 4);
    size_t total = static_cast<size_t>(width) - s.size();
    size_t left = total / 2 + (total & static_cast<size_t>(width) & 1);  // Python's str.center rounding
    return Value::string(std::string(left, ' ') + utf8_encode(s) + std::string(total - left, ' '));
}

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
    static const Value kEmpty = Value::string("");
    const Value& dflt = arg_or(a, 0, "default_value", kEmpty);
    bool boolean = bool_arg(a, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !v.truthy())) return dflt;
    return v;
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& a) {
    if (!v.is_dict()) fail("dictsort: expected a mapping, got " + type_name(v));
    bool cs = bool_arg(a, 0, "case_sensitive", false);
    std::string by = str_arg(a, 1, "by", "key");
    bool rev = bool_arg(a, 2, "reverse", false);
    size_t pos = by == "key" ? 0 : by == "value" ? 1 : 2;
    if (pos == 2) fail("You can only sort by either \"key\" or \"value\"");
    List pairs;
    for (const auto& [k, val] : v.entries().items) pairs.push_back(Value::list({k, val}, true));
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
        int c = compare_values(sort_key(x.items()[pos], cs), sort_key(y.items()[pos], cs), "<");
        return rev ? c > 0 : c < 0;
    });
    return Value::list(std::move(pairs));
}

std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}
Value f_escape(Interpreter&, const Value& v, CallArgs&) { return Value::string(html_escape(to_str(v))); }

Value f_first(Interpreter& in, const Value& v, CallArgs&) {
    List items = in.iterate(v);
    if (items.empty()) return Value::undefined("No first item, sequence was empty.");
    return items.front();
}

Value f_last(Interpreter& in, const Value& v, CallArgs&) {
    List items = in.iterate(v);
    if (items.empty()) return Value::undefined("No last item, sequence was empty.");
    return items.back();
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
    static const Value kZero = Value::number(0.0);
    const Value& dflt = arg_or(a, 0, "default", kZero);
    require_defined(v);  // float(Undefined) raises in jinja2
    if (v.is_number()) return Value::number(v.as_double());
    if (v.is_string()) {
        std::string s = py_strip(v.str(), nullptr, true, true);
        char* end = nullptr;
        double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end == s.c_str() + s.size()) return Value::number(d);
    }
    return dflt;
}

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
    static const Value kZero = Value::integer(0);
    const Value& dflt = arg_or(a, 0, "default", kZero);
    int64_t base = int_arg(a, 1, "base", 10);
    require_defined(v);  // int(Undefined) raises in jinja2
    if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
    if (v.is_float()) {
        double d = v.as_double();
        if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return dflt;
        return Value::integer(static_cast<int64_t>(d));
    }
    if (v.is_string()) {
        std::string s = py_strip(v.str(), nullptr, true, true);
        std::string digits;
        for (char c : s)
            if (c != '_') digits += c;
        char* end = nullptr;
        errno = 0;
        long long r = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
        if (!digits.empty() && end == digits.c_str() + digits.size() && errno == 0) return Value::integer(r);
        double d = std::strtod(s.c_str(), &end);  // jinja2 falls back to int(float(value))
        if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d) && std::fabs(d) < 9.2e18)
            return Value::integer(static_cast<int64_t>(d));
    }
    return dflt;
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
    if (!a.kwargs.empty() && !a.positional.empty()) fail("can't handle positional and keyword arguments at the same time");
    if (!a.kwargs.empty()) {
        Dict d;
        for (const auto& [k, val] : a.kwargs) d.set(Value::string(k), val);
        return py_percent_format(in, to_str(v), Value::dict(std::move(d)));
    }
    return py_percent_format(in, to_str(v), Value::list(a.positional, true));
}

Value f_groupby(Interpreter& in, const Value& v, CallArgs& a) {
    std::string attr = str_arg(a, 0, "attribute", "");
    const Value* dflt = a.get(1, "default");
    bool cs = bool_arg(a, 2, "case_sensitive", false);
    List items = in.iterate(v);
    std::vector<std::pair<Value, Value>> keyed;
    for (auto& x : items) keyed.emplace_back(sort_key(attr_path(in, x, attr, dflt), cs), x);
    std::stable_sort(keyed.begin(), keyed.end(),
                     [](const auto& x, const auto& y) { return compare_values(x.first, y.first, "<") < 0; });
    List groups;
    for (size_t i = 0; i < keyed.size();) {
        List members;
        size_t j = i;
        while (j < keyed.size() && values_equal(keyed[j].first, keyed[i].first)) members.push_back(keyed[j++].second);
        Value grouper = cs ? keyed[i].first : attr_path(in, members.front(), attr, dflt);
        groups.push_back(Value::list({grouper, Value::list(std::move(members))}, true));
        i = j;
    }
    return Value::list(std::move(groups));
}

List split_lines(const std::string& s) {
    List out;
    size_t start = 0;
    while (start < s.size()) {
        size_t nl = s.find('\n', start);
        if (nl == std::string::npos) nl = s.size();
        out.push_back(Value::string(s.substr(start, nl - start)));
        start = nl + 1;
    }
    return out;
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
    require_defined(v);
    if (!v.is_string()) fail("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
    const Value* w = a.get(0, "width");
    std::string ind = w && w->is_string() ? w->str() : std::string(static_cast<size_t>(std::max<int64_t>(0, int_arg(a, 0, "width", 4))), ' ');
    bool first = bool_arg(a, 1, "first", false);
    bool blank = bool_arg(a, 2, "blank", false);
    std::string s = to_str(v) + "\n";
    List lines = split_lines(s);
    std::string rv;
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string& line = lines[i].str();
        if (i > 0) rv += "\n";
        if (i > 0 && (blank || !line.empty())) rv += ind;
        rv += line;
        in.check_size(rv.size());
    }
    if (first) rv = ind + rv;
    return Value::string(std::move(rv));
}

Value f_items(Interpreter&, const Value& v, CallArgs&) {
    if (v.is_undefined()) return Value::list({});
    if (!v.is_dict() && !v.is_namespace()) fail("Can only get item pairs from a mapping.");
    List out;
    for (const auto& [k, val] : v.entries().items) out.push_back(Value::list({k, val}, true));
    return Value::list(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
    std::string sep = str_arg(a, 0, "d", "");
    const Value* attr = a.get(1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& x : in.iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += to_str(attr && !attr->is_none() ? attr_path(in, x, to_str(*attr)) : x);
        in.check_size(out.size());
    }
    return Value::string(std::move(out));
}

Value f_length(Interpreter&, const Value& v, CallArgs&) {
    switch (v.kind()) {
        case Value::Kind::kUndefined: return Value::integer(0);
        case Value::Kind::kString: return Value::integer(static_cast<int64_t>(utf8_length(v.str())));
        case Value::Kind::kList: return Value::integer(static_cast<int64_t>(v.items().size()));
        case Value::Kind::kDict:
        case Value::Kind::kNamespace: return Value::integer(static_cast<int64_t>(v.entries().items.size()));
        default: fail("object of type '" + type_name(v) + "' has no len()");
    }
}

Value f_list(Interpreter& in, const Value& v, CallArgs&) { return Value::list(in.iterate(v)); }
Value f_lower(Interpreter&, const Value& v, CallArgs&) { return Value::string(str_lower(to_str(v))); }
Value f_upper(Interpreter&, const Value& v, CallArgs&) { return Value::string(str_upper(to_str(v))); }

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
    List items = in.iterate(v), out;
    const Value* attr = nullptr;
    const Value* dflt = nullptr;
    for (const auto& [k, val] : a.kwargs) {
        if (k == "attribute") attr = &val;
        else if (k == "default") dflt = &val;
    }
    if (attr) {
        for (const auto& x : items) out.push_back(attr_path(in, x, to_str(*attr), dflt));
        return Value::list(std::move(out));
    }
    if (a.positional.empty()) fail("map requires a filter argument");
    std::string name = to_str(a.positional[0]);
    CallArgs rest;
    rest.positional.assign(a.positional.begin() + 1, a.positional.end());
    rest.kwargs = a.kwargs;
    for (const auto& x : items) {
        CallArgs copy = rest;
        out.push_back(in.apply_filter(name, x, copy));
    }
    return Value::list(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
    bool cs = bool_arg(a, 0, "case_sensitive", false);
    const Value* attr = a.get(1, "attribute");
    List items = in.iterate(v);
    if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
    size_t best = 0;
    auto key = [&](const Value& x) { return sort_key(attr && !attr->is_none() ? attr_path(in, x, to_str(*attr)) : x, cs); };
    for (size_t i = 1; i < items.size(); ++i) {
        int c = compare_values(key(items[i]), key(items[best]), "<");
        if (want_max ? c > 0 : c < 0) best = i;
    }
    return items[best];
}
Value f_max(Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, false); }

// select/reject(test, args...) and selectattr/rejectattr(attr, test, args...).
Value select_impl(Interpreter& in, const Value& v, CallArgs& a, bool by_attr, bool keep) {
    List items = in.iterate(v), out;
    size_t i = 0;
    std::string attr;
    if (by_attr) {
        if (a.positional.empty()) fail("Missing parameter for attribute name");
        attr = to_str(a.positional[i++]);
    }
    std::string test = i < a.positional.size() ? to_str(a.positional[i++]) : "";
    CallArgs targs;
    targs.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(std::min(i, a.positional.size())), a.positional.end());
    targs.kwargs = a.kwargs;
    for (const auto& x : items) {
        Value subject = by_attr ? attr_path(in, x, attr) : x;
        bool r;
        if (test.empty()) {
            r = subject.truthy();
        } else {
            CallArgs copy = targs;
            r = in.apply_test(test, subject, copy);
        }
        if (r == keep) out.push_back(x);
    }
    return Value::list(std::move(out));
}
Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); }

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
    int64_t count = int_arg(a, 2, "count", -1);
    return Value::string(py_replace(in, to_str(v), str_arg(a, 0, "old", ""), str_arg(a, 1, "new", ""), count));
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs&) {
    if (v.is_string()) {
        std::u32string s = utf8_decode(v.str());
        std::reverse(s.begin(), s.end());
        return Value::string(utf8_encode(s));
    }
    List items = in.iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
    require_defined(v);
    if (!v.is_number()) fail("round(): expected a number, got " + type_name(v));
    int64_t precision = int_arg(a, 0, "precision", 0);
    std::string method = str_arg(a, 1, "method", "common");
    if ((v.is_int() || v.is_bool()) && precision >= 0 && method == "common") return Value::integer(v.as_int());
    double x = v.as_double();
    double p = std::pow(10.0, static_cast<double>(precision));
    double r;
    if (method == "ceil") r = std::ceil(x * p) / p;
    else if (method == "floor") r = std::floor(x * p) / p;
    else if (method == "common") {
        // Python's round(): correctly rounded decimal, ties to even.
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::clamp<int64_t>(precision, 0, 30)), x);
        r = precision >= 0 ? std::strtod(buf, nullptr) : std::nearbyint(x * p) / p;
    } else {
        fail("method must be 'common', 'ceil' or 'floor'");
    }
    return Value::number(r);
}

Value f_safe(Interpreter&, const Value& v, CallArgs&) { return v.is_string() ? v : Value::string(to_str(v)); }
Value f_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string() ? v : Value::string(to_str(v)); }

Value f_slice(Interpreter& in, const Value& v, CallArgs& a) {
    int64_t slices = int_arg(a, 0, "slices", 1);
    if (slices <= 0) fail("slice(): slices must be positive");
    const Value* fill = a.get(1, "fill_with");
    List seq = in.iterate(v), out;
    size_t n = seq.size(), per = n / static_cast<size_t>(slices), extra = n % static_cast<size_t>(slices), offset = 0;
    for (size_t i = 0; i < static_cast<size_t>(slices); ++i) {
        size_t start = offset + i * per;
        if (i < extra) ++offset;
        size_t end = offset + (i + 1) * per;
        List part(seq.begin() + static_cast<std::ptrdiff_t>(std::min(start, n)), seq.begin() + static_cast<std::ptrdiff_t>(std::min(end, n)));
        if (fill && !fill->is_none() && i >= extra) part.push_back(*fill);
        out.push_back(Value::list(std::move(part)));
    }
    return Value::list(std::move(out));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
    bool rev = bool_arg(a, 0, "reverse", false);
    bool cs = bool_arg(a, 1, "case_sensitive", false);
    const Value* attr = a.get(2, "attribute");
    List items = in.iterate(v);
    auto key = [&](const Value& x) { return sort_key(attr && !attr->is_none() ? attr_path(in, x, to_str(*attr)) : x, cs); };
    std::vector<std::pair<Value, Value>> keyed;
    for (auto& x : items) keyed.emplace_back(key(x), x);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
        int c = compare_values(x.first, y.first, "<");
        return rev ? c > 0 : c < 0;
    });
    List out;
    for (auto& kv : keyed) out.push_back(std::move(kv.second));
    return Value::list(std::move(out));
}

Value f_striptags(Interpreter&, const Value& v, CallArgs&) {
    std::string s = to_str(v), out;
    bool in_tag = false;
    for (char c : s) {
        if (c == '<') in_tag = true;
        else if (c == '>' && in_tag) in_tag = false;
        else if (!in_tag) out += c;
    }
    // Collapse whitespace like jinja2's " ".join(value.split()).
    List words = py_split(out, nullptr, -1, false);
    std::string r;
    for (size_t i = 0; i < words.size(); ++i) r += (i ? " " : "") + words[i].str();
    return Value::string(std::move(r));
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
    const Value* attr = a.get(0, "attribute");
    static const Value kZero = Value::integer(0);
    Value total = arg_or(a, 1, "start", kZero);
    for (const auto& x : in.iterate(v))
        total = in.binary_op("+", total, attr && !attr->is_none() ? attr_path(in, x, to_str(*attr)) : x);
    return total;
}

Value f_title(Interpreter&, const Value& v, CallArgs&) { return Value::string(py_title_filter(to_str(v))); }

Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
    // Hugging Face: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) = json.dumps.
    for (const auto& p : a.positional) require_defined(p);
    for (const auto& [k, p] : a.kwargs) require_defined(p);
    JsonOptions o;
    o.ensure_ascii = bool_arg(a, 0, "ensure_ascii", false);
    if (const Value* ind = a.get(1, "indent"); ind && !ind->is_none()) {
        if (ind->is_string()) o.indent_str = ind->str(), o.indent = 0;
        else o.indent = static_cast<int>(std::clamp<int64_t>(ind->as_int(), 0, 64));
    }
    if (const Value* sep = a.get(2, "separators"); sep && !sep->is_none()) {
        if (!sep->is_list() || sep->items().size() != 2) fail("tojson: separators must be a pair of strings");
        o.item_sep = to_str(sep->items()[0]);
        o.key_sep = to_str(sep->items()[1]);
    }
    o.sort_keys = bool_arg(a, 3, "sort_keys", false);
    std::string s = to_json(v, o);
    in.check_size(s.size());
    return Value::string(std::move(s));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& a) {
    const Value* chars = a.get(0, "chars");
    return Value::string(py_strip(to_str(v), chars && !chars->is_none() ? chars : nullptr, true, true));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& a) {
    if (v.is_undefined()) return v;  // len(Undefined) == 0: returned as is
    int64_t length = int_arg(a, 0, "length", 255);
    if (v.is_list() || v.is_dict()) {
        // jinja2 only measures len(); a short enough container comes back unchanged.
        size_t n = v.is_list() ? v.items().size() : v.entries().items.size();
        if (static_cast<int64_t>(n) <= length + int_arg(a, 3, "leeway", 5)) return v;
        fail("truncate: only strings can be shortened");
    }
    if (!v.is_string()) fail("object of type '" + type_name(v) + "' has no len()");
    std::u32string s = utf8_decode(v.str());
    const bool killwords = bool_arg(a, 1, "killwords", false);
    std::u32string end = utf8_decode(str_arg(a, 2, "end", "..."));
    int64_t leeway = int_arg(a, 3, "leeway", 5);
    if (length < static_cast<int64_t>(end.size())) fail("expected length >= " + std::to_string(end.size()));
    if (static_cast<int64_t>(s.size()) <= length + leeway) return Value::string(utf8_encode(s));
    std::u32string cut = s.substr(0, static_cast<size_t>(length) - end.size());
    if (!killwords) {
        size_t sp = cut.rfind(U' ');
        if (sp != std::u32string::npos) cut = cut.substr(0, sp);
    }
    return Value::string(utf8_encode(cut + end));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
    bool cs = bool_arg(a, 0, "case_sensitive", false);
    const Value* attr = a.get(1, "attribute");
    List out, seen;
    for (const auto& x : in.iterate(v)) {
        Value k = sort_key(attr && !attr->is_none() ? attr_path(in, x, to_str(*attr)) : x, cs);
        bool dup = false;
        for (const auto& s : seen) dup = dup || values_equal(s, k);
        if (!dup) {
            seen.push_back(k);
            out.push_back(x);
        }
    }
    return Value::list(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs&) {
    int64_t n = 0;
    bool in_word = false;
    for (char32_t c : utf8_decode(to_str(v))) {
        bool w = is_py_alpha(c) || is_py_digit(c) || c == '_';
        if (w && !in_word) ++n;
        in_word = w;
    }
    return Value::integer(n);
}

Value f_pprint(Interpreter&, const Value& v, CallArgs&) { return Value::string(repr(v)); }

// --------------------------------------------------------------------------------------------- tests

bool t_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }
bool t_true(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_number(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_integer(Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); }
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
    return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
bool t_sequence(Interpreter&, const Value& v, CallArgs&) {
    return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
bool t_callable(Interpreter&, const Value& v, CallArgs&) { return v.is_callable(); }
bool t_escaped(Interpreter&, const Value&, CallArgs&) { return false; }
bool t_lower(Interpreter&, const Value& v, CallArgs&) {
    std::string s = to_str(v);
    return str_lower(s) == s && str_upper(s) != s;
}
bool t_upper(Interpreter&, const Value& v, CallArgs&) {
    std::string s = to_str(v);
    return str_upper(s) == s && str_lower(s) != s;
}
const Value& test_arg(const CallArgs& a) {
    if (a.positional.empty() && a.kwargs.empty()) fail("test requires an argument");
    return a.positional.empty() ? a.kwargs[0].second : a.positional[0];
}
bool t_even(Interpreter& in, const Value& v, CallArgs&) {
    return values_equal(in.binary_op("%", v, Value::integer(2)), Value::integer(0));
}
bool t_odd(Interpreter& in, const Value& v, CallArgs&) {
    return values_equal(in.binary_op("%", v, Value::integer(2)), Value::integer(1));
}
bool t_divisibleby(Interpreter& in, const Value& v, CallArgs& a) {
    return values_equal(in.binary_op("%", v, test_arg(a)), Value::integer(0));
}
bool t_eq(Interpreter&, const Value& v, CallArgs& a) { return values_equal(v, test_arg(a)); }
bool t_ne(Interpreter&, const Value& v, CallArgs& a) { return !values_equal(v, test_arg(a)); }
bool t_lt(Interpreter&, const Value& v, CallArgs& a) { return compare_values(v, test_arg(a), "<") < 0; }
bool t_le(Interpreter&, const Value& v, CallArgs& a) { return compare_values(v, test_arg(a), "<=") <= 0; }
bool t_gt(Interpreter&, const Value& v, CallArgs& a) { return compare_values(v, test_arg(a), ">") > 0; }
bool t_ge(Interpreter&, const Value& v, CallArgs& a) { return compare_values(v, test_arg(a), ">=") >= 0; }
bool t_in(Interpreter& in, const Value& v, CallArgs& a) { return in.contains(test_arg(a), v); }
bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
    const Value& o = test_arg(a);
    if (v.kind() != o.kind()) return false;
    if (v.identity() || o.identity()) return v.identity() == o.identity();
    return values_equal(v, o);
}
bool t_filter(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_filter(v.str()) != nullptr; }
bool t_test(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_test(v.str()) != nullptr; }

const std::map<std::string, FilterFn, std::less<>>& filter_table() {
    static const std::map<std::string, FilterFn, std::less<>> table = {
        {"abs", f_abs},         {"attr", f_attr},           {"batch", f_batch},         {"capitalize", f_capitalize},
        {"center", f_center},   {"count", f_length},        {"d", f_default},           {"default", f_default},
        {"dictsort", f_dictsort}, {"e", f_escape},          {"escape", f_escape},       {"first", f_first},
        {"float", f_float},     {"forceescape", f_escape},  {"format", f_format},       {"groupby", f_groupby},
        {"indent", f_indent},   {"int", f_int},             {"items", f_items},         {"join", f_join},
        {"last", f_last},       {"length", f_length},       {"list", f_list},           {"lower", f_lower},
        {"map", f_map},         {"max", f_max},             {"min", f_min},             {"pprint", f_pprint},
        {"reject", f_reject},   {"rejectattr", f_rejectattr}, {"replace", f_replace},   {"reverse", f_reverse},
        {"round", f_round},     {"safe", f_safe},           {"select", f_select},       {"selectattr", f_selectattr},
        {"slice", f_slice},     {"sort", f_sort},           {"string", f_string},       {"striptags", f_striptags},
        {"sum", f_sum},         {"title", f_title},         {"tojson", f_tojson},       {"trim", f_trim},
        {"truncate", f_truncate}, {"unique", f_unique},     {"upper", f_upper},         {"wordcount", f_wordcount},
    };
    return table;
}

const std::map<std::string, TestFn, std::less<>>& test_table() {
    static const std::map<std::string, TestFn, std::less<>> table = {
        {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined},   {"divisibleby", t_divisibleby},
        {"eq", t_eq},           {"equalto", t_eq},        {"==", t_eq},             {"escaped", t_escaped},
        {"even", t_even},       {"false", t_false},       {"filter", t_filter},     {"float", t_float},
        {"ge", t_ge},           {">=", t_ge},             {"gt", t_gt},             {"greaterthan", t_gt},
        {">", t_gt},            {"in", t_in},             {"integer", t_integer},   {"iterable", t_iterable},
        {"le", t_le},           {"<=", t_le},             {"lower", t_lower},       {"lt", t_lt},
        {"lessthan", t_lt},     {"<", t_lt},              {"mapping", t_mapping},   {"ne", t_ne},
        {"!=", t_ne},           {"none", t_none},         {"number", t_number},     {"odd", t_odd},
        {"sameas", t_sameas},   {"sequence", t_sequence}, {"string", t_string},     {"test", t_test},
        {"true", t_true},       {"undefined", t_undefined}, {"upper", t_upper},
    };
    return table;
}

}  // namespace

FilterFn find_filter(std::string_view name) {
    const auto& t = filter_table();
    auto it = t.find(name);
    return it == t.end() ? nullptr : it->second;
}

TestFn find_test(std::string_view name) {
    const auto& t = test_table();
    auto it = t.find(name);
    return it == t.end() ? nullptr : it->second;
}

}  // namespace rz::tokenizer::jinja
