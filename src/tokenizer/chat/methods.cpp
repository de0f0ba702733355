// Python methods of str/list/dict reachable from templates (message.content.startswith(...), d.items(),
// ...), the environment's global functions, and the Python string helpers they share with the filters.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/interpreter.h"

namespace rz::tokenizer::jinja {

// ------------------------------------------------------------------------------------ string helpers

std::string py_strip(std::string_view s, const Value* chars, bool left, bool right) {
    std::u32string cps = utf8_decode(s);
    std::u32string set;
    if (chars) {
        if (!chars->is_string()) fail("strip arg must be None or str");
        set = utf8_decode(chars->str());
    }
    auto strip_it = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : is_py_space(c); };
    size_t b = 0, e = cps.size();
    if (left)
        while (b < e && strip_it(cps[b])) ++b;
    if (right)
        while (e > b && strip_it(cps[e - 1])) --e;
    return utf8_encode(std::u32string_view(cps).substr(b, e - b));
}

std::string py_replace(Interpreter& in, std::string_view s, std::string_view old, std::string_view rep, int64_t count) {
    std::string out;
    if (old.empty()) {
        // Python inserts `rep` between every character (and at both ends).
        std::u32string cps = utf8_decode(s);
        int64_t done = 0;
        for (size_t i = 0; i <= cps.size(); ++i) {
            if (count < 0 || done < count) {
                out += rep;
                ++done;
            }
            if (i < cps.size()) utf8_append(out, cps[i]);
            in.check_size(out.size());
        }
        return out;
    }
    size_t pos = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        size_t hit = s.find(old, pos);
        if (hit == std::string_view::npos) break;
        out.append(s.substr(pos, hit - pos));
        out.append(rep);
        in.check_size(out.size());
        pos = hit + old.size();
        ++done;
    }
    out.append(s.substr(pos));
    in.check_size(out.size());
    return out;
}

List py_split(std::string_view s, const Value* sep, int64_t maxsplit, bool from_right) {
    List parts;
    if (sep && !sep->is_none()) {
        if (!sep->is_string()) fail("must be str or None, not " + type_name(*sep));
        const std::string& d = sep->str();
        if (d.empty()) fail("empty separator");
        if (!from_right) {
            size_t pos = 0;
            int64_t n = 0;
            while (maxsplit < 0 || n < maxsplit) {
                size_t hit = s.find(d, pos);
                if (hit == std::string_view::npos) break;
                parts.push_back(Value::string(std::string(s.substr(pos, hit - pos))));
                pos = hit + d.size();
                ++n;
            }
            parts.push_back(Value::string(std::string(s.substr(pos))));
        } else {
            size_t end = s.size();
            int64_t n = 0;
            while (maxsplit < 0 || n < maxsplit) {
                if (end < d.size()) break;
                size_t hit = s.rfind(d, end - d.size());
                if (hit == std::string_view::npos) break;
                parts.insert(parts.begin(), Value::string(std::string(s.substr(hit + d.size(), end - hit - d.size()))));
                end = hit;
                ++n;
            }
            parts.insert(parts.begin(), Value::string(std::string(s.substr(0, end))));
        }
        return parts;
    }
    // Whitespace split: runs of whitespace separate, no empty strings; once maxsplit is reached the rest is
    // one piece that keeps its inner (and far-end) whitespace, as CPython does.
    std::u32string cps = utf8_decode(s);
    const size_t len = cps.size();
    int64_t n = 0;
    if (!from_right) {
        size_t i = 0;
        while (true) {
            while (i < len && is_py_space(cps[i])) ++i;
            if (i >= len) break;
            if (maxsplit >= 0 && n == maxsplit) {
                parts.push_back(Value::string(utf8_encode(cps.substr(i))));
                break;
            }
            size_t j = i;
            while (j < len && !is_py_space(cps[j])) ++j;
            parts.push_back(Value::string(utf8_encode(cps.substr(i, j - i))));
            ++n;
            i = j;
        }
        return parts;
    }
    size_t j = len;
    while (true) {
        while (j > 0 && is_py_space(cps[j - 1])) --j;
        if (j == 0) break;
        if (maxsplit >= 0 && n == maxsplit) {
            parts.insert(parts.begin(), Value::string(utf8_encode(cps.substr(0, j))));
            break;
        }
        size_t i = j;
        while (i > 0 && !is_py_space(cps[i - 1])) --i;
        parts.insert(parts.begin(), Value::string(utf8_encode(cps.substr(i, j - i))));
        ++n;
        j = i;
    }
    return parts;
}

