// `realizar bench compare` and the JSON-Schema-subset validator of bench reports.
#include <cmath>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "realizar/bench/report.h"

namespace rz::bench {

using nlohmann::json;

Result<double> parse_threshold(const std::string& s) {
    if (s.empty()) return invalid_argument("--threshold: empty");
    std::string num = s;
    const bool percent = num.back() == '%';
    if (percent) num.pop_back();
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (num.empty() || end != num.c_str() + num.size() || !std::isfinite(v) || v < 0)
        return invalid_argument("--threshold: '" + s + "' is not a non-negative number (e.g. 5%)");
    if (percent || v >= 1.0) return v / 100.0;
    return v;
}

static std::string record_key(const json& rec) {
    std::string k = rec.value("runtime", "") + "/" + rec.value("test", "");
    if (rec.contains("params") && rec["params"].contains("api")) k += "/" + rec["params"]["api"].get<std::string>();
    return k;
}

static Result<std::map<std::string, json>> index_results(const json& doc, const char* which) {
    if (!doc.is_object() || doc.value("schema_version", 0) != kSchemaVersion)
        return invalid_argument(std::string(which) + ": not a realizar bench report of schema_version " +
                                std::to_string(kSchemaVersion));
    if (!doc.contains("results") || !doc["results"].is_array())
        return invalid_argument(std::string(which) + ": no results array");
    std::map<std::string, json> out;
    for (const auto& rec : doc["results"]) {
        if (!rec.is_object()) return invalid_argument(std::string(which) + ": a result is not an object");
        out[record_key(rec)] = rec;
    }
    return out;
}

Result<Comparison> compare_reports(const json& base, const json& now, double threshold) {
    RZ_ASSIGN_OR_RETURN(auto b, index_results(base, "BASE"));
    RZ_ASSIGN_OR_RETURN(auto n, index_results(now, "NEW"));
    Comparison c;
    for (const auto& [key, rb] : b) {
        auto it = n.find(key);
        if (it == n.end()) {
            c.only_in_base.push_back(key);
            continue;
        }
        const json& rn = it->second;
        for (const char* metric : {"tokens_per_second", "predictions_per_second", "ttft_ms", "itl_ms", "latency_ms"}) {
            if (!rb.contains(metric) || !rn.contains(metric)) continue;
            const json& mb = rb[metric];
            const json& mn = rn[metric];
            if (!mb.contains("median") || !mb["median"].is_number() || !mn.contains("median") ||
                !mn["median"].is_number())
                return invalid_argument(key + ": " + metric + ".median missing or not a number");
            CompareRow row;
            row.key = key;
            row.metric = metric;
            row.base = mb["median"].get<double>();
            row.now = mn["median"].get<double>();
            row.change = row.base != 0.0 ? (row.now - row.base) / std::fabs(row.base) : 0.0;
            const double worse = higher_is_better(metric) ? -row.change : row.change;
            row.regression = worse > threshold;
            c.regression = c.regression || row.regression;
            c.rows.push_back(row);
        }
    }
    for (const auto& [key, rn] : n)
        if (!b.count(key)) c.only_in_new.push_back(key);
    // Nothing compared is not "no regression": a CI gate comparing the wrong files must fail, not pass.
    if (c.rows.empty())
        return invalid_argument(fmt::format("BASE and NEW have no result (runtime/test) with a metric in common ({} only in BASE, {} only in NEW)",
                                            c.only_in_base.size(), c.only_in_new.size()));
    return c;
}

std::string comparison_markdown(const Comparison& c, double threshold) {
    std::string out = "| result | metric | base | new | change | |\n|---|---|---|---|---|---|\n";
    for (const auto& r : c.rows)
        out += fmt::format("| {} | {} | {:.3f} | {:.3f} | {:+.1f}% | {} |\n", r.key, r.metric, r.base, r.now,
                           100 * r.change, r.regression ? "REGRESSION" : "ok");
    for (const auto& k : c.only_in_base) out += fmt::format("| {} | | | | | only in BASE |\n", k);
    for (const auto& k : c.only_in_new) out += fmt::format("| {} | | | | | only in NEW |\n", k);
    out += fmt::format("\n{} (threshold {:.1f}%)\n", c.regression ? "regression" : "no regression", 100 * threshold);
    return out;
}

// ---- JSON Schema subset ----

static bool type_matches(const json& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    return false;
}

static Status validate_at(const json& v, const json& schema, const json& root, const std::string& path, int depth) {
    if (depth > 64) return invalid_argument("schema: $ref nesting too deep at " + path);
    if (!schema.is_object()) return invalid_argument("schema: a schema at " + path + " is not an object");
    if (schema.contains("$ref")) {
        const std::string ref = schema["$ref"].get<std::string>();
        const std::string prefix = "#/$defs/";
        if (ref.rfind(prefix, 0) != 0 || !root.contains("$defs") || !root["$defs"].contains(ref.substr(prefix.size())))
            return invalid_argument("schema: unresolvable $ref " + ref);
        return validate_at(v, root["$defs"][ref.substr(prefix.size())], root, path, depth + 1);
    }
    if (schema.contains("type")) {
        const json& t = schema["type"];
        bool ok = false;
        if (t.is_string()) ok = type_matches(v, t.get<std::string>());
        else
            for (const auto& one : t) ok = ok || type_matches(v, one.get<std::string>());
        if (!ok) return invalid_argument(path + ": expected type " + t.dump() + ", got " + v.type_name());
    }
    if (schema.contains("enum")) {
        bool found = false;
        for (const auto& e : schema["enum"]) found = found || e == v;
        if (!found) return invalid_argument(path + ": " + v.dump() + " is not one of " + schema["enum"].dump());
    }
    if (schema.contains("minimum") && v.is_number() && v.get<double>() < schema["minimum"].get<double>())
        return invalid_argument(path + ": " + v.dump() + " is below the minimum " + schema["minimum"].dump());
    if (v.is_object()) {
        if (schema.contains("required"))
            for (const auto& r : schema["required"])
                if (!v.contains(r.get<std::string>())) return invalid_argument(path + ": missing required '" + r.get<std::string>() + "'");
        if (schema.contains("properties"))
            for (const auto& [k, sub] : schema["properties"].items())
                if (v.contains(k)) RZ_RETURN_IF_ERROR(validate_at(v[k], sub, root, path + "." + k, depth + 1));
    }
    if (v.is_array()) {
        if (schema.contains("minItems") && v.size() < schema["minItems"].get<size_t>())
            return invalid_argument(path + ": fewer than " + schema["minItems"].dump() + " items");
        if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<size_t>())
            return invalid_argument(path + ": more than " + schema["maxItems"].dump() + " items");
        if (schema.contains("items"))
            for (size_t i = 0; i < v.size(); ++i)
                RZ_RETURN_IF_ERROR(validate_at(v[i], schema["items"], root, path + "[" + std::to_string(i) + "]", depth + 1));
    }
    return {};
}

Status validate_against_schema(const json& doc, const json& schema) { return validate_at(doc, schema, schema, "$", 0); }

}  // namespace rz::bench
