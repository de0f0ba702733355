#pragma once
// One accessor per architecture file; arch_table.cpp lists them in the explicit registry.
#include "realizar/model/arch.h"

namespace rz::model::archs {

const ArchSpec& llama();
const ArchSpec& mistral();
const ArchSpec& qwen2();
const ArchSpec& qwen3();
const ArchSpec& phi2();
const ArchSpec& phi3();
const ArchSpec& gemma();
const ArchSpec& gpt2();

}  // namespace rz::model::archs
