// The conversion pipeline: canonical GGUF layout -> type plan -> one streaming writer, tensor by tensor in
// row chunks (f32 working set bounded by ConvertOptions::chunk_bytes), quantized on the thread pool.
#include "realizar/convert/convert.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "convert/hf_out.h"
#include "convert/stream.h"
#include "realizar/core/fp16.h"
#include "realizar/core/thread_pool.h"
#include "realizar/formats/apr.h"
#include "realizar/formats/gguf.h"
#include "realizar/quant/quant.h"

namespace rz::convert {

namespace fs = std::filesystem;
using formats::MetaValue;
using formats::ModelFile;
using formats::TensorInfo;

namespace detail {

Status to_f32(DType t, const uint8_t* src, float* dst, int64_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return Status::Ok();
        case DType::F16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = fp16_to_fp32(h);
            }
            return Status::Ok();
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = bf16_to_fp32(h);
            }
            return Status::Ok();
        default: return quant::dequantize_row(t, src, dst, n);
    }
}

void release_pages(const ModelFile& mf, const uint8_t* p, uint64_t n) {
    // Only pages of a file mapping: dropping them costs a re-read at worst, whereas heap buffers would be zeroed.
    for (const auto& f : mf.files) {
        if (!f || p < f->data() || p + n > f->data() + f->size()) continue;
        const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
        const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
        const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
        if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
        return;
    }
}

Status TensorStreamer::run(const ModelFile& mf, const std::vector<PlannedTensor>& plan, const Sink& sink) {
    ThreadPool pool(opts_.threads);
    Progress pr;
    pr.n_tensors = plan.size();
    for (const PlannedTensor& p : plan) {
        uint64_t n = 1;
        for (int64_t d : p.shape) n *= static_cast<uint64_t>(d);
        RZ_ASSIGN_OR_RETURN(const uint64_t b, dtype_bytes(p.dst_type, n));
        pr.bytes_total += b;
    }
    for (size_t i = 0; i < plan.size(); ++i) {
        const PlannedTensor& p = plan[i];
        const TensorInfo* t = mf.find_tensor(p.name);
        RZ_ASSERT(t != nullptr);
        pr.tensor_index = i;
        pr.tensor_name = p.name;
        RZ_RETURN_IF_ERROR(one(mf, *t, p, sink, pool, pr).with_context(fmt::format("tensor '{}'", p.name)));
    }
    if (opts_.progress && pr.bytes_total == 0) opts_.progress(pr);  // nothing was written: still report the end
    return Status::Ok();
}

