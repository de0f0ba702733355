#include <cstdio>

#include "cli/commands.h"

namespace rz::cli {

int not_built_yet(const char* command) {
    std::fprintf(stderr, "realizar %s: not built yet in this version\n", command);
    return 2;
}

}  // namespace rz::cli
