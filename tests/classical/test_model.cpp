// ClassicalModel against the double-precision reference, for every ISA this CPU runs, every activation and
// output transform, and shapes that exercise tile edges (widths around 16/64 multiples).
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "classical/packed.h"
#include "realizar/classical/model.h"

namespace rz::classical {
namespace {

ModelSpec random_spec(std::vector<int64_t> widths, Activation act, OutputTransform out, uint32_t seed,
                      ModelType type = ModelType::kMlp) {
    std::mt19937 rng(seed);
    ModelSpec spec;
    spec.type = type;
    spec.activation = act;
    spec.output = out;
    for (size_t il = 0; il + 1 < widths.size(); ++il) {
        DenseWeights l;
        l.n_in = widths[il];
        l.n_out = widths[il + 1];
        std::normal_distribution<float> dist(0.0f, 1.5f / std::sqrt(static_cast<float>(l.n_in)));
        l.weight.resize(static_cast<size_t>(l.n_in * l.n_out));
        l.bias.resize(static_cast<size_t>(l.n_out));
        for (float& w : l.weight) w = dist(rng);
        for (float& b : l.bias) b = dist(rng);
        spec.layers.push_back(std::move(l));
    }
    return spec;
}

std::vector<float> random_input(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = dist(rng);
    return x;
}

std::vector<Isa> supported_isas() {
    std::vector<Isa> out;
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
        if (isa_supported(isa)) out.push_back(isa);
    }
    return out;
}

// |got - ref| <= 1e-5 * max(1, |ref|): absolute for probabilities, relative for large regression values.
void expect_close(const std::vector<float>& got, const std::vector<double>& ref, const std::string& what) {
    ASSERT_EQ(got.size(), ref.size()) << what;
    for (size_t i = 0; i < ref.size(); ++i) {
        EXPECT_LE(std::abs(static_cast<double>(got[i]) - ref[i]), 1e-5 * std::max(1.0, std::abs(ref[i])))
            << what << " output " << i << ": got " << got[i] << " want " << ref[i];
    }
}

struct Case {
    std::vector<int64_t> widths;
    Activation act;
    OutputTransform out;
};

void check_against_reference(const ModelSpec& spec, Isa isa, const std::string& what) {
    auto model = ClassicalModel::create(spec, isa);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    Workspace ws = model->make_workspace();
    const int64_t n_in = model->n_inputs();
    const int64_t n_out = model->n_outputs();
    // Single samples.
    for (uint32_t s = 0; s < 5; ++s) {
        const std::vector<float> x = random_input(n_in, 1000 + s);
        std::vector<float> got(static_cast<size_t>(n_out));
        ASSERT_TRUE(model->predict(x, got, ws).ok());
        const std::vector<double> xd(x.begin(), x.end());
        expect_close(got, reference_forward(spec, xd), what + " sample " + std::to_string(s));
    }
    // Batches: sizes around the 4-sample micro-kernel and the 64-sample block.
    for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{4}, int64_t{7}, int64_t{69}}) {
        const std::vector<float> x = random_input(n * n_in, 77 + static_cast<uint32_t>(n));
        std::vector<float> got(static_cast<size_t>(n * n_out));
        ASSERT_TRUE(model->predict_batch(x, n, got, ws).ok());
        for (int64_t s = 0; s < n; ++s) {
            const std::vector<double> xd(x.begin() + s * n_in, x.begin() + (s + 1) * n_in);
            const std::vector<float> row(got.begin() + s * n_out, got.begin() + (s + 1) * n_out);
            expect_close(row, reference_forward(spec, xd), what + " batch " + std::to_string(n) + " row " + std::to_string(s));
        }
    }
}

TEST(ClassicalModel, MatchesDoubleReferenceOnEveryIsa) {
    const std::vector<Case> cases = {
        {{4, 16, 3}, Activation::kRelu, OutputTransform::kSoftmax},
        {{4, 16, 3}, Activation::kTanh, OutputTransform::kSoftmax},
        {{5, 17, 33, 2}, Activation::kSigmoid, OutputTransform::kSigmoid},
        {{7, 65, 130, 1}, Activation::kGelu, OutputTransform::kIdentity},
        {{100, 64, 10}, Activation::kRelu, OutputTransform::kSoftmax},
        {{1, 200, 1}, Activation::kTanh, OutputTransform::kSigmoid},
        {{33, 129, 47}, Activation::kIdentity, OutputTransform::kIdentity},
        {{784, 128, 10}, Activation::kRelu, OutputTransform::kSoftmax},
        // Softmax over several tiles (80 = 64 + 16 padded outputs; 32 = one 2-register tile; 16 exactly).
        {{20, 40, 70}, Activation::kRelu, OutputTransform::kSoftmax},
        {{8, 30, 20}, Activation::kGelu, OutputTransform::kSoftmax},
        {{3, 16}, Activation::kRelu, OutputTransform::kSoftmax},
        {{6, 12, 130}, Activation::kSigmoid, OutputTransform::kSoftmax},
    };
    uint32_t seed = 1;
    for (const Case& c : cases) {
        const ModelSpec spec = random_spec(c.widths, c.act, c.out, seed++);
        for (Isa isa : supported_isas()) {
            check_against_reference(spec, isa, std::string(isa_name(isa)) + " " + std::string(activation_name(c.act)) +
                                                   " " + std::string(output_transform_name(c.out)) + " w0=" +
                                                   std::to_string(c.widths[0]));
        }
    }
}

