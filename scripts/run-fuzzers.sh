#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz preset: clang, ASan+UBSan) and runs each for a bounded time, starting
# from the seed corpus in tests/fuzz/corpus/<name>/, plus real files from ../shared when it is there (the chat
# templates of ten models; stories260K's SentencePiece and llama2.c tokenizers, behind the byte that picks their
# loader; stories260K's GGUF next to the tiny synthetic models fuzz_model_seeds writes). FUZZ_SECONDS per target (default 20).
# Exits non-zero as soon as a target finds a crash, leak, timeout or out-of-memory; the reproducer is left
# in build/fuzz/artifacts/.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-20}
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}
targets=(fuzz_gguf fuzz_safetensors fuzz_apr fuzz_chat_template fuzz_chat_messages fuzz_tokenizer fuzz_protocol fuzz_model)
shared=${RZ_SHARED_DIR:-../shared}
cmake --preset fuzz >/dev/null || { echo "run-fuzzers: configure failed"; exit 1; }
cmake --build build/fuzz -j "$jobs" --target "${targets[@]}" fuzz_model_seeds || { echo "run-fuzzers: build failed"; exit 1; }
mkdir -p build/fuzz/artifacts
for name in "${targets[@]}"; do
    bin="build/fuzz/tests/fuzz/$name"
    short=${name#fuzz_}
    work="build/fuzz/corpus-run/$short"
    mkdir -p "$work"
    seeds=()
    [[ -d "tests/fuzz/corpus/$short" ]] && seeds=("tests/fuzz/corpus/$short")
    if [[ $short == chat_template && -d "$shared/data/chat-templates" ]]; then
        seeds+=("$shared/data/chat-templates")
    elif [[ $short == tokenizer && -d "$shared/data/tinystories-260K" ]]; then
        extra="build/fuzz/seeds-tokenizer"
        mkdir -p "$extra"
        { printf '\x00'; cat "$shared/data/tinystories-260K/tok512.model"; } >"$extra/spm_tok512"
        { printf '\x02'; cat "$shared/data/tinystories-260K/tok512.bin"; } >"$extra/llama2c_tok512"
        seeds+=("$extra")
    elif [[ $short == model ]]; then
        extra="build/fuzz/seeds-model"
        mkdir -p "$extra"
        build/fuzz/tests/fuzz/fuzz_model_seeds "$extra" >/dev/null || { echo "run-fuzzers: fuzz_model_seeds failed"; exit 1; }
        [[ -f "$shared/data/tinystories-260K/stories260K-f32.gguf" ]] && cp "$shared/data/tinystories-260K/stories260K-f32.gguf" "$extra/"
        seeds+=("$extra")
    fi
    max_len=65536
    [[ $short == model ]] && max_len=1200000  # whole model files (stories260K: 1.1 MB)
    echo "run-fuzzers: $name for ${secs}s"
    log="build/fuzz/$name.log"
    "$bin" -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="build/fuzz/artifacts/$name-" "$work" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    tail -n 4 "$log"
    if [[ $rc -ne 0 ]]; then
        echo "run-fuzzers: $name FAILED (exit $rc); see $log and build/fuzz/artifacts/"
        grep -m 20 -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$log" || true
        exit 1
    fi
done
echo "run-fuzzers: all targets clean"
