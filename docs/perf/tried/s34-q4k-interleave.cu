// Standalone experiment (session 34; not part of the product): Q4_K mat-vec with rows interleaved by 32 (a lane a
// row, each lane a whole super-block per step, coalesced 16-byte chunks, x broadcast from shared memory, K split
// over the block's warps) against the product's warp-per-rows dot products (fused_dot.cuh: dot_q4_k, dot_q4_k_wide)
// on one harness: back-to-back launches over 1.6 GB of copies of one matrix (no L2 reuse), x quantized in global and
// copied to shared memory per block, llama-2-7b and TinyLlama shapes; errors against float64 on 64 rows.
// Build from the repository root: nvcc -std=c++20 -O3 -arch=sm_90 -I include -I src docs/perf/tried/s34-q4k-interleave.cu
// Results: docs/perf/cuda.md "Session 34".
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/fused_dot.cuh"

using namespace rz::cuda::detail;
using namespace rz::cuda::detail::fused;

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("CUDA %s at %d\n", cudaGetErrorString(e), __LINE__); exit(1); } } while (0)


// x quantized: K int8, K/32 d, K/32 s; into shared memory at block start (the product's prologue leaves it there)
__device__ __forceinline__ XQ load_x(unsigned char* sm, const int8_t* xq, const float* xd, const float* xs, int K) {
    int8_t* q = reinterpret_cast<int8_t*>(sm);
    float* d = reinterpret_cast<float*>(sm + K);
    float* s = d + K / 32;
    for (int i = threadIdx.x; i < K / 16; i += blockDim.x) reinterpret_cast<int4*>(q)[i] = reinterpret_cast<const int4*>(xq)[i];
    for (int i = threadIdx.x; i < K / 32; i += blockDim.x) d[i] = xd[i], s[i] = xs[i];
    __syncthreads();
    return XQ{q, d, s};
}

// ---- baseline: the product's dot products, a warp R rows, 8 warps a block, a block a contiguous run of row groups
template <int R, int UX, bool WIDE>
__global__ void __launch_bounds__(256, (R == 1 || UX == 1) && !WIDE ? 3 : 2) base_kernel(const uint8_t* W, int rows, int K, const int8_t* xq, const float* xd,
                                                                                      const float* xs, float* y) {
    extern __shared__ __align__(16) unsigned char sm[];
    const XQ x = load_x(sm, xq, xd, xs, K);
    const int nb = K / 256, rb = nb * 144, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int ngroups = (rows + 8 * R - 1) / (8 * R);
    const int per = (ngroups + gridDim.x - 1) / gridDim.x;
    const int g0 = blockIdx.x * per, g1 = min(ngroups, g0 + per);
    for (int g = g0; g < g1; ++g) {
        const int r0 = (g * 8 + w) * R;
        if (r0 >= rows) continue;
        const uint8_t* rp[R];
#pragma unroll
        for (int r = 0; r < R; ++r) rp[r] = W + static_cast<size_t>(min(r0 + r, rows - 1)) * rb;
        float acc[R] = {};
        if constexpr (WIDE) dot_q4_k_wide<R, UX>(rp, nb, x, lane, acc);
        else dot_q4_k<R, UX>(rp, nb, x, lane, acc);
#pragma unroll
        for (int r = 0; r < R; ++r) {
            float v = acc[r];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
            if (lane == r && r0 + r < rows) y[r0 + r] = v;
        }
    }
}

// ---- interleaved: tile t (32 rows) x super-block b stored as 9 chunks of 16 bytes x 32 rows:
// uint4 index ((t nb + b) 9 + c) 32 + r. Chunk 0: the 16-byte header; chunk 1 + 2j + hf: qs bytes 32j + 16hf .. +15.
// Block: one tile (or a K share of it: KS blocks a tile), WARPS warps splitting its super-blocks; lane = row.
template <int WARPS, int KS>
__global__ void __launch_bounds__(WARPS * 32) il_kernel(const uint4* W, int rows, int K, const int8_t* xq, const float* xd, const float* xs, float* y) {
    extern __shared__ __align__(16) unsigned char sm[];
    __shared__ float red[WARPS][32];
    const XQ x = load_x(sm, xq, xd, xs, K);
    const int nb = K / 256, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int t = blockIdx.x / KS, ks = blockIdx.x % KS;
    const uint4* tile = W + static_cast<size_t>(t) * nb * 9 * 32 + lane;
    float acc = 0.0f;
    uint4 c[9], n[9];
    int b = ks * WARPS + w;
    const int step = KS * WARPS;
    if (b < nb) {
#pragma unroll
        for (int i = 0; i < 9; ++i) c[i] = tile[(static_cast<size_t>(b) * 9 + i) * 32];
    }
    for (; b < nb; b += step) {
        const int bn = b + step;
        if (bn < nb) {
#pragma unroll
            for (int i = 0; i < 9; ++i) n[i] = tile[(static_cast<size_t>(bn) * 9 + i) * 32];
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int sb0 = 8 * b + 2 * j;
            const int4* xp = reinterpret_cast<const int4*>(x.q + sb0 * 32);
            const int2 na = nibble_dots(c[1 + 2 * j], xp[0], xp[2]), nb2 = nibble_dots(c[2 + 2 * j], xp[1], xp[3]);
            acc += k_pair_sum(c[0], j, na.x + nb2.x, na.y + nb2.y, x.d[sb0], x.d[sb0 + 1], x.s[sb0], x.s[sb0 + 1]);
        }
#pragma unroll
        for (int i = 0; i < 9; ++i) c[i] = n[i];
    }
    red[w][lane] = acc;
    __syncthreads();
    if (w == 0) {
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < WARPS; ++i) s += red[i][lane];
        const int row = t * 32 + lane;
        if (row < rows) {
            if (KS == 1) y[row] = s;
            else atomicAdd(y + row, s);
        }
    }
}