std::string py_capitalize(std::string_view s) {
    std::u32string cps = utf8_decode(s);
    std::string out;
    for (size_t i = 0; i < cps.size(); ++i) utf8_append(out, i == 0 ? to_upper_cp(cps[i]) : to_lower_cp(cps[i]));
    return out;
}

std::string py_title_filter(std::string_view s) {
    // jinja2: split on runs of [-\s({\[<], uppercase the first character of every piece, lowercase the rest.
    std::u32string cps = utf8_decode(s);
    auto is_sep = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_py_space(c); };
    std::string out;
    bool at_start = true;
    for (char32_t c : cps) {
        if (is_sep(c)) {
            utf8_append(out, c);
            at_start = true;
        } else {
            utf8_append(out, at_start ? to_upper_cp(c) : to_lower_cp(c));
            at_start = false;
        }
    }
    return out;
}

std::string py_str_title(std::string_view s) {
    std::string out;
    bool prev_cased = false;
    for (char32_t c : utf8_decode(s)) {
        bool alpha = is_py_alpha(c);
        utf8_append(out, alpha ? (prev_cased ? to_lower_cp(c) : to_upper_cp(c)) : c);
        prev_cased = alpha;
    }
    return out;
}

namespace {

// Python slice index normalisation (PySlice_AdjustIndices).
List slice_list(const List& items, const Value& start_v, const Value& stop_v, const Value& step_v) {
    int64_t n = static_cast<int64_t>(items.size());
    int64_t step = step_v.is_none() ? 1 : step_v.as_int();
    if (step == 0) fail("slice step cannot be zero");
    auto idx = [&](const Value& v, int64_t dflt) -> int64_t {
        if (v.is_none()) return dflt;
        if (!(v.is_int() || v.is_bool())) fail("slice indices must be integers or None");
        int64_t i = v.as_int();
        if (i < 0) {
            i += n;
            if (i < 0) i = step < 0 ? -1 : 0;
        } else if (i >= n) {
            i = step < 0 ? n - 1 : n;
        }
        return i;
    };
    int64_t start = idx(start_v, step < 0 ? n - 1 : 0);
    int64_t stop = idx(stop_v, step < 0 ? -1 : n);
    List out;
    if (step > 0)
        for (int64_t i = start; i < stop; i += step) out.push_back(items[static_cast<size_t>(i)]);
    else
        for (int64_t i = start; i > stop; i += step) out.push_back(items[static_cast<size_t>(i)]);
    return out;
}

}  // namespace

Value py_slice(const Value& v, const Value& start, const Value& stop, const Value& step) {
    if (v.is_list()) return Value::list(slice_list(v.items(), start, stop, step), v.is_tuple());
    if (v.is_string()) {
        std::u32string cps = utf8_decode(v.str());
        List chars;
        chars.reserve(cps.size());
        for (char32_t c : cps) chars.push_back(Value::integer(c));
        std::string out;
        for (const auto& c : slice_list(chars, start, stop, step)) utf8_append(out, static_cast<char32_t>(c.as_int()));
        return Value::string(std::move(out));
    }
    if (v.is_none()) fail("'NoneType' object is not subscriptable");
    fail("'" + type_name(v) + "' object is not subscriptable");
}

