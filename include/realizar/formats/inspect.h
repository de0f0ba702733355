#pragma once
// Human and machine summaries of a ModelFile (what `realizar inspect` prints): format, version,
// metadata and the tensor table (name, dtype, shape, bytes, offset).
#include <cstddef>
#include <string>

#include "realizar/formats/model_file.h"

namespace rz::formats {

struct InspectOptions {
    size_t max_array_items = 8;    // text mode: arrays longer than this are summarised
    size_t max_string_chars = 120; // text mode: longer strings are cut (with their length shown)
};

// Text report; arrays and long strings summarised.
std::string inspect_text(const ModelFile& mf, const InspectOptions& opts = {});
// Complete JSON document: {"path","format","version","alignment","n_tensors","n_elements","n_bytes",
// "metadata": {key: value} (file order), "metadata_types": {key: "u32" | "array[string]" ...},
// "tensors": [{"name","dtype","shape","n_bytes","offset","shard"}]}. Invalid UTF-8 is replaced by U+FFFD.
std::string inspect_json(const ModelFile& mf, int indent = 2);

}  // namespace rz::formats