// ---- the ceiling: every 16-byte word read once, summed
__global__ void read_kernel(const uint4* W, size_t n, float* y) {
    unsigned s = 0;
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) {
        const uint4 v = W[i];
        s ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (s == 0x12345678u) y[0] = 1.0f;
}

// ---- host
static float h2f_host(uint16_t h) {
    __half_raw r; r.x = h; return __half2float(__half(r));
}
static void scale_min(const uint8_t* s, int j, int& sc, int& m) {
    if (j < 4) sc = s[j] & 63, m = s[j + 4] & 63;
    else sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
}

struct Shape { const char* name; int rows, K; };

int main() {
    int dev_sms = 0;
    CK(cudaDeviceGetAttribute(&dev_sms, cudaDevAttrMultiProcessorCount, 0));
    std::mt19937 rng(7);
    const Shape shapes[] = {{"7b o", 4096, 4096}, {"7b qkv", 12288, 4096}, {"7b gate|up", 22016, 4096}, {"7b down", 4096, 11008},
                            {"1b o", 2048, 2048}, {"1b qkv", 2560, 2048}, {"1b gate|up", 11264, 2048}, {"1b down", 2048, 5632}};
    const double total_target = 1.6e9;
    for (const Shape& sh : shapes) {
        const int rows = sh.rows, K = sh.K, nb = K / 256, ntiles = (rows + 31) / 32;
        const size_t mat = static_cast<size_t>(rows) * nb * 144, mat_il = static_cast<size_t>(ntiles) * 32 * nb * 144;
        const int copies = static_cast<int>(std::ceil(total_target / mat));
        // one host matrix (natural layout), its interleaved form; the device copies repeat it
        std::vector<uint8_t> h(mat), hil(mat_il, 0);
        for (size_t i = 0; i < mat; ++i) h[i] = static_cast<uint8_t>(rng());
        std::uniform_real_distribution<float> ud(0.001f, 0.01f);
        for (size_t sb = 0; sb < mat / 144; ++sb) {
            const __half d = __float2half(ud(rng)), dm = __float2half(ud(rng));
            memcpy(&h[sb * 144], &d, 2);
            memcpy(&h[sb * 144 + 2], &dm, 2);
        }
        for (int r = 0; r < rows; ++r)
            for (int b = 0; b < nb; ++b)
                for (int c = 0; c < 9; ++c)
                    memcpy(&hil[(((static_cast<size_t>(r / 32) * nb + b) * 9 + c) * 32 + r % 32) * 16], &h[(static_cast<size_t>(r) * nb + b) * 144 + 16 * c], 16);
        std::vector<int8_t> xq(K);
        std::vector<float> xd(K / 32), xs(K / 32);
        for (int i = 0; i < K; ++i) xq[i] = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
        for (int s = 0; s < K / 32; ++s) {
            xd[s] = ud(rng);
            int sum = 0;
            for (int i = 0; i < 32; ++i) sum += xq[s * 32 + i];
            xs[s] = xd[s] * sum;
        }
        // reference: 64 rows, double
        std::vector<double> ref(rows, 0.0);
        for (int r = 0; r < rows; r += std::max(1, rows / 64)) {
            double acc = 0;
            for (int b = 0; b < nb; ++b) {
                const uint8_t* blk = &h[(static_cast<size_t>(r) * nb + b) * 144];
                uint16_t dh, mh;
                memcpy(&dh, blk, 2), memcpy(&mh, blk + 2, 2);
                const double d = h2f_host(dh), dmin = h2f_host(mh);
                for (int s = 0; s < 8; ++s) {
                    int sc, m;
                    scale_min(blk + 4, s, sc, m);
                    long dot = 0;
                    for (int i = 0; i < 32; ++i) {
                        const uint8_t q = blk[16 + 32 * (s / 2) + i];
                        dot += static_cast<long>((s & 1) ? q >> 4 : q & 15) * xq[(8 * b + s) * 32 + i];
                    }
                    acc += d * sc * xd[8 * b + s] * dot - dmin * m * xs[8 * b + s];
                }
            }
            ref[r] = acc;
        }
        uint8_t *dw, *dwil;
        int8_t* dxq;
        float *dxd, *dxs, *dy;
        CK(cudaMalloc(&dw, mat * copies));
        CK(cudaMalloc(&dwil, mat_il * copies));
        for (int i = 0; i < copies; ++i) {
            CK(cudaMemcpy(dw + mat * i, h.data(), mat, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(dwil + mat_il * i, hil.data(), mat_il, cudaMemcpyHostToDevice));
        }
        CK(cudaMalloc(&dxq, K));
        CK(cudaMalloc(&dxd, K / 32 * 4));
        CK(cudaMalloc(&dxs, K / 32 * 4));
        CK(cudaMalloc(&dy, static_cast<size_t>(ntiles) * 32 * 4));
        CK(cudaMemcpy(dxq, xq.data(), K, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dxd, xd.data(), K / 32 * 4, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dxs, xs.data(), K / 32 * 4, cudaMemcpyHostToDevice));
        const size_t smem = K + K / 32 * 8;
        printf("%-11s rows %5d K %5d: %.1f MB a matrix, %d copies\n", sh.name, rows, K, mat / 1e6, copies);
        cudaEvent_t e0, e1;
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
        auto run = [&](const char* name, auto launch, size_t bytes) {
            for (int i = 0; i < copies; ++i) launch(i);
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            std::vector<float> y(rows);
            CK(cudaMemcpy(y.data(), dy, rows * 4, cudaMemcpyDeviceToHost));
            double err = 0, sd = 0;
            int n = 0;
            for (int r = 0; r < rows; r += std::max(1, rows / 64)) err = std::max(err, std::fabs(y[r] - ref[r])), sd += ref[r] * ref[r], ++n;
            sd = std::sqrt(sd / n);
            float best = 1e30f;
            for (int rep = 0; rep < 5; ++rep) {
                CK(cudaEventRecord(e0));
                for (int i = 0; i < copies; ++i) launch(i);
                CK(cudaEventRecord(e1));
                CK(cudaEventSynchronize(e1));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                best = std::min(best, ms);
            }
            const double us = best * 1e3 / copies;
            printf("  %-22s %7.2f us  %6.0f GB/s  err/std %.1e\n", name, us, bytes / us / 1e3, err / sd);
        };
        auto resident = [&](auto kern, int per_sm) {
            int nbk = 0;
            CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nbk, kern, 256, smem));
            return std::min(per_sm, nbk) * dev_sms;
        };
        {
            auto k = base_kernel<2, 2, false>;
            const int g = resident(k, 2);
            run("base q4_k R2 U2", [&](int i) { k<<<g, 256, smem>>>(dw + mat * i, rows, K, dxq, dxd, dxs, dy); }, mat);
        }
        {
            auto k = base_kernel<1, 1, false>;
            const int g = resident(k, 3);
            run("base q4_k R1", [&](int i) { k<<<g, 256, smem>>>(dw + mat * i, rows, K, dxq, dxd, dxs, dy); }, mat);
        }
        {
            auto k = base_kernel<2, 1, false>;
            const int g = resident(k, 3);
            run("base q4_k R2", [&](int i) { k<<<g, 256, smem>>>(dw + mat * i, rows, K, dxq, dxd, dxs, dy); }, mat);
        }
        {
            auto k = base_kernel<4, 1, true>;
            const int g = resident(k, 2);
            run("base wide R4", [&](int i) { k<<<g, 256, smem>>>(dw + mat * i, rows, K, dxq, dxd, dxs, dy); }, mat);
        }
        const uint4* il = reinterpret_cast<const uint4*>(dwil);
        const size_t il16 = mat_il / 16;
        run("il 8 warps", [&](int i) { il_kernel<8, 1><<<ntiles, 256, smem>>>(il + il16 * i, rows, K, dxq, dxd, dxs, dy); }, mat);
        run("il 4 warps", [&](int i) { il_kernel<4, 1><<<ntiles, 128, smem>>>(il + il16 * i, rows, K, dxq, dxd, dxs, dy); }, mat);
        run("il 2 warps", [&](int i) { il_kernel<2, 1><<<ntiles, 64, smem>>>(il + il16 * i, rows, K, dxq, dxd, dxs, dy); }, mat);
        run("il 16 warps", [&](int i) { il_kernel<16, 1><<<ntiles, 512, smem>>>(il + il16 * i, rows, K, dxq, dxd, dxs, dy); }, mat);
        auto ks2 = [&](int i) {
            CK(cudaMemsetAsync(dy, 0, rows * 4));
            il_kernel<4, 2><<<ntiles * 2, 128, smem>>>(il + il16 * i, rows, K, dxq, dxd, dxs, dy);
        };
        run("il 4 warps KS2 (+memset)", ks2, mat);
        run("read", [&](int i) { read_kernel<<<dev_sms * 8, 512>>>(il + il16 * i, il16, dy); }, mat_il);
        CK(cudaFree(dw));
        CK(cudaFree(dwil));
        CK(cudaFree(dxq));
        CK(cudaFree(dxd));
        CK(cudaFree(dxs));
        CK(cudaFree(dy));
    }
    return 0;
}
