// `realizar run MODEL.apr --features ...` for classical models (contract in run_classical.h).
#include "cli/run_classical.h"

#include <charconv>
#include <fstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "realizar/classical/apr_io.h"
#include "realizar/classical/predict_api.h"
#include "realizar/core/mapped_file.h"
#include "realizar/formats/model_file.h"

namespace rz::cli {
namespace {

constexpr size_t kMaxFeaturesFileBytes = size_t{256} << 20;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// Parses "5.1, 3.5,1.4" into floats; `where` names the source in errors ("--features", "F.csv:3").
Status parse_row(std::string_view line, const std::string& where, std::vector<float>& out) {
    size_t col = 0;
    while (true) {
        const size_t comma = line.find(',');
        const std::string_view field = trim(line.substr(0, comma));
        // from_chars takes no leading '+'; people write "+0.5" in CSVs, so allow one.
        const std::string_view digits = field.size() > 1 && field[0] == '+' ? field.substr(1) : field;
        float v = 0.0f;
        const char* end = digits.data() + digits.size();
        auto [ptr, ec] = std::from_chars(digits.data(), end, v);
        if (digits.empty() || ec != std::errc() || ptr != end) {
            const char* why = ec == std::errc::result_out_of_range ? "is out of float range" : "is not a number";
            return invalid_argument(fmt::format("{}: value {} ('{}') {}", where, col + 1, field, why));
        }
        out.push_back(v);
        ++col;
        if (comma == std::string_view::npos) break;
        line.remove_prefix(comma + 1);
    }
    return Status::Ok();
}

bool looks_numeric(std::string_view line) {
    std::vector<float> tmp;
    return parse_row(line, "", tmp).ok();
}

struct Samples {
    std::vector<float> x;           // [n, n_inputs]
    std::vector<std::string> where;  // source of each sample, for error messages
};

Result<Samples> read_samples(const ClassicalRunOptions& o, int64_t n_inputs) {
    Samples s;
    auto add = [&](std::string_view line, std::string where) -> Status {
        const size_t before = s.x.size();
        RZ_RETURN_IF_ERROR(parse_row(line, where, s.x));
        const size_t got = s.x.size() - before;
        if (static_cast<int64_t>(got) != n_inputs) {
            return invalid_argument(fmt::format("{}: {} features, the model expects {}", where, got, n_inputs));
        }
        s.where.push_back(std::move(where));
        return Status::Ok();
    };
    if (!o.features.empty()) RZ_RETURN_IF_ERROR(add(o.features, "--features"));
    if (!o.features_file.empty()) {
        RZ_ASSIGN_OR_RETURN(const std::string text, read_file(o.features_file, kMaxFeaturesFileBytes));
        std::string_view rest(text);
        size_t line_no = 0;
        while (!rest.empty()) {
            const size_t nl = rest.find('\n');
            const std::string_view line = trim(rest.substr(0, nl));
            rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
            ++line_no;
            if (line.empty() || line.front() == '#') continue;
            if (line_no == 1 && !looks_numeric(line)) continue;  // header row
            RZ_RETURN_IF_ERROR(add(line, fmt::format("{}:{}", o.features_file, line_no)));
        }
    }
    if (s.where.empty()) {
        return invalid_argument(o.features_file.empty() ? "give --features a,b,c or --features-file FILE.csv"
                                                        : fmt::format("{}: no samples", o.features_file));
    }
    return s;
}

void print_text(std::FILE* out, const classical::Prediction& p) {
    if (!p.is_classifier) {
        if (p.values.size() == 1) {
            fmt::print(out, "prediction: {}\n", p.values[0]);
        } else {
            fmt::print(out, "prediction: [{}]\n", fmt::join(p.values, ", "));
        }
        return;
    }
    const std::string label = p.label.empty() ? std::string() : fmt::format(" ({})", p.label);
    fmt::print(out, "prediction: {}{}  confidence: {:.4f}\n", p.class_index, label, p.confidence);
}

void print_json(std::FILE* out, const classical::Prediction& p) {
    nlohmann::json j;
    if (p.is_classifier) {
        j["prediction"] = p.class_index;
        if (!p.label.empty()) j["label"] = p.label;
        std::vector<double> probs;
        for (float v : p.probabilities) probs.push_back(std::strtod(fmt::format("{}", v).c_str(), nullptr));
        j["probabilities"] = probs;
    } else if (p.values.size() == 1) {
        j["prediction"] = std::strtod(fmt::format("{}", p.values[0]).c_str(), nullptr);
    } else {
        std::vector<double> vals;
        for (float v : p.values) vals.push_back(std::strtod(fmt::format("{}", v).c_str(), nullptr));
        j["prediction"] = vals;
    }
    fmt::print(out, "{}\n", j.dump());
}

}  // namespace

bool is_classical_model(const std::string& path) {
    // Only APR files hold classical models: look at the magic before opening (and parsing) anything, so
    // the LLM path pays four bytes of I/O for this check, not a second open of a big GGUF/SafeTensors.
    char magic[4] = {};
    std::ifstream in(path, std::ios::binary);
    if (!in.read(magic, 4) || magic[0] != 'A' || magic[1] != 'P' || magic[2] != 'R') return false;
    auto file = formats::open_model_file(path);
    return file.ok() && file->format == formats::Format::kApr && classical::is_classical(*file);
}

int run_classical(const ClassicalRunOptions& o, std::FILE* out, std::FILE* err) {
    if (o.format != "text" && o.format != "json") {
        fmt::print(err, "realizar run: --format must be text or json, not '{}'\n", o.format);
        return 2;
    }
    if (o.features.empty() && o.features_file.empty()) {
        fmt::print(err, "realizar run: a classical model needs --features a,b,c or --features-file FILE.csv\n");
        return 2;
    }
    auto model = classical::load_classical_model(o.model_path);
    if (!model.ok()) {
        fmt::print(err, "realizar run: {}\n", model.status().to_string());
        return 1;
    }
    auto samples = read_samples(o, model->n_inputs());
    if (!samples.ok()) {
        fmt::print(err, "realizar run: {}\n", samples.status().to_string());
        return 1;
    }
    classical::Workspace ws = model->make_workspace();
    const auto n_in = static_cast<size_t>(model->n_inputs());
    std::vector<float> y(static_cast<size_t>(model->n_outputs()));
    for (size_t s = 0; s < samples->where.size(); ++s) {
        const std::span<const float> x(samples->x.data() + s * n_in, n_in);
        if (Status st = model->predict(x, y, ws); !st.ok()) {
            fmt::print(err, "realizar run: {}: {}\n", samples->where[s], st.to_string());
            return 1;
        }
        const classical::Prediction p = model->interpret(y);
        if (o.format == "json") {
            print_json(out, p);
        } else {
            print_text(out, p);
        }
    }
    return 0;
}

int run_classical(const ClassicalRunOptions& options) { return run_classical(options, stdout, stderr); }

}  // namespace rz::cli
