// Trains a 4-16-3 MLP (ReLU, softmax) on Fisher's Iris data with plain mini-batch SGD and saves it as an
// APR classical model that `realizar run` and `realizar serve` load directly.
//
//   train_iris [data/iris/iris.csv] [data/iris-model/iris.apr]
//
// Features are standardised for training, then the standardisation is folded into the first layer
// (W' = W / sigma, b' = b - W mu / sigma), so the saved model takes raw measurements in cm.
// Deterministic: fixed seed, fixed visiting order, double-precision arithmetic.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "realizar/classical/apr_io.h"
#include "realizar/classical/dataset.h"
#include "realizar/classical/model.h"

namespace {

using rz::classical::Dataset;

struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
};

constexpr int kIn = 4, kHidden = 16, kOut = 3;

struct Net {
    std::vector<double> w1 = std::vector<double>(kHidden * kIn);  // [16, 4]
    std::vector<double> b1 = std::vector<double>(kHidden);        // [16]
    std::vector<double> w2 = std::vector<double>(kOut * kHidden);  // [3, 16]
    std::vector<double> b2 = std::vector<double>(kOut);           // [3]
};

// Standardisation statistics over the given rows.
void feature_stats(const Dataset& d, const std::vector<int>& rows, double mu[kIn], double sd[kIn]) {
    for (int j = 0; j < kIn; ++j) {
        double s = 0, s2 = 0;
        for (int r : rows) s += d.x[static_cast<size_t>(r * kIn + j)];
        mu[j] = s / static_cast<double>(rows.size());
        for (int r : rows) s2 += std::pow(d.x[static_cast<size_t>(r * kIn + j)] - mu[j], 2);
        sd[j] = std::sqrt(s2 / static_cast<double>(rows.size()));
    }
}

Net train(const Dataset& d, const std::vector<int>& rows, const double mu[kIn], const double sd[kIn]) {
    SplitMix64 rng{20261126};
    Net n;
    auto init = [&](std::vector<double>& v, int fan_in) {
        const double a = std::sqrt(6.0 / fan_in);  // He-uniform for ReLU
        for (double& x : v) x = (2.0 * rng.uniform() - 1.0) * a;
    };
    init(n.w1, kIn);
    init(n.w2, kHidden);
    const int epochs = 400, batch = 10;
    const double lr = 0.05;
    std::vector<int> order = rows;
    for (int epoch = 0; epoch < epochs; ++epoch) {
        for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.next() % (i + 1)]);  // Fisher-Yates
        for (size_t b0 = 0; b0 < order.size(); b0 += batch) {
            Net g;  // zero gradients
            const size_t b1 = std::min(order.size(), b0 + batch);
            for (size_t k = b0; k < b1; ++k) {
                const int r = order[k];
                double x[kIn], h[kHidden], z[kOut], p[kOut];
                for (int j = 0; j < kIn; ++j) x[j] = (d.x[static_cast<size_t>(r * kIn + j)] - mu[j]) / sd[j];
                for (int o = 0; o < kHidden; ++o) {
                    double a = n.b1[o];
                    for (int j = 0; j < kIn; ++j) a += n.w1[o * kIn + j] * x[j];
                    h[o] = a > 0 ? a : 0;
                }
                double mx = -1e300, sum = 0;
                for (int o = 0; o < kOut; ++o) {
                    z[o] = n.b2[o];
                    for (int j = 0; j < kHidden; ++j) z[o] += n.w2[o * kHidden + j] * h[j];
                    mx = std::max(mx, z[o]);
                }
                for (int o = 0; o < kOut; ++o) sum += (p[o] = std::exp(z[o] - mx));
                // Cross-entropy gradient through softmax: dL/dz = p - onehot(y).
                double dz[kOut], dh[kHidden] = {};
                for (int o = 0; o < kOut; ++o) dz[o] = p[o] / sum - (o == d.y[static_cast<size_t>(r)] ? 1.0 : 0.0);
                for (int o = 0; o < kOut; ++o) {
                    g.b2[o] += dz[o];
                    for (int j = 0; j < kHidden; ++j) {
                        g.w2[o * kHidden + j] += dz[o] * h[j];
                        dh[j] += dz[o] * n.w2[o * kHidden + j];
                    }
                }
                for (int o = 0; o < kHidden; ++o) {
                    if (h[o] <= 0) continue;  // ReLU gate
                    g.b1[o] += dh[o];
                    for (int j = 0; j < kIn; ++j) g.w1[o * kIn + j] += dh[o] * x[j];
                }
            }
            const double step = lr / static_cast<double>(b1 - b0);
            auto apply = [&](std::vector<double>& w, const std::vector<double>& gw) {
                for (size_t i = 0; i < w.size(); ++i) w[i] -= step * gw[i];
            };
            apply(n.w1, g.w1);
            apply(n.b1, g.b1);
            apply(n.w2, g.w2);
            apply(n.b2, g.b2);
        }
    }
    return n;
}

