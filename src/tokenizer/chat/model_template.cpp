// Finding a model's chat template: GGUF metadata, Hugging Face folders (chat_template.jinja,
// tokenizer_config.json), or a template file given directly.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "realizar/formats/model_file.h"
#include "realizar/tokenizer/chat_template.h"

namespace rz::tokenizer {
namespace {

constexpr uintmax_t kMaxTemplateFileBytes = 64ull << 20;  // templates are KBs; anything bigger is not one

Result<std::string> read_text_file(const std::string& path) {
    std::error_code ec;
    uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) return not_found(path + ": cannot read (" + ec.message() + ")");
    if (size > kMaxTemplateFileBytes)
        return invalid_argument(path + ": " + std::to_string(size) + " bytes is too large for a template/config file");
    std::ifstream f(path, std::ios::binary);
    if (!f) return io_error(path + ": cannot open");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (!f.good() && !f.eof()) return io_error(path + ": read failed");
    return ss.str();
}

// HF writes special tokens either as plain strings or as AddedToken objects {"content": "<s>", ...}.
std::string token_text(const nlohmann::json& j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
    return "";
}

Result<ModelChatTemplate> from_tokenizer_config(const std::string& path, ModelChatTemplate out) {
    RZ_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
    nlohmann::json cfg = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (cfg.is_discarded() || !cfg.is_object()) return corrupt(path + ": not a JSON object");
    if (cfg.contains("bos_token")) out.bos_token = token_text(cfg["bos_token"]);
    if (cfg.contains("eos_token")) out.eos_token = token_text(cfg["eos_token"]);
    if (out.source.empty() && cfg.contains("chat_template")) {
        const auto& ct = cfg["chat_template"];
        if (ct.is_string()) {
            out.source = ct.get<std::string>();
        } else if (ct.is_array()) {
            // Named templates: [{"name": "default", "template": "..."}, {"name": "tool_use", ...}].
            for (const auto& e : ct) {
                if (!e.is_object() || !e.contains("template") || !e["template"].is_string()) {
                    return corrupt(path + ": chat_template list entries need a \"template\" string");
                }
                if (out.source.empty() || (e.contains("name") && e["name"] == "default"))
                    out.source = e["template"].get<std::string>();
            }
        } else if (!ct.is_null()) {
            return corrupt(path + ": chat_template must be a string or a list of {name, template}");
        }
        if (!out.source.empty()) out.origin = path + " (chat_template)";
    }
    return out;
}

Result<ModelChatTemplate> from_hf_folder(const std::string& dir) {
    namespace fs = std::filesystem;
    ModelChatTemplate out;
    // Newer transformers save the template beside the config as chat_template.jinja; it wins over the config.
    fs::path jinja = fs::path(dir) / "chat_template.jinja";
    if (fs::is_regular_file(jinja)) {
        RZ_ASSIGN_OR_RETURN(out.source, read_text_file(jinja.string()));
        out.origin = jinja.string();
    }
    fs::path cfg = fs::path(dir) / "tokenizer_config.json";
    if (fs::is_regular_file(cfg)) return from_tokenizer_config(cfg.string(), std::move(out));
    return out;
}

}  // namespace

Result<ModelChatTemplate> chat_template_from_model_file(const formats::ModelFile& file) {
    if (file.format == formats::Format::kHfFolder) return from_hf_folder(file.path);
    ModelChatTemplate out;
    if (auto t = file.meta_string("tokenizer.chat_template")) {
        out.source = *t;
        out.origin = file.path + " (tokenizer.chat_template)";
    }
    const formats::MetaValue* tokens = file.find_meta("tokenizer.ggml.tokens");
    const formats::MetaArray* arr = tokens ? tokens->as_array() : nullptr;
    auto text_of = [&](const char* key) -> std::string {
        auto id = file.meta_int(key);
        if (!id || !arr || *id < 0 || static_cast<uint64_t>(*id) >= arr->items.size()) return "";
        const std::string* s = arr->items[static_cast<size_t>(*id)].as_string();
        return s ? *s : "";
    };
    out.bos_token = text_of("tokenizer.ggml.bos_token_id");
    out.eos_token = text_of("tokenizer.ggml.eos_token_id");
    return out;
}

Result<ModelChatTemplate> load_chat_template(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec)) return from_hf_folder(path);
    if (!fs::exists(path, ec)) return not_found(path + ": no such file or folder");
    std::string ext = fs::path(path).extension().string();
    char magic[4] = {};
    {
        std::ifstream f(path, std::ios::binary);
        if (!f) return io_error(path + ": cannot open");
        f.read(magic, 4);
    }
    const bool is_gguf = std::string(magic, 4) == "GGUF";
    if (is_gguf || ext == ".gguf" || ext == ".apr" || ext == ".safetensors") {
        RZ_ASSIGN_OR_RETURN(formats::ModelFile mf, formats::open_model_file(path));
        RZ_ASSIGN_OR_RETURN(ModelChatTemplate out, chat_template_from_model_file(mf));
        // A lone .safetensors file keeps its tokenizer files in the same folder.
        if (out.source.empty() && mf.format == formats::Format::kSafeTensors)
            return from_hf_folder(fs::path(path).parent_path().string());
        return out;
    }
    if (ext == ".json") return from_tokenizer_config(path, ModelChatTemplate{});
    ModelChatTemplate out;
    RZ_ASSIGN_OR_RETURN(out.source, read_text_file(path));
    out.origin = path;
    return out;
}

}  // namespace rz::tokenizer