Status TensorStreamer::one(const ModelFile& mf, const TensorInfo& t, const PlannedTensor& p, const Sink& sink, ThreadPool& pool,
                           Progress& pr) {
    auto cancelled_now = [&] { return opts_.cancel && opts_.cancel->load(std::memory_order_relaxed); };
    const size_t chunk = std::max<size_t>(opts_.chunk_bytes, 1 << 16);
    if (transpose_ && t.shape.size() == 2 && transpose_(t)) {
        const int64_t rows = t.shape[0], cols = t.shape[1];
        std::vector<float> a(static_cast<size_t>(rows * cols)), b(a.size());
        RZ_ASSIGN_OR_RETURN(const uint64_t src_row, dtype_bytes(t.dtype, static_cast<uint64_t>(cols)));
        for (int64_t r = 0; r < rows; ++r) RZ_RETURN_IF_ERROR(to_f32(t.dtype, t.data + static_cast<uint64_t>(r) * src_row, a.data() + r * cols, cols));
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c) b[static_cast<size_t>(c * rows + r)] = a[static_cast<size_t>(r * cols + c)];
        RZ_ASSIGN_OR_RETURN(const uint64_t n_out, dtype_bytes(p.dst_type, t.n_elements()));
        std::vector<uint8_t> out(static_cast<size_t>(n_out));
        RZ_RETURN_IF_ERROR(quant::quantize_row(p.dst_type, b.data(), out.data(), static_cast<int64_t>(b.size())));
        RZ_RETURN_IF_ERROR(sink(out));
        pr.bytes_done += n_out;
        if (opts_.progress) opts_.progress(pr);
        return Status::Ok();
    }
    if (p.dst_type == t.dtype && !transform_ && !row_map_) {
        for (uint64_t off = 0; off < t.n_bytes; off += chunk) {
            if (cancelled_now()) return cancelled("conversion cancelled");
            const uint64_t n = std::min<uint64_t>(chunk, t.n_bytes - off);
            RZ_RETURN_IF_ERROR(sink({t.data + off, static_cast<size_t>(n)}));
            release_pages(mf, t.data + off, n);
            pr.bytes_done += n;
            if (opts_.progress) opts_.progress(pr);
        }
        return Status::Ok();
    }
    const int64_t row = t.shape.empty() ? 1 : t.shape.back();
    const int64_t n_rows = row > 0 ? static_cast<int64_t>(t.n_elements()) / row : 0;
    RZ_ASSIGN_OR_RETURN(const uint64_t src_row, dtype_bytes(t.dtype, static_cast<uint64_t>(row)));
    RZ_ASSIGN_OR_RETURN(const uint64_t dst_row, dtype_bytes(p.dst_type, static_cast<uint64_t>(row)));
    const int64_t rows_per_chunk = std::max<int64_t>(1, static_cast<int64_t>(chunk / (static_cast<uint64_t>(row) * 4)));
    std::vector<float> f32(static_cast<size_t>(std::min(rows_per_chunk, n_rows) * row));
    std::vector<uint8_t> out(static_cast<size_t>(std::min(rows_per_chunk, n_rows)) * dst_row);
    for (int64_t r0 = 0; r0 < n_rows; r0 += rows_per_chunk) {
        if (cancelled_now()) return cancelled("conversion cancelled");
        const int64_t nr = std::min(rows_per_chunk, n_rows - r0);
        std::mutex err_mu;
        Status err = Status::Ok();
        std::atomic<bool> failed{false};
        pool.parallel_for(
            nr,
            [&](int64_t b, int64_t e) {
                for (int64_t r = b; r < e && !failed.load(std::memory_order_relaxed); ++r) {
                    float* f = f32.data() + r * row;
                    const int64_t from = row_map_ ? row_map_(t, r0 + r) : r0 + r;
                    Status s = to_f32(t.dtype, t.data + static_cast<uint64_t>(from) * src_row, f, row);
                    if (s.ok() && transform_) transform_(t, r0 + r, f, row);
                    if (s.ok()) s = quant::quantize_row(p.dst_type, f, out.data() + static_cast<uint64_t>(r) * dst_row, row);
                    if (!s.ok()) {
                        std::lock_guard<std::mutex> lk(err_mu);
                        if (err.ok()) err = s;
                        failed = true;
                    }
                }
            },
            std::max<int64_t>(1, 4096 / std::max<int64_t>(row, 1)));
        RZ_RETURN_IF_ERROR(err);
        const size_t n = static_cast<size_t>(nr) * dst_row;
        RZ_RETURN_IF_ERROR(sink({out.data(), n}));
        release_pages(mf, t.data + static_cast<uint64_t>(r0) * src_row, static_cast<uint64_t>(nr) * src_row);
        pr.bytes_done += n;
        if (opts_.progress) opts_.progress(pr);
    }
    return Status::Ok();
}

}  // namespace detail

