#pragma once
// Logging goes through spdlog to stderr (stdout is reserved for program output such as generated text).
#include <string_view>

#include <spdlog/spdlog.h>

namespace rz {

// level: trace, debug, info, warn, error, off. Installs a stderr logger as spdlog's default.
void init_logging(std::string_view level = "info");

}  // namespace rz
