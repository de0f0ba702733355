// load_apr [FILE.apr]: print an APR file's metadata and tensors. Without an argument it first writes a
// small classical model (a 4 -> 3 linear layer) with the streaming AprWriter to a temporary file, then
// reads it back, showing both halves of the API.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "realizar/formats/apr.h"
#include "realizar/formats/inspect.h"

int main(int argc, char** argv) {
    std::string path;
    if (argc == 2) {
        path = argv[1];
    } else {
        path = (std::filesystem::temp_directory_path() / "realizar-example.apr").string();
        rz::formats::AprWriter w(path);
        w.set_metadata_json(R"({"model_type":"logistic_regression","labels":["setosa","versicolor","virginica"]})");
        w.add_tensor("layers.0.weight", rz::DType::F32, {3, 4});  // [n_out, n_in]
        w.add_tensor("layers.0.bias", rz::DType::F32, {3});
        std::vector<float> weight(12), bias = {0.1f, -0.2f, 0.3f};
        for (int i = 0; i < 12; ++i) weight[i] = 0.5f - 0.1f * static_cast<float>(i);
        rz::Status st = w.begin();
        if (st.ok()) st = w.write_tensor({reinterpret_cast<const uint8_t*>(weight.data()), weight.size() * 4});
        if (st.ok()) st = w.write_tensor({reinterpret_cast<const uint8_t*>(bias.data()), bias.size() * 4});
        if (st.ok()) st = w.finish();
        if (!st.ok()) {
            std::fprintf(stderr, "%s\n", st.to_string().c_str());
            return 1;
        }
        std::printf("wrote %s\n", path.c_str());
    }
    auto mf = rz::formats::open_apr(path);
    if (!mf.ok()) {
        std::fprintf(stderr, "%s\n", mf.status().to_string().c_str());
        return 1;
    }
    std::printf("%s", rz::formats::inspect_text(*mf).c_str());
    return 0;
}
