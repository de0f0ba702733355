#pragma once
// The demo model embedded in the binary: TinyStories stories260K (MIT, see data/demo/LICENSE), converted
// to APR with its tokenizer embedded. `realizar serve --demo` serves it on a fresh machine with no files.
#include <cstdint>
#include <span>
#include <string>

#include "realizar/core/status.h"

namespace rz::server {

// The embedded APR bytes (empty when the build had no demo model).
std::span<const uint8_t> demo_model_bytes();

// A path the runtime can open like any model file: an anonymous in-memory file (memfd) holding the
// embedded bytes, named /proc/self/fd/N. Created once per process.
Result<std::string> demo_model_path();

// Display name of the demo model.
inline constexpr const char* kDemoModelName = "stories260K (demo)";

}  // namespace rz::server
