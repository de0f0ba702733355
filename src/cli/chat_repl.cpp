// The --chat REPL: line input, history through the chat template, streamed answers, Ctrl-C / Ctrl-D.
#include "cli/chat_repl.h"

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "realizar/tokenizer/tokenizer.h"

namespace rz::cli {

namespace {

enum class ReadStatus { kLine, kInterrupted, kEof };

// One logical line (backslash-newline joins lines). Ctrl-C while waiting gives kInterrupted: the
// terminal driver has already discarded what was typed.
ReadStatus read_line(std::FILE* in, std::FILE* out, std::atomic<bool>& interrupt, std::string& line) {
    line.clear();
    std::string chunk;
    char buf[4096];
    for (;;) {
        errno = 0;
        if (std::fgets(buf, sizeof buf, in) == nullptr) {
            if (std::ferror(in) && (errno == EINTR || interrupt.load())) {
                std::clearerr(in);
                interrupt.store(false);
                return ReadStatus::kInterrupted;
            }
            if (!chunk.empty() || !line.empty()) {  // last line without a newline
                line += chunk;
                return ReadStatus::kLine;
            }
            return ReadStatus::kEof;
        }
        chunk += buf;
        if (chunk.empty() || chunk.back() != '\n') continue;  // longer than buf: keep reading
        chunk.pop_back();
        if (!chunk.empty() && chunk.back() == '\r') chunk.pop_back();
        if (!chunk.empty() && chunk.back() == '\\') {
            chunk.pop_back();
            line += chunk;
            line += '\n';
            chunk.clear();
            std::fputs(". ", out);
            std::fflush(out);
            continue;
        }
        line += chunk;
        return ReadStatus::kLine;
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

int run_chat_repl(runtime::Generator& gen, const tokenizer::Tokenizer& tok, const ChatReplOptions& opts,
                  std::atomic<bool>& interrupt, std::FILE* in, std::FILE* out, std::FILE* err) {
    std::vector<runtime::ChatMessage> history;
    auto start_history = [&] {
        history.clear();
        if (!opts.system.empty()) history.push_back({"system", opts.system});
    };
    start_history();
    runtime::GenerateOptions gopts = opts.gen;
    gopts.cancel                   = &interrupt;
    runtime::PromptOptions popts   = opts.prompt;
    popts.raw                      = false;
    popts.add_generation_prompt    = true;

    std::fputs("Chatting. /clear forgets the conversation, /exit (or Ctrl-D) quits, Ctrl-C stops an answer.\n", err);
    std::fflush(err);
    std::string line;
    for (;;) {
        std::fputs("> ", out);
        std::fflush(out);
        const ReadStatus rs = read_line(in, out, interrupt, line);
        if (rs == ReadStatus::kEof) {
            std::fputs("\n", out);
            std::fflush(out);
            return 0;
        }
        if (rs == ReadStatus::kInterrupted) {
            std::fputs("\n", out);
            continue;
        }
        const std::string_view cmd = trim(line);
        if (cmd.empty()) continue;
        if (cmd == "/exit" || cmd == "/quit") return 0;
        if (cmd == "/clear") {
            start_history();
            gen.reset();
            std::fputs("(conversation cleared)\n", err);
            std::fflush(err);
            continue;
        }
        if (cmd == "/help") {
            std::fputs(
                "/clear  forget the conversation\n/exit   quit (also Ctrl-D)\nCtrl-C  stop the current answer\n"
                "end a line with \\ to continue it on the next line\n",
                err);
            std::fflush(err);
            continue;
        }

        history.push_back({"user", line});
        auto prompt = runtime::prepare_prompt(tok, history, popts);
        if (!prompt.ok()) {
            history.pop_back();
            std::fprintf(err, "error: %s\n", prompt.status().to_string().c_str());
            std::fflush(err);
            continue;
        }
        interrupt.store(false);
        auto result = gen.generate(prompt->tokens, gopts, [&](std::string_view piece) {
            std::fwrite(piece.data(), 1, piece.size(), out);
            std::fflush(out);
            return true;
        });
        if (!result.ok()) {
            history.pop_back();
            std::fprintf(err, "\nerror: %s%s\n", result.status().to_string().c_str(),
                         result.status().code() == StatusCode::kOutOfRange ? " (/clear starts over)" : "");
            std::fflush(err);
            continue;
        }
        history.push_back({"assistant", result->text});
        std::fputs("\n", out);
        std::fflush(out);
        if (result->finish == runtime::FinishReason::kCancelled) {
            std::fputs("(stopped)\n", err);
        } else if (result->finish == runtime::FinishReason::kContextFull) {
            std::fputs("(context full: /clear starts over)\n", err);
        }
        if (opts.show_timings) {
            const runtime::Timings& t = result->timings;
            std::fprintf(err, "[%d prompt tokens (%d new) %.1f tok/s | %d tokens %.1f tok/s | %s]\n", t.n_prompt,
                         t.n_prompt_eval, t.prompt_tokens_per_s(), t.n_generated, t.generation_tokens_per_s(),
                         runtime::finish_reason_detail(result->finish));
        }
        std::fflush(err);
        interrupt.store(false);
    }
}

}  // namespace rz::cli
