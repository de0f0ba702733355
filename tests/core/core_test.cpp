#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "realizar/core/dtype.h"
#include "realizar/core/fp16.h"
#include "realizar/core/mapped_file.h"
#include "realizar/core/status.h"
#include "realizar/core/thread_pool.h"

namespace rz {
namespace {

TEST(Status, ResultCarriesValueOrError) {
    Result<int> good = 42;
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(*good, 42);
    Result<int> bad = corrupt("gguf: x.gguf: bad magic");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kCorrupt);
    EXPECT_EQ(bad.status().to_string(), "corrupt: gguf: x.gguf: bad magic");
    EXPECT_EQ(bad.status().with_context("load").message(), "load: gguf: x.gguf: bad magic");
}

TEST(DType, GgmlIdsAndBlockGeometry) {
    EXPECT_EQ(static_cast<uint32_t>(DType::Q4_K), 12u);
    EXPECT_EQ(static_cast<uint32_t>(DType::BF16), 30u);
    EXPECT_EQ(dtype_info(DType::Q4_0)->type_size, 18u);
    EXPECT_EQ(dtype_info(DType::Q6_K)->type_size, 210u);
    EXPECT_EQ(dtype_info(99u), nullptr);
    EXPECT_EQ(*dtype_bytes(DType::Q8_0, 64), 68u);
    EXPECT_FALSE(dtype_bytes(DType::Q4_K, 100).ok());  // not a multiple of 256
    EXPECT_EQ(dtype_from_name("Q4_k"), DType::Q4_K);
    const int64_t huge[] = {int64_t{1} << 40, int64_t{1} << 40};
    EXPECT_FALSE(checked_element_count(huge, 2).ok());
    const int64_t neg[] = {4, -1};
    EXPECT_FALSE(checked_element_count(neg, 2).ok());
}

TEST(Fp16, RoundTripsEveryHalf) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_fp32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        EXPECT_EQ(fp32_to_fp16(f), h) << h;
    }
    EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0f);
    EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
    EXPECT_EQ(fp32_to_fp16(1e6f), 0x7c00);
    // Round to nearest even at the halfway point between 1 and the next half (1 + 2^-11).
    EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
    EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
}

TEST(MappedFile, MapsAndReportsMissingFiles) {
    auto missing = MappedFile::open("/nonexistent/realizar-test");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
    const std::string path = (std::filesystem::temp_directory_path() / "rz_core_test.bin").string();
    const std::vector<uint8_t> data = {1, 2, 3, 4, 5};
    ASSERT_TRUE(write_file_atomic(path, data).ok());
    auto mf = MappedFile::open(path);
    ASSERT_TRUE(mf.ok());
    ASSERT_EQ(mf->size(), 5u);
    EXPECT_EQ(std::memcmp(mf->data(), data.data(), 5), 0);
    std::filesystem::remove(path);
}

// The guard of the writers that must not overwrite their input: below or equal, through symlinks and "..", and
// not fooled by a sibling whose name starts the same.
TEST(MappedFile, PathWithin) {
    namespace fs = std::filesystem;
    const fs::path d = fs::temp_directory_path() / ("rz_within_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d / "model" / "sub");
    fs::create_directories(d / "model2");
    fs::create_symlink(d / "model", d / "link");
    EXPECT_TRUE(path_within((d / "model" / "sub" / "x.bin").string(), (d / "model").string()));
    EXPECT_TRUE(path_within((d / "model").string(), (d / "model").string()));
    EXPECT_TRUE(path_within((d / "model").string(), (d / "model").string() + "/"));
    EXPECT_TRUE(path_within((d / "link" / "new.f32").string(), (d / "model").string()));
    EXPECT_TRUE(path_within((d / "model2" / ".." / "model" / "a").string(), (d / "model").string()));
    EXPECT_FALSE(path_within((d / "model2" / "a").string(), (d / "model").string()));
    EXPECT_FALSE(path_within(d.string(), (d / "model").string()));
    fs::remove_all(d);
}

TEST(ThreadPool, RunsEveryThreadAndSplitsRanges) {
    ThreadPool pool(3);
    for (int rep = 0; rep < 200; ++rep) {
        std::atomic<int> mask{0};
        pool.run([&](int ith, int nth) {
            EXPECT_EQ(nth, 3);
            mask.fetch_or(1 << ith);
        });
        ASSERT_EQ(mask.load(), 7);
    }
    std::vector<int> hits(1000, 0);
    pool.parallel_for(1000, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
    });
    for (int h : hits) ASSERT_EQ(h, 1);
    EXPECT_GE(physical_core_count(), 1);
}

}  // namespace
}  // namespace rz
