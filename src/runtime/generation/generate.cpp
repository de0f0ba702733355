// Prompt preparation (chat template or raw) and the single-sequence prefill + decode loop.
#include "realizar/runtime/generate.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "realizar/tokenizer/chat_template.h"
#include "realizar/tokenizer/tokenizer.h"

namespace rz::runtime {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

Result<std::string> resolve_chat_template(const tokenizer::Tokenizer& tok, const std::string& override_name_or_source) {
    if (override_name_or_source.empty()) return tok.chat_template();
    if (tokenizer::is_builtin_chat_template_name(override_name_or_source)) {
        return tokenizer::builtin_chat_template(override_name_or_source);
    }
    // Anything with Jinja markup is taken as the template itself; a bare word is a misspelt name.
    if (override_name_or_source.find("{%") == std::string::npos &&
        override_name_or_source.find("{{") == std::string::npos) {
        std::string names;
        for (const std::string& n : tokenizer::builtin_chat_template_names()) names += (names.empty() ? "" : ", ") + n;
        return invalid_argument(fmt::format("unknown chat template '{}' (builtin names: {}; or pass Jinja source)",
                                            override_name_or_source, names));
    }
    RZ_RETURN_IF_ERROR(tokenizer::validate_chat_template(override_name_or_source));
    return override_name_or_source;
}

Result<PreparedPrompt> prepare_prompt(const tokenizer::Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                      const PromptOptions& opts) {
    PreparedPrompt out;
    std::string source;
    if (!opts.raw) {
        RZ_ASSIGN_OR_RETURN(source, resolve_chat_template(tok, opts.chat_template));
    }
    if (source.empty()) {
        // Raw: the text as is. A system message (if any) goes first, separated by a blank line.
        for (const ChatMessage& m : messages) {
            if (!out.text.empty() && m.role == "user" && !m.content.empty()) out.text += "\n\n";
            out.text += m.content;
        }
        RZ_ASSIGN_OR_RETURN(out.tokens, tok.encode(out.text, /*add_special=*/true, /*parse_special=*/false));
        out.templated = false;
    } else {
        nlohmann::json msgs = nlohmann::json::array();
        for (const ChatMessage& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
        tokenizer::ChatTemplateOptions topts;
        topts.add_generation_prompt = opts.add_generation_prompt;
        if (tok.bos() >= 0) topts.bos_token = tok.token_text(tok.bos());
        if (tok.eos() >= 0) topts.eos_token = tok.token_text(tok.eos());
        RZ_ASSIGN_OR_RETURN(out.text, tokenizer::render_chat_template(source, msgs, topts));
        // The rendered text holds the template's special tokens as text: parse them as tokens.
        RZ_ASSIGN_OR_RETURN(out.tokens, tok.encode(out.text, /*add_special=*/true, /*parse_special=*/true));
        // Templates that print {{ bos_token }} plus a tokenizer that adds BOS would double it.
        if (tok.bos() >= 0 && out.tokens.size() >= 2 && out.tokens[0] == tok.bos() && out.tokens[1] == tok.bos()) {
            out.tokens.erase(out.tokens.begin());
        }
        out.templated = true;
    }
    if (out.tokens.empty()) return invalid_argument("the prompt is empty (no tokens to evaluate)");
    return out;
}

Generator::Generator(Context& ctx, const tokenizer::Tokenizer& tok) : ctx_(ctx), tok_(tok) {}

void Generator::reset() {
    if (seq_ >= 0) ctx_.seq_clear(seq_);
    cached_.clear();
}

Result<GenerateResult> Generator::generate(std::span<const int32_t> prompt, const GenerateOptions& opts,
                                           const TextCallback& on_text) {
    const auto t_start = Clock::now();
    const int n_vocab  = ctx_.model().info().n_vocab;
    const int n_ctx    = ctx_.n_ctx();
    const int32_t seq  = opts.seq_id;
    if (prompt.empty()) return invalid_argument("the prompt is empty (no tokens to evaluate)");
    if (seq < 0 || seq >= ctx_.n_seq_max()) {
        return invalid_argument(fmt::format("sequence id {} is outside [0, {})", seq, ctx_.n_seq_max()));
    }
    if (static_cast<int64_t>(prompt.size()) > n_ctx) {
        return out_of_range(
            fmt::format("the prompt is {} tokens but the context holds {} (raise --ctx-size)", prompt.size(), n_ctx));
    }
    for (size_t i = 0; i < prompt.size(); ++i) {
        if (prompt[i] < 0 || prompt[i] >= n_vocab) {
            return invalid_argument(
                fmt::format("prompt token #{} = {} is outside the vocabulary [0, {})", i, prompt[i], n_vocab));
        }
    }

    // Sampling: tokens the tokenizer cannot print (a model vocabulary padded past the tokenizer's) are
    // banned, so every sampled id decodes to text.
    SamplingParams sp = opts.sampling;
    for (int id = tok_.n_vocab(); id < n_vocab; ++id) {
        sp.logit_bias.push_back({id, -std::numeric_limits<float>::infinity()});
    }
    RZ_ASSIGN_OR_RETURN(std::unique_ptr<Sampler> sampler, Sampler::create(sp, n_vocab));

    // Reuse the longest cached prefix (chat turns, repeated prompts): keep it, drop the rest of the sequence.
    // At least the last prompt token is evaluated again, since its logits are needed.
    size_t n_reuse = 0;
    if (seq == seq_ && ctx_.seq_len(seq) == static_cast<int32_t>(cached_.size())) n_reuse = reusable_prefix(cached_, prompt);
    n_reuse = keep_prefix(ctx_, seq, n_reuse);
    if (n_reuse == 0 && seq_ >= 0) ctx_.seq_clear(seq_);
    cached_.resize(n_reuse);
    seq_ = seq;

    GenerateResult res;
    res.seed                  = sampler->seed();
    res.timings.n_prompt      = static_cast<int32_t>(prompt.size());
    res.timings.n_prompt_eval = static_cast<int32_t>(prompt.size() - n_reuse);
    auto cancelled            = [&] { return opts.cancel != nullptr && opts.cancel->load(std::memory_order_relaxed); };

    // Prefill in chunks of n_batch; only the last prompt token needs logits.
    const size_t n_batch = static_cast<size_t>(std::max(opts.n_batch, 1));
    Batch batch;
    size_t logits_idx = 0;
    for (size_t i = n_reuse; i < prompt.size();) {
        batch.clear();
        const size_t end = std::min(prompt.size(), i + n_batch);
        for (size_t j = i; j < end; ++j) {
            batch.add(prompt[j], static_cast<int32_t>(j), seq, j + 1 == prompt.size());
        }
        Status st = ctx_.decode(batch);
        if (!st.ok()) {
            ctx_.seq_clear(seq);
            cached_.clear();
            return st.with_context("prompt");
        }
        cached_.insert(cached_.end(), prompt.begin() + static_cast<std::ptrdiff_t>(i),
                       prompt.begin() + static_cast<std::ptrdiff_t>(end));
        logits_idx = batch.size() - 1;
        i          = end;
        if (cancelled() && i < prompt.size()) break;
    }
    const auto t_prefill  = Clock::now();
    res.timings.prompt_ms = ms_between(t_start, t_prefill);
    if (opts.accept_prompt) {
        for (int32_t t : prompt) sampler->accept(t);
    }

    StopMatcher stop(opts.stop, &tok_);
    tokenizer::StreamDecoder decoder(tok_, opts.skip_special);
    // A prompt of special tokens only (just BOS) means the text starts from scratch: drop the SentencePiece
    // dummy-prefix space of the first piece, as decode() and llama2.c do.
    decoder.set_strip_leading_space(
        std::all_of(prompt.begin(), prompt.end(), [&](int32_t t) { return tok_.is_special(t); }));
    auto emit = [&](const std::string& text) {
        if (text.empty()) return;
        res.text += text;
        if (on_text && !on_text(text)) stop.set_reason(FinishReason::kCancelled);
    };

    Clock::time_point t_first = t_prefill;
    bool first                = true;
    if (cancelled() && cached_.size() < prompt.size()) stop.set_reason(FinishReason::kCancelled);
    stop.limit_reached();  // max_tokens == 0: prefill only
    const int32_t k_top = opts.use_top_k ? sampler->top_k_needed() : 0;
    std::vector<TokenLogit> top;
    while (!stop.done()) {
        int32_t id = -1;
        if (k_top > 0) {
            // Only the k best entries of the row matter to this sampler (same token as from the full row).
            RZ_RETURN_IF_ERROR(ctx_.top_k(logits_idx, k_top, top).with_context("sampling"));
            id = sampler->sample_top(top);
        } else {
            id = sampler->sample(ctx_.logits(logits_idx));
        }
        sampler->accept(id);
        res.tokens.push_back(id);
        if (first) {
            t_first             = Clock::now();
            res.timings.ttft_ms = ms_between(t_start, t_first);
            first               = false;
        }
        if (stop.on_token(id) != FinishReason::kNone) break;
        emit(stop.on_text(decoder.push(id)));
        if (stop.done() || stop.limit_reached() != FinishReason::kNone) break;
        if (cancelled()) {
            stop.set_reason(FinishReason::kCancelled);
            break;
        }
        if (stop.context_full(ctx_.seq_len(seq), n_ctx) != FinishReason::kNone) break;
        batch.clear();
        batch.add(id, ctx_.seq_len(seq), seq, true);
        Status st = ctx_.decode(batch);
        if (!st.ok()) {
            ctx_.seq_clear(seq);
            cached_.clear();
            return st.with_context(fmt::format("decoding generated token #{}", res.tokens.size()));
        }
        cached_.push_back(id);
        logits_idx = 0;
    }
    if (stop.reason() != FinishReason::kStopString) {
        // Release what the decoder and the stop matcher still hold (an incomplete UTF-8 tail, a partial stop).
        std::string tail = stop.on_text(decoder.flush());
        tail += stop.finish();
        emit(tail);
    }
    const auto t_end          = Clock::now();
    res.finish                = stop.reason();
    res.stop_matched          = stop.matched_stop();
    res.timings.n_generated   = static_cast<int32_t>(res.tokens.size());
    res.timings.generation_ms = first ? 0.0 : ms_between(t_first, t_end);
    res.timings.total_ms      = ms_between(t_start, t_end);
    return res;
}

size_t reusable_prefix(std::span<const int32_t> cached, std::span<const int32_t> prompt) {
    const size_t limit = std::min(cached.size(), prompt.empty() ? 0 : prompt.size() - 1);
    size_t n = 0;
    while (n < limit && cached[n] == prompt[n]) ++n;
    return n;
}

size_t keep_prefix(Context& ctx, int32_t seq, size_t n) {
    if (n > 0 && static_cast<int64_t>(n) < ctx.seq_len(seq) && !ctx.seq_truncate(seq, static_cast<int32_t>(n)).ok()) n = 0;
    if (n == 0) ctx.seq_clear(seq);
    return n;
}

}  // namespace rz::runtime
