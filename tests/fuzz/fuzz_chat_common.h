#pragma once
// The rendering options both chat fuzzers use: fixed BOS/EOS texts and date, and smaller limits than the defaults
// (the same code paths) so that each input stays fast.
#include <string>

#include "realizar/tokenizer/chat_template.h"

namespace rz::tokenizer::fuzz {

inline ChatTemplateOptions chat_options() {
    ChatTemplateOptions o;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.strftime_now = [](const std::string&) { return std::string("28 Nov 2026"); };
    o.limits.max_output_bytes = 1u << 20;
    o.limits.max_loop_iterations = 20000;
    return o;
}

}  // namespace rz::tokenizer::fuzz
