// End to end on real files: the shipped Iris model on the Iris data set, APR save/load round trips,
// damaged files, the JSON request API and the `realizar run` glue (run_classical).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/run_classical.h"
#include "realizar/classical/apr_io.h"
#include "realizar/classical/bench_models.h"
#include "realizar/classical/dataset.h"
#include "realizar/classical/predict_api.h"
#include "realizar/core/mapped_file.h"

namespace rz::classical {
namespace {

namespace fs = std::filesystem;
const std::string kIrisModel = std::string(RZ_SOURCE_DIR) + "/data/iris-model/iris.apr";
const std::string kIrisCsv = std::string(RZ_SOURCE_DIR) + "/data/iris/iris.csv";

std::string temp_path(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("rz_classical_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return (dir / name).string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(Iris, DataSetIsFishers150Rows) {
    auto d = read_sklearn_csv(kIrisCsv);
    ASSERT_TRUE(d.ok()) << d.status().to_string();
    EXPECT_EQ(d->n_samples(), 150);
    EXPECT_EQ(d->n_features, 4);
    EXPECT_EQ(d->class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
    EXPECT_FLOAT_EQ(d->x[0], 5.1f);  // the first row of Fisher's table: 5.1 3.5 1.4 0.2 setosa
    EXPECT_FLOAT_EQ(d->x[3], 0.2f);
    int per_class[3] = {0, 0, 0};
    for (int32_t y : d->y) ++per_class[y];
    EXPECT_EQ(per_class[0], 50);
    EXPECT_EQ(per_class[1], 50);
    EXPECT_EQ(per_class[2], 50);
}

TEST(Iris, ShippedModelClassifiesAtLeast95Percent) {
    auto model = load_classical_model(kIrisModel);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    auto d = read_sklearn_csv(kIrisCsv);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(model->n_inputs(), 4);
    EXPECT_EQ(model->n_parameters(), 131);
    Workspace ws = model->make_workspace();
    std::vector<float> probs(static_cast<size_t>(d->n_samples() * 3));
    ASSERT_TRUE(model->predict_batch(d->x, d->n_samples(), probs, ws).ok());
    int correct = 0;
    for (int64_t s = 0; s < d->n_samples(); ++s) {
        const std::span<const float> row(probs.data() + s * 3, 3);
        const Prediction p = model->interpret(row);
        if (p.class_index == d->y[static_cast<size_t>(s)]) ++correct;
        // Every row also matches the double-precision reference.
        const std::vector<double> x(d->x.begin() + s * 4, d->x.begin() + (s + 1) * 4);
        const std::vector<double> ref = reference_forward(model->spec(), x);
        for (int c = 0; c < 3; ++c) EXPECT_NEAR(row[static_cast<size_t>(c)], ref[static_cast<size_t>(c)], 1e-5) << "row " << s;
    }
    const double accuracy = static_cast<double>(correct) / static_cast<double>(d->n_samples());
    EXPECT_GE(accuracy, 0.95) << correct << " of 150";
}

TEST(Iris, SaveLoadRoundTripIsBitExact) {
    for (BenchModel which : {BenchModel::kIris, BenchModel::kMnist}) {
        const ModelSpec spec = make_bench_spec(which);
        const std::string path = temp_path(std::string(bench_model_name(which)) + ".apr");
        ASSERT_TRUE(save_classical_model(spec, path).ok());
        auto loaded = load_classical_model(path);
        ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
        const ModelSpec& got = loaded->spec();
        EXPECT_EQ(got.type, spec.type);
        EXPECT_EQ(got.name, spec.name);
        EXPECT_EQ(got.activation, spec.activation);
        EXPECT_EQ(got.output, spec.output);
        EXPECT_EQ(got.labels, spec.labels);
        ASSERT_EQ(got.layers.size(), spec.layers.size());
        for (size_t il = 0; il < spec.layers.size(); ++il) {
            EXPECT_EQ(got.layers[il].weight, spec.layers[il].weight);
            EXPECT_EQ(got.layers[il].bias, spec.layers[il].bias);
        }
    }
    // Every model type survives a round trip.
    ModelSpec lin;
    lin.type = ModelType::kLinearRegression;
    lin.output = OutputTransform::kIdentity;
    lin.layers = {DenseWeights{3, 1, {1.0f, -2.0f, 0.5f}, {4.0f}}};
    const std::string path = temp_path("linear.apr");
    ASSERT_TRUE(save_classical_model(lin, path).ok());
    auto m = load_classical_model(path);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    auto p = m->predict_one(std::vector<float>{1.0f, 1.0f, 2.0f});
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->is_classifier);
    EXPECT_FLOAT_EQ(p->values[0], 4.0f);  // 1 - 2 + 1 + 4
}

TEST(Iris, SaveRefusesAnInvalidSpec) {
    ModelSpec bad = make_bench_spec(BenchModel::kIris);
    bad.layers[1].bias.pop_back();
    const std::string path = temp_path("bad.apr");
    EXPECT_FALSE(save_classical_model(bad, path).ok());
    EXPECT_FALSE(fs::exists(path));
}

TEST(Iris, TruncatedOrCorruptedFilesGiveClearErrors) {
    auto bytes = read_file(kIrisModel);
    ASSERT_TRUE(bytes.ok());
    const std::string full = *bytes;
    for (size_t keep : {size_t{0}, size_t{10}, size_t{64}, size_t{200}, full.size() / 2, full.size() - 1}) {
        const std::string path = temp_path("truncated.apr");
        write_bytes(path, full.substr(0, keep));
        auto m = load_classical_model(path);
        ASSERT_FALSE(m.ok()) << "a file cut to " << keep << " bytes loaded";
        EXPECT_NE(m.status().message().find("truncated.apr"), std::string::npos) << m.status().message();
    }
    std::string flipped = full;
    flipped[full.size() - 5] = static_cast<char>(flipped[full.size() - 5] ^ 0x40);  // inside the last tensor
    const std::string path = temp_path("flipped.apr");
    write_bytes(path, flipped);
    auto m = load_classical_model(path);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("flipped.apr"), std::string::npos) << m.status().message();
}

TEST(Iris, EveryPrefixAndEveryByteFlipIsRefusedFromMemory) {
    // Exhaustive over the shipped file (972 bytes): no prefix shorter than the file and no single-bit
    // change anywhere loads, and none crashes (the suite also runs under ASan/UBSan).
    auto bytes = read_file(kIrisModel);
    ASSERT_TRUE(bytes.ok());
    const std::vector<uint8_t> full(bytes->begin(), bytes->end());
    ASSERT_TRUE(load_classical_model_bytes(full, "iris.apr").ok());
    for (size_t keep = 0; keep < full.size(); ++keep) {
        const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(keep));
        EXPECT_FALSE(load_classical_model_bytes(cut, "iris.apr").ok()) << "prefix of " << keep << " bytes loaded";
    }
    for (size_t i = 0; i < full.size(); ++i) {
        std::vector<uint8_t> flipped = full;
        flipped[i] ^= 0x10;
        EXPECT_FALSE(load_classical_model_bytes(flipped, "iris.apr").ok()) << "bit flip at byte " << i << " loaded";
    }
}

TEST(Iris, PredictRequestJson) {
    auto model = load_classical_model(kIrisModel);
    ASSERT_TRUE(model.ok());
    auto r = predict_request(*model, nlohmann::json{{"features", {5.1, 3.5, 1.4, 0.2}}, {"top_k", 2}});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ((*r)["prediction"], 0);
    EXPECT_EQ((*r)["label"], "setosa");
    EXPECT_GT((*r)["confidence"].get<double>(), 0.9);
    ASSERT_EQ((*r)["top_k_predictions"].size(), 2u);
    EXPECT_EQ((*r)["top_k_predictions"][0]["label"], "setosa");
    EXPECT_GE((*r)["top_k_predictions"][0]["probability"].get<double>(), (*r)["top_k_predictions"][1]["probability"].get<double>());
    EXPECT_TRUE((*r)["latency_ms"].is_number());
    double sum = 0;
    for (const auto& v : (*r)["probabilities"]) sum += v.get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-5);