TEST(ClassicalModel, RandomArchitecturesMatchReference) {
    // 40 random models: depth 1-4, widths 1-150, every activation and output, every ISA.
    std::mt19937 rng(4242);
    const Activation acts[] = {Activation::kRelu, Activation::kTanh, Activation::kSigmoid, Activation::kGelu,
                               Activation::kIdentity};
    for (int m = 0; m < 40; ++m) {
        const int depth = 1 + static_cast<int>(rng() % 4);
        std::vector<int64_t> widths;
        for (int i = 0; i <= depth; ++i) widths.push_back(1 + static_cast<int64_t>(rng() % 150));
        OutputTransform out = static_cast<OutputTransform>(rng() % 3);
        if (out == OutputTransform::kSoftmax && widths.back() < 2) widths.back() = 2;
        const Activation act = acts[rng() % 5];
        const ModelSpec spec = random_spec(widths, act, out, 500 + static_cast<uint32_t>(m));
        for (Isa isa : supported_isas()) {
            check_against_reference(spec, isa, "random model " + std::to_string(m) + " " + std::string(isa_name(isa)));
        }
    }
}

TEST(ClassicalModel, ActivationsSaturateCorrectlyForLargeInputs) {
    // One identity-weight layer feeding large values through each activation: checks the clamps in the
    // vector exp (no Inf/NaN, tanh/sigmoid saturate to exactly the right limits).
    for (Activation act : {Activation::kTanh, Activation::kSigmoid, Activation::kGelu, Activation::kRelu}) {
        ModelSpec spec;
        spec.activation = act;
        spec.output = OutputTransform::kIdentity;
        DenseWeights l0{6, 6, std::vector<float>(36, 0.0f), std::vector<float>(6, 0.0f)};
        for (int i = 0; i < 6; ++i) l0.weight[static_cast<size_t>(i * 6 + i)] = 1.0f;
        DenseWeights l1 = l0;
        spec.layers = {l0, l1};
        const std::vector<float> x = {-200.0f, -30.0f, -1e-4f, 0.0f, 25.0f, 150.0f};
        const std::vector<double> xd(x.begin(), x.end());
        for (Isa isa : supported_isas()) {
            auto model = ClassicalModel::create(spec, isa);
            ASSERT_TRUE(model.ok());
            Workspace ws = model->make_workspace();
            std::vector<float> got(6);
            ASSERT_TRUE(model->predict(x, got, ws).ok());
            expect_close(got, reference_forward(spec, xd), std::string(isa_name(isa)) + " " + std::string(activation_name(act)));
        }
    }
}

TEST(ClassicalModel, LinearAndLogisticRegression) {
    for (Isa isa : supported_isas()) {
        check_against_reference(random_spec({13, 1}, Activation::kRelu, OutputTransform::kIdentity, 11,
                                            ModelType::kLinearRegression), isa, "linear");
        check_against_reference(random_spec({9, 1}, Activation::kRelu, OutputTransform::kSigmoid, 12,
                                            ModelType::kLogisticRegression), isa, "logistic binary");
        check_against_reference(random_spec({9, 5}, Activation::kRelu, OutputTransform::kSoftmax, 13,
                                            ModelType::kLogisticRegression), isa, "logistic multinomial");
    }
}

TEST(ClassicalModel, InterpretsClassifierOutputs) {
    ModelSpec spec = random_spec({3, 1}, Activation::kRelu, OutputTransform::kSigmoid, 5, ModelType::kLogisticRegression);
    spec.labels = {"no", "yes"};
    spec.layers[0].weight = {1.0f, 0.0f, 0.0f};
    spec.layers[0].bias = {0.0f};
    auto model = ClassicalModel::create(spec);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    EXPECT_EQ(model->n_classes(), 2);
    auto p = model->predict_one(std::vector<float>{2.0f, 0.0f, 0.0f});
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->class_index, 1);
    EXPECT_EQ(p->label, "yes");
    ASSERT_EQ(p->probabilities.size(), 2u);
    EXPECT_NEAR(p->probabilities[1], 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
    EXPECT_NEAR(p->confidence, p->probabilities[1], 1e-7);
    auto q = model->predict_one(std::vector<float>{-2.0f, 0.0f, 0.0f});
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->class_index, 0);
    EXPECT_EQ(q->label, "no");
}