// printf-style formatting: "%s and %d" % (a, b), "%(name)s" % {"name": x}.
Value py_percent_format(Interpreter& in, const std::string& fmt, const Value& args) {
    List positional = args.is_tuple() ? args.items() : List{args};
    size_t next = 0;
    std::string out;
    for (size_t i = 0; i < fmt.size(); ++i) {
        char c = fmt[i];
        if (c != '%') {
            out += c;
            continue;
        }
        if (++i >= fmt.size()) fail("incomplete format");
        const Value* arg = nullptr;
        if (fmt[i] == '(') {
            size_t close = fmt.find(')', i);
            if (close == std::string::npos) fail("incomplete format key");
            if (!args.is_dict()) fail("format requires a mapping");
            arg = args.entries().find(std::string_view(fmt).substr(i + 1, close - i - 1));
            if (!arg) fail("KeyError: '" + fmt.substr(i + 1, close - i - 1) + "'");
            i = close + 1;
        }
        std::string flags;
        while (i < fmt.size() && std::string_view("-+ 0#").find(fmt[i]) != std::string_view::npos) flags += fmt[i++];
        std::string width, prec;
        while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) width += fmt[i++];
        if (i < fmt.size() && fmt[i] == '.') {
            prec = ".";
            ++i;
            while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) prec += fmt[i++];
        }
        if (i >= fmt.size()) fail("incomplete format");
        char conv = fmt[i];
        if (conv == '%') {
            out += '%';
            continue;
        }
        if (!arg) {
            if (next >= positional.size()) fail("not enough arguments for format string");
            arg = &positional[next++];
        }
        if (width.size() > 6 || prec.size() > 6) fail("format width too large");
        std::string spec = "%" + flags + width + prec;
        char buf[512];
        std::string piece;
        switch (conv) {
            case 's':
            case 'r':
            case 'a': {
                std::string s = conv == 's' ? to_str(*arg) : repr(*arg);
                if (prec.size() > 1) s = utf8_encode(utf8_decode(s).substr(0, static_cast<size_t>(std::atoi(prec.c_str() + 1))));
                size_t w = width.empty() ? 0 : static_cast<size_t>(std::atoi(width.c_str()));
                size_t len = utf8_length(s);
                if (len < w) {
                    if (flags.find('-') != std::string::npos) s += std::string(w - len, ' ');
                    else s = std::string(w - len, ' ') + s;
                }
                piece = s;
                break;
            }
            case 'd':
            case 'i':
            case 'u':
            case 'x':
            case 'X':
            case 'o':
            case 'c': {
                if (!arg->is_number()) fail("%" + std::string(1, conv) + " format: a number is required, not " + type_name(*arg));
                int64_t v = arg->is_float() ? static_cast<int64_t>(arg->as_double()) : arg->as_int();
                if (conv == 'c') {
                    utf8_append(piece, static_cast<char32_t>(v));
                    break;
                }
                char cc = conv == 'i' || conv == 'u' ? 'd' : conv;
                std::snprintf(buf, sizeof buf, (spec + "ll" + cc).c_str(), static_cast<long long>(v));
                piece = buf;
                break;
            }
            case 'f':
            case 'F':
            case 'e':
            case 'E':
            case 'g':
            case 'G': {
                if (!arg->is_number()) fail("must be real number, not " + type_name(*arg));
                std::snprintf(buf, sizeof buf, (spec + conv).c_str(), arg->as_double());
                piece = buf;
                break;
            }
            default: fail(std::string("unsupported format character '") + conv + "'");
        }
        out += piece;
        in.check_size(out.size());
    }
    // Python: unused arguments are an error, except a mapping used only for %(name)s lookups (or not at all).
    // (Python treats any object with __getitem__ other than str/tuple, e.g. a list, like such a mapping.)
    if (next < positional.size() && !args.is_dict() && !args.is_undefined() && !(args.is_list() && !args.is_tuple()))
        fail("not all arguments converted during string formatting");
    return Value::string(std::move(out));
}