    auto b = predict_batch_request(*model, nlohmann::json{{"instances", {{5.1, 3.5, 1.4, 0.2}, {6.7, 3.0, 5.2, 2.3}}}});
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    EXPECT_EQ((*b)["count"], 2);
    EXPECT_EQ((*b)["predictions"][0]["label"], "setosa");
    EXPECT_EQ((*b)["predictions"][1]["label"], "virginica");

    auto err = [&](const nlohmann::json& req) {
        auto res = predict_request(*model, req);
        EXPECT_FALSE(res.ok());
        return res.ok() ? std::string() : res.status().message();
    };
    EXPECT_NE(err({{"features", {1, 2, 3}}}).find("expected 4 features, got 3"), std::string::npos);
    EXPECT_NE(err({{"features", {1, "x", 3, 4}}}).find("features[1] is not a number"), std::string::npos);
    EXPECT_NE(err({{"features", {1, 1e300, 3, 4}}}).find("features[1]"), std::string::npos);
    EXPECT_NE(err({{"x", 1}}).find("missing field 'features'"), std::string::npos);
    EXPECT_NE(err({{"features", {1, 2, 3, 4}}, {"top_k", 0}}).find("top_k"), std::string::npos);
    PredictLimits limits;
    limits.max_batch = 1;
    auto big = predict_batch_request(*model, nlohmann::json{{"instances", {{1, 2, 3, 4}, {1, 2, 3, 4}}}}, limits);
    ASSERT_FALSE(big.ok());
    EXPECT_NE(big.status().message().find("exceed the limit of 1"), std::string::npos);
    auto bad_row = predict_batch_request(*model, nlohmann::json{{"instances", {{1, 2, 3, 4}, {1, 2}}}});
    ASSERT_FALSE(bad_row.ok());
    EXPECT_NE(bad_row.status().message().find("instances[1]: expected 4 features, got 2"), std::string::npos);
}

