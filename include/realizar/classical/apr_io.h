#pragma once
// Classical models <-> APR v2 files (schema: docs/formats/apr-classical.md).
//
// Reading goes through rz::formats (open_model_file / open_model_bytes), which validates the container
// (magic, CRCs, offsets, sizes). This layer validates the model: model_type, the layers.{i}.weight/bias
// chain and shapes, dtypes, metadata values; any inconsistency is a clear kCorrupt/kUnsupported naming
// the file and the tensor or key.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "realizar/classical/model.h"
#include "realizar/core/status.h"
#include "realizar/formats/model_file.h"

namespace rz::classical {

// True when the file's metadata has a classical model_type (mlp, linear_regression, logistic_regression).
bool is_classical(const formats::ModelFile& file);

// Builds a ModelSpec from an opened file (F32, F16 and BF16 tensors; F16/BF16 are widened to f32).
Result<ModelSpec> spec_from_model_file(const formats::ModelFile& file);

// open_model_file + spec_from_model_file + ClassicalModel::create. Errors name `path`.
Result<ClassicalModel> load_classical_model(const std::string& path);
Result<ClassicalModel> load_classical_model_bytes(std::span<const uint8_t> bytes, const std::string& name);

// The metadata JSON object a spec is saved with (model_type, name, activation, output, labels, num_layers).
std::string classical_metadata_json(const ModelSpec& spec);

// Validates the spec and writes it as an APR v2 file through rz::formats::AprWriter (f32 tensors,
// PAYLOAD_CRC on, atomic: temporary file + rename).
Status save_classical_model(const ModelSpec& spec, const std::string& path);

}  // namespace rz::classical
