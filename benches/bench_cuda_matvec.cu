// The ceiling of a per-matrix kernel sequence at batch 1 (docs/perf/cuda.md "Session 10"): how long one launch takes
// to read a Q4_K matrix of a decode layer's shape, (a) with a plain 16-byte read kernel and (b) with the fused
// decode kernels' warp mat-vec (fused_dot.cuh's dot_q4_k: a warp's R rows, the loads of a step issued together, int8
// x in shared memory). Each timing is 64 launches in a CUDA graph, each waiting for the previous one, over enough
// copies of the matrix that L2 holds none of it; the manual time is per launch. Skips without a CUDA device.
// Run: build/.../benches/bench_cuda_matvec (counters: bytes_per_second of weights).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/fused_dot.cuh"

namespace {

using rz::cuda::detail::warp_sum;
using rz::cuda::detail::fused::dot_q4_k;
using rz::cuda::detail::fused::XQ;

struct Args {
    const uint8_t* w;  // [rows][cols / 256] Q4_K blocks of 144 bytes
    int rows, cols;
    const int8_t* xq;  // [cols] int8 x, per-32 scales d and d * sum(q)
    const float* xd;
    const float* xs;
    float* y;       // [rows]
    int per_block;  // row groups per block (mat-vec)
};

// (a) every byte once: 16-byte loads, 4 in flight a thread, grid-stride; the xor keeps the loads.
__global__ void __launch_bounds__(256) read_kernel(const Args a) {
    const size_t n = static_cast<size_t>(a.rows) * (a.cols / 256) * 144 / 16;
    const uint4* w = reinterpret_cast<const uint4*>(a.w);
    const size_t st = static_cast<size_t>(gridDim.x) * blockDim.x;
    size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    unsigned s = 0;
    for (; i + 3 * st < n; i += 4 * st) {
        const uint4 p = w[i], q = w[i + st], r = w[i + 2 * st], t = w[i + 3 * st];
        s ^= p.x ^ q.y ^ r.z ^ t.w;
    }
    for (; i < n; i += st) s ^= w[i].x;
    if (s == 0x9E3779B9u) a.y[0] = 1.0f;
}

// (b) the fused kernels' layout: 8 warps, R rows a warp, a block's contiguous run of row groups, x copied to shared
// memory first (the fused kernels normalise it there).
template <int R, int UX>
__global__ void __launch_bounds__(256, 3) matvec_kernel(const Args a) {
    extern __shared__ __align__(16) unsigned char sm[];
    int8_t* q = reinterpret_cast<int8_t*>(sm);
    float* d = reinterpret_cast<float*>(sm + a.cols);
    float* s = d + a.cols / 32;
    for (int i = threadIdx.x; i < a.cols / 16; i += blockDim.x) reinterpret_cast<int4*>(q)[i] = reinterpret_cast<const int4*>(a.xq)[i];
    for (int i = threadIdx.x; i < a.cols / 32; i += blockDim.x) d[i] = a.xd[i], s[i] = a.xs[i];
    __syncthreads();
    const XQ x{q, d, s};
    const int w = static_cast<int>(threadIdx.x >> 5), lane = threadIdx.x & 31, nb = a.cols / 256;
    const size_t rb = static_cast<size_t>(nb) * 144;
    const int ng = (a.rows + 8 * R - 1) / (8 * R), g0 = blockIdx.x * a.per_block, g1 = min(g0 + a.per_block, ng);
    for (int g = g0; g < g1; ++g) {
        const int r0 = (g * 8 + w) * R;
        if (r0 >= a.rows) continue;
        const int nv = min(R, a.rows - r0);
        const uint8_t* rows[R];
#pragma unroll
        for (int r = 0; r < R; ++r) rows[r] = a.w + static_cast<size_t>(r0 + min(r, nv - 1)) * rb;
        float acc[R] = {};
        dot_q4_k<R, UX>(rows, nb, x, lane, acc);
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const float v = warp_sum(acc[r]);
            if (lane == 0 && r < nv) a.y[r0 + r] = v;
        }
    }
}

