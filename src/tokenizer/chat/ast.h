#pragma once
// Jinja syntax tree. One node type for expressions and one for statements (fields used per kind, noted
// beside each); the parser builds it once per template and the interpreter walks it.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/chat/value.h"

namespace rz::tokenizer::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind : uint8_t {
        kLiteral,   // literal
        kName,      // name
        kList,      // args = elements
        kTuple,     // args = elements
        kDict,      // args = key0, value0, key1, value1, ...
        kGetAttr,   // target.name
        kGetItem,   // target[a]
        kSlice,     // target[a:b:c] (each may be null)
        kCall,      // target(args..., kwargs...)
        kFilter,    // target | name(args..., kwargs...)   (target null inside {% filter %} / block set)
        kTest,      // target is [not] name(args...)
        kNeg,       // -target
        kPos,       // +target
        kNot,       // not target
        kBinary,    // a <name> b   for + - * / // % ** ~
        kAnd,       // a and b
        kOr,        // a or b
        kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ...  (==, !=, <, <=, >, >=, in, notin)
        kCondExpr,  // a if b else c (c may be null)
    };
    Kind kind = Kind::kLiteral;
    int line = 0;
    bool negated = false;  // kTest
    Value literal;
    std::string name;
    ExprPtr target, a, b, c;
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
    enum class Kind : uint8_t {
        kText,         // text
        kOutput,       // {{ expr }}
        kIf,           // branches: (cond, body)...; a null cond is the else branch
        kFor,          // for targets in expr [if cond] [recursive]: body [else: else_body]
        kSet,          // set targets = expr    (targets {ns}, attr set: set ns.attr = expr)
        kSetBlock,     // set targets[0] [| filters] %}body{% endset
        kMacro,        // macro name(params=defaults): body
        kCallBlock,    // call[(params)] expr: body  (body becomes `caller`)
        kFilterBlock,  // filter filters: body
        kBreak,
        kContinue,
        kWith,         // with with_vars: body (also {% generation %}, which HF renders as its body)
    };
    Kind kind = Kind::kText;
    int line = 0;
    std::string text;
    ExprPtr expr;
    ExprPtr cond;
    bool recursive = false;
    std::vector<std::pair<ExprPtr, Body>> branches;
    std::vector<std::string> targets;
    std::string attr;  // kSet on a namespace attribute
    Body body, else_body;
    std::string name;
    std::vector<std::string> params;
    std::vector<ExprPtr> defaults;  // one per param, null when none
    bool catch_varargs = false;     // the macro body mentions `varargs` (extra positional arguments allowed)
    bool catch_kwargs = false;      // the macro body mentions `kwargs` (unknown keyword arguments allowed)
    std::vector<ExprPtr> filters;   // kFilter nodes with a null target
    std::vector<std::pair<std::string, ExprPtr>> with_vars;
};

struct Program {
    Body body;
};

// Throws JinjaError with the line on syntax errors, unknown tags, filters and tests.
std::unique_ptr<Program> parse_template(std::string_view source);

}  // namespace rz::tokenizer::jinja