// run_classical with its output captured through temporary files.
struct CliResult {
    int code;
    std::string out, err;
};

CliResult run_cli(const cli::ClassicalRunOptions& o) {
    std::FILE* out = std::tmpfile();
    std::FILE* err = std::tmpfile();
    const int code = cli::run_classical(o, out, err);
    auto slurp = [](std::FILE* f) {
        std::string s;
        std::rewind(f);
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
        std::fclose(f);
        return s;
    };
    return {code, slurp(out), slurp(err)};
}

TEST(IrisCli, RunPrintsPredictions) {
    EXPECT_TRUE(cli::is_classical_model(kIrisModel));
    EXPECT_FALSE(cli::is_classical_model(std::string(RZ_SHARED_DIR) + "/data/tinystories-260K/stories260K-f32.gguf"));
    EXPECT_FALSE(cli::is_classical_model("/nonexistent.apr"));

    cli::ClassicalRunOptions o;
    o.model_path = kIrisModel;
    o.features = "5.1,3.5,1.4,0.2";
    CliResult r = run_cli(o);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("prediction: 0 (setosa)"), std::string::npos) << r.out;

    o.format = "json";
    o.features = "6.7, 3.0, 5.2, 2.3";
    r = run_cli(o);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["prediction"], 2);
    EXPECT_EQ(j["label"], "virginica");
    ASSERT_EQ(j["probabilities"].size(), 3u);

    const std::string csv = temp_path("features.csv");
    write_bytes(csv, "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n\n5.9,3.0,4.2,1.5\n");
    o.features.clear();
    o.features_file = csv;
    r = run_cli(o);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\"label\":\"setosa\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"label\":\"versicolor\""), std::string::npos) << r.out;
}

TEST(IrisCli, RunReportsBadInput) {
    cli::ClassicalRunOptions o;
    o.model_path = kIrisModel;
    o.features = "5.1,3.5,1.4";
    CliResult r = run_cli(o);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("--features: 3 features, the model expects 4"), std::string::npos) << r.err;

    o.features = "5.1,abc,1.4,0.2";
    r = run_cli(o);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("value 2 ('abc') is not a number"), std::string::npos) << r.err;

    o.features = "5.1,nan,1.4,0.2";
    r = run_cli(o);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("feature 1 is NaN"), std::string::npos) << r.err;

    o.features = "5.1,inf,1.4,0.2";
    r = run_cli(o);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("feature 1 is Inf"), std::string::npos) << r.err;

    const std::string csv = temp_path("bad.csv");
    write_bytes(csv, "5.1,3.5,1.4,0.2\n5.1,3.5,1.4,0.2,0\n");
    o.features.clear();
    o.features_file = csv;
    r = run_cli(o);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("bad.csv:2: 5 features, the model expects 4"), std::string::npos) << r.err;

    o.features_file.clear();
    r = run_cli(o);
    EXPECT_EQ(r.code, 2);

    o.features = "1,2,3,4";
    o.model_path = "/nonexistent/model.apr";
    r = run_cli(o);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("/nonexistent/model.apr"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rz::classical