TEST(ClassicalModel, RejectsBadInputs) {
    auto model = ClassicalModel::create(random_spec({4, 16, 3}, Activation::kRelu, OutputTransform::kSoftmax, 3));
    ASSERT_TRUE(model.ok());
    Workspace ws = model->make_workspace();
    std::vector<float> out(3);
    Status s = model->predict(std::vector<float>{1, 2, 3}, out, ws);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("expected 4 features, got 3"), std::string::npos) << s.message();
    s = model->predict(std::vector<float>{1, NAN, 3, 4}, out, ws);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("feature 1 is NaN"), std::string::npos) << s.message();
    s = model->predict(std::vector<float>{1, 2, 3, -INFINITY}, out, ws);
    EXPECT_NE(s.message().find("feature 3 is Inf"), std::string::npos) << s.message();
    std::vector<float> batch(8, 1.0f);
    batch[6] = INFINITY;
    std::vector<float> bout(6);
    s = model->predict_batch(batch, 2, bout, ws);
    EXPECT_NE(s.message().find("sample 1 feature 2 is Inf"), std::string::npos) << s.message();
    s = model->predict_batch(batch, 3, bout, ws);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    Workspace empty;
    s = model->predict(std::vector<float>{1, 2, 3, 4}, out, empty);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    // A workspace from a smaller model is refused, not overrun.
    auto small = ClassicalModel::create(random_spec({4, 3}, Activation::kRelu, OutputTransform::kSoftmax, 4));
    ASSERT_TRUE(small.ok());
    auto big = ClassicalModel::create(random_spec({4, 300, 3}, Activation::kRelu, OutputTransform::kSoftmax, 4));
    ASSERT_TRUE(big.ok());
    Workspace small_ws = small->make_workspace();
    EXPECT_FALSE(big->predict(std::vector<float>{1, 2, 3, 4}, out, small_ws).ok());
}

TEST(ClassicalModel, ValidationNamesTheProblem) {
    auto msg = [](const ModelSpec& s) { return validate_spec(s).message(); };
    ModelSpec good = random_spec({4, 8, 3}, Activation::kRelu, OutputTransform::kSoftmax, 9);
    EXPECT_TRUE(validate_spec(good).ok());

    ModelSpec chain = good;
    chain.layers[1] = random_spec({7, 3}, Activation::kRelu, OutputTransform::kSoftmax, 1).layers[0];
    EXPECT_NE(msg(chain).find("layers.1.weight has 7 inputs but layers.0 has 8 outputs"), std::string::npos) << msg(chain);

    ModelSpec size = good;
    size.layers[0].weight.pop_back();
    EXPECT_NE(msg(size).find("layers.0.weight: 31 values for shape [8, 4]"), std::string::npos) << msg(size);

    ModelSpec bias = good;
    bias.layers[1].bias.push_back(0.0f);
    EXPECT_NE(msg(bias).find("layers.1.bias"), std::string::npos);

    ModelSpec nan = good;
    nan.layers[1].weight[5] = NAN;
    EXPECT_NE(msg(nan).find("layers.1.weight: element 5 is NaN"), std::string::npos) << msg(nan);

    ModelSpec labels = good;
    labels.labels = {"a", "b"};
    EXPECT_NE(msg(labels).find("labels has 2 names but the model has 3 classes"), std::string::npos) << msg(labels);

    ModelSpec linear = good;
    linear.type = ModelType::kLinearRegression;
    EXPECT_NE(msg(linear).find("exactly one layer"), std::string::npos);

    ModelSpec logistic = random_spec({4, 3}, Activation::kRelu, OutputTransform::kSigmoid, 2, ModelType::kLogisticRegression);
    EXPECT_NE(msg(logistic).find("needs output softmax"), std::string::npos) << msg(logistic);

    ModelSpec none;
    EXPECT_NE(msg(none).find("no layers"), std::string::npos);
    EXPECT_FALSE(ClassicalModel::create(none).ok());
}

TEST(ClassicalModel, DispatchUsesTheRealSimdKernels) {
    // Guards against a build that silently compiled the SIMD files without their ISA flags.
    for (Isa isa : supported_isas()) EXPECT_EQ(std::string(detail::kernels_for(isa).name), std::string(isa_name(isa)));
}

TEST(ClassicalModel, NamesRoundTrip) {
    for (auto t : {ModelType::kMlp, ModelType::kLinearRegression, ModelType::kLogisticRegression}) {
        EXPECT_EQ(parse_model_type(model_type_name(t)), t);
    }
    for (auto a : {Activation::kRelu, Activation::kTanh, Activation::kSigmoid, Activation::kGelu, Activation::kIdentity}) {
        EXPECT_EQ(parse_activation(activation_name(a)), a);
    }
    for (auto o : {OutputTransform::kSoftmax, OutputTransform::kSigmoid, OutputTransform::kIdentity}) {
        EXPECT_EQ(parse_output_transform(output_transform_name(o)), o);
    }
    EXPECT_FALSE(parse_activation("swish").has_value());
}

}  // namespace
}  // namespace rz::classical
