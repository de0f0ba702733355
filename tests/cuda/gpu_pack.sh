#!/bin/bash
# Reproduces the GPU measurements of docs/perf/cuda.md. Step 1 (here, with nvcc): build test_cuda and pack it
# with the CLI, its shared libraries and the ../shared files the tests read into build/h-cuda/devpack/.
# Step 2 (on the GPU machine, e.g. the `run` tool with carry=["build/h-cuda/devpack"]):
#     bash build/h-cuda/devpack/run.sh
# Usage: [RZ_CUDA_BUILD=build/h-cuda] tests/cuda/gpu_pack.sh [build dir with realizar]   (default build/h-convert)
set -euo pipefail
cd "$(dirname "$0")/../.."
cli_build=${1:-build/h-convert}
B=${RZ_CUDA_BUILD:-build/h-cuda}
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DRZ_WERROR=ON >/dev/null
cmake --build $B -j2 --target test_cuda
P=$B/devpack
rm -rf $P && mkdir -p $P/lib $P/shared/data/tinystories-260K $P/shared/golden $P/shared/data/tokenizers/llama2-spm
cp $B/tests/cuda/test_cuda $P/ && cp "$cli_build/realizar" $P/
for l in $(ldd $P/realizar $P/test_cuda | awk '/=>/{print $3}' | sort -u | grep -v "libc.so\|libm.so\|libgcc\|libstdc"); do cp -L "$l" $P/lib/; done
S=../shared
cp $S/data/tinystories-260K/stories260K-f32.gguf $P/shared/data/tinystories-260K/
cp -r $S/golden/llama_gqa $S/golden/phi2 $P/shared/golden/
cp $S/data/tokenizers/llama2-spm/tokenizer.model $P/shared/data/tokenizers/llama2-spm/
cat > $P/run.sh <<'RUN'
#!/bin/bash
# Device-side driver for the CUDA tests (carried, not committed).
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD/lib:$LD_LIBRARY_PATH RZ_SHARED_DIR=$PWD/shared
nvidia-smi --query-gpu=name,memory.total,clocks.max.mem --format=csv
echo "== unit"; timeout 200 ./test_cuda 2>&1 | grep -v "^\[ RUN\|^\[       OK" | tail -40
echo "== no graphs"; RZ_CUDA_GRAPHS=0 timeout 100 ./test_cuda --gtest_filter='*Stories*:*Golden*:*Sequences*' 2>&1 | grep -E "gpu-vs|PASSED|FAILED|Failure"
echo "== convert"
for t in q4_k_m q8_0; do
  /usr/bin/time -f "convert $t %e s" timeout 150 ./realizar convert --synthetic tinyllama-1.1b --type $t --vocab shared/data/tokenizers/llama2-spm/tokenizer.model -o /tmp/tl-$t.gguf 2>&1 | tail -2
done
ls -la /tmp/*.gguf
for cfg in "RZ_CUDA_INT8=0" "RZ_CUDA_INT8=1 RZ_CUDA_SPLIT=0" "RZ_CUDA_INT8=1"; do
echo "== bench $cfg (INT8=0: float-activation kernels; 1: int8 activations + dp4a; SPLIT=0: one warp per row)"
env $cfg RZ_CUDA_BENCH_MODELS=/tmp/tl-q4_k_m.gguf:/tmp/tl-q8_0.gguf timeout 120 ./test_cuda --gtest_filter='*Benchmark*' 2>&1 | grep -E "bench|OK|FAIL"
echo "== quant vs cpu $cfg"
env $cfg RZ_CUDA_QUANT_MODELS=/tmp/tl-q4_k_m.gguf:/tmp/tl-q8_0.gguf timeout 150 ./test_cuda --gtest_filter='*Quantized*' 2>&1 | grep -E "gpu-vs|OK|FAIL|Failure|Expected|Which|actual|row|col" | head -30
done
echo "== memcheck"; timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 ./test_cuda --gtest_filter='*Stories*:*Sequences*:*Kernels*' 2>&1 | tail -6; echo "memcheck rc=${PIPESTATUS[0]}"
echo "== racecheck"; timeout 120 compute-sanitizer --tool racecheck --error-exitcode 9 ./test_cuda --gtest_filter=*GoldenLlama*:*Kernels* 2>&1 | tail -6; echo "racecheck rc=${PIPESTATUS[0]}"
RUN
chmod +x $P/run.sh
du -sh $P
