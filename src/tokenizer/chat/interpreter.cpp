#include "tokenizer/chat/interpreter.h"

#include <cmath>
#include <ctime>
#include <limits>
#include <optional>

#include "tokenizer/chat/builtins.h"

namespace rz::tokenizer::jinja {

const Value* Frame::lookup(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent.get()) {
        for (auto it = f->vars.rbegin(); it != f->vars.rend(); ++it)
            if (it->first == name) return &it->second;
    }
    return nullptr;
}

void Frame::set(const std::string& name, Value v) {
    for (auto& [k, val] : vars) {
        if (k == name) {
            val = std::move(v);
            return;
        }
    }
    vars.emplace_back(name, std::move(v));
}

// --------------------------------------------------------------------------------------------- limits

Interpreter::NestingGuard::NestingGuard(Interpreter& in) : in_(in) {
    const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    const uintptr_t used = in_.stack_base_ > here ? in_.stack_base_ - here : here - in_.stack_base_;
    if (++in_.nesting_ > kMaxNesting || (in_.stack_base_ != 0 && used > kStackBudget)) {
        --in_.nesting_;
        fail("maximum recursion depth exceeded (expressions and macro calls nested too deep)");
    }
}

void Interpreter::check_size(size_t bytes) const {
    if (bytes > limits_.max_output_bytes)
        fail("output size limit exceeded (" + std::to_string(limits_.max_output_bytes) +
             " bytes): the template builds a string or list that is too large");
}

void Interpreter::count_iterations(uint64_t n) {
    iterations_ += n;
    if (iterations_ > limits_.max_loop_iterations)
        fail("loop iteration limit exceeded (" + std::to_string(limits_.max_loop_iterations) + " iterations)");
}

void Interpreter::emit(std::string& out, std::string_view s) const {
    if (s.empty()) return;
    check_size(out.size() + s.size());
    out.append(s);
}

std::string Interpreter::strftime_now(const std::string& format) const {
    if (strftime_now_) return strftime_now_(format);
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    if (format.empty()) return "";
    std::string buf(format.size() * 8 + 64, '\0');
    size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &tm);
    buf.resize(n);
    return buf;
}

// ------------------------------------------------------------------------------------------ rendering

std::string Interpreter::render(const Program& program, std::vector<std::pair<std::string, Value>> globals) {
    stack_base_ = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    auto root = std::make_shared<Frame>();
    root->vars = std::move(globals);
    struct CycleBreaker {
        Interpreter& in;
        ~CycleBreaker() {
            for (auto& f : in.macro_frames_) f->vars.clear();
            for (auto& ns : in.namespaces_) ns.namespace_entries().items.clear();
            in.macro_frames_.clear();
            in.namespaces_.clear();
        }
    } breaker{*this};
    std::string out;
    exec_body(program.body, root, out);
    return out;
}

std::string Interpreter::render_body(const Body& body, const FramePtr& frame) {
    std::string out;
    Flow f = exec_body(body, frame, out);
    if (f != Flow::kNormal) fail("'break'/'continue' outside a loop");
    return out;
}

