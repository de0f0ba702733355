// Hand-written SVG chart of a bench report: a throughput panel (tokens/s or predictions/s; HTTP levels use
// their aggregate tokens/s) and a latency panel (TTFT, inter-token and request latency medians), one
// horizontal bar per runtime/test, coloured by runtime. Plain SVG 1.1: opens in any browser.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "realizar/bench/report.h"

namespace rz::bench {

using nlohmann::json;

namespace {

std::string xml_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '&': o += "&amp;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

struct Bar {
    std::string label;
    std::string runtime;
    double value = 0.0;
    std::string unit;
};

constexpr const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};
constexpr int kWidth = 900, kLabelW = 260, kBarH = 18, kGap = 6, kPanelHead = 34;

std::string panel(const std::string& title, const std::vector<Bar>& bars, int y0, std::map<std::string, int>& colors) {
    std::string o = fmt::format("<text x=\"10\" y=\"{}\" font-size=\"16\" font-weight=\"bold\">{}</text>\n", y0 + 20,
                                xml_escape(title));
    double vmax = 0.0;
    for (const auto& b : bars) vmax = std::max(vmax, b.value);
    if (vmax <= 0.0) vmax = 1.0;
    const int plot_w = kWidth - kLabelW - 120;
    int y = y0 + kPanelHead;
    for (const auto& b : bars) {
        if (!colors.count(b.runtime)) colors[b.runtime] = static_cast<int>(colors.size());
        const char* color = kColors[colors[b.runtime] % 6];
        const double w = std::max(1.0, plot_w * b.value / vmax);
        o += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>\n", kLabelW - 6,
                         y + 13, xml_escape(b.label));
        o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/>\n", kLabelW, y, w, kBarH,
                         color);
        o += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"12\">{:.2f} {}</text>\n", kLabelW + w + 4, y + 13,
                         b.value, xml_escape(b.unit));
        y += kBarH + kGap;
    }
    if (bars.empty())
        o += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#888\">(no data)</text>\n", kLabelW, y + 13);
    return o;
}

int panel_height(size_t n) { return kPanelHead + static_cast<int>(std::max<size_t>(n, 1)) * (kBarH + kGap) + 10; }

}  // namespace

std::string to_svg(const json& report) {
    std::vector<Bar> thr, lat;
    for (const auto& rec : report.value("results", json::array())) {
        const std::string rt = rec.value("runtime", "?");
        const std::string label = rt + " " + rec.value("test", "");
        if (rec.contains("aggregate_tokens_per_second"))
            thr.push_back({label + " (aggregate)", rt, rec["aggregate_tokens_per_second"].get<double>(), "tok/s"});
        else if (rec.contains("tokens_per_second"))
            thr.push_back({label, rt, rec["tokens_per_second"].value("median", 0.0), "tok/s"});
        else if (rec.contains("predictions_per_second"))
            thr.push_back({label, rt, rec["predictions_per_second"].value("median", 0.0), "pred/s"});
        for (const char* m : {"ttft_ms", "itl_ms", "latency_ms"})
            if (rec.contains(m)) {
                const json& mj = rec[m];
                const std::string what = std::string(m).substr(0, std::string(m).size() - 3);
                lat.push_back({label + " " + what + " p50", rt, mj.value("p50", mj.value("median", 0.0)), "ms"});
                if (mj.contains("p99")) lat.push_back({label + " " + what + " p99", rt, mj["p99"].get<double>(), "ms"});
            }
    }
    const int h1 = panel_height(thr.size()), h2 = panel_height(lat.size());
    const int height = 40 + h1 + h2;
    std::map<std::string, int> colors;
    std::string o = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        kWidth, height);
    const json& mach = report.value("machine", json::object());
    o += fmt::format("<text x=\"10\" y=\"24\" font-size=\"14\">realizar bench: {} — {}</text>\n",
                     xml_escape(report.value("model", "")), xml_escape(mach.value("cpu_model", "")));
    o += panel("Throughput (median; higher is better)", thr, 40, colors);
    o += panel("Latency (p50 / p99 or median; lower is better)", lat, 40 + h1, colors);
    o += "</svg>\n";
    return o;
}

}  // namespace rz::bench
