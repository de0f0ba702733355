#pragma once
// Tree-walking interpreter for the Jinja AST. Scoping follows jinja2: `for` iterations, macros and `with`
// blocks get their own frame (assignments inside them do not leak out; namespace() is the way out), `if`
// blocks do not. Every rendering is bounded: total loop iterations, macro recursion depth, and the size of
// the output and of any string or list built on the way (ChatTemplateLimits).
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "realizar/tokenizer/chat_template.h"
#include "tokenizer/chat/ast.h"
#include "tokenizer/chat/value.h"

namespace rz::tokenizer::jinja {

struct Frame {
    std::shared_ptr<Frame> parent;
    std::vector<std::pair<std::string, Value>> vars;

    const Value* lookup(const std::string& name) const;
    void set(const std::string& name, Value v);
};

class Interpreter {
public:
    Interpreter(ChatTemplateLimits limits, std::function<std::string(const std::string&)> strftime_now)
        : limits_(limits), strftime_now_(std::move(strftime_now)) {}

    // Renders `program` with `globals` (functions + context variables) as the outermost frame.
    std::string render(const Program& program, std::vector<std::pair<std::string, Value>> globals);

    // Used by builtins.
    Value call(const Value& callee, CallArgs& args);
    Value apply_filter(const std::string& name, const Value& subject, CallArgs& args);
    bool apply_test(const std::string& name, const Value& subject, CallArgs& args);
    void check_size(size_t bytes) const;  // fails when a string/list would exceed max_output_bytes
    void count_iterations(uint64_t n);    // fails past max_loop_iterations
    std::string strftime_now(const std::string& format) const;
    // Namespaces are the only mutable values, so the only way to build a reference cycle (ns.self = ns);
    // render() empties every tracked namespace when it ends so such cycles are freed.
    void track_namespace(const Value& ns) { namespaces_.push_back(ns); }

    // Python-level helpers.
    Value getattr(const Value& obj, const std::string& name) const;
    Value getitem(const Value& obj, const Value& key) const;
    List iterate(const Value& v) const;  // for-loop / filter iteration (dict -> keys, str -> characters)
    bool contains(const Value& container, const Value& item) const;
    Value binary_op(const std::string& op, const Value& a, const Value& b);

private:
    enum class Flow { kNormal, kBreak, kContinue };
    using FramePtr = std::shared_ptr<Frame>;

    Flow exec_body(const Body& body, const FramePtr& frame, std::string& out);
    Flow exec(const Stmt& s, const FramePtr& frame, std::string& out);
    Flow exec_for(const Stmt& s, const FramePtr& frame, std::string& out);
    void exec_set(const Stmt& s, const FramePtr& frame, Value value);
    std::string render_body(const Body& body, const FramePtr& frame);
    Value eval(const Expr& e, const FramePtr& frame);
    Value eval_call(const Expr& e, const FramePtr& frame);
    void eval_args(const Expr& e, const FramePtr& frame, CallArgs& args);
    Value make_macro(const Stmt& s, const FramePtr& frame);
    Value call_macro(const Stmt& m, const FramePtr& closure, CallArgs& args);
    void emit(std::string& out, std::string_view s) const;
    void bind_targets(Frame& f, const std::vector<std::string>& names, const Value& v) const;

    // C++ stack guard: every exec/eval frame counts, so macro recursion times expression nesting cannot
    // overflow the stack. Two bounds: 2000 nested frames (~0.7 KB each in Release) and 1 MiB of stack actually
    // used since render() began (sanitizer builds use several times more per frame).
    static constexpr uint32_t kMaxNesting = 2000;
    static constexpr uintptr_t kStackBudget = 1u << 20;
    struct NestingGuard {
        explicit NestingGuard(Interpreter& in);
        ~NestingGuard() { --in_.nesting_; }
        Interpreter& in_;
    };

    ChatTemplateLimits limits_;
    std::function<std::string(const std::string&)> strftime_now_;
    uint64_t iterations_ = 0;
    uint32_t depth_ = 0;
    uint32_t nesting_ = 0;
    // Frames captured by macros: a macro stored in the frame it closes over is a shared_ptr cycle, broken by
    // clearing these frames when render() ends.
    std::vector<std::shared_ptr<Frame>> macro_frames_;
    std::vector<Value> namespaces_;
    uintptr_t stack_base_ = 0;
    int loop_nesting_ = 0;
};

}  // namespace rz::tokenizer::jinja
