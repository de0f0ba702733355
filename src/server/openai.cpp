// OpenAI-compatible API: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (streamed or not).
// Response shapes follow https://platform.openai.com/docs/api-reference (chat.completion,
// chat.completion.chunk, text_completion); streams end with `data: [DONE]`.
#include <atomic>

#include <fmt/format.h>

#include "realizar/server/sse.h"
#include "realizar/tokenizer/chat_template.h"
#include "server/state.h"

namespace rz::server {

namespace {

std::atomic<uint64_t> g_completion_counter{0};

std::string new_id(const char* prefix) {
    return fmt::format("{}-{:x}{:06x}", prefix,
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count(),
                       g_completion_counter.fetch_add(1) & 0xFFFFFF);
}

int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json finish_json(runtime::FinishReason r) {
    switch (r) {
        case runtime::FinishReason::kEog:
        case runtime::FinishReason::kStopString: return "stop";
        case runtime::FinishReason::kMaxTokens:
        case runtime::FinishReason::kContextFull: return "length";
        default: return nullptr;
    }
}

json bytes_of(const std::string& s) {
    json b = json::array();
    for (unsigned char c : s) b.push_back(static_cast<int>(c));
    return b;
}

// Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [...]}, ...]}.
json chat_logprob_entries(const ServerState& st, const std::vector<RequestStream::Token>& tokens) {
    json content = json::array();
    for (const auto& t : tokens) {
        if (!t.logprobs) continue;
        const std::string piece = st.tok->token_to_piece(t.id, true);
        json top = json::array();
        for (const auto& alt : t.logprobs->top) {
            const std::string p = st.tok->token_to_piece(alt.id, true);
            top.push_back({{"token", p}, {"logprob", alt.logprob}, {"bytes", bytes_of(p)}});
        }
        content.push_back({{"token", piece}, {"logprob", t.logprobs->chosen.logprob}, {"bytes", bytes_of(piece)},
                           {"top_logprobs", top}});
    }
    return content;
}

// A legacy completions position's alternatives: {token: logprob}.
json completion_top(const ServerState& st, const runtime::LogprobsEntry& e) {
    json top = json::object();
    for (const auto& alt : e.top) top[st.tok->token_to_piece(alt.id, true)] = alt.logprob;
    return top;
}

// Legacy completions logprobs: {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}.
json completion_logprobs(const ServerState& st, const std::vector<RequestStream::Token>& tokens, size_t offset0) {
    json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
    size_t offset = offset0;
    for (const auto& t : tokens) {
        if (!t.logprobs) continue;
        toks.push_back(st.tok->token_to_piece(t.id, true));
        lps.push_back(t.logprobs->chosen.logprob);
        tops.push_back(completion_top(st, *t.logprobs));
        offs.push_back(offset);
        offset += t.text.size();
    }
    return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

// The prompt's entries in front of the generated ones: every prompt token (its piece, as for generated tokens),
// the first with a null log-probability and null alternatives (nothing predicts it), the others from lps (entry
// i for token i + 1); text offsets count the prompt pieces from 0.
void prepend_prompt_logprobs(const ServerState& st, const std::vector<int32_t>& prompt, const std::vector<runtime::LogprobsEntry>& lps,
                             json& out) {
    json toks = json::array(), vals = json::array(), tops = json::array(), offs = json::array();
    size_t offset = 0;
    for (size_t i = 0; i < prompt.size(); ++i) {
        const std::string piece = st.tok->token_to_piece(prompt[i], true);
        toks.push_back(piece);
        offs.push_back(offset);
        offset += piece.size();
        if (i == 0 || i - 1 >= lps.size()) {
            vals.push_back(nullptr);
            tops.push_back(nullptr);
            continue;
        }
        vals.push_back(lps[i - 1].chosen.logprob);
        tops.push_back(completion_top(st, lps[i - 1]));
    }
    const std::pair<const char*, json*> fields[] = {{"tokens", &toks}, {"token_logprobs", &vals}, {"top_logprobs", &tops}, {"text_offset", &offs}};
    for (const auto& [key, dst] : fields) {  // the generated tokens' entries after the prompt's
        for (auto& v : out[key]) dst->push_back(std::move(v));
        out[key] = std::move(*dst);
    }
}

template <typename T>
bool parsed_or_error(std::variant<T, ApiError>& v, HttpResponse& res) {
    if (auto* e = std::get_if<ApiError>(&v)) {
        send_error(res, *e);
        return false;
    }
    return true;
}

// Submits a tokenized prompt; fills res with the error and returns nullptr on failure.
std::shared_ptr<RequestStream> submit(ServerState& st, std::vector<int32_t> ids, const GenerationSpec& gen,
                                      HttpResponse& res) {
    res.prompt_tokens = static_cast<int>(ids.size());
    auto rs = st.engine->submit(GenTask{std::move(ids), gen, st.deadline()});
    if (!rs.ok()) {
        send_error(res, ApiError::from_status(rs.status()));
        return nullptr;
    }
    return std::move(rs).value();
}

Result<std::vector<int32_t>> chat_prompt(const ServerState& st, const ChatRequest& r) {
    json messages = json::array();
    for (const auto& m : r.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
    tokenizer::ChatTemplateOptions o;
    o.add_generation_prompt = true;
    o.bos_token = st.bos_text;
    o.eos_token = st.eos_text;
    RZ_ASSIGN_OR_RETURN(std::string text, tokenizer::render_chat_template(st.chat_template, messages, o));
    // Templates usually write the BOS text themselves; add it only when they did not.
    const bool has_bos = !st.bos_text.empty() && text.rfind(st.bos_text, 0) == 0;
    return st.tok->encode(text, /*add_special=*/!has_bos, /*parse_special=*/true);
}

// Shared streaming plumbing: the guard cancels the generation if the stream ends early or never starts.
std::shared_ptr<RequestStream> guarded(const std::shared_ptr<RequestStream>& rs) {
    return std::shared_ptr<RequestStream>(rs.get(), [keep = rs](RequestStream* p) { p->cancel(); });
}

void sse_headers(HttpResponse& res) {
    res.content_type = "text/event-stream";
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
}

}  // namespace

void register_openai_routes(HttpServer& http, ServerState& st) {
    http.route("GET", "/v1/models", [&st](const HttpRequest&, HttpResponse& res) {
        json m = {{"id", st.model_name}, {"object", "model"}, {"created", st.created_unix}, {"owned_by", "realizar"}};
        if (st.model) {
            const auto& info = st.model->info();
            m["meta"] = {{"arch", info.arch}, {"n_params", info.n_params}, {"n_ctx_train", info.n_ctx_train},
                         {"n_vocab", info.n_vocab}, {"n_ctx", st.engine ? st.engine->n_ctx() : 0}};
        }
        send_json(res, 200, {{"object", "list"}, {"data", json::array({m})}});
    });
    if (st.classical) return;

    http.route("POST", "/v1/completions", [&st](const HttpRequest& req, HttpResponse& res) {
        auto v = parse_completion(req.body, st.limits);
        if (!parsed_or_error(v, res)) return;
        auto r = std::get<CompletionRequest>(std::move(v));
        std::vector<int32_t> ids;
        std::string prompt_text;
        if (auto* text = std::get_if<std::string>(&r.prompt)) {
            auto enc = st.tok->encode(*text, true, false);
            if (!enc.ok()) return send_error(res, ApiError::bad_request("prompt: " + enc.status().message(), "prompt"));
            ids = std::move(enc).value();
            prompt_text = *text;
        } else {
            ids = std::get<std::vector<int32_t>>(r.prompt);
            for (int32_t t : ids)
                if (t >= st.tok->n_vocab())
                    return send_error(res, ApiError::bad_request(fmt::format("prompt token id {} is out of range "
                                                                             "(vocabulary size {})", t, st.tok->n_vocab()),
                                                                 "prompt"));
            prompt_text = st.tok->decode(ids, false);
        }
        // echo + logprobs (non-streaming): the prompt tokens' log-probabilities too, as OpenAI's legacy completions
        // and vLLM return them (lm-eval-harness scores texts this way: max_tokens 0, echo, logprobs).
        r.gen.prompt_logprobs = r.echo && r.gen.logprobs && !r.stream;
        const std::vector<int32_t> prompt_ids = r.gen.prompt_logprobs ? ids : std::vector<int32_t>{};
        auto rs = submit(st, std::move(ids), r.gen, res);
        if (!rs) return;
        const std::string id = new_id("cmpl");
        const int64_t created = now_unix();
        const std::string echo = r.echo ? prompt_text : std::string();

        if (!r.stream) {
            const Collected c = collect(*rs, req.client_gone);
            res.generated_tokens = static_cast<int>(c.tokens.size());
            if (auto e = final_error(c.fin, st.opts.timeout_s)) return send_error(res, *e);
            json choice = {{"text", echo + c.text()}, {"index", 0}, {"finish_reason", finish_json(c.fin.reason)}};
            choice["logprobs"] = r.gen.logprobs ? completion_logprobs(st, c.tokens, echo.size()) : json(nullptr);
            if (r.gen.prompt_logprobs) prepend_prompt_logprobs(st, prompt_ids, c.fin.prompt_logprobs, choice["logprobs"]);
            send_json(res, 200, {{"id", id}, {"object", "text_completion"}, {"created", created},
                                 {"model", st.model_name}, {"choices", json::array({choice})},
                                 {"usage", usage_json(c.fin, static_cast<int>(c.tokens.size()))}});
            return;
        }
        sse_headers(res);
        auto guard = guarded(rs);
        HttpResponse* resp = &res;
        const bool include_usage = r.include_usage, logprobs = r.gen.logprobs;
        const std::string model = st.model_name;
        const int timeout_s = st.opts.timeout_s;
        ServerState* sp = &st;
        res.stream = [=](StreamWriter& w) {
            auto chunk = [&](const std::string& text, json finish, json lp) {
                json c = {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
                          {"choices", json::array({{{"text", text}, {"index", 0}, {"logprobs", lp},
                                                    {"finish_reason", finish}}})}};
                if (include_usage) c["usage"] = nullptr;
                return w.write(sse_data(dump_json(c)));
            };
            if (!echo.empty() && !chunk(echo, nullptr, nullptr)) return guard->cancel();
            int n = 0;
            size_t offset = echo.size();
            pump_stream(
                *guard, w,
                [&](const RequestStream::Token& t) {
                    resp->generated_tokens = ++n;
                    json lp = nullptr;
                    if (logprobs) {
                        lp = completion_logprobs(*sp, {t}, offset);
                        offset += t.text.size();
                    }
                    return chunk(t.text, nullptr, lp);
                },
                [&](const RequestStream::Final& fin) {
                    if (auto e = final_error(fin, timeout_s)) {
                        w.write(sse_data(e->to_json()));
                        w.write(kSseDone);
                        return;
                    }
                    chunk(fin.tail, finish_json(fin.reason), nullptr);
                    if (include_usage)
                        w.write(sse_data(dump_json({{"id", id}, {"object", "text_completion"}, {"created", created},
                                                    {"model", model}, {"choices", json::array()},
                                                    {"usage", usage_json(fin, n)}})));
                    w.write(kSseDone);
                });
        };
    });

    http.route("POST", "/v1/chat/completions", [&st](const HttpRequest& req, HttpResponse& res) {
        auto v = parse_chat(req.body, st.limits);
        if (!parsed_or_error(v, res)) return;
        auto r = std::get<ChatRequest>(std::move(v));
        auto ids = chat_prompt(st, r);
        if (!ids.ok()) return send_error(res, ApiError::bad_request(ids.status().message(), "messages"));
        auto rs = submit(st, std::move(ids).value(), r.gen, res);
        if (!rs) return;
        const std::string id = new_id("chatcmpl");
        const int64_t created = now_unix();

        if (!r.stream) {
            const Collected c = collect(*rs, req.client_gone);
            res.generated_tokens = static_cast<int>(c.tokens.size());
            if (auto e = final_error(c.fin, st.opts.timeout_s)) return send_error(res, *e);
            json choice = {{"index", 0},
                           {"message", {{"role", "assistant"}, {"content", c.text()}}},
                           {"finish_reason", finish_json(c.fin.reason)}};
            choice["logprobs"] = r.gen.logprobs ? json{{"content", chat_logprob_entries(st, c.tokens)}} : json(nullptr);
            send_json(res, 200, {{"id", id}, {"object", "chat.completion"}, {"created", created},
                                 {"model", st.model_name}, {"choices", json::array({choice})},
                                 {"usage", usage_json(c.fin, static_cast<int>(c.tokens.size()))}});
            return;
        }
        sse_headers(res);
        auto guard = guarded(rs);
        HttpResponse* resp = &res;
        const bool include_usage = r.include_usage, logprobs = r.gen.logprobs;
        const std::string model = st.model_name;
        const int timeout_s = st.opts.timeout_s;
        ServerState* sp = &st;
        res.stream = [=](StreamWriter& w) {
            auto chunk = [&](json delta, json finish, json lp) {
                json c = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                          {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", lp},
                                                    {"finish_reason", finish}}})}};
                if (include_usage) c["usage"] = nullptr;
                return w.write(sse_data(dump_json(c)));
            };
            if (!chunk({{"role", "assistant"}, {"content", ""}}, nullptr, nullptr)) return guard->cancel();
            int n = 0;
            pump_stream(
                *guard, w,
                [&](const RequestStream::Token& t) {
                    resp->generated_tokens = ++n;
                    json lp = logprobs ? json{{"content", chat_logprob_entries(*sp, {t})}} : json(nullptr);
                    // A token whose text is held back (possible stop string) still reports its logprobs.
                    if (t.text.empty() && !logprobs) return true;
                    return chunk({{"content", t.text}}, nullptr, lp);
                },
                [&](const RequestStream::Final& fin) {
                    if (auto e = final_error(fin, timeout_s)) {
                        w.write(sse_data(e->to_json()));
                        w.write(kSseDone);
                        return;
                    }
                    if (!fin.tail.empty()) chunk({{"content", fin.tail}}, nullptr, nullptr);
                    chunk(json::object(), finish_json(fin.reason), nullptr);
                    if (include_usage)
                        w.write(sse_data(dump_json({{"id", id}, {"object", "chat.completion.chunk"},
                                                    {"created", created}, {"model", model}, {"choices", json::array()},
                                                    {"usage", usage_json(fin, n)}})));
                    w.write(kSseDone);
                });
        };
    });
}

}  // namespace rz::server