Interpreter::Flow Interpreter::exec_body(const Body& body, const FramePtr& frame, std::string& out) {
    for (const auto& s : body) {
        Flow f = exec(*s, frame, out);
        if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, const FramePtr& frame, std::string& out) {
    NestingGuard guard(*this);
    try {
        switch (s.kind) {
            case Stmt::Kind::kText: emit(out, s.text); return Flow::kNormal;
            case Stmt::Kind::kOutput: {
                Value v = eval(*s.expr, frame);
                if (v.is_string()) emit(out, v.str());
                else emit(out, to_str(v));
                return Flow::kNormal;
            }
            case Stmt::Kind::kIf:
                for (const auto& [cond, body] : s.branches) {
                    if (!cond || eval(*cond, frame).truthy()) return exec_body(body, frame, out);
                }
                return Flow::kNormal;
            case Stmt::Kind::kFor: return exec_for(s, frame, out);
            case Stmt::Kind::kSet: {
                Value v = eval(*s.expr, frame);
                if (!s.attr.empty()) {
                    const Value* ns = frame->lookup(s.targets[0]);
                    if (!ns || !ns->is_namespace()) fail("cannot assign attribute on non-namespace object");
                    ns->namespace_entries().set(Value::string(s.attr), std::move(v));
                } else {
                    exec_set(s, frame, std::move(v));
                }
                return Flow::kNormal;
            }
            case Stmt::Kind::kSetBlock: {
                Value v = Value::string(render_body(s.body, frame));
                for (const auto& f : s.filters) {
                    CallArgs args;
                    eval_args(*f, frame, args);
                    v = apply_filter(f->name, v, args);
                }
                frame->set(s.targets[0], std::move(v));
                return Flow::kNormal;
            }
            case Stmt::Kind::kMacro: frame->set(s.name, make_macro(s, frame)); return Flow::kNormal;
            case Stmt::Kind::kCallBlock: {
                // The body becomes `caller`, a macro taking the block's parameters.
                Value caller = make_macro(s, frame);
                const Expr& call = *s.expr;
                Value callee = eval(*call.target, frame);
                CallArgs args;
                eval_args(call, frame, args);
                args.kwargs.emplace_back("caller", std::move(caller));
                Value r = this->call(callee, args);
                emit(out, to_str(r));
                return Flow::kNormal;
            }
            case Stmt::Kind::kFilterBlock: {
                Value v = Value::string(render_body(s.body, frame));
                for (const auto& f : s.filters) {
                    CallArgs args;
                    eval_args(*f, frame, args);
                    v = apply_filter(f->name, v, args);
                }
                emit(out, to_str(v));
                return Flow::kNormal;
            }
            case Stmt::Kind::kBreak:
            case Stmt::Kind::kContinue:
                if (loop_nesting_ == 0) fail(std::string("'") + (s.kind == Stmt::Kind::kBreak ? "break" : "continue") +
                                             "' outside loop");
                return s.kind == Stmt::Kind::kBreak ? Flow::kBreak : Flow::kContinue;
            case Stmt::Kind::kWith: {
                auto inner = std::make_shared<Frame>();
                inner->parent = frame;
                for (const auto& [name, expr] : s.with_vars) inner->set(name, eval(*expr, frame));
                return exec_body(s.body, inner, out);
            }
        }
    } catch (JinjaError& e) {
        if (e.line == 0) e.line = s.line;
        throw;
    }
    return Flow::kNormal;
}

void Interpreter::bind_targets(Frame& f, const std::vector<std::string>& names, const Value& v) const {
    if (names.size() == 1) {
        f.set(names[0], v);
        return;
    }
    List items = iterate(v);
    if (items.size() != names.size())
        fail(items.size() > names.size() ? "too many values to unpack (expected " + std::to_string(names.size()) + ")"
                                         : "not enough values to unpack (expected " + std::to_string(names.size()) +
                                               ", got " + std::to_string(items.size()) + ")");
    for (size_t i = 0; i < names.size(); ++i) f.set(names[i], items[i]);
}

void Interpreter::exec_set(const Stmt& s, const FramePtr& frame, Value value) { bind_targets(*frame, s.targets, value); }

Interpreter::Flow Interpreter::exec_for(const Stmt& s, const FramePtr& frame, std::string& out) {
    List all = iterate(eval(*s.expr, frame));
    count_iterations(all.size());
    List items;
    if (s.cond) {
        // The `for x in xs if cond` filter sees the loop variables but not `loop`.
        for (auto& item : all) {
            auto probe = std::make_shared<Frame>();
            probe->parent = frame;
            bind_targets(*probe, s.targets, item);
            if (eval(*s.cond, probe).truthy()) items.push_back(std::move(item));
        }
    } else {
        items = std::move(all);
    }
    if (items.empty()) {
        if (!s.else_body.empty()) {
            auto inner = std::make_shared<Frame>();
            inner->parent = frame;
            return exec_body(s.else_body, inner, out);
        }
        return Flow::kNormal;
    }
    const size_t n = items.size();
    const int64_t len = static_cast<int64_t>(n);
    ++loop_nesting_;
    struct NestingGuard {
        int& n;
        ~NestingGuard() { --n; }
    } guard{loop_nesting_};
    // loop.cycle / loop.changed are made once per loop; the current index reaches them through a shared cell.
    auto cur_index = std::make_shared<int64_t>(0);
    auto changed_state = std::make_shared<std::optional<Value>>();
    const Value cycle = Value::callable("cycle", [cur_index](Interpreter&, CallArgs& a) {
        if (a.positional.empty()) fail("no items for cycling given");
        return a.positional[static_cast<size_t>(*cur_index) % a.positional.size()];
    });
    const Value changed = Value::callable("changed", [changed_state](Interpreter&, CallArgs& a) {
        // True when the arguments differ from those of the previous call.
        Value cur = Value::list(a.positional);
        bool differs = !changed_state->has_value() || !values_equal(**changed_state, cur);
        *changed_state = cur;
        return Value::boolean(differs);
    });
    static const Value kIndex = Value::string("index"), kIndex0 = Value::string("index0"),
                       kRevindex = Value::string("revindex"), kRevindex0 = Value::string("revindex0"),
                       kFirst = Value::string("first"), kLast = Value::string("last"), kLength = Value::string("length"),
                       kDepth = Value::string("depth"), kDepth0 = Value::string("depth0"),
                       kPrevitem = Value::string("previtem"), kNextitem = Value::string("nextitem"),
                       kCycle = Value::string("cycle"), kChanged = Value::string("changed");
    for (size_t i = 0; i < n; ++i) {
        auto inner = std::make_shared<Frame>();
        inner->parent = frame;
        bind_targets(*inner, s.targets, items[i]);
        const int64_t idx = static_cast<int64_t>(i);
        *cur_index = idx;
        Dict loop;
        loop.items.reserve(13);
        loop.items.emplace_back(kIndex, Value::integer(idx + 1));
        loop.items.emplace_back(kIndex0, Value::integer(idx));
        loop.items.emplace_back(kRevindex, Value::integer(len - idx));
        loop.items.emplace_back(kRevindex0, Value::integer(len - idx - 1));
        loop.items.emplace_back(kFirst, Value::boolean(i == 0));
        loop.items.emplace_back(kLast, Value::boolean(i + 1 == n));
        loop.items.emplace_back(kLength, Value::integer(len));
        loop.items.emplace_back(kDepth, Value::integer(1));
        loop.items.emplace_back(kDepth0, Value::integer(0));
        loop.items.emplace_back(kPrevitem, i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
        loop.items.emplace_back(kNextitem, i + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
        loop.items.emplace_back(kCycle, cycle);
        loop.items.emplace_back(kChanged, changed);
        inner->set("loop", Value::dict(std::move(loop)));
        Flow f = exec_body(s.body, inner, out);
        if (f == Flow::kBreak) break;
    }
    return Flow::kNormal;
}

// -------------------------------------------------------------------------------------------- macros

Value Interpreter::make_macro(const Stmt& s, const FramePtr& frame) {
    const Stmt* m = &s;
    FramePtr closure = frame;
    macro_frames_.push_back(frame);
    return Value::callable(s.kind == Stmt::Kind::kMacro ? s.name : "caller",
                           [m, closure](Interpreter& in, CallArgs& args) { return in.call_macro(*m, closure, args); });
}

Value Interpreter::call_macro(const Stmt& m, const FramePtr& closure, CallArgs& args) {
    if (depth_ >= limits_.max_recursion_depth)
        fail("maximum recursion depth exceeded (" + std::to_string(limits_.max_recursion_depth) + " nested calls)");
    ++depth_;
    struct DepthGuard {
        uint32_t& d;
        ~DepthGuard() { --d; }
    } guard{depth_};
    const std::string macro_name = m.kind == Stmt::Kind::kMacro ? m.name : "caller";
    if (args.positional.size() > m.params.size() && !m.catch_varargs)
        fail("macro '" + macro_name + "' takes not more than " + std::to_string(m.params.size()) + " argument(s)");
    auto frame = std::make_shared<Frame>();
    frame->parent = closure;
    List varargs;
    Dict kwargs;
    for (size_t i = m.params.size(); i < args.positional.size(); ++i) varargs.push_back(args.positional[i]);
    for (size_t i = 0; i < m.params.size(); ++i) {
        const std::string& p = m.params[i];
        const Value* v = i < args.positional.size() ? &args.positional[i] : nullptr;
        if (!v)
            for (const auto& [k, val] : args.kwargs)
                if (k == p) v = &val;
        if (v) frame->set(p, *v);
        else if (m.defaults[i]) frame->set(p, eval(*m.defaults[i], frame));
        else frame->set(p, Value::undefined("parameter '" + p + "' was not provided"));
    }
    for (const auto& [k, val] : args.kwargs) {
        if (k == "caller") {
            frame->set("caller", val);
            continue;
        }
        bool is_param = false;
        for (const auto& p : m.params) is_param |= p == k;
        if (is_param) continue;
        if (!m.catch_kwargs) fail("macro '" + macro_name + "' takes no keyword argument '" + k + "'");
        kwargs.set(Value::string(k), val);
    }
    frame->set("varargs", Value::list(std::move(varargs), true));
    frame->set("kwargs", Value::dict(std::move(kwargs)));
    const int saved_nesting = loop_nesting_;
    loop_nesting_ = 0;  // break/continue inside a macro body do not reach the caller's loop
    std::string out;
    try {
        Flow f = exec_body(m.body, frame, out);
        if (f != Flow::kNormal) fail("'break'/'continue' outside loop");
    } catch (...) {
        loop_nesting_ = saved_nesting;
        throw;
    }
    loop_nesting_ = saved_nesting;
    return Value::string(std::move(out));
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
    if (callee.is_undefined()) fail(callee.str().empty() ? "undefined value is not callable" : callee.str());
    if (!callee.is_callable()) fail("'" + type_name(callee) + "' object is not callable");
    return callee.fn()(*this, args);
}

Value Interpreter::apply_filter(const std::string& name, const Value& subject, CallArgs& args) {
    FilterFn f = find_filter(name);
    if (!f) fail("No filter named '" + name + "'.");
    return f(*this, subject, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& subject, CallArgs& args) {
    TestFn t = find_test(name);
    if (!t) fail("No test named '" + name + "'.");
    return t(*this, subject, args);
}

// ------------------------------------------------------------------------------------ Python objects

Value Interpreter::getattr(const Value& obj, const std::string& name) const {
    switch (obj.kind()) {
        case Value::Kind::kUndefined: fail(obj.str().empty() ? "'" + name + "' of an undefined value" : obj.str());
        case Value::Kind::kDict: {
            if (auto m = bound_method(obj, name)) return *m;
            if (const Value* v = obj.entries().find(std::string_view(name))) return *v;
            return Value::undefined(object_type_repr(obj) + " has no attribute '" + name + "'");
        }
        case Value::Kind::kNamespace: {
            if (const Value* v = obj.entries().find(std::string_view(name))) return *v;
            return Value::undefined(object_type_repr(obj) + " has no attribute '" + name + "'");
        }
        case Value::Kind::kString:
        case Value::Kind::kList:
            if (auto m = bound_method(obj, name)) return *m;
            break;
        default: break;
    }
    return Value::undefined(object_type_repr(obj) + " has no attribute '" + name + "'");
}

Value Interpreter::getitem(const Value& obj, const Value& key) const {
    switch (obj.kind()) {
        case Value::Kind::kUndefined: fail(obj.str().empty() ? "subscript of an undefined value" : obj.str());
        case Value::Kind::kDict:
        case Value::Kind::kNamespace: {
            if (const Value* v = obj.entries().find(key)) return *v;
            if (key.is_string() && obj.is_dict())
                if (auto m = bound_method(obj, key.str())) return *m;
            break;
        }
        case Value::Kind::kList:
        case Value::Kind::kString: {
            if (!(key.is_int() || key.is_bool())) {
                if (key.is_string()) return getattr(obj, key.str());
                break;
            }
            int64_t i = key.as_int();
            if (obj.is_list()) {
                int64_t n = static_cast<int64_t>(obj.items().size());
                if (i < 0) i += n;
                if (i >= 0 && i < n) return obj.items()[static_cast<size_t>(i)];
            } else {
                std::u32string cps = utf8_decode(obj.str());
                int64_t n = static_cast<int64_t>(cps.size());
                if (i < 0) i += n;
                if (i >= 0 && i < n) {
                    std::string ch;
                    utf8_append(ch, cps[static_cast<size_t>(i)]);
                    return Value::string(std::move(ch));
                }
            }
            break;
        }
        default: break;
    }
    if (key.is_string()) return Value::undefined(object_type_repr(obj) + " has no attribute '" + key.str() + "'");
    std::string who = object_type_repr(obj);
    if (who.size() > 2 && who.front() == '\'') who = who.substr(1, who.size() - 2);  // jinja2 drops the quotes here
    return Value::undefined(who + " has no element " + repr(key));
}

List Interpreter::iterate(const Value& v) const {
    switch (v.kind()) {
        case Value::Kind::kUndefined: return {};
        case Value::Kind::kList: return v.items();
        case Value::Kind::kDict: {
            List keys;
            keys.reserve(v.entries().items.size());
            for (const auto& [k, val] : v.entries().items) keys.push_back(k);
            return keys;
        }
        case Value::Kind::kString: {
            List chars;
            for (char32_t c : utf8_decode(v.str())) {
                std::string s;
                utf8_append(s, c);
                chars.push_back(Value::string(std::move(s)));
            }
            return chars;
        }
        default: fail("'" + type_name(v) + "' object is not iterable");
    }
}

bool Interpreter::contains(const Value& container, const Value& item) const {
    switch (container.kind()) {
        case Value::Kind::kUndefined: return false;
        case Value::Kind::kString:
            if (!item.is_string())
                fail("'in <string>' requires string as left operand, not " + type_name(item));
            return container.str().find(item.str()) != std::string::npos;
        case Value::Kind::kList:
            for (const auto& v : container.items())
                if (values_equal(v, item)) return true;
            return false;
        case Value::Kind::kDict:
        case Value::Kind::kNamespace: return container.entries().find(item) != nullptr;
        default: fail("argument of type '" + type_name(container) + "' is not iterable");
    }
}

namespace {

[[noreturn]] void fail_undefined(const Value& u) {
    fail(u.str().empty() ? "undefined value used in an expression" : u.str());
}

[[noreturn]] void fail_operands(const std::string& op, const Value& a, const Value& b) {
    if (a.is_undefined()) fail_undefined(a);
    if (b.is_undefined()) fail_undefined(b);
    if (op == "+" && (a.is_string() || a.is_list()) && !a.is_tuple())
        fail("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
    fail("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

// 64-bit integer arithmetic with Python's result or a clear error (no silent wrap-around).
int64_t checked_op(char op, int64_t a, int64_t b) {
    int64_t r = 0;
    bool overflow = op == '+' ? __builtin_add_overflow(a, b, &r)
                    : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                : __builtin_mul_overflow(a, b, &r);
    if (overflow) fail("integer overflow (realizar's Jinja integers are 64-bit)");
    return r;
}

double py_fmod(double a, double b) {
    double m = std::fmod(a, b);
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m;
}

}  // namespace

Value Interpreter::binary_op(const std::string& op, const Value& a, const Value& b) {
    const bool both_int = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
    const bool both_num = a.is_number() && b.is_number();
    const char o = op[0];
    if (op == "~") {
        std::string s = to_str(a);
        std::string t = to_str(b);
        check_size(s.size() + t.size());
        return Value::string(s + t);
    }
    if (o == '+') {
        if (both_int) {
            return Value::integer(checked_op('+', a.as_int(), b.as_int()));
        }
        if (both_num) return Value::number(a.as_double() + b.as_double());
        if (a.is_string() && b.is_string()) {
            check_size(a.str().size() + b.str().size());
            return Value::string(a.str() + b.str());
        }
        if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
            check_size((a.items().size() + b.items().size()) * sizeof(Value));
            List r = a.items();
            r.insert(r.end(), b.items().begin(), b.items().end());
            return Value::list(std::move(r), a.is_tuple());
        }
        fail_operands(op, a, b);
    }
    if (o == '-' && both_num) {
        if (both_int) {
            return Value::integer(checked_op('-', a.as_int(), b.as_int()));
        }
        return Value::number(a.as_double() - b.as_double());
    }
    if (op == "*") {
        if (both_int) {
            return Value::integer(checked_op('*', a.as_int(), b.as_int()));
        }
        if (both_num) return Value::number(a.as_double() * b.as_double());
        const Value* seq = (a.is_string() || a.is_list()) ? &a : (b.is_string() || b.is_list()) ? &b : nullptr;
        const Value* cnt = seq == &a ? &b : &a;
        if (seq && (cnt->is_int() || cnt->is_bool())) {
            int64_t n = std::max<int64_t>(0, cnt->as_int());
            const size_t unit = seq->is_string() ? seq->str().size() : seq->items().size() * sizeof(Value);
            if (n > 0 && unit > 0)
                check_size(static_cast<uint64_t>(n) > limits_.max_output_bytes / unit + 1 ? SIZE_MAX
                                                                                        : static_cast<size_t>(n) * unit);
            if (seq->is_string()) {
                std::string r;
                for (int64_t i = 0; i < n && !seq->str().empty(); ++i) r += seq->str();
                return Value::string(std::move(r));
            }
            List r;
            for (int64_t i = 0; i < n; ++i) r.insert(r.end(), seq->items().begin(), seq->items().end());
            return Value::list(std::move(r), seq->is_tuple());
        }
        fail_operands(op, a, b);
    }
    if (op == "/" && both_num) {
        if (b.as_double() == 0.0) fail("division by zero");
        return Value::number(a.as_double() / b.as_double());
    }
    if (op == "//" && both_num) {
        if (b.as_double() == 0.0) fail("integer division or modulo by zero");
        if (both_int) {
            int64_t x = a.as_int(), y = b.as_int();
            if (x == INT64_MIN && y == -1) fail("integer overflow (realizar's Jinja integers are 64-bit)");
            int64_t q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
            return Value::integer(q);
        }
        return Value::number(std::floor(a.as_double() / b.as_double()));
    }
    if (op == "%") {
        if (a.is_string()) return py_percent_format(*this, a.str(), b);
        if (both_num) {
            if (b.as_double() == 0.0) fail("integer division or modulo by zero");
            if (both_int) {
                int64_t x = a.as_int(), y = b.as_int();
                if (y == -1) return Value::integer(0);
                int64_t m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) m += y;
                return Value::integer(m);
            }
            return Value::number(py_fmod(a.as_double(), b.as_double()));
        }
    }
    if (op == "**" && both_num) {
        if (both_int && b.as_int() >= 0) {
            int64_t base = a.as_int(), e = b.as_int(), r = 1;
            while (e > 0) {
                if (e & 1) r = checked_op('*', r, base);
                e >>= 1;
                if (e) base = checked_op('*', base, base);
            }
            return Value::integer(r);
        }
        if (a.as_double() == 0.0 && b.as_double() < 0) fail("0.0 cannot be raised to a negative power");
        return Value::number(std::pow(a.as_double(), b.as_double()));
    }
    fail_operands(op, a, b);
}

// ------------------------------------------------------------------------------------------ expressions

void Interpreter::eval_args(const Expr& e, const FramePtr& frame, CallArgs& args) {
    args.positional.reserve(e.args.size());
    for (const auto& a : e.args) args.positional.push_back(eval(*a, frame));
    for (const auto& [k, v] : e.kwargs) args.kwargs.emplace_back(k, eval(*v, frame));
}

Value Interpreter::eval_call(const Expr& e, const FramePtr& frame) {
    Value callee = eval(*e.target, frame);
    if (callee.is_undefined() && e.target->kind == Expr::Kind::kName && callee.str().empty())
        fail("'" + e.target->name + "' is undefined");
    CallArgs args;
    eval_args(e, frame, args);
    return call(callee, args);
}

Value Interpreter::eval(const Expr& e, const FramePtr& frame) {
    NestingGuard guard(*this);
    switch (e.kind) {
        case Expr::Kind::kLiteral: return e.literal;
        case Expr::Kind::kName: {
            if (const Value* v = frame->lookup(e.name)) return *v;
            return Value::undefined("'" + e.name + "' is undefined");
        }
        case Expr::Kind::kList:
        case Expr::Kind::kTuple: {
            List items;
            items.reserve(e.args.size());
            for (const auto& a : e.args) items.push_back(eval(*a, frame));
            return Value::list(std::move(items), e.kind == Expr::Kind::kTuple);
        }
        case Expr::Kind::kDict: {
            Dict d;
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) d.set(eval(*e.args[i], frame), eval(*e.args[i + 1], frame));
            return Value::dict(std::move(d));
        }
        case Expr::Kind::kGetAttr: return getattr(eval(*e.target, frame), e.name);
        case Expr::Kind::kGetItem: return getitem(eval(*e.target, frame), eval(*e.a, frame));
        case Expr::Kind::kSlice: {
            Value obj = eval(*e.target, frame);
            if (obj.is_undefined()) fail_undefined(obj);
            Value start = e.a ? eval(*e.a, frame) : Value::none();
            Value stop = e.b ? eval(*e.b, frame) : Value::none();
            Value step = e.c ? eval(*e.c, frame) : Value::none();
            return py_slice(obj, start, stop, step);
        }
        case Expr::Kind::kCall: return eval_call(e, frame);
        case Expr::Kind::kFilter: {
            Value subject = eval(*e.target, frame);
            CallArgs args;
            eval_args(e, frame, args);
            return apply_filter(e.name, subject, args);
        }
        case Expr::Kind::kTest: {
            Value subject = eval(*e.target, frame);
            CallArgs args;
            eval_args(e, frame, args);
            return Value::boolean(apply_test(e.name, subject, args) != e.negated);
        }
        case Expr::Kind::kNeg:
        case Expr::Kind::kPos: {
            Value v = eval(*e.target, frame);
            if (v.is_undefined()) fail_undefined(v);
            if (!v.is_number()) fail("bad operand type for unary " + std::string(e.kind == Expr::Kind::kNeg ? "-" : "+") +
                                     ": '" + type_name(v) + "'");
            if (e.kind == Expr::Kind::kPos) return v.is_bool() ? Value::integer(v.as_int()) : v;
            if (v.is_float()) return Value::number(-v.as_double());
            if (v.as_int() == INT64_MIN) fail("integer overflow (realizar's Jinja integers are 64-bit)");
            return Value::integer(-v.as_int());
        }
        case Expr::Kind::kNot: return Value::boolean(!eval(*e.target, frame).truthy());
        case Expr::Kind::kBinary: {
            Value a = eval(*e.a, frame);
            Value b = eval(*e.b, frame);
            return binary_op(e.name, a, b);
        }
        case Expr::Kind::kAnd: {
            Value a = eval(*e.a, frame);
            return a.truthy() ? eval(*e.b, frame) : a;
        }
        case Expr::Kind::kOr: {
            Value a = eval(*e.a, frame);
            return a.truthy() ? a : eval(*e.b, frame);
        }
        case Expr::Kind::kCompare: {
            Value left = eval(*e.args[0], frame);
            for (size_t i = 0; i < e.ops.size(); ++i) {
                Value right = eval(*e.args[i + 1], frame);
                const std::string& op = e.ops[i];
                bool r;
                if (op == "==") r = values_equal(left, right);
                else if (op == "!=") r = !values_equal(left, right);
                else if (op == "in") r = contains(right, left);
                else if (op == "notin") r = !contains(right, left);
                else {
                    int c = compare_values(left, right, op);
                    r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
                }
                if (!r) return Value::boolean(false);
                left = std::move(right);
            }
            return Value::boolean(true);
        }
        case Expr::Kind::kCondExpr: {
            if (eval(*e.b, frame).truthy()) return eval(*e.a, frame);
            if (e.c) return eval(*e.c, frame);
            return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                                    " evaluated to false and no else section was defined.");
        }
    }
    return Value::undefined();
}

}  // namespace rz::tokenizer::jinja
