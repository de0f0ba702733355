#pragma once
// `realizar run MODEL --chat`: an interactive conversation on a terminal. Each turn renders the whole history
// through the chat template (the Generator then only evaluates what is new). Commands: /clear (forget the
// history), /exit or /quit, /help. Ctrl-C stops the answer being written (not the program); at the prompt
// it discards the line. Ctrl-D (end of input) quits. A line ending in '\' continues on the next line.
#include <atomic>
#include <cstdio>
#include <string>

#include "realizar/runtime/generate.h"

namespace rz::tokenizer {
class Tokenizer;
}

namespace rz::cli {

struct ChatReplOptions {
    runtime::GenerateOptions gen;   // sampling + stop settings of every answer
    runtime::PromptOptions prompt;  // template choice (never raw: the REPL needs a template)
    std::string system;             // optional system message, kept across /clear
    bool show_timings = true;       // one stderr line per answer
};

// Reads from `in` (line by line), streams answers to `out`, notes and timings to `err`. `interrupt` is
// set by the SIGINT handler; the REPL clears it before each answer. Returns the exit code (0, or 1 when a
// turn fails in a way that cannot continue).
int run_chat_repl(runtime::Generator& gen, const tokenizer::Tokenizer& tok, const ChatReplOptions& opts,
                  std::atomic<bool>& interrupt, std::FILE* in, std::FILE* out, std::FILE* err);

}  // namespace rz::cli
