#include "realizar/core/log.h"

#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace rz {

void init_logging(std::string_view level) {
    auto logger = spdlog::stderr_color_mt("realizar");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace rz
