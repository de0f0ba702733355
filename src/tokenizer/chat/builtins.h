#pragma once
// Built-in filters, tests, methods of str/list/dict, and global functions of the Jinja environment
// (jinja2's defaults plus what Hugging Face adds: tojson with indent/separators/ensure_ascii/sort_keys,
// raise_exception, strftime_now).
#include <optional>
#include <string>
#include <string_view>

#include "tokenizer/chat/value.h"

namespace rz::tokenizer::jinja {

using FilterFn = Value (*)(Interpreter&, const Value& subject, CallArgs& args);
using TestFn = bool (*)(Interpreter&, const Value& subject, CallArgs& args);

FilterFn find_filter(std::string_view name);  // nullptr when unknown
TestFn find_test(std::string_view name);      // nullptr when unknown

// `obj.name` where obj is a str, list or dict and name is one of its Python methods: a callable bound to
// obj. nullopt when name is not a method of that type. Mutating methods (list.append, dict.update, ...)
// fail like jinja2's immutable sandbox does.
std::optional<Value> bound_method(const Value& obj, const std::string& name);

// The global functions: range, dict, namespace, cycler, joiner, raise_exception, strftime_now.
void add_global_functions(Dict& globals);

// Python str helpers shared by filters and methods.
std::string py_strip(std::string_view s, const Value* chars, bool left, bool right);
std::string py_replace(Interpreter& in, std::string_view s, std::string_view old, std::string_view rep, int64_t count);
List py_split(std::string_view s, const Value* sep, int64_t maxsplit, bool from_right);
std::string py_title_filter(std::string_view s);  // jinja2's |title
std::string py_capitalize(std::string_view s);
Value py_slice(const Value& v, const Value& start, const Value& stop, const Value& step);
Value py_percent_format(Interpreter& in, const std::string& fmt, const Value& args);  // "%s" % args

}  // namespace rz::tokenizer::jinja