// Device buffers of one shape: enough copies of a random Q4_K matrix (finite scales) that 64 launches never find one
// in L2, int8 x, y.
struct Shape {
    int rows = 0, cols = 0, copies = 0;
    size_t bytes = 0;
    uint8_t* w = nullptr;
    int8_t* xq = nullptr;
    float *xd = nullptr, *xs = nullptr, *y = nullptr;
    bool ok = false;
    Shape(int r, int c) : rows(r), cols(c), bytes(static_cast<size_t>(r) * (c / 256) * 144) {
        copies = static_cast<int>(std::max<size_t>(2, (size_t{256} << 20) / bytes));
        std::mt19937 rng(7);
        std::vector<uint8_t> hw(bytes);
        for (size_t b = 0; b < bytes / 144; ++b) {
            uint8_t* blk = hw.data() + b * 144;
            const uint16_t dd = static_cast<uint16_t>(0x1800 + rng() % 0x400), dm = static_cast<uint16_t>(0x1400 + rng() % 0x400);  // ~1e-4..1e-3
            std::memcpy(blk, &dd, 2), std::memcpy(blk + 2, &dm, 2);
            for (int i = 4; i < 144; ++i) blk[i] = static_cast<uint8_t>(rng());
        }
        std::vector<int8_t> q(static_cast<size_t>(c));
        std::vector<float> d(static_cast<size_t>(c / 32)), s(static_cast<size_t>(c / 32));
        for (auto& v : q) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
        for (int i = 0; i < c / 32; ++i) {
            int sum = 0;
            for (int j = 0; j < 32; ++j) sum += q[static_cast<size_t>(32 * i + j)];
            d[static_cast<size_t>(i)] = 0.01f, s[static_cast<size_t>(i)] = 0.01f * static_cast<float>(sum);
        }
        ok = cudaMalloc(&w, bytes * copies) == cudaSuccess && cudaMalloc(&xq, static_cast<size_t>(c)) == cudaSuccess &&
             cudaMalloc(&xd, sizeof(float) * (c / 32)) == cudaSuccess && cudaMalloc(&xs, sizeof(float) * (c / 32)) == cudaSuccess &&
             cudaMalloc(&y, sizeof(float) * r) == cudaSuccess;
        for (int k = 0; ok && k < copies; ++k) ok = cudaMemcpy(w + k * bytes, hw.data(), bytes, cudaMemcpyHostToDevice) == cudaSuccess;
        ok = ok && cudaMemcpy(xq, q.data(), q.size(), cudaMemcpyHostToDevice) == cudaSuccess &&
             cudaMemcpy(xd, d.data(), sizeof(float) * d.size(), cudaMemcpyHostToDevice) == cudaSuccess &&
             cudaMemcpy(xs, s.data(), sizeof(float) * s.size(), cudaMemcpyHostToDevice) == cudaSuccess;
    }
    ~Shape() {
        for (void* p : {static_cast<void*>(w), static_cast<void*>(xq), static_cast<void*>(xd), static_cast<void*>(xs), static_cast<void*>(y)})
            if (p) (void)cudaFree(p);
    }
    Args args(int k, int per_block) const { return Args{w + (k % copies) * bytes, rows, cols, xq, xd, xs, y, per_block}; }
};

