// Every ../shared/golden model (llama_gqa, qwen2, phi2, gpt2) through `realizar convert`: HF -> GGUF f32 / f16,
// HF -> APR, HF -> GGUF -> HF folder; each loads in the runtime and gives the transformers logits:
// f32 paths within 1e-4 of the logits' std, f16 within 1e-2 (2^-11 relative rounding per weight; the
// runtime's own GGUF F16 test measures 1.7e-3 to 2.8e-3 on these models).
#include "convert/convert_util.h"

namespace rz::test {
namespace {

struct Case {
    std::string model;
    std::string route;  // gguf-f32, gguf-f16, apr, hf-roundtrip
};

class ConvertGolden : public testing::TestWithParam<Case> {};

TEST_P(ConvertGolden, LogitsMatchTransformers) {
    const Case& c = GetParam();
    ScratchDir dir;
    std::string path;
    Status st = Status::Ok();
    if (c.route == "gguf-f32") st = convert(golden_dir(c.model), path = dir / "m.gguf", "f32");
    if (c.route == "gguf-f16") st = convert(golden_dir(c.model), path = dir / "m.gguf", "f16");
    if (c.route == "apr") st = convert(golden_dir(c.model), path = dir / "m.apr");
    if (c.route == "hf-roundtrip") {
        st = convert(golden_dir(c.model), dir / "m.gguf", "f32");
        if (st.ok()) st = convert(dir / "m.gguf", path = dir / "hf");
    }
    ASSERT_TRUE(st.ok()) << st.to_string();
    runtime::ModelOptions mo;
    mo.n_threads = 1;
    auto m = runtime::Model::load(path, mo);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    auto g = read_json(golden_dir(c.model) + "/golden.json");
    double worst = 0.0;
    for (size_t k = 0; k < g["logits"].size(); ++k) {
        runtime::ContextOptions o;
        o.cache_type = DType::F32;
        o.n_threads = 1;
        auto ctx = runtime::Context::create(*m, o);
        ASSERT_TRUE(ctx.ok());
        auto ours = prefill_logits(**ctx, g["sequences"][k].get<std::vector<int32_t>>());
        ASSERT_TRUE(ours.ok()) << ours.status().to_string();
        auto ref = read_f32(golden_dir(c.model) + "/" + g["logits"][k]["file"].get<std::string>());
        worst = std::max(worst, max_rel(*ours, ref, g["logits"][k]["std"].get<double>()));
    }
    RecordProperty("max_err_over_std", std::to_string(worst));
    EXPECT_LE(worst, c.route == "gguf-f16" ? 1e-2 : 1e-4) << c.model << " " << c.route;
}

std::vector<Case> cases() {
    std::vector<Case> out;
    for (const char* m : {"llama_gqa", "qwen2", "phi2", "gpt2"})
        for (const char* r : {"gguf-f32", "gguf-f16", "apr", "hf-roundtrip"}) out.push_back({m, r});
    return out;
}

INSTANTIATE_TEST_SUITE_P(Models, ConvertGolden, testing::ValuesIn(cases()), [](const testing::TestParamInfo<Case>& i) {
    std::string n = i.param.model + "_" + i.param.route;
    for (char& ch : n)
        if (ch == '-') ch = '_';
    return n;
});

}  // namespace
}  // namespace rz::test
