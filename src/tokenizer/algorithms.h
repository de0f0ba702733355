#pragma once
// The tokenization algorithms proper, each over one piece of already-normalised text. They append ids.
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace rz::tokenizer::detail {

// SentencePiece BPE as llama.cpp and sentencepiece do it: start from UTF-8 characters, repeatedly merge the
// adjacent pair whose concatenation is the vocabulary entry with the highest score (leftmost on ties);
// leftover characters that are not tokens become <0xXX> byte tokens (or <unk>).
void spm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out);

// Merge-rank BPE over one pre-tokenized word: start from bytes (byte-level) or UTF-8 characters, repeatedly
// apply the lowest-rank merge (leftmost on ties).
void bpe_encode_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out);

// WordPiece over text: BERT normalisation (lowercase, strip accents, split punctuation and CJK), then
// greedy longest-match-first per word; a word with no complete match becomes [UNK].
void wpm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out);

}  // namespace rz::tokenizer::detail
