#pragma once
// The data phase shared by the streaming writers: the declared tensors' bytes arrive in declaration order
// in chunks of any size; after each tensor the stream writes its padding. Optionally keeps a running
// CRC-32 of everything it writes (APR's payload checksum).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "formats/atomic_file.h"
#include "formats/crc32.h"

namespace rz::formats::detail {

class TensorStream {
public:
    struct Slot {
        std::string name;
        uint64_t n_bytes = 0;
        uint64_t pad_after = 0;
    };

    void reset(std::vector<Slot> slots, uint32_t* crc) {
        slots_ = std::move(slots);
        crc_ = crc;
        cur_ = 0;
        done_ = 0;
    }

    Status write(AtomicFile& out, std::span<const uint8_t> bytes, std::string_view who) {
        while (!bytes.empty()) {
            RZ_RETURN_IF_ERROR(advance(out, /*skip_empty=*/true));
            if (cur_ >= slots_.size()) {
                return invalid_argument(fmt::format("{}: more tensor data than the declared tensors hold", who));
            }
            const uint64_t k = std::min<uint64_t>(bytes.size(), slots_[cur_].n_bytes - done_);
            RZ_RETURN_IF_ERROR(emit(out, bytes.data(), static_cast<size_t>(k)));
            done_ += k;
            bytes = bytes.subspan(static_cast<size_t>(k));
            RZ_RETURN_IF_ERROR(advance(out, /*skip_empty=*/false));
        }
        return Status::Ok();
    }

    // Whole-tensor write: must start at a tensor boundary and be exactly that tensor's size (an empty
    // tensor takes an empty span, so callers can simply loop over their tensors).
    Status write_whole(AtomicFile& out, std::span<const uint8_t> bytes, std::string_view who) {
        RZ_RETURN_IF_ERROR(advance(out, /*skip_empty=*/false));
        if (cur_ >= slots_.size()) return invalid_argument(fmt::format("{}: no tensor left to write", who));
        if (done_ != 0 || bytes.size() != slots_[cur_].n_bytes) {
            return invalid_argument(fmt::format("{}: tensor '{}' needs {} bytes, got {}", who, slots_[cur_].name,
                                                slots_[cur_].n_bytes, bytes.size()));
        }
        if (bytes.empty()) {
            RZ_RETURN_IF_ERROR(emit_zeros(out, slots_[cur_].pad_after));
            ++cur_;
            return Status::Ok();
        }
        return write(out, bytes, who);
    }

    Status check_complete(AtomicFile& out, std::string_view who) {
        RZ_RETURN_IF_ERROR(advance(out, /*skip_empty=*/true));
        if (cur_ != slots_.size()) {
            return invalid_argument(fmt::format("{}: finish() before all tensor data was written (tensor '{}', {} of {} bytes)",
                                                who, slots_[cur_].name, done_, slots_[cur_].n_bytes));
        }
        return Status::Ok();
    }

    Status emit(AtomicFile& out, const void* p, size_t n) {
        if (crc_) *crc_ = crc32(p, n, *crc_);
        return out.write(p, n);
    }
    Status emit_zeros(AtomicFile& out, uint64_t n) {
        static const uint8_t kZeros[4096] = {};
        while (n > 0) {
            const size_t k = n < sizeof(kZeros) ? static_cast<size_t>(n) : sizeof(kZeros);
            RZ_RETURN_IF_ERROR(emit(out, kZeros, k));
            n -= k;
        }
        return Status::Ok();
    }

private:
    // Moves past completed tensors, writing their padding. Empty tensors are passed only when asked
    // (more data is arriving, or at the end), so a whole-tensor write can still claim them.
    Status advance(AtomicFile& out, bool skip_empty) {
        while (cur_ < slots_.size() && done_ == slots_[cur_].n_bytes && (done_ > 0 || skip_empty)) {
            RZ_RETURN_IF_ERROR(emit_zeros(out, slots_[cur_].pad_after));
            ++cur_;
            done_ = 0;
        }
        return Status::Ok();
    }

    std::vector<Slot> slots_;
    uint32_t* crc_ = nullptr;
    size_t cur_ = 0;
    uint64_t done_ = 0;
};

// The state and data phase every streaming writer (GGUF, SafeTensors, APR) shares: the output, the tensor
// stream, the begin/finish bookkeeping, and a sticky first error (after it the writer refuses everything and
// the temporary is gone). Each writer's Impl derives from it and adds its own header logic.
struct WriterCore {
    explicit WriterCore(std::string_view kind) : kind_(kind) {}

    std::string path;
    AtomicFile out;
    TensorStream stream;
    bool begun = false, finished = false;
    Status error;

    std::string who() const { return fmt::format("{} writer: {}", kind_, path); }
    Status err(std::string_view what) const { return invalid_argument(fmt::format("{}: {}", who(), what)); }
    Status fail(Status st) {
        if (error.ok()) error = st;
        out.abort();
        return st;
    }
    Status fail_if(Status st) { return st.ok() ? st : fail(std::move(st)); }

    Status write(std::span<const uint8_t> bytes) {
        if (!error.ok()) return error;
        if (!begun || finished) return err("write() outside begin()/finish()");
        return fail_if(stream.write(out, bytes, who()));
    }
    Status write_tensor(std::span<const uint8_t> bytes) {
        if (!error.ok()) return error;
        if (!begun || finished) return err("write_tensor() outside begin()/finish()");
        return fail_if(stream.write_whole(out, bytes, who()));
    }
    // First half of finish(): every declared byte arrived. The writer may then patch its header.
    Status check_data_complete() {
        if (!error.ok()) return error;
        if (!begun || finished) return err("finish() without begin()");
        return fail_if(stream.check_complete(out, who()));
    }
    // Second half: fsync + rename.
    Status commit() {
        finished = true;
        return fail_if(out.commit());
    }

private:
    std::string_view kind_;
};

}  // namespace rz::formats::detail