namespace {

// str.format: {} {0} {name} {name[key]} {name.attr}, conversions !s !r, specs [[fill]align][width][.prec][type].
std::string apply_format_spec(const Value& v, const std::string& spec) {
    if (spec.empty()) return to_str(v);
    size_t i = 0;
    char fill = ' ', align = '\0';
    if (spec.size() >= 2 && std::string_view("<>^=").find(spec[1]) != std::string_view::npos) {
        fill = spec[0];
        align = spec[1];
        i = 2;
    } else if (std::string_view("<>^=").find(spec[0]) != std::string_view::npos) {
        align = spec[0];
        i = 1;
    }
    std::string sign;
    if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
    if (i < spec.size() && spec[i] == '0') {
        fill = '0';
        if (!align) align = '=';
        ++i;
    }
    size_t width = 0;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) width = std::min<size_t>(width * 10 + static_cast<size_t>(spec[i++] - '0'), 4096);
    int prec = -1;
    if (i < spec.size() && spec[i] == '.') {
        prec = 0;
        ++i;
        while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) prec = std::min(prec * 10 + (spec[i++] - '0'), 100);
    }
    char type = i < spec.size() ? spec[i] : '\0';
    std::string body;
    char buf[256];
    if (type == 'f' || type == 'F' || type == 'e' || type == 'E' || type == 'g' || type == 'G' || type == '%') {
        if (!v.is_number()) fail("Unknown format code '" + std::string(1, type) + "' for object of type '" + type_name(v) + "'");
        double d = v.as_double() * (type == '%' ? 100.0 : 1.0);
        std::snprintf(buf, sizeof buf, ("%" + sign + "." + std::to_string(prec < 0 ? 6 : prec) + (type == '%' ? 'f' : type)).c_str(), d);
        body = buf;
        if (type == '%') body += '%';
    } else if (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b') {
        if (!(v.is_int() || v.is_bool())) fail("Unknown format code '" + std::string(1, type) + "' for object of type '" + type_name(v) + "'");
        if (type == 'b') {
            uint64_t u = static_cast<uint64_t>(v.as_int() < 0 ? -v.as_int() : v.as_int());
            do {
                body.insert(body.begin(), static_cast<char>('0' + (u & 1)));
                u >>= 1;
            } while (u);
            if (v.as_int() < 0) body.insert(body.begin(), '-');
        } else {
            std::snprintf(buf, sizeof buf, ("%" + sign + "ll" + type).c_str(), static_cast<long long>(v.as_int()));
            body = buf;
        }
    } else {
        body = to_str(v);
        if (prec >= 0 && v.is_string()) body = utf8_encode(utf8_decode(body).substr(0, static_cast<size_t>(prec)));
        if (prec >= 0 && v.is_float()) {
            std::snprintf(buf, sizeof buf, "%.*g", prec, v.as_double());
            body = buf;
        }
    }
    size_t len = utf8_length(body);
    if (len >= width) return body;
    if (!align) align = v.is_number() && !v.is_bool() ? '>' : '<';
    size_t pad = width - len;
    switch (align) {
        case '<': return body + std::string(pad, fill);
        case '^': return std::string(pad / 2, fill) + body + std::string(pad - pad / 2, fill);
        case '=':
            if (!body.empty() && (body[0] == '-' || body[0] == '+')) return body.substr(0, 1) + std::string(pad, fill) + body.substr(1);
            return std::string(pad, fill) + body;
        default: return std::string(pad, fill) + body;
    }
}

