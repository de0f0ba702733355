// Recursive-descent parser following jinja2's grammar and operator precedence:
//   expr     := or ['if' or ['else' expr]]
//   or       := and ('or' and)*        and := not ('and' not)*      not := 'not' not | compare
//   compare  := math1 (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not' 'in') math1)*
//   math1    := concat (('+'|'-') concat)*      concat := math2 ('~' math2)*
//   math2    := pow (('*'|'/'|'//'|'%') pow)*   pow := unary ('**' unary)*
//   unary    := ('-'|'+') unary | primary postfix* ; then filters/tests/calls ('|' f, 'is' t, '(' args)
#include <cstdint>
#include <set>

#include "tokenizer/chat/ast.h"
#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/lexer.h"

namespace rz::tokenizer::jinja {
namespace {

constexpr int kMaxNesting = 200;  // bounds parser recursion: deeply nested input cannot overflow the stack
constexpr uintptr_t kStackBudget = 1u << 20;

class Parser {
public:
    explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

    std::unique_ptr<Program> run() {
        stack_base_ = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
        auto prog = std::make_unique<Program>();
        prog->body = parse_body({}, "");
        if (cur().type != TokType::kEof) fail_here("unexpected tag");
        return prog;
    }

private:
    // ------------------------------------------------------------------------------------------ helpers
    const Token& cur() const { return toks_[pos_]; }
    const Token& peek(size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
    void next() {
        if (pos_ + 1 < toks_.size()) ++pos_;
    }
    [[noreturn]] void fail_here(const std::string& msg) const { fail(msg, cur().line); }
    bool is_op(const char* op) const { return cur().type == TokType::kOp && cur().value == op; }
    bool is_name(const char* n) const { return cur().type == TokType::kName && cur().value == n; }
    bool accept_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool accept_name(const char* n) {
        if (!is_name(n)) return false;
        next();
        return true;
    }
    static std::string describe(const Token& t) {
        switch (t.type) {
            case TokType::kBlockEnd: return "end of statement block";
            case TokType::kVarEnd: return "end of print statement";
            case TokType::kEof: return "end of template";
            case TokType::kString: return "string";
            case TokType::kInt: return "integer";
            case TokType::kFloat: return "float";
            default: return "'" + t.value + "'";
        }
    }
    void expect_op(const char* op) {
        if (!accept_op(op)) fail_here(std::string("expected '") + op + "', got " + describe(cur()));
    }
    std::string expect_name() {
        if (cur().type != TokType::kName) fail_here("expected a name, got " + describe(cur()));
        std::string n = cur().value;
        next();
        return n;
    }
    void expect_block_end() {
        if (cur().type != TokType::kBlockEnd) fail_here("expected end of statement block, got " + describe(cur()));
        next();
    }
    ExprPtr node(Expr::Kind kind, int line) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = line;
        return e;
    }
    struct DepthGuard {
        explicit DepthGuard(Parser& p) : p_(p) {
            // Nesting levels, and the stack actually used (several frames per level; sanitizers enlarge them).
            const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
            const uintptr_t used = p_.stack_base_ > here ? p_.stack_base_ - here : here - p_.stack_base_;
            if (++p_.depth_ > kMaxNesting || used > kStackBudget) {
                --p_.depth_;
                p_.fail_here("template nesting too deep");
            }
        }
        ~DepthGuard() { --p_.depth_; }
        Parser& p_;
    };

    // ---------------------------------------------------------------------------------------- statements
    // Parses until a block whose first name is in `stop` (left unconsumed: positioned on that name).
    Body parse_body(const std::set<std::string>& stop, const std::string& innermost) {
        DepthGuard guard(*this);
        struct OpenBlock {
            Parser& p;
            ~OpenBlock() { p.open_blocks_.pop_back(); }
        } open{*this};
        open_blocks_.emplace_back(&stop, innermost);
        Body body;
        while (true) {
            const Token& t = cur();
            if (t.type == TokType::kEof) {
                if (!stop.empty()) {
                    std::string want;
                    for (const auto& s : stop) want += (want.empty() ? "'" : " or '") + s + "'";
                    fail_here("Unexpected end of template. Jinja was looking for the following tags: " + want +
                              ". The innermost block that needs to be closed is '" + innermost + "'.");
                }
                return body;
            }
            if (t.type == TokType::kText) {
                auto s = std::make_unique<Stmt>();
                s->kind = Stmt::Kind::kText;
                s->line = t.line;
                s->text = t.value;
                body.push_back(std::move(s));
                next();
            } else if (t.type == TokType::kVarBegin) {
                auto s = std::make_unique<Stmt>();
                s->kind = Stmt::Kind::kOutput;
                s->line = t.line;
                next();
                s->expr = parse_tuple(true);
                if (cur().type != TokType::kVarEnd) fail_here("expected end of print statement, got " + describe(cur()));
                next();
                body.push_back(std::move(s));
            } else if (t.type == TokType::kBlockBegin) {
                const Token& kw = peek();
                if (kw.type != TokType::kName) fail(std::string("Expected a statement name, got ") + describe(kw), kw.line);
                if (stop.count(kw.value)) {
                    next();  // onto the name
                    return body;
                }
                next();
                body.push_back(parse_statement());
            } else {
                fail_here("unexpected " + describe(t));
            }
        }
    }

