// Reader for scikit-learn's bundled CSV layout (see dataset.h).
#include <charconv>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "realizar/classical/dataset.h"
#include "realizar/core/mapped_file.h"

namespace rz::classical {
namespace {

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> out;
    while (true) {
        const size_t c = line.find(',');
        std::string_view f = line.substr(0, c);
        while (!f.empty() && (f.front() == ' ' || f.front() == '\r')) f.remove_prefix(1);
        while (!f.empty() && (f.back() == ' ' || f.back() == '\r')) f.remove_suffix(1);
        out.push_back(f);
        if (c == std::string_view::npos) break;
        line.remove_prefix(c + 1);
    }
    return out;
}

template <typename T>
bool parse(std::string_view s, T& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<Dataset> read_sklearn_csv(const std::string& path) {
    RZ_ASSIGN_OR_RETURN(const std::string text, read_file(path, size_t{1} << 30));
    std::vector<std::string_view> lines;
    std::string_view rest(text);
    while (!rest.empty()) {
        const size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (lines.empty()) return invalid_argument(fmt::format("{}: empty file", path));
    const auto head = split(lines[0]);
    int64_t n_samples = 0;
    Dataset d;
    if (head.size() < 3 || !parse(head[0], n_samples) || !parse(head[1], d.n_features) || n_samples < 1 ||
        d.n_features < 1) {
        return invalid_argument(fmt::format("{}:1: expected 'n_samples,n_features,class names...'", path));
    }
    for (size_t i = 2; i < head.size(); ++i) d.class_names.emplace_back(head[i]);
    if (static_cast<int64_t>(lines.size()) - 1 != n_samples) {
        return invalid_argument(fmt::format("{}: header says {} samples, file has {} rows", path, n_samples, lines.size() - 1));
    }
    d.x.reserve(static_cast<size_t>(n_samples * d.n_features));
    for (size_t li = 1; li < lines.size(); ++li) {
        const auto f = split(lines[li]);
        if (static_cast<int64_t>(f.size()) != d.n_features + 1) {
            return invalid_argument(fmt::format("{}:{}: {} fields, expected {}", path, li + 1, f.size(), d.n_features + 1));
        }
        for (int64_t j = 0; j < d.n_features; ++j) {
            float v = 0.0f;
            if (!parse(f[static_cast<size_t>(j)], v) || !std::isfinite(v)) {
                return invalid_argument(fmt::format("{}:{}: field {} ('{}') is not a finite number", path, li + 1, j + 1,
                                                    f[static_cast<size_t>(j)]));
            }
            d.x.push_back(v);
        }
        int32_t c = -1;
        if (!parse(f.back(), c) || c < 0 || c >= static_cast<int32_t>(d.class_names.size())) {
            return invalid_argument(fmt::format("{}:{}: class '{}' is not an index below {}", path, li + 1, f.back(),
                                                d.class_names.size()));
        }
        d.y.push_back(c);
    }
    return d;
}

}  // namespace rz::classical