std::string str_format(Interpreter& in, const std::string& fmt, const CallArgs& a) {
    std::string out;
    size_t auto_idx = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
        char c = fmt[i];
        if (c == '}' ) {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i;
            else fail("Single '}' encountered in format string");
            out += '}';
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out += '{';
            ++i;
            continue;
        }
        size_t close = fmt.find('}', i);
        if (close == std::string::npos) fail("Single '{' encountered in format string");
        std::string field = fmt.substr(i + 1, close - i - 1);
        i = close;
        std::string spec, conv;
        if (size_t colon = field.find(':'); colon != std::string::npos) spec = field.substr(colon + 1), field.resize(colon);
        if (size_t bang = field.find('!'); bang != std::string::npos) conv = field.substr(bang + 1), field.resize(bang);
        size_t name_end = field.find_first_of(".[");
        std::string head = field.substr(0, name_end);
        Value v;
        if (head.empty()) {
            if (auto_idx >= a.positional.size()) fail("Replacement index " + std::to_string(auto_idx) + " out of range for positional args tuple");
            v = a.positional[auto_idx++];
        } else if (std::all_of(head.begin(), head.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
            size_t k = static_cast<size_t>(std::atoll(head.c_str()));
            if (k >= a.positional.size()) fail("Replacement index " + head + " out of range for positional args tuple");
            v = a.positional[k];
        } else {
            const Value* kv = nullptr;
            for (const auto& [k, val] : a.kwargs)
                if (k == head) kv = &val;
            if (!kv) fail("KeyError: '" + head + "'");
            v = *kv;
        }
        for (size_t p = name_end; p != std::string::npos && p < field.size();) {
            if (field[p] == '.') {
                size_t e = field.find_first_of(".[", p + 1);
                v = in.getattr(v, field.substr(p + 1, e == std::string::npos ? std::string::npos : e - p - 1));
                p = e;
            } else {
                size_t e = field.find(']', p);
                if (e == std::string::npos) fail("Missing ']' in format string");
                std::string key = field.substr(p + 1, e - p - 1);
                bool digits = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
                v = in.getitem(v, digits ? Value::integer(std::atoll(key.c_str())) : Value::string(key));
                p = e + 1;
            }
        }
        if (conv == "r") v = Value::string(repr(v));
        else if (conv == "s") v = Value::string(to_str(v));
        out += apply_format_spec(v, spec);
        in.check_size(out.size());
    }
    return out;
}

// Code-point index of a byte offset (find/index return character positions in Python).
int64_t cp_index(const std::string& s, size_t byte_pos) {
    return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, byte_pos)));
}

bool starts_or_ends(const Value& self, const CallArgs& a, bool ends) {
    if (a.positional.empty()) fail(std::string(ends ? "endswith" : "startswith") + "() takes at least 1 argument");
    const Value& what = a.positional[0];
    List options = what.is_list() ? what.items() : List{what};
    const std::string& s = self.str();
    for (const auto& o : options) {
        if (!o.is_string()) fail(std::string(ends ? "endswith" : "startswith") + " first arg must be str or a tuple of str");
        const std::string& p = o.str();
        if (p.size() > s.size()) continue;
        if (ends ? s.compare(s.size() - p.size(), p.size(), p) == 0 : s.compare(0, p.size(), p) == 0) return true;
    }
    return false;
}

Value pad_str(Interpreter& in, const std::string& s, const CallArgs& a, char mode) {
    const Value* w = a.get(0, "width");
    if (!w || !(w->is_int() || w->is_bool())) fail("integer width required");
    const Value* f = a.get(1, "fillchar");
    std::string fill = f ? to_str(*f) : " ";
    if (utf8_length(fill) != 1) fail("The fill character must be exactly one character long");
    size_t len = utf8_length(s);
    int64_t width = w->as_int();
    if (width <= static_cast<int64_t>(len)) return Value::string(s);
    in.check_size(static_cast<size_t>(width) * fill.size());
    size_t pad = static_cast<size_t>(width) - len;
    auto rep = [&](size_t n) {
        std::string r;
        for (size_t i = 0; i < n; ++i) r += fill;
        return r;
    };
    if (mode == 'l') return Value::string(s + rep(pad));
    if (mode == 'r') return Value::string(rep(pad) + s);
    size_t left = pad / 2 + (pad & static_cast<size_t>(width) & 1);
    return Value::string(rep(left) + s + rep(pad - left));
}

