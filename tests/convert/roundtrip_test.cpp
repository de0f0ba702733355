// Lossless round trips (GGUF -> APR -> GGUF, APR -> SafeTensors folder -> APR keep every tensor byte and the
// metadata that matters), atomic output (a failed or interrupted run leaves nothing and never clobbers an
// existing OUTPUT), and the CLI under SIGINT.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "convert/convert_util.h"
#include "realizar/model/synthetic.h"

namespace rz::test {
namespace {

namespace fs = std::filesystem;

void expect_same_tensors(const formats::ModelFile& a, const formats::ModelFile& b) {
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (const auto& ta : a.tensors) {
        const auto* tb = b.find_tensor(ta.name);
        ASSERT_NE(tb, nullptr) << ta.name;
        EXPECT_EQ(ta.dtype, tb->dtype) << ta.name;
        EXPECT_EQ(ta.shape, tb->shape) << ta.name;
        ASSERT_EQ(ta.n_bytes, tb->n_bytes) << ta.name;
        EXPECT_EQ(std::memcmp(ta.data, tb->data, ta.n_bytes), 0) << ta.name;
    }
}

// Same value whatever the declared integer/float width (JSON metadata has no u32/f32).
bool same_value(const formats::MetaValue& a, const formats::MetaValue& b) {
    if (const auto* aa = a.as_array()) {
        const auto* bb = b.as_array();
        if (!bb || aa->items.size() != bb->items.size()) return false;
        for (size_t i = 0; i < aa->items.size(); ++i)
            if (!same_value(aa->items[i], bb->items[i])) return false;
        return true;
    }
    if (a.as_string() || b.as_string()) return a.as_string() && b.as_string() && *a.as_string() == *b.as_string();
    auto x = a.as_float(), y = b.as_float();
    return x && y && static_cast<float>(*x) == static_cast<float>(*y);
}

void expect_gguf_meta_kept(const formats::ModelFile& src, const formats::ModelFile& back) {
    int checked = 0;
    for (const auto& [k, v] : src.metadata) {
        const bool matters = k == "general.architecture" || k.rfind("llama.", 0) == 0 || k == "tokenizer.ggml.model" ||
                             k == "tokenizer.ggml.tokens" || k == "tokenizer.ggml.scores" || k == "tokenizer.ggml.token_type" ||
                             k == "tokenizer.ggml.bos_token_id" || k == "tokenizer.ggml.eos_token_id" ||
                             k == "tokenizer.ggml.unknown_token_id";
        if (!matters) continue;
        const auto* w = back.find_meta(k);
        ASSERT_NE(w, nullptr) << k;
        EXPECT_TRUE(same_value(v, *w)) << k;
        ++checked;
    }
    EXPECT_GE(checked, 10);
}

TEST(RoundTrip, GgufToAprToGgufKeepsBytesAndMetadata) {
    for (const std::string& src : {stories_dir() + "/stories260K-f32.gguf", shared_dir() + "/golden/quant/q-Q4_K_M.gguf"}) {
        ScratchDir dir;
        ASSERT_TRUE(convert(src, dir / "m.apr").ok()) << src;
        Status st = convert(dir / "m.apr", dir / "back.gguf");
        ASSERT_TRUE(st.ok()) << st.to_string();
        auto a = formats::open_model_file(src);
        auto b = formats::open_model_file(dir / "back.gguf");
        ASSERT_TRUE(a.ok() && b.ok());
        expect_same_tensors(*a, *b);
        expect_gguf_meta_kept(*a, *b);
    }
}

TEST(RoundTrip, AprToSafeTensorsToAprKeepsBytesAndMetadata) {
    ScratchDir dir;
    const std::string src = std::string(RZ_SOURCE_DIR) + "/data/demo/stories260K.apr";
    Status st = convert(src, dir / "hf");
    ASSERT_TRUE(st.ok()) << st.to_string();
    EXPECT_TRUE(fs::exists(dir.path() / "hf" / "config.json"));
    EXPECT_TRUE(fs::exists(dir.path() / "hf" / "tokenizer.model"));
    st = convert(dir / "hf", dir / "back.apr");
    ASSERT_TRUE(st.ok()) << st.to_string();
    auto a = formats::open_model_file(src);
    auto b = formats::open_model_file(dir / "back.apr");
    ASSERT_TRUE(a.ok() && b.ok());
    expect_same_tensors(*a, *b);
    for (const char* k : {"architecture", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                          "intermediate_size", "vocab_size", "rms_norm_eps", "rope_theta", "rope_type", "tokenizer.vocabulary",
                          "tokenizer.scores", "tokenizer.token_type", "tokenizer.model", "tokenizer.bos_token_id", "tokenizer.eos_token_id"}) {
        const auto* x = a->find_meta(k);
        const auto* y = b->find_meta(k);
        ASSERT_TRUE(x && y) << k;
        EXPECT_TRUE(same_value(*x, *y)) << k;
    }
}

TEST(Atomic, FailedRunLeavesExistingOutputAlone) {
    ScratchDir dir;
    { std::ofstream(dir / "out.gguf") << "precious"; }
    Status st = convert(stories_dir() + "/stories260K.bin", dir / "out.gguf", "q9_z");
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("q9_z"), std::string::npos);
    // Cancelled mid-way through the data.
    std::atomic<bool> cancel{false};
    convert::ConvertOptions o;
    o.input = stories_dir() + "/stories260K.bin";
    o.output = dir / "out.gguf";
    o.type = "f16";
    o.threads = 1;
    o.chunk_bytes = 1;  // many small chunks
    o.cancel = &cancel;
    o.progress = [&](const convert::Progress& p) {
        if (p.bytes_done > p.bytes_total / 2) cancel = true;
    };
    st = convert::convert_model(o);
    EXPECT_EQ(st.code(), StatusCode::kCancelled) << st.to_string();
    std::ifstream in(dir / "out.gguf");
    std::string s;
    in >> s;
    EXPECT_EQ(s, "precious");
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir.path())) n += e.path().filename() != "out.gguf";
    EXPECT_EQ(n, 0u) << "temporary files left behind";
}

