#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

pcre2_code* code_of(void* p) { return static_cast<pcre2_code*>(p); }

// Per-thread match state: match data sized for the largest ovector we need (one pair) and a JIT stack big
// enough for deep alternations on long pieces.
struct MatchState {
    pcre2_match_data* md = nullptr;
    pcre2_match_context* mctx = nullptr;
    pcre2_jit_stack* stack = nullptr;
    MatchState() {
        md = pcre2_match_data_create(4, nullptr);
        mctx = pcre2_match_context_create(nullptr);
        stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
        if (mctx && stack) pcre2_jit_stack_assign(mctx, nullptr, stack);
    }
    ~MatchState() {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mctx);
        pcre2_jit_stack_free(stack);
    }
};

MatchState& match_state() {
    thread_local MatchState st;
    return st;
}

}  // namespace

PreTokenizer::~PreTokenizer() {
    for (void* c : codes_) pcre2_code_free(code_of(c));
}

Result<std::shared_ptr<const PreTokenizer>> PreTokenizer::create(const std::vector<std::string>& regexes) {
    std::shared_ptr<PreTokenizer> p(new PreTokenizer());
    for (const std::string& re : regexes) {
        int err = 0;
        PCRE2_SIZE err_off = 0;
        pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &err_off, nullptr);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof(msg));
            return invalid_argument("pre-tokenizer regex '" + re + "': " + reinterpret_cast<char*>(msg) +
                                    " at offset " + std::to_string(err_off));
        }
        // JIT is an optimisation only: without it pcre2_match interprets the same pattern.
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        p->codes_.push_back(code);
    }
    return std::shared_ptr<const PreTokenizer>(std::move(p));
}

void PreTokenizer::split(std::string_view text, std::vector<Span>& out) const {
    const size_t first = out.size();
    out.push_back({0, static_cast<uint32_t>(text.size())});
    if (text.empty()) {
        out.pop_back();
        return;
    }
    MatchState& st = match_state();
    std::vector<Span> next;
    for (void* c : codes_) {
        pcre2_code* code = code_of(c);
        next.clear();
        for (size_t k = first; k < out.size(); ++k) {
            const Span piece = out[k];
            // Each piece is its own subject, so anchors and look-arounds cannot see its neighbours.
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + piece.begin);
            const PCRE2_SIZE len = piece.len;
            PCRE2_SIZE pos = 0;
            PCRE2_SIZE gap_start = 0;
            while (pos < len) {
                int rc = pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK, st.md, st.mctx);
                if (rc < 0) break;  // no more matches (or a resource limit: the rest stays one piece)
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.md);
                const PCRE2_SIZE ms = ov[0];
                const PCRE2_SIZE me = ov[1];
                if (me == ms) {
                    // Empty match: step over one character and keep searching.
                    pos = ms + utf8_len(subject[ms]);
                    continue;
                }
                if (ms > gap_start) next.push_back({piece.begin + static_cast<uint32_t>(gap_start),
                                                    static_cast<uint32_t>(ms - gap_start)});
                next.push_back({piece.begin + static_cast<uint32_t>(ms), static_cast<uint32_t>(me - ms)});
                gap_start = pos = me;
            }
            if (gap_start < len) next.push_back({piece.begin + static_cast<uint32_t>(gap_start),
                                                 static_cast<uint32_t>(len - gap_start)});
        }
        out.resize(first);
        out.insert(out.end(), next.begin(), next.end());
    }
}

}  // namespace rz::tokenizer::detail
