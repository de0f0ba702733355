// Writes the three classical benchmark models as APR files (deterministic weights, see
// include/realizar/classical/bench_models.h), reloads each one and checks it against the f64 reference:
//
//   make_bench_models [OUT_DIR]        (default: bench-models)
//   -> OUT_DIR/iris-4-16-3.apr  OUT_DIR/mnist-784-128-10.apr  OUT_DIR/mlp-1m.apr
//
// Then e.g.: realizar run OUT_DIR/iris-4-16-3.apr --features 5.1,3.5,1.4,0.2
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "realizar/classical/apr_io.h"
#include "realizar/classical/bench_models.h"

int main(int argc, char** argv) {
    namespace rc = rz::classical;
    const std::string dir = argc > 1 ? argv[1] : "bench-models";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        std::fprintf(stderr, "make_bench_models: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
        return 1;
    }
    for (rc::BenchModel which : rc::kBenchModels) {
        const rc::ModelSpec spec = rc::make_bench_spec(which);
        const char* file = which == rc::BenchModel::kIris    ? "iris-4-16-3.apr"
                           : which == rc::BenchModel::kMnist ? "mnist-784-128-10.apr"
                                                             : "mlp-1m.apr";
        const std::string path = dir + "/" + file;
        if (rz::Status s = rc::save_classical_model(spec, path); !s.ok()) {
            std::fprintf(stderr, "make_bench_models: %s\n", s.to_string().c_str());
            return 1;
        }
        // Reload and compare one prediction with the double-precision reference.
        auto model = rc::load_classical_model(path);
        if (!model.ok()) {
            std::fprintf(stderr, "make_bench_models: %s\n", model.status().to_string().c_str());
            return 1;
        }
        const std::vector<float> x = rc::make_bench_inputs(which, 1);
        auto p = model->predict_one(x);
        const std::vector<double> ref = rc::reference_forward(spec, std::vector<double>(x.begin(), x.end()));
        double max_err = 0;
        for (size_t i = 0; i < ref.size(); ++i) max_err = std::fmax(max_err, std::fabs(p->values[i] - ref[i]));
        std::printf("%-28s %9lld parameters  %9ju bytes  class %lld  max |f32 - f64| = %.2g\n", path.c_str(),
                    static_cast<long long>(model->n_parameters()),
                    static_cast<uintmax_t>(std::filesystem::file_size(path)), static_cast<long long>(p->class_index),
                    max_err);
        if (max_err > 1e-5) {
            std::fprintf(stderr, "make_bench_models: %s disagrees with the reference\n", path.c_str());
            return 1;
        }
    }
    return 0;
}