// `realizar convert` interrupted by SIGINT (as Ctrl-C) while writing: exit 130, no output, no temporary file.
TEST(Atomic, CliInterruptedBySignalLeavesNothing) {
    ScratchDir dir;
    model::SyntheticSpec sp;  // ~100 MB of f32: long enough to be interrupted while quantizing
    sp.n_vocab = 8000, sp.n_embd = 1024, sp.n_layer = 2, sp.n_head = 8, sp.n_head_kv = 8, sp.n_ff = 2816, sp.ftype = "F32";
    ASSERT_TRUE(model::write_synthetic_gguf(dir / "in.gguf", sp).ok());
    fs::create_directories(dir.path() / "out");
    const std::string out = (dir.path() / "out" / "m.gguf").string();
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const std::string in = dir / "in.gguf";
        execl(RZ_REALIZAR_BIN, RZ_REALIZAR_BIN, "convert", in.c_str(), "-o", out.c_str(), "--type", "q6_k", "--threads", "1",
              "-q", static_cast<char*>(nullptr));
        _exit(127);
    }
    // Wait until the writer has its output open in out/ (an unnamed O_TMPFILE file, visible only among the
    // child's descriptors; or a named temporary where the filesystem lacks O_TMPFILE), then interrupt.
    const std::string out_dir = (dir.path() / "out").string();
    const fs::path fd_dir = fs::path("/proc") / std::to_string(pid) / "fd";
    bool started = false;
    for (int i = 0; i < 3000 && !started; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        for (const auto& e : fs::directory_iterator(dir.path() / "out")) started |= e.is_regular_file();
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(fd_dir, ec)) {
            std::error_code lec;
            const fs::path target = fs::read_symlink(e.path(), lec);
            if (!lec && target.string().rfind(out_dir + "/", 0) == 0) started = true;
        }
    }
    kill(pid, SIGINT);
    int wst = 0;
    waitpid(pid, &wst, 0);
    ASSERT_TRUE(started);
    ASSERT_TRUE(WIFEXITED(wst));
    EXPECT_EQ(WEXITSTATUS(wst), 130);
    EXPECT_TRUE(fs::is_empty(dir.path() / "out")) << "partial output left behind";
}