// The trained net as an APR model spec, with the standardisation folded into layer 0.
rz::classical::ModelSpec to_spec(const Net& n, const double mu[kIn], const double sd[kIn], const Dataset& d) {
    rz::classical::ModelSpec spec;
    spec.type = rz::classical::ModelType::kMlp;
    spec.name = "iris-mlp-4-16-3";
    spec.activation = rz::classical::Activation::kRelu;
    spec.output = rz::classical::OutputTransform::kSoftmax;
    spec.labels = d.class_names;
    rz::classical::DenseWeights l0{kIn, kHidden, std::vector<float>(kHidden * kIn), std::vector<float>(kHidden)};
    for (int o = 0; o < kHidden; ++o) {
        double b = n.b1[o];
        for (int j = 0; j < kIn; ++j) {
            l0.weight[static_cast<size_t>(o * kIn + j)] = static_cast<float>(n.w1[o * kIn + j] / sd[j]);
            b -= n.w1[o * kIn + j] * mu[j] / sd[j];
        }
        l0.bias[static_cast<size_t>(o)] = static_cast<float>(b);
    }
    rz::classical::DenseWeights l1{kHidden, kOut, std::vector<float>(n.w2.begin(), n.w2.end()),
                                   std::vector<float>(n.b2.begin(), n.b2.end())};
    spec.layers = {std::move(l0), std::move(l1)};
    return spec;
}

double accuracy(const rz::classical::ClassicalModel& m, const Dataset& d, const std::vector<int>& rows) {
    int correct = 0;
    for (int r : rows) {
        auto p = m.predict_one(std::span<const float>(d.x.data() + r * kIn, kIn));
        if (p.ok() && p->class_index == d.y[static_cast<size_t>(r)]) ++correct;
    }
    return static_cast<double>(correct) / static_cast<double>(rows.size());
}

}  // namespace

int main(int argc, char** argv) {
    const std::string csv = argc > 1 ? argv[1] : "data/iris/iris.csv";
    const std::string out = argc > 2 ? argv[2] : "data/iris-model/iris.apr";
    auto data = rz::classical::read_sklearn_csv(csv);
    if (!data.ok()) {
        std::fprintf(stderr, "train_iris: %s\n", data.status().to_string().c_str());
        return 1;
    }
    if (data->n_features != kIn || data->class_names.size() != kOut) {
        std::fprintf(stderr, "train_iris: %s is not the Iris data (4 features, 3 classes)\n", csv.c_str());
        return 1;
    }
    const Dataset& d = *data;
    double mu[kIn], sd[kIn];

    // 1) Honest estimate: train on 4 of every 5 rows, evaluate on the held-out fifth.
    std::vector<int> train_rows, test_rows;
    for (int r = 0; r < d.n_samples(); ++r) (r % 5 == 4 ? test_rows : train_rows).push_back(r);
    feature_stats(d, train_rows, mu, sd);
    auto holdout = rz::classical::ClassicalModel::create(to_spec(train(d, train_rows, mu, sd), mu, sd, d));
    if (!holdout.ok()) {
        std::fprintf(stderr, "train_iris: %s\n", holdout.status().to_string().c_str());
        return 1;
    }
    std::printf("held-out accuracy (trained on %zu rows, tested on %zu): %.2f%%\n", train_rows.size(),
                test_rows.size(), 100.0 * accuracy(*holdout, d, test_rows));

    // 2) The shipped model: trained on all 150 rows.
    std::vector<int> all(static_cast<size_t>(d.n_samples()));
    std::iota(all.begin(), all.end(), 0);
    feature_stats(d, all, mu, sd);
    rz::classical::ModelSpec spec = to_spec(train(d, all, mu, sd), mu, sd, d);
    auto model = rz::classical::ClassicalModel::create(spec);
    if (!model.ok()) {
        std::fprintf(stderr, "train_iris: %s\n", model.status().to_string().c_str());
        return 1;
    }
    std::printf("accuracy on all %lld rows: %.2f%%\n", static_cast<long long>(d.n_samples()), 100.0 * accuracy(*model, d, all));
    if (rz::Status s = rz::classical::save_classical_model(spec, out); !s.ok()) {
        std::fprintf(stderr, "train_iris: %s\n", s.to_string().c_str());
        return 1;
    }
    std::printf("saved %s (%lld parameters)\n", out.c_str(), static_cast<long long>(model->n_parameters()));
    return 0;
}