namespace {

// llama.cpp's general.file_type (enum llama_ftype) for an ftype name.
std::optional<uint32_t> llama_ftype_id(std::string type) {
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static const std::pair<const char*, uint32_t> kIds[] = {
        {"f32", 0},     {"f16", 1},      {"q4_0", 2},   {"q4_1", 3},     {"q8_0", 7},   {"q5_0", 8},  {"q5_1", 9},
        {"q2_k", 10},   {"q3_k_m", 12},  {"q3_k", 12},  {"q4_k_s", 14},  {"q4_k_m", 15}, {"q4_k", 15}, {"q5_k_m", 17},
        {"q5_k", 17},   {"q6_k", 18},    {"iq4_nl", 25}, {"iq4_xs", 30},  {"bf16", 32},   {"q3_k_s", 11}, {"q3_k_l", 13},
        {"q5_k_s", 16}, {"q2_k_s", 21}};
    for (const auto& [n, id] : kIds)
        if (type == n) return id;
    return std::nullopt;
}

OutFormat default_format(const std::string& output) {
    const fs::path p(output);
    const std::string ext = p.extension().string();
    if (ext == ".gguf") return OutFormat::kGguf;
    if (ext == ".apr") return OutFormat::kApr;
    return OutFormat::kSafeTensors;
}

Status write_gguf_out(const ConvertOptions& o, const ModelFile& mf, const std::vector<PlannedTensor>& plan) {
    formats::GgufWriter w(o.output);
    // A GGUF source's alignment is kept; the GGUF spec wants a multiple of 8, so smaller ones (a llama2.c file's 4,
    // SafeTensors' 1) take the default 32 instead.
    if (mf.alignment != formats::kGgufDefaultAlignment && mf.alignment % 8 == 0) w.set_alignment(static_cast<uint32_t>(mf.alignment));
    const bool quantized = std::any_of(plan.begin(), plan.end(), [](const PlannedTensor& p) { return dtype_info(p.dst_type)->is_quantized; });
    const auto ftype = o.type.empty() ? std::nullopt : llama_ftype_id(o.type);
    for (const auto& [k, v] : mf.metadata) {
        if (ftype && (k == "general.file_type" || k == "general.quantization_version")) continue;
        w.add_metadata(k, v);
    }
    if (ftype) {
        w.add_metadata("general.file_type", MetaValue::u32(*ftype));
        if (quantized) w.add_metadata("general.quantization_version", MetaValue::u32(2));
    }
    for (const PlannedTensor& p : plan) w.add_tensor(p.name, p.dst_type, p.shape);
    RZ_RETURN_IF_ERROR(w.begin());
    detail::TensorStreamer s(o);
    RZ_RETURN_IF_ERROR(s.run(mf, plan, [&](std::span<const uint8_t> b) { return w.write(b); }));
    return w.finish();
}

Status write_apr_out(const ConvertOptions& o, const ModelFile& mf, const std::vector<PlannedTensor>& plan) {
    RZ_ASSIGN_OR_RETURN(auto meta, apr_metadata_from_gguf(mf));
    formats::AprWriter w(o.output);
    for (auto& [k, v] : meta) w.add_metadata(k, v);
    for (const PlannedTensor& p : plan) w.add_tensor(p.name, p.dst_type, p.shape);
    RZ_RETURN_IF_ERROR(w.begin());
    detail::TensorStreamer s(o);
    RZ_RETURN_IF_ERROR(s.run(mf, plan, [&](std::span<const uint8_t> b) { return w.write(b); }));
    return w.finish();
}

}  // namespace

Status convert_model(const ConvertOptions& o) {
    if (o.input.empty()) return invalid_argument("convert: no INPUT given");
    if (o.output.empty()) return invalid_argument("convert: no OUTPUT given (-o)");
    std::error_code ec;
    if (fs::equivalent(o.input, o.output, ec)) return invalid_argument("convert: OUTPUT is the INPUT (" + o.output + ")");
    const OutFormat to = o.to.value_or(default_format(o.output));
    if (to == OutFormat::kSafeTensors) RZ_RETURN_IF_ERROR(detail::check_folder_output(o.input, o.output));  // before the long pass
    RZ_ASSIGN_OR_RETURN(ModelFile mf, open_as_gguf_layout(o.input, o.tokenizer));
    RZ_ASSIGN_OR_RETURN(std::vector<PlannedTensor> plan, plan_types(mf, o.type, o.pure));
    if (o.note)
        for (const PlannedTensor& p : plan)
            if (!p.fallback.empty()) o.note(p.name + ": " + p.fallback);
    switch (to) {
        case OutFormat::kGguf: return write_gguf_out(o, mf, plan).with_context(o.output);
        case OutFormat::kApr: return write_apr_out(o, mf, plan).with_context(o.output);
        case OutFormat::kSafeTensors: return detail::write_hf_folder(o, mf, plan).with_context(o.output);
    }
    return internal_error("convert: unknown output format");
}

}  // namespace rz::convert