// Seconds per launch of k over 64 launches in one graph (best of 5 replays after a warm-up), or < 0 on an error.
template <typename K>
double per_launch(K k, int grid, size_t smem, const Shape& sh, int per_block) {
    constexpr int kLaunches = 64;
    cudaStream_t s = nullptr;
    cudaGraph_t g = nullptr;
    cudaGraphExec_t ge = nullptr;
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    double best = -1.0;
    if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess && cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
        for (int i = 0; i < kLaunches; ++i) k<<<grid, 256, smem, s>>>(sh.args(i, per_block));
        if (cudaStreamEndCapture(s, &g) == cudaSuccess && cudaGraphInstantiate(&ge, g, 0) == cudaSuccess && cudaEventCreate(&e0) == cudaSuccess &&
            cudaEventCreate(&e1) == cudaSuccess) {
            for (int rep = 0; rep < 6; ++rep) {
                float ms = 0.0f;
                if (cudaEventRecord(e0, s) != cudaSuccess || cudaGraphLaunch(ge, s) != cudaSuccess || cudaEventRecord(e1, s) != cudaSuccess ||
                    cudaEventSynchronize(e1) != cudaSuccess || cudaEventElapsedTime(&ms, e0, e1) != cudaSuccess) {
                    best = -1.0;
                    break;
                }
                if (rep > 0) best = best < 0 ? ms * 1e-3 / kLaunches : std::min(best, ms * 1e-3 / kLaunches);
            }
        }
    }
    (void)cudaGetLastError();
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    if (ge) cudaGraphExecDestroy(ge);
    if (g) cudaGraphDestroy(g);
    if (s) cudaStreamDestroy(s);
    return best;
}

bool have_device() {
    int n = 0;
    const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    (void)cudaGetLastError();
    return ok;
}

int sms() {
    int v = 1;
    (void)cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0);
    return v;
}

void report(benchmark::State& st, const Shape& sh, double t) {
    if (t < 0) return st.SkipWithError("CUDA error");
    for (auto _ : st) st.SetIterationTime(t);
    st.counters["bytes_per_second"] = benchmark::Counter(static_cast<double>(sh.bytes), benchmark::Counter::kIsIterationInvariantRate);
}

// Args: rows, cols.
void BM_Q4KPlainRead(benchmark::State& st) {
    if (!have_device()) return st.SkipWithError("no CUDA device");
    const Shape sh(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)));
    if (!sh.ok) return st.SkipWithError("device allocation failed");
    report(st, sh, per_launch(read_kernel, sms() * 8, 0, sh, 0));
}

// Args: rows, cols, rows per warp R (1: the loop unrolled 2, as the fused one-row kernel; 2, 4: unroll 1).
void BM_Q4KFusedMatvec(benchmark::State& st) {
    if (!have_device()) return st.SkipWithError("no CUDA device");
    const Shape sh(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)));
    if (!sh.ok) return st.SkipWithError("device allocation failed");
    const int R = static_cast<int>(st.range(2));
    auto* k = R == 1 ? matvec_kernel<1, 2> : R == 2 ? matvec_kernel<2, 1> : matvec_kernel<4, 1>;
    const size_t smem = static_cast<size_t>(sh.cols) + 8 * static_cast<size_t>(sh.cols / 32);
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, 256, smem) != cudaSuccess || per_sm <= 0) return st.SkipWithError("occupancy");
    const int groups = (sh.rows + 8 * R - 1) / (8 * R), resident = per_sm * sms();
    const int per_block = (groups + resident - 1) / resident;  // the fused kernels' spread: grid up to the resident blocks
    report(st, sh, per_launch(k, (groups + per_block - 1) / per_block, smem, sh, per_block));
}

// TinyLlama's o, q|k|v, gate|up and down, phi-2's o, q|k|v, up and down (as Q4_K).
void shapes(benchmark::internal::Benchmark* b, bool with_r) {
    for (auto rc : std::vector<std::pair<int, int>>{{2048, 2048}, {2560, 2048}, {11264, 2048}, {2048, 5632}, {2560, 2560}, {7680, 2560}, {10240, 2560}, {2560, 10240}}) {
        if (!with_r) b->Args({rc.first, rc.second});
        else
            for (int r : {1, 2, 4}) b->Args({rc.first, rc.second, r});
    }
    b->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_Q4KPlainRead)->Apply([](benchmark::internal::Benchmark* b) { shapes(b, false); });
BENCHMARK(BM_Q4KFusedMatvec)->Apply([](benchmark::internal::Benchmark* b) { shapes(b, true); });

}  // namespace

BENCHMARK_MAIN();
