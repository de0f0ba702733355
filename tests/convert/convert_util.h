#pragma once
// Shared helpers of the converter tests: a scratch folder per test, conversions, golden comparisons.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "realizar/convert/convert.h"
#include "runtime/golden_util.h"

namespace rz::test {

// A fresh folder under the build tree, removed when the test ends.
class ScratchDir {
public:
    ScratchDir() {
        const auto* info = testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string(info->test_suite_name()) + "." + info->name();
        for (char& c : name)
            if (c == '/') c = '_';
        path_ = std::filesystem::path(RZ_BINARY_DIR) / "convert-test-tmp" / name;
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string operator/(const std::string& f) const { return (path_ / f).string(); }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline Status convert(const std::string& in, const std::string& out, const std::string& type = "", bool pure = false) {
    convert::ConvertOptions o;
    o.input = in;
    o.output = out;
    o.type = type;
    o.pure = pure;
    o.threads = 1;
    return convert::convert_model(o);
}

inline std::string stories_dir() { return shared_dir() + "/data/tinystories-260K"; }

}  // namespace rz::test