    StmtPtr parse_statement() {
        auto s = std::make_unique<Stmt>();
        s->line = cur().line;
        std::string kw = expect_name();
        if (kw == "if") {
            s->kind = Stmt::Kind::kIf;
            ExprPtr cond = parse_expression(true);
            expect_block_end();
            while (true) {
                Body b = parse_body({"elif", "else", "endif"}, "if");
                s->branches.emplace_back(std::move(cond), std::move(b));
                std::string which = expect_name();
                if (which == "elif") {
                    cond = parse_expression(true);
                    expect_block_end();
                } else if (which == "else") {
                    expect_block_end();
                    Body eb = parse_body({"endif"}, "if");
                    s->branches.emplace_back(nullptr, std::move(eb));
                    next();
                    expect_block_end();
                    break;
                } else {
                    expect_block_end();
                    break;
                }
            }
        } else if (kw == "for") {
            s->kind = Stmt::Kind::kFor;
            s->targets = parse_assign_names();
            if (!accept_name("in")) fail_here("expected 'in', got " + describe(cur()));
            s->expr = parse_tuple(false);
            if (accept_name("if")) s->cond = parse_expression(true);
            if (is_name("recursive")) fail_here("recursive for loops are not supported");
            expect_block_end();
            s->body = parse_body({"endfor", "else"}, "for");
            if (expect_name() == "else") {
                expect_block_end();
                s->else_body = parse_body({"endfor"}, "for");
                next();
            }
            expect_block_end();
        } else if (kw == "set") {
            if (cur().type == TokType::kName && peek().type == TokType::kOp && peek().value == ".") {
                s->kind = Stmt::Kind::kSet;
                s->targets.push_back(expect_name());
                next();
                s->attr = expect_name();
                expect_op("=");
                s->expr = parse_tuple(true);
                expect_block_end();
            } else {
                s->targets = parse_assign_names();
                if (accept_op("=")) {
                    s->kind = Stmt::Kind::kSet;
                    s->expr = parse_tuple(true);
                    expect_block_end();
                } else {
                    if (s->targets.size() != 1) fail_here("a block set assigns exactly one name");
                    s->kind = Stmt::Kind::kSetBlock;
                    while (accept_op("|")) s->filters.push_back(parse_filter(nullptr));
                    expect_block_end();
                    s->body = parse_body({"endset"}, "set");
                    next();
                    expect_block_end();
                }
            }
        } else if (kw == "macro") {
            s->kind = Stmt::Kind::kMacro;
            s->name = expect_name();
            parse_signature(*s);
            expect_block_end();
            macro_stack_.push_back(s.get());
            s->body = parse_body({"endmacro"}, "macro");
            macro_stack_.pop_back();
            next();
            if (cur().type == TokType::kName) next();  // {% endmacro name %}
            expect_block_end();
        } else if (kw == "call") {
            s->kind = Stmt::Kind::kCallBlock;
            if (is_op("(")) parse_signature(*s);
            s->expr = parse_expression(true);
            if (s->expr->kind != Expr::Kind::kCall) fail(std::string("expected call"), s->line);
            expect_block_end();
            macro_stack_.push_back(s.get());
            s->body = parse_body({"endcall"}, "call");
            macro_stack_.pop_back();
            next();
            expect_block_end();
        } else if (kw == "filter") {
            s->kind = Stmt::Kind::kFilterBlock;
            s->filters.push_back(parse_filter(nullptr));
            while (accept_op("|")) s->filters.push_back(parse_filter(nullptr));
            expect_block_end();
            s->body = parse_body({"endfilter"}, "filter");
            next();
            expect_block_end();
        } else if (kw == "with") {
            s->kind = Stmt::Kind::kWith;
            while (cur().type != TokType::kBlockEnd) {
                if (!s->with_vars.empty()) expect_op(",");
                std::string n = expect_name();
                expect_op("=");
                s->with_vars.emplace_back(n, parse_expression(true));
            }
            expect_block_end();
            s->body = parse_body({"endwith"}, "with");
            next();
            expect_block_end();
        } else if (kw == "generation") {
            s->kind = Stmt::Kind::kWith;
            expect_block_end();
            s->body = parse_body({"endgeneration"}, "generation");
            next();
            expect_block_end();
        } else if (kw == "break" || kw == "continue") {
            s->kind = kw == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
            expect_block_end();
        } else {
            std::string msg = "Encountered unknown tag '" + kw + "'.";
            // Like jinja2, say which end tag was expected when a block is open.
            for (auto it = open_blocks_.rbegin(); it != open_blocks_.rend(); ++it) {
                if (it->first->empty()) continue;
                std::string want;
                for (const auto& t : *it->first) want += (want.empty() ? "'" : " or '") + t + "'";
                msg += " Jinja was looking for the following tags: " + want +
                       ". The innermost block that needs to be closed is '" + it->second + "'.";
                break;
            }
            fail(msg, s->line);
        }
        return s;
    }