Value string_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& a) {
    const std::string& s = self.str();
    auto chars = [&]() -> const Value* {
        const Value* c = a.get(0, "chars");
        return c && !c->is_none() ? c : nullptr;
    };
    if (name == "strip") return Value::string(py_strip(s, chars(), true, true));
    if (name == "lstrip") return Value::string(py_strip(s, chars(), true, false));
    if (name == "rstrip") return Value::string(py_strip(s, chars(), false, true));
    if (name == "split" || name == "rsplit") {
        const Value* ms = a.get(1, "maxsplit");
        return Value::list(py_split(s, a.get(0, "sep"), ms ? ms->as_int() : -1, name == "rsplit"));
    }
    if (name == "splitlines") {
        bool keep = a.get(0, "keepends") && a.get(0, "keepends")->truthy();
        List out;
        size_t start = 0;
        while (start < s.size()) {
            size_t nl = s.find_first_of("\n\r", start);
            if (nl == std::string::npos) {
                out.push_back(Value::string(s.substr(start)));
                break;
            }
            size_t brk = (s[nl] == '\r' && nl + 1 < s.size() && s[nl + 1] == '\n') ? 2 : 1;
            out.push_back(Value::string(s.substr(start, nl - start + (keep ? brk : 0))));
            start = nl + brk;
        }
        return Value::list(std::move(out));
    }
    if (name == "startswith") return Value::boolean(starts_or_ends(self, a, false));
    if (name == "endswith") return Value::boolean(starts_or_ends(self, a, true));
    if (name == "lower" || name == "casefold") return Value::string(str_lower(s));
    if (name == "upper") return Value::string(str_upper(s));
    if (name == "title") return Value::string(py_str_title(s));
    if (name == "capitalize") return Value::string(py_capitalize(s));
    if (name == "swapcase") {
        std::string out;
        for (char32_t c : utf8_decode(s)) utf8_append(out, to_lower_cp(c) != c ? to_lower_cp(c) : to_upper_cp(c));
        return Value::string(std::move(out));
    }
    if (name == "replace") {
        if (a.positional.size() < 2) fail("replace() takes at least 2 arguments");
        const Value* count = a.get(2, "count");
        return Value::string(py_replace(in, s, to_str(a.positional[0]), to_str(a.positional[1]), count ? count->as_int() : -1));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
        if (a.positional.empty() || !a.positional[0].is_string()) fail(name + "() argument must be str");
        const std::string& sub = a.positional[0].str();
        if (name == "count") {
            if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_length(s)) + 1);
            int64_t n = 0;
            for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
            return Value::integer(n);
        }
        size_t p = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
        if (p == std::string::npos) {
            if (name == "index" || name == "rindex") fail("substring not found");
            return Value::integer(-1);
        }
        return Value::integer(cp_index(s, p));
    }
    if (name == "join") {
        if (a.positional.empty()) fail("join() takes exactly one argument");
        std::string out;
        bool first = true;
        for (const auto& x : in.iterate(a.positional[0])) {
            if (!x.is_string()) fail("sequence item: expected str instance, " + type_name(x) + " found");
            if (!first) out += s;
            first = false;
            out += x.str();
            in.check_size(out.size());
        }
        return Value::string(std::move(out));
    }
    if (name == "format") return Value::string(str_format(in, s, a));
    if (name == "removeprefix" || name == "removesuffix") {
        std::string p = a.positional.empty() ? "" : to_str(a.positional[0]);
        if (name == "removeprefix" && s.compare(0, p.size(), p) == 0) return Value::string(s.substr(p.size()));
        if (name == "removesuffix" && !p.empty() && s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0)
            return Value::string(s.substr(0, s.size() - p.size()));
        return self;
    }
    if (name == "partition" || name == "rpartition") {
        std::string sep = a.positional.empty() ? "" : to_str(a.positional[0]);
        if (sep.empty()) fail("empty separator");
        size_t p = name == "partition" ? s.find(sep) : s.rfind(sep);
        if (p == std::string::npos)
            return name == "partition" ? Value::list({self, Value::string(""), Value::string("")}, true)
                                       : Value::list({Value::string(""), Value::string(""), self}, true);
        return Value::list({Value::string(s.substr(0, p)), Value::string(sep), Value::string(s.substr(p + sep.size()))}, true);
    }
    if (name == "ljust") return pad_str(in, s, a, 'l');
    if (name == "rjust") return pad_str(in, s, a, 'r');
    if (name == "center") return pad_str(in, s, a, 'c');
    if (name == "zfill") {
        int64_t w = a.positional.empty() ? 0 : a.positional[0].as_int();
        int64_t len = static_cast<int64_t>(utf8_length(s));
        if (w <= len) return self;
        in.check_size(static_cast<size_t>(w));
        size_t sign = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
        return Value::string(s.substr(0, sign) + std::string(static_cast<size_t>(w - len), '0') + s.substr(sign));
    }
    std::u32string cps = utf8_decode(s);
    auto all = [&](auto pred) { return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred); };
    if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return Value::boolean(all(is_py_digit));
    if (name == "isalpha") return Value::boolean(all(is_py_alpha));
    if (name == "isalnum") return Value::boolean(all([](char32_t c) { return is_py_alpha(c) || is_py_digit(c); }));
    if (name == "isspace") return Value::boolean(all(is_py_space));
    if (name == "islower") return Value::boolean(str_lower(s) == s && str_upper(s) != s);
    if (name == "isupper") return Value::boolean(str_upper(s) == s && str_lower(s) != s);
    if (name == "istitle") return Value::boolean(py_str_title(s) == s && str_lower(s) != s);
    fail("'str' object has no attribute '" + name + "'");
}

