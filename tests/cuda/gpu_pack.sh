#!/bin/bash
# Reproduces the GPU measurements of docs/perf/cuda.md. Step 1 (here, with nvcc): build test_cuda and pack it
# with the CLI, its shared libraries and the ../shared files the tests read into $RZ_CUDA_PACK
# (default build/h-cuda/devpack). Step 2 (on the GPU machine, e.g. the `run` tool with carry=[that dir]):
#     bash <pack>/run.sh [stages]     stages: unit convert quant bench long ncuwarm ncu sanitizek sanitize qtypes matvec
#     (default: unit convert quant bench long ncu sanitize); RZ_BENCH_CFGS / RZ_LONG_CFGS replace the bench lists.
# Usage: [RZ_CUDA_BUILD=build/h-cuda] [RZ_CUDA_PACK=dir] tests/cuda/gpu_pack.sh [build dir with realizar]
set -euo pipefail
cd "$(dirname "$0")/../.."
cli_build=${1:-build/h-convert}
B=${RZ_CUDA_BUILD:-build/h-cuda}
P=${RZ_CUDA_PACK:-$B/devpack}
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DRZ_WERROR=ON >/dev/null
cmake --build $B -j2 --target test_cuda bench_cuda_matvec
rm -rf $P && mkdir -p $P/lib $P/shared/data/tinystories-260K $P/shared/golden $P/shared/data/tokenizers/llama2-spm
cp $B/tests/cuda/test_cuda $B/benches/bench_cuda_matvec $P/ && cp "$cli_build/realizar" $P/
for l in $(ldd $P/realizar $P/test_cuda $P/bench_cuda_matvec | awk '/=>/{print $3}' | sort -u | grep -v "libc.so\|libm.so\|libgcc\|libstdc\|libcublas"); do cp -L "$l" $P/lib/; done  # cuBLAS (600 MB) is on the GPU machine
S=../shared
cp $S/data/tinystories-260K/stories260K-f32.gguf $P/shared/data/tinystories-260K/
cp -r $S/golden/llama_gqa $S/golden/phi2 $S/golden/qwen2 $S/golden/gpt2 $P/shared/golden/
cp $S/data/tokenizers/llama2-spm/tokenizer.model $P/shared/data/tokenizers/llama2-spm/
mkdir -p $P/shared/golden/quant && for t in Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K F16 BF16 Q2_K Q3_K_M Q4_1 Q5_0 Q5_1 IQ4_NL IQ4_XS; do cp $S/golden/quant/q-$t.gguf $P/shared/golden/quant/; done
# The f32 twins of the types of tests/cuda/quant_types_test.cpp (no int8 kernel outside the fused layer), xz-compressed (3.4 MB
# each raw); run.sh unpacks them on the device.
for t in Q2_K Q3_K_M Q4_1 Q5_0 Q5_1 IQ4_NL IQ4_XS; do xz -9 -T2 -c $S/golden/quant/dq-$t.gguf > $P/shared/golden/quant/dq-$t.gguf.xz; done
cat > $P/run.sh <<'RUN'
#!/bin/bash
# Device-side driver for the CUDA tests (carried, not committed). Stages as arguments (default: all).
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD/lib:$(ls -d /usr/local/cuda*/lib64 2>/dev/null | head -1):$LD_LIBRARY_PATH RZ_SHARED_DIR=$PWD/shared
for z in shared/golden/quant/*.gguf.xz; do [ -e "$z" ] && xz -d -f "$z"; done
STAGES=${*:-unit convert quant bench long ncu sanitize}
has() { [[ " $STAGES " == *" $1 "* ]]; }
# Everything goes to $OUT/log.txt (comes back as a file); a summary is printed at the end.
LOG=${OUT:-/tmp}/log.txt
exec > >(tee "$LOG") 2>&1
M="/tmp/tl-q4_k_m.gguf:/tmp/tl-q8_0.gguf:/tmp/tl-q5_k_m.gguf:/tmp/tl-q4_0.gguf"
nvidia-smi --query-gpu=name,memory.total,clocks.max.mem --format=csv
if has unit; then
  echo "== unit"; timeout 120 ./test_cuda 2>&1 | grep -v "^\[ RUN\|^\[       OK" | tail -30
  echo "== unit, no graphs, old kernel sequence"; RZ_CUDA_GRAPHS=0 RZ_CUDA_FUSED=0 timeout 60 ./test_cuda --gtest_filter='*Stories*:*Golden*:*Sequences*' 2>&1 | grep -E "gpu-vs|PASSED|FAILED|Failure"
fi
if has convert; then
  echo "== convert (all in parallel)"
  pids=""
  for t in q4_k_m q8_0 q5_k_m q4_0; do
    /usr/bin/time -f "convert $t %e s" timeout 150 ./realizar convert --synthetic tinyllama-1.1b --type $t --vocab shared/data/tokenizers/llama2-spm/tokenizer.model -o /tmp/tl-$t.gguf > /tmp/conv-$t.log 2>&1 &
    pids="$pids $!"
  done
  wait $pids  # (a bare `wait` would also wait for the tee of the log, i.e. forever)
  tail -n1 /tmp/conv-*.log; ls -la /tmp/*.gguf
fi
if has quant; then
  echo "== fused vs unfused, gpu vs cpu (quantized models)"
  RZ_CUDA_QUANT_MODELS=$M timeout 200 ./test_cuda --gtest_filter='*Quantized*:*FusedLayer*' 2>&1 | grep -E "gpu-vs|fused-vs|OK|FAIL|Failure|Expected|Which|actual" | head -40
fi
if has bench; then
  # "RZ_CUDA_FUSED=0": the previous kernel sequence (the baseline of the ratio); the rest: variants of the fused layer.
  # MV_U: unroll of the one-row-per-warp kernel (default 2); ATTN_SPLIT=0: one attention block per head; ATTN_MIN:
  # fewest positions per attention split (default 128); L2PF=1|2: cross-kernel L2 prefetch (off by default);
  # PDL_EARLY=1: kernels trigger the next launch before their wait; PDL=0: plain launches;
  # GLU_R / GLU_PAIRS: gate|up kernel (direct with 8 / 4 rows per warp; pairs kernel).
  # Round 3: PINNED=0: the one-token step's pageable copies (the round-2 defaults); MV_R=1|4: rows per warp of
  # the output head (by size: 2).
  for cfg in ${RZ_BENCH_CFGS:-"RZ_CUDA_FUSED=0,RZ_CUDA_PINNED=0" "RZ_CUDA_PINNED=0" "RZ_CUDA_FUSED=1" "RZ_CUDA_FUSED=0" \
      "RZ_CUDA_MV_R=1" "RZ_CUDA_MV_R=4" "RZ_CUDA_PINNED=0" "RZ_CUDA_FUSED=1"}; do
    echo "== bench $cfg"
    env ${cfg//,/ } RZ_CUDA_BENCH_GRAPHS=${RZ_BENCH_GRAPHS:-1} RZ_CUDA_BENCH_MODELS=$M timeout 60 ./test_cuda --gtest_filter='CudaContext.DecodeBenchmark' 2>&1 | grep -E "\[bench\]|FAIL" | sed "s/(tg128, greedy, logits to host each step); /[$cfg] /"
  done
  echo "== bench, no CUDA graph (default kernels, then the old sequence)"
  for cfg in RZ_CUDA_FUSED=1 RZ_CUDA_FUSED=0; do
    env $cfg RZ_CUDA_BENCH_GRAPHS=0 RZ_CUDA_BENCH_MODELS=$M timeout 60 ./test_cuda --gtest_filter='CudaContext.DecodeBenchmark' 2>&1 | grep -E "\[bench\] /|FAIL" | sed "s/(tg128, greedy, logits to host each step); /[$cfg] /"
  done
fi
if has long; then
  # Decode after a 2000-token prompt (attention over ~2000-2128 positions).
  for cfg in ${RZ_LONG_CFGS:-"RZ_CUDA_FUSED=0" "RZ_CUDA_ATTN_SPLIT=0" "RZ_CUDA_FUSED=1" "RZ_CUDA_ATTN_MIN=256"}; do
    echo "== bench long $cfg"
    env ${cfg//,/ } RZ_CUDA_BENCH_PROMPT=2000 RZ_CUDA_BENCH_GRAPHS=1 RZ_CUDA_BENCH_MODELS=$M timeout 90 ./test_cuda --gtest_filter='CudaContext.DecodeBenchmark' 2>&1 | grep -E "\[bench\] /|FAIL" | sed "s/(tg128, greedy, logits to host each step); /[long $cfg] /"
  done
fi
if has ncuwarm; then
  echo "== ncu warm (caches not flushed: the L2 prefetch of the previous launches counts), one layer, Q4_K_M"
  RZ_CUDA_GRAPHS=0 RZ_CUDA_BENCH_GRAPHS=0 RZ_CUDA_BENCH_MODELS=/tmp/tl-q4_k_m.gguf timeout 120 ncu --clock-control none --cache-control none -k regex:"fused|staged" \
    --launch-skip 1100 --launch-count 12 --csv --metrics gpu__time_duration.sum,dram__bytes_read.sum,lts__t_sector_hit_rate.pct,launch__grid_size \
    ./test_cuda --gtest_filter='CudaContext.DecodeBenchmark' 2>&1 | grep -E '^"[0-9]' | awk -F'","' '{print $5, $(NF-2), $(NF-1), $NF}' | sed 's/rz::cuda::(anonymous namespace):://g' | cut -c1-170
fi
if has ncu; then
  echo "== ncu (fused layer kernels of one decode step, Q4_K_M, no graph, --clock-control none)"
  RZ_CUDA_GRAPHS=0 RZ_CUDA_BENCH_GRAPHS=0 RZ_CUDA_BENCH_MODELS=/tmp/tl-q4_k_m.gguf timeout 120 ncu --clock-control none -k regex:"fused|staged" \
    --launch-skip 1100 --launch-count 12 --csv --metrics gpu__time_duration.sum,dram__bytes_read.sum,launch__grid_size,launch__block_size,launch__registers_per_thread \
    ./test_cuda --gtest_filter='CudaContext.DecodeBenchmark' 2>&1 | grep -E '^"[0-9]' | awk -F'","' '{print $5, $(NF-2), $(NF-1), $NF}' | sed 's/rz::cuda::(anonymous namespace):://g' | cut -c1-160
  echo "== ncu details (one layer: qkv, attention, o, gate|up, down)"
  RZ_CUDA_GRAPHS=0 RZ_CUDA_BENCH_GRAPHS=0 RZ_CUDA_BENCH_MODELS=/tmp/tl-q4_k_m.gguf timeout 120 ncu --clock-control none -k regex:"fused|staged" \
    --launch-skip 1108 --launch-count 5 --section SpeedOfLight --section WarpStateStats --section Occupancy --section LaunchStats --print-details all \
    ./test_cuda --gtest_filter='CudaContext.DecodeBenchmark' 2>&1 | grep -E "fused|staged|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Warp Cycles Per Issued|Stall|Waves Per SM|Block Limit (Registers|Shared)" | grep -v "^\s*$" | cut -c1-150 | head -150
fi
if has sanitizek; then  # the kernel tests and the fused Q4_K_M model only (shorter than sanitize)
  echo "== memcheck kernels"; timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_cuda --gtest_filter='CudaKernels.*' 2>&1 | tail -3; echo "memcheck rc=${PIPESTATUS[0]}"
  echo "== memcheck fused layer (Q4_K_M, Q5_K_M, Q4_0; GPU vs CPU)"; RZ_CUDA_QUANT_MODELS=/tmp/tl-q4_k_m.gguf:/tmp/tl-q5_k_m.gguf:/tmp/tl-q4_0.gguf timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_cuda --gtest_filter='*Quantized*' 2>&1 | tail -3; echo "memcheck rc=${PIPESTATUS[0]}"
  echo "== racecheck kernels"; timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 ./test_cuda --gtest_filter='CudaKernels.Fused*' 2>&1 | tail -3; echo "racecheck rc=${PIPESTATUS[0]}"
fi
if has qtypes; then  # Q2_K, Q3_K, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS (fused_dot_ext.cuh): tests, memcheck, bench
  pids=""  # synthetic models converted on the host CPUs while the tests run (q4_k_m: the older fused path, for the ratio)
  QT="q2_k q3_k_m q4_1 q5_0 q5_1 q4_k_m"
  for t in $QT; do
    /usr/bin/time -f "convert $t %e s" timeout 200 ./realizar convert --synthetic tinyllama-1.1b --type $t --vocab shared/data/tokenizers/llama2-spm/tokenizer.model -o /tmp/tl-$t.gguf > /tmp/conv-$t.log 2>&1 &
    pids="$pids $!"
  done
  echo "== quant types"; timeout 90 ./test_cuda --gtest_filter='CudaQuantTypes.*' 2>&1 | grep -E "quant-types|fused-golden|OK \]|FAILED|Failure|Expected|Which|actual|message|[Ee]rror" | head -60
  echo "== memcheck quant types"; timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_cuda --gtest_filter='CudaQuantTypes.*' 2>&1 | tail -3; echo "memcheck rc=${PIPESTATUS[0]}"
  wait $pids
  for t in $QT; do tail -qn1 /tmp/conv-$t.log; done
  QM=$(for t in $QT; do printf "/tmp/tl-%s.gguf:" $t; done)
  echo "== fused vs unfused, gpu vs cpu"; RZ_CUDA_QUANT_MODELS=$QM timeout 200 ./test_cuda --gtest_filter='*Quantized*:*FusedLayer*' 2>&1 | grep -E "gpu-vs|fused-vs|OK|FAIL|Failure|Expected|Which|actual" | head -40
  for cfg in RZ_CUDA_FUSED=0 RZ_CUDA_FUSED=1 RZ_CUDA_FUSED=0 RZ_CUDA_FUSED=1; do  # the old sequence (f32 mat-vecs for these types), then the fused layer
    echo "== bench $cfg"
    env $cfg RZ_CUDA_BENCH_GRAPHS=1 RZ_CUDA_BENCH_MODELS=$QM timeout 90 ./test_cuda --gtest_filter='CudaContext.DecodeBenchmark' 2>&1 | grep -E "\[bench\] /|FAIL" | sed "s/(tg128, greedy, /[$cfg] (/"
  done
fi
if has matvec; then  # the per-matrix read ceiling (docs/perf/cuda.md "Session 10")
  echo "== bench_cuda_matvec"; timeout 250 ./bench_cuda_matvec 2>&1 | grep -E "^BM_|rror"
fi
if has sanitize; then
  echo "== memcheck"; timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_cuda --gtest_filter='*Stories*:*Sequences*:*Kernels*' 2>&1 | tail -4; echo "memcheck rc=${PIPESTATUS[0]}"
  echo "== memcheck fused layer (Q4_K_M, GPU vs CPU)"; RZ_CUDA_QUANT_MODELS=/tmp/tl-q4_k_m.gguf timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_cuda --gtest_filter='*Quantized*' 2>&1 | tail -4; echo "memcheck rc=${PIPESTATUS[0]}"
  echo "== racecheck"; timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 ./test_cuda --gtest_filter=*GoldenLlama*:*Kernels* 2>&1 | tail -4; echo "racecheck rc=${PIPESTATUS[0]}"
fi
echo "==== SUMMARY"
grep -E "PASSED|FAILED|Failure|gpu-vs|fused-vs|fused-golden|quant-types|rc=|\] /tmp" "$LOG" | grep -v "^\[  PASSED  \] [0-9]* tests\?\.$" | sed 's/ weights\/token; roofline/ MB; roof/; s/of roofline//' | cut -c1-170
grep -E "^\[  PASSED|^\[  FAILED" "$LOG" | sort | uniq -c
RUN
chmod +x $P/run.sh
du -sh $P