    std::vector<std::string> parse_assign_names() {
        std::vector<std::string> names;
        bool paren = accept_op("(");
        names.push_back(expect_name());
        while (accept_op(",")) {
            if (cur().type != TokType::kName) break;
            names.push_back(expect_name());
        }
        if (paren) expect_op(")");
        return names;
    }

    void parse_signature(Stmt& s) {
        expect_op("(");
        while (!is_op(")")) {
            if (!s.params.empty()) expect_op(",");
            if (is_op(")")) break;
            s.params.push_back(expect_name());
            s.defaults.push_back(accept_op("=") ? parse_expression(true) : nullptr);
        }
        expect_op(")");
    }

    // --------------------------------------------------------------------------------------- expressions
    // A comma-separated list becomes a tuple ({{ a, b }}, set x = 1, 2).
    ExprPtr parse_tuple(bool with_condexpr) {
        int line = cur().line;
        ExprPtr first = parse_expression(with_condexpr);
        if (!is_op(",")) return first;
        auto t = node(Expr::Kind::kTuple, line);
        t->args.push_back(std::move(first));
        while (accept_op(",")) {
            if (cur().type == TokType::kBlockEnd || cur().type == TokType::kVarEnd || is_op(")") || is_name("if"))
                break;
            t->args.push_back(parse_expression(with_condexpr));
        }
        return t;
    }

    ExprPtr parse_expression(bool with_condexpr) {
        DepthGuard guard(*this);
        int line = cur().line;
        ExprPtr e = parse_or();
        if (!with_condexpr) return e;
        while (is_name("if")) {
            next();
            auto c = node(Expr::Kind::kCondExpr, line);
            c->a = std::move(e);
            c->b = parse_or();
            if (accept_name("else")) c->c = parse_expression(true);
            e = std::move(c);
        }
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr l = parse_and();
        while (is_name("or")) {
            int line = cur().line;
            next();
            auto n = node(Expr::Kind::kOr, line);
            n->a = std::move(l);
            n->b = parse_and();
            l = std::move(n);
        }
        return l;
    }

    ExprPtr parse_and() {
        ExprPtr l = parse_not();
        while (is_name("and")) {
            int line = cur().line;
            next();
            auto n = node(Expr::Kind::kAnd, line);
            n->a = std::move(l);
            n->b = parse_not();
            l = std::move(n);
        }
        return l;
    }

