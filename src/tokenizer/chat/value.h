#pragma once
// Values of realizar's Jinja interpreter, with Python semantics (what jinja2 templates are written against):
// truthiness, ==/< across types, str()/repr() of None/True/False/floats/lists/dicts, json.dumps.
// Lists and dicts are immutable and shared (HF renders in jinja2's ImmutableSandboxedEnvironment: no
// list.append); only namespace() objects are mutable.
//
// Errors inside the interpreter are thrown as JinjaError and caught at the public API boundary
// (render_chat_template), so no exception leaves rz_tokenizer.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace rz::tokenizer::jinja {

struct JinjaError {
    std::string message;
    int line = 0;  // 0: not known yet; the statement that runs the failing code fills it in
};
[[noreturn]] void fail(std::string message, int line = 0);
// Concatenation without operator+ chains (GCC 12's -Wrestrict misfires on some of those at -O3).
std::string str_cat(std::initializer_list<std::string_view> parts);

class Value;
class Interpreter;
using List = std::vector<Value>;

struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> kwargs;

    // Python-style binding helper: the i-th positional argument or the keyword `name`, else nullptr.
    const Value* get(size_t i, std::string_view name) const;
    // Fails with "<fn>() got an unexpected keyword argument" if a keyword outside `allowed` is present, or
    // more than max_positional positional arguments.
    void check(std::string_view fn, size_t max_positional, std::initializer_list<std::string_view> allowed) const;
};
using NativeFn = std::function<Value(Interpreter&, CallArgs&)>;

struct Dict;

class Value {
public:
    enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };

    Value() = default;  // undefined
    static Value undefined(std::string hint = {});
    static Value none();
    static Value boolean(bool b);
    static Value integer(int64_t i);
    static Value number(double f);
    static Value string(std::string s);
    static Value list(List items, bool tuple = false);
    static Value dict(Dict d);
    static Value make_namespace(Dict d);
    static Value callable(std::string name, NativeFn fn);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::kUndefined; }
    bool is_none() const { return kind_ == Kind::kNone; }
    bool is_bool() const { return kind_ == Kind::kBool; }
    bool is_int() const { return kind_ == Kind::kInt; }
    bool is_float() const { return kind_ == Kind::kFloat; }
    bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
    bool is_string() const { return kind_ == Kind::kString; }
    bool is_list() const { return kind_ == Kind::kList; }
    bool is_tuple() const { return kind_ == Kind::kList && tuple_; }
    bool is_dict() const { return kind_ == Kind::kDict; }
    bool is_namespace() const { return kind_ == Kind::kNamespace; }
    bool is_callable() const { return kind_ == Kind::kCallable; }

    bool as_bool() const { return b_; }
    int64_t as_int() const { return kind_ == Kind::kBool ? int64_t{b_} : i_; }
    double as_double() const;  // int, float or bool
    const std::string& str() const { return s_; }          // string; undefined hint; callable name
    const List& items() const { return *list_; }            // list
    const Dict& entries() const { return *dict_; }          // dict or namespace
    Dict& namespace_entries() const { return *dict_; }      // namespace (mutable)
    const NativeFn& fn() const { return *fn_; }
    const void* identity() const;  // for `is sameas` on containers

    bool truthy() const;

private:
    Kind kind_ = Kind::kUndefined;
    bool tuple_ = false;
    bool b_ = false;
    int64_t i_ = 0;
    double f_ = 0;
    std::string s_;
    std::shared_ptr<const List> list_;
    std::shared_ptr<Dict> dict_;
    std::shared_ptr<const NativeFn> fn_;
};

// Ordered dict (Python 3.7+ insertion order); keys are usually strings. Linear lookup: template dicts are
// small, and linear search keeps insertion order for free.
struct Dict {
    std::vector<std::pair<Value, Value>> items;
    const Value* find(const Value& key) const;
    const Value* find(std::string_view key) const;
    void set(Value key, Value value);
};

// JSON -> Value for any nlohmann::basic_json flavour (json: keys sorted; ordered_json: keys in input order).
// Untrusted (request) data: nesting is capped so a hostile document cannot exhaust the stack.
constexpr int kMaxJsonDepth = 256;
template <typename Json>
Value value_from_json(const Json& j, int depth = 0) {
    if (depth > kMaxJsonDepth) fail("JSON value nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (j.is_null()) return Value::none();
    if (j.is_boolean()) return Value::boolean(j.template get<bool>());
    if (j.is_number_unsigned()) {
        uint64_t u = j.template get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
        return Value::integer(static_cast<int64_t>(u));
    }
    if (j.is_number_integer()) return Value::integer(j.template get<int64_t>());
    if (j.is_number_float()) return Value::number(j.template get<double>());
    if (j.is_string()) return Value::string(j.template get<std::string>());
    if (j.is_array()) {
        List items;
        items.reserve(j.size());
        for (const auto& e : j) items.push_back(value_from_json(e, depth + 1));
        return Value::list(std::move(items));
    }
    if (j.is_object()) {
        Dict d;
        d.items.reserve(j.size());
        for (auto it = j.begin(); it != j.end(); ++it)
            d.items.emplace_back(Value::string(it.key()), value_from_json(it.value(), depth + 1));
        return Value::dict(std::move(d));
    }
    return Value::none();  // binary values: not produced by the JSON text parser
}

// Python semantics.
bool values_equal(const Value& a, const Value& b);
int compare_values(const Value& a, const Value& b, std::string_view op);  // <0, 0, >0; fails on type mismatch
std::string type_name(const Value& v);         // 'str', 'int', 'NoneType', 'dict', ...
std::string object_type_repr(const Value& v);  // "'dict object'", "None" (jinja2's wording in errors)
std::string to_str(const Value& v);            // str(v); undefined -> ""
std::string repr(const Value& v);              // repr(v)
std::string format_float(double f);            // float.__repr__
std::string repr_string(std::string_view s);

struct JsonOptions {
    int indent = -1;  // < 0: single line
    std::string indent_str;  // used when non-empty (indent given as a string)
    std::optional<std::string> item_sep, key_sep;  // unset: json.dumps defaults ", " (or "," when indented), ": "
    bool ensure_ascii = false;
    bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonOptions& opts);  // json.dumps

// UTF-8 <-> code points. Invalid bytes decode to U+DC80+byte (Python's surrogateescape) and encode back to
// the same byte, so any byte string round-trips.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t cp);
size_t utf8_length(std::string_view s);  // code points
bool is_py_space(char32_t c);            // str.isspace()
bool is_py_alpha(char32_t c);            // approximation of str.isalpha() beyond ASCII
bool is_py_digit(char32_t c);
char32_t to_lower_cp(char32_t c);
char32_t to_upper_cp(char32_t c);
std::string str_lower(std::string_view s);
std::string str_upper(std::string_view s);

}  // namespace rz::tokenizer::jinja
