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

std::string file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// --logits-out naming the model (a file, or a file of a model folder) is refused and leaves the model intact.
TEST(CliLogits, NeverOverwritesTheModel) {
    const fs::path d = fs::temp_directory_path() / ("rz_cli_keep_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d / "hf");
    const fs::path bin = d / "stories260K.bin";
    fs::copy_file(shared_dir() + "/data/tinystories-260K/stories260K.bin", bin);
    const std::string before = file_bytes(bin);
    std::string err;
    EXPECT_EQ(run(bin.string() + " --tokens 1,403 --logits-out " + bin.string(), &err), 1);
    EXPECT_NE(err.find("is the MODEL"), std::string::npos) << err;
    const fs::path dot = fs::relative(bin, fs::current_path());  // the same file through another spelling
    EXPECT_EQ(run(bin.string() + " --tokens 1,403 --logits-out " + dot.string(), &err), 1) << err;
    EXPECT_EQ(file_bytes(bin), before);
    // a Hugging Face folder: an existing file inside it is refused, a new one is written
    for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(golden_dir("llama_gqa") + "/" + f, d / "hf" / f);
    const std::string cfg = file_bytes(d / "hf" / "config.json");
    EXPECT_EQ(run((d / "hf").string() + " --tokens 1,2 --logits-out " + (d / "hf" / "config.json").string(), &err), 1);
    EXPECT_NE(err.find("MODEL folder"), std::string::npos) << err;
    EXPECT_EQ(file_bytes(d / "hf" / "config.json"), cfg);
    EXPECT_EQ(run((d / "hf").string() + " --tokens 1,2 --logits-out " + (d / "hf" / "new.f32").string(), &err), 0) << err;
    EXPECT_TRUE(fs::exists(d / "hf" / "new.f32"));
    fs::remove_all(d);
}

}  // namespace
}  // namespace rz::test