Value dict_method(const Value& self, const std::string& name, CallArgs& a) {
    const Dict& d = self.entries();
    if (name == "items" || name == "keys" || name == "values") {
        List out;
        for (const auto& [k, v] : d.items) {
            if (name == "items") out.push_back(Value::list({k, v}, true));
            else out.push_back(name == "keys" ? k : v);
        }
        return Value::list(std::move(out));
    }
    if (name == "get") {
        if (a.positional.empty()) fail("get expected at least 1 argument, got 0");
        const Value* v = d.find(a.positional[0]);
        if (v) return *v;
        return a.positional.size() > 1 ? a.positional[1] : Value::none();
    }
    if (name == "copy") return Value::dict(d);
    fail("'dict' object has no attribute '" + name + "'");
}

Value list_method(const Value& self, const std::string& name, CallArgs& a) {
    const List& items = self.items();
    if (name == "count") {
        if (a.positional.empty()) fail("count() takes exactly one argument");
        int64_t n = 0;
        for (const auto& x : items) n += values_equal(x, a.positional[0]) ? 1 : 0;
        return Value::integer(n);
    }
    if (name == "index") {
        if (a.positional.empty()) fail("index() takes at least 1 argument");
        for (size_t i = 0; i < items.size(); ++i)
            if (values_equal(items[i], a.positional[0])) return Value::integer(static_cast<int64_t>(i));
        fail(repr(a.positional[0]) + " is not in list");
    }
    if (name == "copy") return Value::list(items, self.is_tuple());
    fail("'list' object has no attribute '" + name + "'");
}

const std::vector<std::string_view> kStrMethods = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "lower", "casefold",
    "upper", "title", "capitalize", "swapcase", "replace", "find", "rfind", "index", "rindex", "count", "join",
    "format", "removeprefix", "removesuffix", "partition", "rpartition", "ljust", "rjust", "center", "zfill",
    "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper", "istitle"};
const std::vector<std::string_view> kDictMethods = {"items", "keys", "values", "get", "copy"};
const std::vector<std::string_view> kListMethods = {"count", "index", "copy"};
// What jinja2's ImmutableSandboxedEnvironment refuses (modifies_known_mutable).
const std::vector<std::string_view> kDictMutators = {"clear", "pop", "popitem", "setdefault", "update"};
const std::vector<std::string_view> kListMutators = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};

bool in_list(const std::vector<std::string_view>& l, const std::string& n) { return std::find(l.begin(), l.end(), n) != l.end(); }

}  // namespace

