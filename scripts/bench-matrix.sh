#!/usr/bin/env bash
# Runs the same streaming load matrix against realizar and, when found on the PATH, llama-server and ollama,
# all on loopback, and writes OUTDIR/bench-matrix.{json,md,svg} (plus one JSON per runtime).
#
#   scripts/bench-matrix.sh [-m MODEL.gguf] [-c 1,4,16] [-n 64] [-r REQUESTS] [-p PROMPTS] [-t THREADS]
#                           [-o OUTDIR] [--ollama-model NAME] [--realizar PATH]
#
# Without -m, realizar serves its embedded demo model and llama-server is skipped (it needs a file).
# ollama runs only with --ollama-model NAME (a model already pulled into its store).
set -euo pipefail

MODEL="" CONC="1,4,16" NTOK=64 REQS=0 PROMPTS="" THREADS=0 OUT="bench-results" OLLAMA_MODEL=""
REALIZAR="${REALIZAR:-}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        -m) MODEL="$2"; shift 2 ;;
        -c) CONC="$2"; shift 2 ;;
        -n) NTOK="$2"; shift 2 ;;
        -r) REQS="$2"; shift 2 ;;
        -p) PROMPTS="$2"; shift 2 ;;
        -t) THREADS="$2"; shift 2 ;;
        -o) OUT="$2"; shift 2 ;;
        --ollama-model) OLLAMA_MODEL="$2"; shift 2 ;;
        --realizar) REALIZAR="$2"; shift 2 ;;
        -h|--help) sed -n 2,10p "$0"; exit 0 ;;
        *) echo "bench-matrix: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ -z "$REALIZAR" ]]; then
    REALIZAR="$(command -v realizar || true)"
    [[ -z "$REALIZAR" && -x build/release/realizar ]] && REALIZAR=build/release/realizar
fi
[[ -x "$REALIZAR" ]] || { echo "bench-matrix: realizar binary not found (set REALIZAR or --realizar)" >&2; exit 2; }
mkdir -p "$OUT"
LOGS="$OUT/logs"; mkdir -p "$LOGS"

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; return 0; }
trap cleanup EXIT INT TERM

free_port() {  # a loopback port nobody listens on, below Linux's ephemeral range (32768+: other programs' client sockets)
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

wait_http() {  # URL PATH SECONDS [PID]: 0 ready, 1 timeout, 2 the process PID exited
    local url="$1" path="$2" secs="$3" pid="${4:-}"
    for _ in $(seq 1 $((secs * 5))); do
        if curl -fs -o /dev/null "$url$path"; then return 0; fi
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
        sleep 0.2
    done
    return 1
}

BENCH_ARGS=(--concurrency "$CONC" -n "$NTOK" --requests "$REQS")
[[ -n "$PROMPTS" ]] && BENCH_ARGS+=(--prompts "$PROMPTS")
REPORTS=()

# realizar. A server that exits at once (typically: another program took the port between free_port and its
# bind) is retried on a fresh port, up to three times.
if [[ -n "$MODEL" ]]; then SRC=(-m "$MODEL"); else SRC=(--demo); fi
UP=1
for attempt in 1 2 3; do
    PORT=$(free_port)
    "$REALIZAR" serve "${SRC[@]}" --host 127.0.0.1 --port "$PORT" --parallel 16 --threads "$THREADS" \
        >"$LOGS/realizar.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$PORT" /health 120 "$!" && UP=0 && break
    [[ $? -eq 2 ]] || break  # a timeout: no retry
    echo "bench-matrix: realizar serve exited at start (attempt $attempt): $(tail -n 2 "$LOGS/realizar.log" | tr '\n' ' ')" >&2
done
if [[ $UP -eq 0 ]]; then
    "$REALIZAR" bench --url "http://127.0.0.1:$PORT" --api realizar --runtime realizar "${BENCH_ARGS[@]}" \
        --format json -o "$OUT/realizar.json" && REPORTS+=("$OUT/realizar.json")
else
    echo "bench-matrix: realizar serve did not come up (see $LOGS/realizar.log): $(tail -n 3 "$LOGS/realizar.log" | tr '\n' ' ')" >&2
fi

# llama.cpp's server
if command -v llama-server >/dev/null && [[ -n "$MODEL" ]]; then
    PORT=$(free_port)
    TARGS=(); [[ "$THREADS" -gt 0 ]] && TARGS=(-t "$THREADS")
    llama-server -m "$MODEL" --host 127.0.0.1 --port "$PORT" -np 16 "${TARGS[@]}" >"$LOGS/llama-server.log" 2>&1 &
    PIDS+=($!)
    if wait_http "http://127.0.0.1:$PORT" /health 300; then
        "$REALIZAR" bench --url "http://127.0.0.1:$PORT" --api llama-cpp --runtime llama-cpp "${BENCH_ARGS[@]}" \
            --format json -o "$OUT/llama-cpp.json" && REPORTS+=("$OUT/llama-cpp.json")
    else
        echo "bench-matrix: llama-server did not come up (see $LOGS/llama-server.log)" >&2
    fi
else
    echo "bench-matrix: llama-server skipped (not on PATH, or no -m MODEL)" >&2
fi

# ollama
if command -v ollama >/dev/null && [[ -n "$OLLAMA_MODEL" ]]; then
    PORT=$(free_port)
    OLLAMA_HOST="127.0.0.1:$PORT" OLLAMA_NUM_PARALLEL=16 ollama serve >"$LOGS/ollama.log" 2>&1 &
    PIDS+=($!)
    if wait_http "http://127.0.0.1:$PORT" /api/version 60; then
        "$REALIZAR" bench --url "http://127.0.0.1:$PORT" --api ollama --runtime ollama --model-name "$OLLAMA_MODEL" \
            "${BENCH_ARGS[@]}" --format json -o "$OUT/ollama.json" && REPORTS+=("$OUT/ollama.json")
    else
        echo "bench-matrix: ollama did not come up (see $LOGS/ollama.log)" >&2
    fi
else
    echo "bench-matrix: ollama skipped (not on PATH, or no --ollama-model NAME)" >&2
fi

[[ ${#REPORTS[@]} -gt 0 ]] || { echo "bench-matrix: no runtime produced results" >&2; exit 1; }
"$REALIZAR" bench report "${REPORTS[@]}" --format md -o "$OUT/bench-matrix.md" \
    --json "$OUT/bench-matrix.json" --svg "$OUT/bench-matrix.svg"
cat "$OUT/bench-matrix.md"
echo "bench-matrix: wrote $OUT/bench-matrix.{json,md,svg}" >&2
