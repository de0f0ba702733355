// `realizar inspect` end to end: runs the built binary (RZ_REALIZAR_BIN) on real files and checks its text
// and JSON output against the readers' own view.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "formats/test_util.h"
#include "realizar/formats/apr.h"
#include "realizar/formats/inspect.h"
#include "realizar/formats/model_file.h"

namespace rz::formats {
namespace {

using test::shared;

struct CliRun {
    int rc = -1;
    std::string out;
};

CliRun run_inspect(const std::string& args) {
    CliRun r;
    if (!std::filesystem::exists(RZ_REALIZAR_BIN)) {
        ADD_FAILURE() << "realizar binary not built: " << RZ_REALIZAR_BIN;
        return r;
    }
    const std::string cmd = std::string(RZ_REALIZAR_BIN) + " inspect " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

TEST(InspectCli, GgufJsonIsCompleteAndMatchesTheReader) {
    const std::string path = shared("data/tinystories-260K/stories260K-f32.gguf");
    const CliRun r = run_inspect(path + " --json");
    ASSERT_EQ(r.rc, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.out.substr(0, 500);
    EXPECT_EQ(j["format"], "gguf");
    EXPECT_EQ(j["version"], 3);
    EXPECT_EQ(j["n_tensors"], 48);
    EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"].size(), 512u);  // complete, not summarised
    EXPECT_EQ(j["metadata_types"]["tokenizer.ggml.tokens"], "array[string]");
    EXPECT_EQ(j["metadata"]["llama.block_count"], 5);
    EXPECT_EQ(j["metadata"]["llama.attention.layer_norm_rms_epsilon"], 1e-05);
    auto mf = open_model_file(path);
    ASSERT_TRUE(mf.ok());
    ASSERT_EQ(j["tensors"].size(), mf->tensors.size());
    for (size_t i = 0; i < mf->tensors.size(); ++i) {
        const auto& t = j["tensors"][i];
        EXPECT_EQ(t["name"], mf->tensors[i].name);
        EXPECT_EQ(t["shape"].template get<std::vector<int64_t>>(), mf->tensors[i].shape);
        EXPECT_EQ(t["n_bytes"], mf->tensors[i].n_bytes);
        EXPECT_EQ(t["offset"], mf->tensors[i].offset);
        EXPECT_EQ(t["dtype"], "f32");
    }
    EXPECT_EQ(*mf->find_meta("tokenizer.ggml.tokens")->as_array()->items[511].as_string(),
              j["metadata"]["tokenizer.ggml.tokens"][511].template get<std::string>());
}

TEST(InspectCli, TextSummarisesLongArrays) {
    const CliRun r = run_inspect(shared("data/llama.cpp-vocab/ggml-vocab-gpt-2.gguf"));
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("format:    gguf (version 3)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[50257 items]"), std::string::npos);
    EXPECT_NE(r.out.find("(50249 more)"), std::string::npos);
    EXPECT_NE(r.out.find("tokenizer.ggml.merges"), std::string::npos);
    EXPECT_LT(r.out.size(), 20000u);  // 50K tokens + 50K merges summarised
}

TEST(InspectCli, EveryFormat) {
    struct Case {
        std::string path, format, must_contain;
    };
    test::TempDir dir("inspect");
    {
        AprWriter w(dir.file("m.apr"));
        w.set_metadata_json(R"({"model_type":"mlp","activation":"relu"})");
        w.add_tensor("layers.0.weight", DType::F32, {16, 4});
        ASSERT_TRUE(w.begin().ok());
        ASSERT_TRUE(w.write_tensor(std::vector<uint8_t>(256, 0)).ok());
        ASSERT_TRUE(w.finish().ok());
    }
    const Case cases[] = {
        {shared("golden/phi2"), "hf-folder", "model.layers.1.mlp.fc2.weight"},
        {shared("golden/gpt2/bf16/model.safetensors"), "safetensors", "bf16"},
        {shared("data/tinystories-260K/stories260K.bin"), "llama2c", "blk.4.ffn_up.weight"},
        {dir.file("m.apr"), "apr", "layers.0.weight"},
    };
    for (const Case& c : cases) {
        const CliRun t = run_inspect(c.path);
        ASSERT_EQ(t.rc, 0) << t.out;
        EXPECT_NE(t.out.find(c.must_contain), std::string::npos) << c.path << "\n" << t.out;
        const CliRun js = run_inspect(c.path + " --json");
        ASSERT_EQ(js.rc, 0) << js.out;
        const auto j = nlohmann::json::parse(js.out, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << c.path;
        EXPECT_EQ(j["format"], c.format) << c.path;
        EXPECT_GT(j["tensors"].size(), 0u);
    }
    // -m / --model, as run, bench and tokenize take it: the same output as the positional.
    const std::string bin = shared("data/tinystories-260K/stories260K.bin");
    const CliRun pos = run_inspect(bin), opt = run_inspect("-m " + bin), lng = run_inspect("--model " + bin);
    EXPECT_EQ(opt.rc, 0) << opt.out;
    EXPECT_EQ(opt.out, pos.out);
    EXPECT_EQ(lng.out, pos.out);
}

TEST(InspectCli, BadInputFailsWithTheFileName) {
    test::TempDir dir("inspect-bad");
    test::write_bytes(dir.file("broken.gguf"), test::Bytes().raw("GGUF").put<uint32_t>(3).b);
    const CliRun r = run_inspect(dir.file("broken.gguf"));
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("broken.gguf"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("truncated"), std::string::npos) << r.out;
    const CliRun missing = run_inspect(dir.file("missing.gguf"));
    EXPECT_NE(missing.rc, 0);
    EXPECT_NE(missing.out.find("missing.gguf"), std::string::npos);
}

TEST(Inspect, LongStringsAreCutInTextOnly) {
    ModelFile mf;
    mf.metadata.emplace_back("tokenizer.chat_template", MetaValue::str(std::string(1000, 'x') + "\n"));
    mf.build_index();
    const std::string text = inspect_text(mf);
    EXPECT_NE(text.find("... (1001 bytes)"), std::string::npos) << text;
    const auto j = nlohmann::json::parse(inspect_json(mf));
    EXPECT_EQ(j["metadata"]["tokenizer.chat_template"].get<std::string>().size(), 1001u);
}

}  // namespace
}  // namespace rz::formats
