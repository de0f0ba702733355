#include <algorithm>

#include "tokenizer/algorithms.h"
#include "tokenizer/unicode.h"

namespace rz::tokenizer::detail {

namespace {

struct Sym {
    int32_t prev;
    int32_t next;
    uint32_t off;
    uint32_t n;  // bytes; 0 once merged into its left neighbour
};

struct Bigram {
    float score;
    int32_t left;
    int32_t right;
    uint32_t size;
};

// std heap functions build a max-heap: the top is the highest score, then the leftmost pair.
struct BigramLess {
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

struct Scratch {
    std::vector<Sym> syms;
    std::vector<Bigram> heap;
};

}  // namespace

void spm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out) {
    if (text.empty()) return;
    thread_local Scratch scratch;
    auto& syms = scratch.syms;
    auto& heap = scratch.heap;
    syms.clear();
    heap.clear();

    for (size_t off = 0; off < text.size();) {
        const size_t n = std::min(utf8_len(static_cast<uint8_t>(text[off])), text.size() - off);
        const auto idx = static_cast<int32_t>(syms.size());
        syms.push_back({idx - 1, off + n == text.size() ? -1 : idx + 1, static_cast<uint32_t>(off),
                        static_cast<uint32_t>(n)});
        off += n;
    }

    auto try_add = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        const Sym& a = syms[static_cast<size_t>(l)];
        const Sym& b = syms[static_cast<size_t>(r)];
        const int32_t id = v.find(text.substr(a.off, a.n + b.n));
        if (id < 0) return;
        heap.push_back({v.scores[static_cast<size_t>(id)], l, r, a.n + b.n});
        std::push_heap(heap.begin(), heap.end(), BigramLess{});
    };

    for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), BigramLess{});
        const Bigram bg = heap.back();
        heap.pop_back();
        Sym& l = syms[static_cast<size_t>(bg.left)];
        Sym& r = syms[static_cast<size_t>(bg.right)];
        // Stale entry: one side was merged away since it was queued.
        if (l.n == 0 || r.n == 0 || l.n + r.n != bg.size) continue;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = bg.left;
        try_add(l.prev, bg.left);
        try_add(bg.left, l.next);
    }

    for (int32_t i = 0; i != -1; i = syms[static_cast<size_t>(i)].next) {
        const Sym& s = syms[static_cast<size_t>(i)];
        const std::string_view t = text.substr(s.off, s.n);
        const int32_t id = v.find(t);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        // Byte fallback (a merged symbol is always a token, so this is a single character).
        for (char c : t) {
            const int32_t b = v.byte_token[static_cast<uint8_t>(c)];
            if (b >= 0) out.push_back(b);
            else if (v.unk >= 0) out.push_back(v.unk);
        }
    }
}

}  // namespace rz::tokenizer::detail
