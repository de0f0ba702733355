// `realizar run MODEL --tokens ... --logits-out FILE` end to end: raw little-endian float32 [T, V] that
// matches the HF golden logits, and clear failures on bad input.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/golden_util.h"

namespace rz::test {
namespace {

namespace fs = std::filesystem;

int run(const std::string& args, std::string* err = nullptr) {
    const fs::path errf = fs::temp_directory_path() / ("rz_cli_err_" + std::to_string(::getpid()));
    const std::string cmd = std::string(RZ_REALIZAR_BIN) + " run " + args + " 2> " + errf.string();
    const int rc = std::system(cmd.c_str());
    if (err) {
        std::ifstream in(errf);
        std::stringstream ss;
        ss << in.rdbuf();
        *err = ss.str();
    }
    fs::remove(errf);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string join(const std::vector<int32_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += ',';
        s += std::to_string(v[i]);
    }
    return s;
}

TEST(CliLogits, GoldenModelsMatchThroughTheCli) {
    const fs::path out = fs::temp_directory_path() / ("rz_cli_logits_" + std::to_string(::getpid()) + ".f32");
    for (const char* m : {"llama_gqa", "gpt2"}) {
        auto g = read_json(golden_dir(m) + "/golden.json");
        auto seq = g["sequences"][1].get<std::vector<int32_t>>();
        std::string err;
        ASSERT_EQ(run(golden_dir(m) + " --tokens " + join(seq) + " --logits-out " + out.string() + " --cache-type f32 --threads 2", &err), 0) << err;
        auto ours = read_f32(out.string());
        auto ref = read_f32(golden_dir(m) + "/" + g["logits"][1]["file"].get<std::string>());
        ASSERT_EQ(ours.size(), ref.size()) << m;
        EXPECT_LE(max_rel(ours, ref, g["logits"][1]["std"].get<double>()), 1e-4) << m;
    }
    fs::remove(out);
}

TEST(CliLogits, BadInputFailsWithAMessage) {
    const fs::path out = fs::temp_directory_path() / ("rz_cli_bad_" + std::to_string(::getpid()) + ".f32");
    std::string err;
    EXPECT_NE(run(golden_dir("llama_gqa") + " --tokens 1,2,9999 --logits-out " + out.string(), &err), 0);
    EXPECT_NE(err.find("9999"), std::string::npos) << err;
    EXPECT_NE(run(golden_dir("llama_gqa") + " --tokens 1,x --logits-out " + out.string(), &err), 0);
    EXPECT_NE(err.find("x"), std::string::npos) << err;
    EXPECT_NE(run(golden_dir("llama_gqa") + " --tokens 1,2,3,4,5 --ctx-size 3 --logits-out " + out.string(), &err), 0);
    EXPECT_NE(err.find("context overflow"), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace rz::test