std::optional<Value> bound_method(const Value& obj, const std::string& name) {
    if (obj.is_string() && in_list(kStrMethods, name))
        return Value::callable(name, [obj, name](Interpreter& in, CallArgs& a) { return string_method(in, obj, name, a); });
    if (obj.is_dict()) {
        if (in_list(kDictMethods, name))
            return Value::callable(name, [obj, name](Interpreter&, CallArgs& a) { return dict_method(obj, name, a); });
        if (in_list(kDictMutators, name)) fail("access to attribute '" + name + "' of 'dict' object is unsafe.");
    }
    if (obj.is_list()) {
        if (in_list(kListMethods, name))
            return Value::callable(name, [obj, name](Interpreter&, CallArgs& a) { return list_method(obj, name, a); });
        if (in_list(kListMutators, name) && !obj.is_tuple())
            fail("access to attribute '" + name + "' of 'list' object is unsafe.");
    }
    return std::nullopt;
}

// ------------------------------------------------------------------------------------------- globals

void add_global_functions(Dict& g) {
    g.set(Value::string("range"), Value::callable("range", [](Interpreter&, CallArgs& a) {
              a.check("range", 3, {});
              if (a.positional.empty()) fail("range expected at least 1 argument, got 0");
              for (const auto& v : a.positional)
                  if (!(v.is_int() || v.is_bool())) fail("'" + type_name(v) + "' object cannot be interpreted as an integer");
              int64_t start = 0, stop, step = 1;
              if (a.positional.size() == 1) stop = a.positional[0].as_int();
              else start = a.positional[0].as_int(), stop = a.positional[1].as_int();
              if (a.positional.size() == 3) step = a.positional[2].as_int();
              if (step == 0) fail("range() arg 3 must not be zero");
              // jinja2's sandbox refuses ranges longer than MAX_RANGE.
              long double count = step > 0 ? std::ceil(static_cast<long double>(stop - static_cast<long double>(start)) / step)
                                           : std::ceil(static_cast<long double>(start - static_cast<long double>(stop)) / -step);
              if (count > 100000) fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
              List out;
              for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(Value::integer(i));
              return Value::list(std::move(out));
          }));
    g.set(Value::string("dict"), Value::callable("dict", [](Interpreter&, CallArgs& a) {
              Dict d;
              if (!a.positional.empty()) {
                  if (!a.positional[0].is_dict()) fail("dict() positional argument must be a mapping");
                  d = a.positional[0].entries();
              }
              for (const auto& [k, v] : a.kwargs) d.set(Value::string(k), v);
              return Value::dict(std::move(d));
          }));
    g.set(Value::string("namespace"), Value::callable("namespace", [](Interpreter& in, CallArgs& a) {
              Dict d;
              for (const auto& p : a.positional) {
                  if (!p.is_dict()) fail("namespace() positional argument must be a mapping");
                  for (const auto& [k, v] : p.entries().items) d.set(k, v);
              }
              for (const auto& [k, v] : a.kwargs) d.set(Value::string(k), v);
              Value ns = Value::make_namespace(std::move(d));
              in.track_namespace(ns);
              return ns;
          }));
    g.set(Value::string("joiner"), Value::callable("joiner", [](Interpreter&, CallArgs& a) {
              std::string sep = a.get(0, "sep") ? to_str(*a.get(0, "sep")) : ", ";
              auto used = std::make_shared<bool>(false);
              return Value::callable("joiner", [sep, used](Interpreter&, CallArgs&) {
                  if (!*used) {
                      *used = true;
                      return Value::string("");
                  }
                  return Value::string(sep);
              });
          }));
    g.set(Value::string("raise_exception"), Value::callable("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
              fail(a.positional.empty() ? std::string("raise_exception called") : to_str(a.positional[0]));
          }));
    g.set(Value::string("strftime_now"), Value::callable("strftime_now", [](Interpreter& in, CallArgs& a) {
              const Value* f = a.get(0, "format");
              if (!f || !f->is_string()) fail("strftime_now(format) needs a format string");
              return Value::string(in.strftime_now(f->str()));
          }));
}

}  // namespace rz::tokenizer::jinja
