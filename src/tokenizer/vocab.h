#pragma once
// Vocab: everything a tokenizer algorithm needs, whatever file it came from (GGUF, tokenizer.json,
// SentencePiece .model, GPT-2 encoder.json/vocab.bpe, llama2.c tokenizer.bin, APR). Loaders fill the
// "input" part; finalize() validates it and builds the lookup tables.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realizar/core/status.h"
#include "tokenizer/hash_index.h"

namespace rz::tokenizer::detail {

class PreTokenizer;

enum class VocabType : uint8_t {
    kSpm,  // SentencePiece BPE: score-ordered merges over characters, `▁` spaces, byte fallback
    kBpe,  // merges-ordered BPE (byte-level GPT-2 style, or over UTF-8 characters with byte fallback)
    kWpm,  // WordPiece (BERT)
};

// Token attributes (bit flags). The first six mirror SentencePiece/GGUF token types.
enum TokenAttr : uint16_t {
    kAttrNormal = 1 << 0,
    kAttrUnknown = 1 << 1,
    kAttrControl = 1 << 2,
    kAttrUserDefined = 1 << 3,
    kAttrUnused = 1 << 4,
    kAttrByte = 1 << 5,
    kAttrLstrip = 1 << 6,  // when matched as a special token, eat whitespace on its left
    kAttrRstrip = 1 << 7,  // ... and on its right
};

// GGUF tokenizer.ggml.token_type / SentencePiece Type values -> attribute.
uint16_t attr_from_token_type(int64_t type);

struct Vocab {
    // ---- input (filled by a loader) ----
    std::string source;  // file name, for error messages
    VocabType type = VocabType::kSpm;
    std::string pre = "default";       // pre-tokenizer family name (GGUF tokenizer.ggml.pre)
    std::vector<std::string> regexes;  // pre-tokenizer regexes applied in sequence (BPE)
    bool regexes_from_file = false;    // regexes came from tokenizer.json (else from `pre`)
    std::vector<std::string> text;     // token text as stored (byte-level chars for GPT-2 BPE, `▁` for SPM)
    std::vector<float> scores;         // SPM merge priority (may be empty for BPE/WPM)
    std::vector<uint16_t> attrs;       // TokenAttr bits per token
    std::vector<std::pair<std::string, std::string>> merges;  // BPE merges in rank order

    int32_t bos = -1, eos = -1, unk = -1, sep = -1, pad = -1, eot = -1, eom = -1, mask = -1;
    std::vector<int32_t> extra_eog;  // more end-of-generation ids (tokenizer_config / generation config)
    bool add_bos = false, add_eos = false, add_sep = false;
    bool add_space_prefix = false;          // SentencePiece add_dummy_prefix
    bool prefix_first_only = false;         // ... only before the text's first fragment (Metaspace "first")
    bool split_on_space = false;            // SPM-style BPE: every `▁` starts a new word (Metaspace split)
    bool remove_extra_whitespaces = false;  // SentencePiece normalizer: trim + collapse spaces
    bool escape_whitespaces = true;         // ' ' -> `▁` before the algorithm (SPM, SPM-style BPE)
    bool byte_encode = true;                // BPE: GPT-2 byte-level (false: UTF-8 chars + <0xXX> fallback)
    bool ignore_merges = false;             // BPE: a pre-token that is a whole vocab entry is taken as is
    bool byte_fallback = true;              // unknown characters become <0xXX> tokens when they exist
    bool lowercase = false, strip_accents = false;  // WordPiece normalizer
    bool nfc = false;                               // NFC normalizer (noted; see docs/tokenizers.md)
    std::string wpm_prefix = "##";                  // WordPiece continuing-subword prefix (HF form)
    bool wpm_spm_style = false;  // GGUF BERT vocab: word-initial tokens carry `▁`, continuations are bare
    std::string chat_template;
    std::string model_name;  // general.name (some families set per-token attributes by name)

    // ---- built by finalize() ----
    TokenIndex to_id;      // stored text -> id
    TokenIndex raw_to_id;  // byte-level BPE: raw bytes (piece) -> id, normal tokens only
    std::array<int32_t, 256> byte_token{};  // token holding each single byte (<0xXX> or byte-level char), -1 none
    std::vector<std::string> piece;         // bytes each token decodes to (specials: their text)
    MergeIndex merge_map;                   // (left, right) -> (rank, result)
    std::vector<int32_t> special_tokens;  // control / user-defined / unknown tokens matched in raw text
    std::vector<uint8_t> eog;             // per token: ends generation
    size_t max_token_len = 0;
    bool spm_can_chunk = false;  // no token holds `▁` after another character: text may be cut before `▁`
    std::shared_ptr<const PreTokenizer> pretok;

    int32_t n_tokens() const { return static_cast<int32_t>(text.size()); }
    bool has_attr(int32_t id, uint16_t a) const { return (attrs[static_cast<size_t>(id)] & a) != 0; }
    int32_t find(std::string_view s) const { return to_id.find(s); }
};

// Regexes for a pre-tokenizer family name (gpt2, llama3, qwen2, deepseek-llm, ...); error if unknown.
Result<std::vector<std::string>> regexes_for_pre(const std::string& pre, bool* ignore_merges);

// Validates the input part (sizes, special ids in range, merges) and builds the lookup tables.
Status finalize(Vocab& v);

}  // namespace rz::tokenizer::detail