    ExprPtr parse_not() {
        if (is_name("not")) {
            DepthGuard guard(*this);
            int line = cur().line;
            next();
            auto n = node(Expr::Kind::kNot, line);
            n->target = parse_not();
            return n;
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        int line = cur().line;
        ExprPtr first = parse_math1();
        ExprPtr cmp;
        while (true) {
            std::string op;
            if (cur().type == TokType::kOp &&
                (cur().value == "==" || cur().value == "!=" || cur().value == "<" || cur().value == "<=" ||
                 cur().value == ">" || cur().value == ">=")) {
                op = cur().value;
                next();
            } else if (is_name("in")) {
                op = "in";
                next();
            } else if (is_name("not") && peek().type == TokType::kName && peek().value == "in") {
                op = "notin";
                next();
                next();
            } else {
                break;
            }
            if (!cmp) {
                cmp = node(Expr::Kind::kCompare, line);
                cmp->args.push_back(std::move(first));
            }
            cmp->ops.push_back(op);
            cmp->args.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(first);
    }

    ExprPtr binary(std::string op, ExprPtr l, ExprPtr r, int line) {
        auto n = node(Expr::Kind::kBinary, line);
        n->name = std::move(op);
        n->a = std::move(l);
        n->b = std::move(r);
        return n;
    }

    ExprPtr parse_math1() {
        ExprPtr l = parse_concat();
        while (is_op("+") || is_op("-")) {
            std::string op = cur().value;
            int line = cur().line;
            next();
            l = binary(op, std::move(l), parse_concat(), line);
        }
        return l;
    }

    ExprPtr parse_concat() {
        ExprPtr l = parse_math2();
        while (is_op("~")) {
            int line = cur().line;
            next();
            l = binary("~", std::move(l), parse_math2(), line);
        }
        return l;
    }

    ExprPtr parse_math2() {
        ExprPtr l = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            std::string op = cur().value;
            int line = cur().line;
            next();
            l = binary(op, std::move(l), parse_pow(), line);
        }
        return l;
    }

    ExprPtr parse_pow() {
        ExprPtr l = parse_unary(true);
        while (is_op("**")) {
            int line = cur().line;
            next();
            l = binary("**", std::move(l), parse_unary(true), line);
        }
        return l;
    }

    ExprPtr parse_unary(bool with_filter) {
        DepthGuard guard(*this);
        int line = cur().line;
        ExprPtr e;
        if (is_op("-") || is_op("+")) {
            bool neg = cur().value == "-";
            next();
            e = node(neg ? Expr::Kind::kNeg : Expr::Kind::kPos, line);
            e->target = parse_unary(false);
        } else {
            e = parse_postfix(parse_primary());
        }
        if (with_filter) e = parse_filter_expr(std::move(e));
        return e;
    }

    ExprPtr parse_primary() {
        const Token& t = cur();
        int line = t.line;
        switch (t.type) {
            case TokType::kName: {
                const std::string& n = t.value;
                auto lit = node(Expr::Kind::kLiteral, line);
                if (n == "true" || n == "True") lit->literal = Value::boolean(true);
                else if (n == "false" || n == "False") lit->literal = Value::boolean(false);
                else if (n == "none" || n == "None") lit->literal = Value::none();
                else {
                    auto nm = node(Expr::Kind::kName, line);
                    nm->name = n;
                    if (!macro_stack_.empty() && n == "varargs") macro_stack_.back()->catch_varargs = true;
                    if (!macro_stack_.empty() && n == "kwargs") macro_stack_.back()->catch_kwargs = true;
                    next();
                    return nm;
                }
                next();
                return lit;
            }
            case TokType::kString: {
                std::string s = t.value;
                next();
                while (cur().type == TokType::kString) {  // adjacent literals concatenate
                    s += cur().value;
                    next();
                }
                auto lit = node(Expr::Kind::kLiteral, line);
                lit->literal = Value::string(std::move(s));
                return lit;
            }
            case TokType::kInt: {
                auto lit = node(Expr::Kind::kLiteral, line);
                lit->literal = Value::integer(t.int_value);
                next();
                return lit;
            }
            case TokType::kFloat: {
                auto lit = node(Expr::Kind::kLiteral, line);
                lit->literal = Value::number(t.float_value);
                next();
                return lit;
            }
            case TokType::kOp:
                if (t.value == "(") {
                    next();
                    if (accept_op(")")) return node(Expr::Kind::kTuple, line);
                    ExprPtr inner = parse_expression(true);
                    if (is_op(",")) {
                        auto tup = node(Expr::Kind::kTuple, line);
                        tup->args.push_back(std::move(inner));
                        while (accept_op(",")) {
                            if (is_op(")")) break;
                            tup->args.push_back(parse_expression(true));
                        }
                        inner = std::move(tup);
                    }
                    expect_op(")");
                    return inner;
                }
                if (t.value == "[") {
                    next();
                    auto lst = node(Expr::Kind::kList, line);
                    while (!is_op("]")) {
                        if (!lst->args.empty()) expect_op(",");
                        if (is_op("]")) break;
                        lst->args.push_back(parse_expression(true));
                    }
                    expect_op("]");
                    return lst;
                }
                if (t.value == "{") {
                    next();
                    auto d = node(Expr::Kind::kDict, line);
                    while (!is_op("}")) {
                        if (!d->args.empty()) expect_op(",");
                        if (is_op("}")) break;
                        d->args.push_back(parse_expression(true));
                        expect_op(":");
                        d->args.push_back(parse_expression(true));
                    }
                    expect_op("}");
                    return d;
                }
                break;
            default: break;
        }
        fail_here("Expected an expression, got " + describe(t));
    }

    ExprPtr parse_postfix(ExprPtr e) {
        while (true) {
            int line = cur().line;
            if (is_op(".")) {
                next();
                if (cur().type == TokType::kName) {
                    auto g = node(Expr::Kind::kGetAttr, line);
                    g->target = std::move(e);
                    g->name = cur().value;
                    next();
                    e = std::move(g);
                } else if (cur().type == TokType::kInt) {
                    auto g = node(Expr::Kind::kGetItem, line);
                    g->target = std::move(e);
                    g->a = node(Expr::Kind::kLiteral, line);
                    g->a->literal = Value::integer(cur().int_value);
                    next();
                    e = std::move(g);
                } else {
                    fail_here("expected name or number after '.'");
                }
            } else if (is_op("[")) {
                next();
                e = parse_subscript(std::move(e), line);
            } else if (is_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr target, int line) {
        ExprPtr parts[3];
        int n = 0;
        bool is_slice = false;
        while (true) {
            if (is_op(":")) {
                is_slice = true;
                if (n >= 2) fail_here("invalid slice");
                ++n;
                next();
                continue;
            }
            if (is_op("]")) break;
            if (parts[n]) fail_here("expected ':' or ']'");
            parts[n] = parse_expression(true);
            if (!is_slice && is_op(",")) fail_here("tuple subscripts are not supported");
        }
        expect_op("]");
        if (!is_slice) {
            if (!parts[0]) fail("empty subscript", line);
            auto g = node(Expr::Kind::kGetItem, line);
            g->target = std::move(target);
            g->a = std::move(parts[0]);
            return g;
        }
        auto s = node(Expr::Kind::kSlice, line);
        s->target = std::move(target);
        s->a = std::move(parts[0]);
        s->b = std::move(parts[1]);
        s->c = std::move(parts[2]);
        return s;
    }

    void parse_call_args(Expr& call) {
        expect_op("(");
        while (!is_op(")")) {
            if (!call.args.empty() || !call.kwargs.empty()) expect_op(",");
            if (is_op(")")) break;
            if (cur().type == TokType::kName && peek().type == TokType::kOp && peek().value == "=") {
                std::string k = cur().value;
                next();
                next();
                call.kwargs.emplace_back(k, parse_expression(true));
            } else {
                if (!call.kwargs.empty()) fail_here("positional argument follows keyword argument");
                call.args.push_back(parse_expression(true));
            }
        }
        expect_op(")");
    }

    ExprPtr parse_call(ExprPtr callee) {
        auto c = node(Expr::Kind::kCall, cur().line);
        c->target = std::move(callee);
        parse_call_args(*c);
        return c;
    }

    ExprPtr parse_filter(ExprPtr subject) {
        int line = cur().line;
        std::string name = expect_name();
        while (is_op(".") && peek().type == TokType::kName) {
            next();
            name += "." + cur().value;
            next();
        }
        if (!find_filter(name)) fail("No filter named '" + name + "'.", line);
        auto f = node(Expr::Kind::kFilter, line);
        f->name = name;
        f->target = std::move(subject);
        if (is_op("(")) parse_call_args(*f);
        return f;
    }

    ExprPtr parse_filter_expr(ExprPtr e) {
        while (true) {
            if (is_op("|")) {
                next();
                e = parse_filter(std::move(e));
            } else if (is_name("is")) {
                int line = cur().line;
                next();
                auto t = node(Expr::Kind::kTest, line);
                t->negated = accept_name("not");
                t->name = expect_name();
                if (!find_test(t->name)) fail("No test named '" + t->name + "'.", line);
                t->target = std::move(e);
                if (is_op("(")) {
                    parse_call_args(*t);
                } else if ((cur().type == TokType::kName || cur().type == TokType::kString ||
                            cur().type == TokType::kInt || cur().type == TokType::kFloat || is_op("(") || is_op("[") ||
                            is_op("{")) &&
                           !is_name("else") && !is_name("or") && !is_name("and")) {
                    if (is_name("is")) fail_here("You cannot chain multiple tests with is");
                    t->args.push_back(parse_postfix(parse_primary()));
                }
                e = std::move(t);
            } else if (is_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }

    std::vector<Token> toks_;
    size_t pos_ = 0;
    int depth_ = 0;
    uintptr_t stack_base_ = 0;
    std::vector<Stmt*> macro_stack_;  // macros being parsed (innermost last)
    std::vector<std::pair<const std::set<std::string>*, std::string>> open_blocks_;  // end tags awaited, block name
};

}  // namespace

std::unique_ptr<Program> parse_template(std::string_view source) { return Parser(tokenize(source)).run(); }

}  // namespace rz::tokenizer::jinja
