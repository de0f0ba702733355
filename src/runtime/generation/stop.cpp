// Stop conditions: EOG tokens, stop strings across token boundaries, token budget, context size.
#include "realizar/runtime/stop.h"

#include <algorithm>
#include <utility>

#include "realizar/tokenizer/tokenizer.h"

namespace rz::runtime {

const char* finish_reason_name(FinishReason r) {
    switch (r) {
        case FinishReason::kEog:
        case FinishReason::kStopString:
            return "stop";
        case FinishReason::kMaxTokens:
        case FinishReason::kContextFull:
            return "length";
        case FinishReason::kCancelled:
            return "cancelled";
        case FinishReason::kError:
            return "error";
        case FinishReason::kNone:
            break;
    }
    return "none";
}

const char* finish_reason_detail(FinishReason r) {
    switch (r) {
        case FinishReason::kEog:
            return "eog";
        case FinishReason::kStopString:
            return "stop_string";
        case FinishReason::kMaxTokens:
            return "max_tokens";
        case FinishReason::kContextFull:
            return "context_full";
        case FinishReason::kCancelled:
            return "cancelled";
        case FinishReason::kError:
            return "error";
        case FinishReason::kNone:
            break;
    }
    return "none";
}

StopMatcher::StopMatcher(StopConfig cfg, const tokenizer::Tokenizer* tok) : cfg_(std::move(cfg)), tok_(tok) {
    std::erase_if(cfg_.stop, [](const std::string& s) { return s.empty(); });
}

FinishReason StopMatcher::on_token(int32_t id) {
    if (done()) return reason_;
    ++n_generated_;
    bool end = std::find(cfg_.stop_tokens.begin(), cfg_.stop_tokens.end(), id) != cfg_.stop_tokens.end();
    if (!end && tok_ != nullptr && !cfg_.ignore_eog) {
        end = tok_->is_eog(id) || (cfg_.stop_on_bos && tok_->bos() >= 0 && id == tok_->bos());
    }
    if (end) reason_ = FinishReason::kEog;
    return reason_;
}

size_t StopMatcher::partial_stop_suffix(std::string_view text, const std::vector<std::string>& stops) {
    size_t best = 0;
    for (const std::string& s : stops) {
        // Longest k < |s| with text ending in s[0, k). Stop strings are short, so the plain scan is fine.
        const size_t max_k = std::min(text.size(), s.size() - 1);
        for (size_t k = max_k; k > best; --k) {
            if (text.compare(text.size() - k, k, s, 0, k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

std::string StopMatcher::on_text(std::string_view piece) {
    if (reason_ == FinishReason::kStopString) return {};
    pending_.append(piece);
    if (cfg_.stop.empty()) return std::exchange(pending_, {});

    // Earliest occurrence of any stop string in the text not shown yet. Everything shown earlier was
    // checked not to end in a stop prefix, so no match can straddle the shown/pending boundary.
    size_t first             = std::string::npos;
    const std::string* which = nullptr;
    for (const std::string& s : cfg_.stop) {
        const size_t at = pending_.find(s);
        if (at != std::string::npos && (at < first || (at == first && s.size() > which->size()))) {
            first = at;
            which = &s;
        }
    }
    if (which != nullptr) {
        std::string out = pending_.substr(0, first);
        matched_        = *which;
        pending_.clear();
        reason_ = FinishReason::kStopString;
        return out;
    }
    const size_t hold = partial_stop_suffix(pending_, cfg_.stop);
    std::string out   = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
}

FinishReason StopMatcher::limit_reached() {
    if (!done() && cfg_.max_tokens >= 0 && n_generated_ >= cfg_.max_tokens) reason_ = FinishReason::kMaxTokens;
    return reason_;
}

FinishReason StopMatcher::context_full(int32_t n_past, int32_t n_ctx) {
    if (!done() && n_past >= n_ctx) reason_ = FinishReason::kContextFull;
    return reason_;
}

void StopMatcher::set_reason(FinishReason r) {
    if (!done()) reason_ = r;
}

std::string StopMatcher::finish() {
    if (reason_ == FinishReason::kStopString) return {};
    return std::exchange(pending_, {});
}

}  // namespace rz::runtime
