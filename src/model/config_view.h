#pragma once
// ConfigView implementations: a JSON document (config.json) and a ModelFile's metadata (GGUF, APR, llama2.c).
#include <string>

#include <nlohmann/json.hpp>

#include "realizar/formats/model_file.h"
#include "realizar/model/hparams.h"

namespace rz::model {

// Dotted keys walk nested objects ("rope_parameters.rope_theta"). JSON null counts as absent. A numeric
// lookup on an array returns its first element (bos/eos ids may be lists).
class JsonConfigView final : public ConfigView {
public:
    JsonConfigView(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {}
    std::optional<double> get_float(std::string_view key) const override;
    std::optional<int64_t> get_int(std::string_view key) const override;
    std::optional<std::string> get_string(std::string_view key) const override;
    bool has(std::string_view key) const override { return find(key) != nullptr; }
    bool is_gguf() const override { return false; }
    std::string_view source() const override { return source_; }

private:
    const nlohmann::json* find(std::string_view key) const;
    const nlohmann::json& j_;
    std::string source_;
};

// Keys starting with '.' get `arch_prefix` in front ("." + "rope.freq_base" -> "llama.rope.freq_base").
class MetaConfigView final : public ConfigView {
public:
    MetaConfigView(const formats::ModelFile& f, std::string arch_prefix, bool gguf, std::string source)
        : f_(f), arch_prefix_(std::move(arch_prefix)), gguf_(gguf), source_(std::move(source)) {}
    std::optional<double> get_float(std::string_view key) const override;
    std::optional<int64_t> get_int(std::string_view key) const override;
    std::optional<std::string> get_string(std::string_view key) const override;
    bool has(std::string_view key) const override { return find(key) != nullptr; }
    bool is_gguf() const override { return gguf_; }
    std::string_view source() const override { return source_; }

private:
    const formats::MetaValue* find(std::string_view key) const;
    const formats::ModelFile& f_;
    std::string arch_prefix_;
    bool gguf_;
    std::string source_;
};

}  // namespace rz::model