// --threads beyond 1024 (or negative) is a usage error before any work; it used to abort the process (100000
// threads) or be accepted silently (-1).
TEST(Atomic, CliThreadsOutOfRangeIsAUsageError) {
    ScratchDir dir;
    for (const char* n : {"100000", "1025", "-1"}) {
        const std::string cmd = std::string(RZ_REALIZAR_BIN) + " convert " + stories_dir() + "/stories260K.bin -o " + (dir / "x.gguf") +
                                " -q --threads " + n + " 2>/dev/null";
        const int st = std::system(cmd.c_str());
        ASSERT_TRUE(WIFEXITED(st)) << n;
        EXPECT_EQ(WEXITSTATUS(st), 2) << n;
    }
    EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(Synthetic, RejectsUnknownShapesAndOversizedVocabulariesBeforeWriting) {
    ScratchDir dir;
    convert::SyntheticOptions o;
    o.output = dir / "s.gguf";
    o.shape = "gpt-5";
    Status st = convert::write_synthetic(o);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("tinyllama-1.1b"), std::string::npos) << st.message();
    o.shape = "tinyllama-1.1b";
    o.vocab = shared_dir() + "/data/tokenizers/llama3-hf";  // 128256 tokens > 32000
    st = convert::write_synthetic(o);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.to_string();
    o.vocab = "";
    o.type = "q7_x";
    EXPECT_EQ(convert::write_synthetic(o).code(), StatusCode::kInvalidArgument);
    o.type = "q4_k_m";
    for (const char* out : {"s.safetensors", "s", "s.bin"}) {  // a .gguf or .apr file only (it wrote GGUF to any name)
        o.output = dir / out;
        st = convert::write_synthetic(o);
        EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << out;
        EXPECT_NE(st.message().find(".gguf or .apr"), std::string::npos) << st.message();
    }
    EXPECT_TRUE(fs::is_empty(dir.path()));
    EXPECT_EQ(convert::synthetic_shapes().size(), 11u);
}

// Which types the synthetic writer mixes itself and which go through the recipe from F16: the writer has no
// row-length fallbacks, so Qwen2.5-0.5B's rows of 896 send the K-quant mixes, Q6_K and Q4_0
// (its Q6_K head) through the recipe, which then falls back per tensor as llama.cpp does (Q4_K -> Q5_0, Q6_K ->
// Q8_0); `convert --synthetic qwen2.5-0.5b --type q4_0` failed in the writer before.
TEST(Synthetic, TypesWithRowLengthsOffTheSuperBlockGoThroughTheRecipe) {
    const std::vector<int64_t> tinyllama = {2048, 2048, 5632}, qwen05 = {896, 896, 4864};
    auto is = [](const convert::SyntheticTypes& t, const char* writer, const char* recipe) {
        return t.writer_ftype == writer && t.recipe_type == recipe;
    };
    EXPECT_TRUE(is(convert::synthetic_types("q4_k_m", tinyllama), "Q4_K_M", ""));
    EXPECT_TRUE(is(convert::synthetic_types("Q5_K_M", tinyllama), "Q5_K_M", ""));
    EXPECT_TRUE(is(convert::synthetic_types("q4_0", tinyllama), "Q4_0", ""));
    EXPECT_TRUE(is(convert::synthetic_types("q6_k", tinyllama), "q6_k", ""));
    EXPECT_TRUE(is(convert::synthetic_types("q3_k_m", tinyllama), "F16", "q3_k_m"));
    EXPECT_TRUE(is(convert::synthetic_types("q8_0", tinyllama), "q8_0", ""));
    for (const char* t : {"q4_k_m", "q5_k_m", "q4_0", "q6_k", "q3_k_m", "q2_k", "q4_k_s"})
        EXPECT_TRUE(is(convert::synthetic_types(t, qwen05), "F16", t)) << t;
    for (const char* t : {"q8_0", "f16", "bf16", "f32"}) EXPECT_TRUE(is(convert::synthetic_types(t, qwen05), t, "")) << t;
    EXPECT_TRUE(is(convert::synthetic_types("q4_k_m", {2048, 2048, 4800}), "F16", "q4_k_m"));  // one width off is enough
}

}  // namespace
}  // namespace rz::test
