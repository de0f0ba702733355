#pragma once
// Conversions between JSON (APR metadata, config.json) and ModelFile metadata values.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "realizar/formats/model_file.h"

namespace rz::formats::detail {

using OrderedJson = nlohmann::ordered_json;

// Appends the members of a JSON object as metadata: scalars typed (non-negative integers u64, negative
// i64, floats f64, bools, strings), null skipped, arrays as MetaArray (uniform scalars typed, nested arrays
// nested, anything else as JSON text strings), objects flattened to "prefix.key".
void json_object_to_meta(const OrderedJson& obj, const std::string& prefix,
                         std::vector<std::pair<std::string, MetaValue>>& out);

// MetaValue -> JSON; fails for strings that are not valid UTF-8 (JSON cannot carry them).
Result<OrderedJson> meta_to_json(const MetaValue& v);

}  // namespace rz::formats::detail
