#!/bin/bash
# Reproduces the measurements of docs/perf/cuda-prefill.md (batched GPU path). Step 1 (here, with nvcc): build
# test_cuda and the CLI and pack them with their shared libraries (not libcublas: the GPU machine's CUDA
# toolkit has it) and the few ../shared files the tests read. Step 2, on the GPU machine (e.g. the `run` tool
# with carry=["<pack dir>"]):   bash <pack dir>/run.sh
# Usage: tests/cuda/gpu_pack_batch.sh [build dir (default build/h)] [pack dir (default <build dir>/devpack-batch)]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build/h}
P=${2:-$B/devpack-batch}
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DRZ_WERROR=ON >/dev/null
cmake --build $B -j2 --target test_cuda realizar
rm -rf $P && mkdir -p $P/lib $P/shared/data/tinystories-260K $P/shared/golden/quant $P/shared/data/tokenizers/llama2-spm
cp $B/tests/cuda/test_cuda $B/realizar $P/
for l in $(ldd $P/realizar $P/test_cuda | awk '/=>/{print $3}' | sort -u | grep -v "libc.so\|libm.so\|libgcc\|libstdc\|libcublas"); do cp -L "$l" $P/lib/; done
S=../shared
cp $S/data/tinystories-260K/stories260K-f32.gguf $P/shared/data/tinystories-260K/
cp -r $S/golden/llama_gqa $S/golden/phi2 $P/shared/golden/
for t in Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K F16 BF16; do cp $S/golden/quant/q-$t.gguf $P/shared/golden/quant/; done
cp $S/data/tokenizers/llama2-spm/tokenizer.model $P/shared/data/tokenizers/llama2-spm/
cat > $P/run.sh <<'RUN'
#!/bin/bash
# Device-side driver for the batched-path tests and benchmark (carried, not committed). Synthetic models are
# written to build/models-prefill (kept while the machine stays warm).
cd "$(dirname "$0")"
M=$PWD/../models-prefill
mkdir -p $M
CUDA_LIBS=$(dirname "$(ls /usr/local/cuda*/lib*/libcublas.so.13 /usr/local/cuda*/targets/*/lib/libcublas.so.13 2>/dev/null | head -1)")
export LD_LIBRARY_PATH=$PWD/lib:$CUDA_LIBS:$LD_LIBRARY_PATH RZ_SHARED_DIR=$PWD/shared
nvidia-smi --query-gpu=name,memory.total,clocks.max.mem --format=csv,noheader; echo "cublas from $CUDA_LIBS"
echo "== unit (all of test_cuda)"; timeout 150 ./test_cuda --gtest_filter=${RZ_FILTER:-*} 2>&1 | grep -v "^\[ RUN\|^\[       OK\|Skipped$\|^set RZ\|^a CUDA device\|^\[  SKIPPED \] [A-Z].*ms)$"
echo "== batch tests without graphs"; RZ_CUDA_GRAPHS=0 timeout 100 ./test_cuda --gtest_filter='CudaBatch.*:-*Benchmark*' 2>&1 | grep -E "^\[batch|PASSED|FAILED|Failure|Expected|actual"
echo "== convert"
for t in q4_k_m q8_0; do
  [ -s $M/tl-$t.gguf ] || /usr/bin/time -f "convert $t %e s" timeout 150 ./realizar convert --synthetic tinyllama-1.1b --type $t \
      --vocab shared/data/tokenizers/llama2-spm/tokenizer.model -o $M/tl-$t.gguf 2>&1 | tail -1
done
echo "== bench"
RZ_CUDA_BENCH_MODELS=$M/tl-q4_k_m.gguf:$M/tl-q8_0.gguf timeout 200 ./test_cuda --gtest_filter='*PrefillBenchmark*' 2>&1 | grep -E "bench|OK|FAIL|Failure"
echo "== pp512 and attention parts with CUDA-core attention (RZ_CUDA_ATT=simt)"
RZ_CUDA_ATT=simt RZ_CUDA_BENCH_PP_ONLY=1 RZ_CUDA_BENCH_MODELS=$M/tl-q4_k_m.gguf:$M/tl-q8_0.gguf timeout 60 ./test_cuda --gtest_filter='*PrefillBenchmark*' 2>&1 | grep -E "bench|FAIL|Failure"
RZ_CUDA_ATT=simt timeout 100 ./test_cuda --gtest_filter='CudaBatch*:-*Benchmark*' 2>&1 | grep -E "^\[batch|^\[attention|PASSED|FAILED|Failure|Expected|actual"
echo "== tinyllama vs cpu (12-token prompt: GEMM path) and decode benchmark (graphs)"
RZ_CUDA_QUANT_MODELS=$M/tl-q4_k_m.gguf:$M/tl-q8_0.gguf timeout 120 ./test_cuda --gtest_filter='*QuantizedModelsCloseToCpu*' 2>&1 | grep -E "gpu-vs|OK|FAIL|Failure"
echo "== memcheck"; timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_cuda --gtest_filter='CudaBatch*:-*Benchmark*:*F16Gemm*' 2>&1 | grep -E "ERROR SUMMARY|PASSED|FAILED|=========" | head -20; echo "memcheck rc=${PIPESTATUS[0]}"
echo "== racecheck"; timeout 120 compute-sanitizer --tool racecheck --error-exitcode 9 ./test_cuda --gtest_filter='*PrefillAttention*:*MixedSequences*' 2>&1 | tail -3; echo "racecheck rc=${PIPESTATUS[0]}"
if command -v nsys >/dev/null; then
  echo "== nsys: kernels of one pp512 (Q4_K_M)"
  RZ_CUDA_BENCH_PP_ONLY=1 RZ_CUDA_BENCH_MODELS=$M/tl-q4_k_m.gguf timeout 100 nsys profile -o /tmp/pp-prof --force-overwrite true ./test_cuda --gtest_filter='*PrefillBenchmark*' >/dev/null 2>&1
  timeout 60 nsys stats --report cuda_gpu_kern_sum --format csv /tmp/pp-prof.nsys-rep 2>/dev/null | cut -d, -f1-4,9 | cut -c1-200 | head -25
else echo "no nsys"; fi
RUN
chmod +x $P/run.sh
du -sh $P
