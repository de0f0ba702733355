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
    int32_t id;  // token id of the symbol's text, -1 when it is not in the vocabulary
};

struct Bigram {
    int32_t rank;
    int32_t left;
    int32_t right;
    int32_t lid;
    int32_t rid;
    int32_t result;
};

// Max-heap comparator giving the lowest rank, then the leftmost pair, on top.
struct BigramLess {
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

struct Scratch {
    std::vector<Sym> syms;
    std::vector<Bigram> heap;
};

void emit_unknown(const Vocab& v, std::string_view t, std::vector<int32_t>& out) {
    for (char c : t) {
        const int32_t b = v.byte_token[static_cast<uint8_t>(c)];
        if (b >= 0) out.push_back(b);
        else if (!v.byte_encode && v.unk >= 0) out.push_back(v.unk);
        // byte-level vocabularies without that byte: dropped, as llama.cpp does
    }
}

}  // namespace

void bpe_encode_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out) {
    if (word.empty()) return;
    if (v.ignore_merges) {
        const int32_t id = v.byte_encode ? v.raw_to_id.find(word) : v.to_id.find(word);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    thread_local Scratch scratch;
    auto& syms = scratch.syms;
    auto& heap = scratch.heap;
    syms.clear();
    heap.clear();

    for (size_t off = 0; off < word.size();) {
        size_t n = 1;
        int32_t id;
        if (v.byte_encode) {
            id = v.byte_token[static_cast<uint8_t>(word[off])];
        } else {
            n = std::min(utf8_len(static_cast<uint8_t>(word[off])), word.size() - off);
            id = v.find(word.substr(off, n));
        }
        const auto idx = static_cast<int32_t>(syms.size());
        syms.push_back({idx - 1, off + n == word.size() ? -1 : idx + 1, static_cast<uint32_t>(off),
                        static_cast<uint32_t>(n), id});
        off += n;
    }

    auto try_add = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        const int32_t a = syms[static_cast<size_t>(l)].id;
        const int32_t b = syms[static_cast<size_t>(r)].id;
        if (a < 0 || b < 0) return;
        int32_t rank, result;
        if (!v.merge_map.find(a, b, &rank, &result)) return;
        heap.push_back({rank, l, r, a, b, result});
        std::push_heap(heap.begin(), heap.end(), BigramLess{});
    };

    for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), BigramLess{});
        const Bigram bg = heap.back();
        heap.pop_back();
        Sym& l = syms[static_cast<size_t>(bg.left)];
        Sym& r = syms[static_cast<size_t>(bg.right)];
        // Stale entry: either side changed since it was queued.
        if (l.n == 0 || r.n == 0 || l.id != bg.lid || r.id != bg.rid || l.next != bg.right) continue;
        l.n += r.n;
        l.id = bg.result;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = bg.left;
        try_add(l.prev, bg.left);
        try_add(bg.left, l.next);
    }

    for (int32_t i = 0; i != -1; i = syms[static_cast<size_t>(i)].next) {
        const Sym& s = syms[static_cast<size_t>(i)];
        if (s.id >= 0) out.push_back(s.id);
        else emit_unknown(v, word.substr(s.off, s.n), out);
    }
}

}  // namespace rz::tokenizer::detail
