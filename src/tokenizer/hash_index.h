#pragma once
// Open-addressing hash tables for the hot lookups of tokenization (std::unordered_map spends most of its
// time chasing node pointers here): token text -> id over strings the vocabulary already owns, and
// (left id, right id) -> merge for BPE.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace rz::tokenizer::detail {

inline uint64_t hash_bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    size_t n = s.size();
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        std::memcpy(&w, p, n);
        h = (h ^ w) * 0x94d049bb133111ebULL;
        h ^= h >> 31;
    }
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

// Equality of short byte strings without a libc call (most tokens and words are a few bytes long).
inline bool bytes_equal(const char* a, const char* b, size_t n) {
    if (n > 16) return std::memcmp(a, b, n) == 0;
    unsigned diff = 0;
    for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

// String -> id index over keys stored elsewhere; first id wins for duplicate keys. Slots point at the
// strings' bytes, which stay put when the owning vector is moved (so the Vocab holding both may move).
class TokenIndex {
public:
    void build(const std::vector<std::string>& keys, const std::vector<uint8_t>* include = nullptr) {
        size_t n = 0;
        for (size_t i = 0; i < keys.size(); ++i) n += include ? (*include)[i] : 1;
        const size_t cap = std::bit_ceil(std::max<size_t>(16, n * 2));
        slots_.assign(cap, Slot{});
        mask_ = cap - 1;
        for (size_t i = 0; i < keys.size(); ++i) {
            if ((include && !(*include)[i]) || keys[i].empty()) continue;
            const std::string& k = keys[i];
            const uint64_t h = hash_bytes(k);
            size_t idx = h & mask_;
            bool dup = false;
            while (slots_[idx].id >= 0) {
                if (matches(slots_[idx], static_cast<uint32_t>(h >> 32), k)) {
                    dup = true;
                    break;
                }
                idx = (idx + 1) & mask_;
            }
            if (!dup) slots_[idx] = Slot{k.data(), static_cast<uint32_t>(k.size()), static_cast<uint32_t>(h >> 32),
                                         static_cast<int32_t>(i)};
        }
    }
    int32_t find(std::string_view k) const {
        if (slots_.empty()) return -1;
        const uint64_t h = hash_bytes(k);
        const auto tag = static_cast<uint32_t>(h >> 32);
        for (size_t idx = h & mask_;; idx = (idx + 1) & mask_) {
            const Slot& s = slots_[idx];
            if (s.id < 0) return -1;
            if (matches(s, tag, k)) return s.id;
        }
    }

private:
    struct Slot {
        const char* data = nullptr;
        uint32_t len = 0;
        uint32_t hash = 0;
        int32_t id = -1;
    };
    static bool matches(const Slot& s, uint32_t tag, std::string_view k) {
        return s.hash == tag && s.len == k.size() && bytes_equal(s.data, k.data(), k.size());
    }
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

// (left id, right id) -> (rank, merged id).
class MergeIndex {
public:
    void reserve(size_t n) {
        const size_t cap = std::bit_ceil(std::max<size_t>(16, n * 2));
        slots_.assign(cap, Slot{~0ULL, 0, 0});
        mask_ = cap - 1;
    }
    // Keeps the first (lowest-rank) entry for a pair.
    void insert(int32_t a, int32_t b, int32_t rank, int32_t result) {
        const uint64_t key = pack(a, b);
        for (size_t idx = mix(key) & mask_;; idx = (idx + 1) & mask_) {
            if (slots_[idx].key == key) return;
            if (slots_[idx].key == ~0ULL) {
                slots_[idx] = Slot{key, rank, result};
                return;
            }
        }
    }
    bool find(int32_t a, int32_t b, int32_t* rank, int32_t* result) const {
        if (slots_.empty()) return false;
        const uint64_t key = pack(a, b);
        for (size_t idx = mix(key) & mask_;; idx = (idx + 1) & mask_) {
            const Slot& s = slots_[idx];
            if (s.key == key) {
                *rank = s.rank;
                *result = s.result;
                return true;
            }
            if (s.key == ~0ULL) return false;
        }
    }

private:
    static uint64_t pack(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
    static uint64_t mix(uint64_t k) {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        return k;
    }
    struct Slot {
        uint64_t key;
        int32_t rank;
        int32_t result;
    };
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

}  // namespace rz::tokenizer::detail
