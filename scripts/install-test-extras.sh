#!/usr/bin/env bash
# Test-only extras beyond `scripts/install-deps.sh --test` (which `make test` runs first):
#   - the official OpenAI Node SDK (npm `openai`, pinned by tests/server/js/package-lock.json), installed into
#     tests/server/js/node_modules for tests/server/openai_sdk_test.cpp;
#   - wrk, for the bounded load test in tests/server/load_test.cpp.
# Idempotent; fails loudly so a missing dependency is not mistaken for a passing test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
    echo "install-test-extras: installing wrk" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

if [[ ! -f tests/server/js/node_modules/openai/package.json ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "install-test-extras: npm is missing (run scripts/install-deps.sh --test)" >&2
        exit 1
    fi
    echo "install-test-extras: installing the OpenAI Node SDK into tests/server/js/node_modules" >&2
    (cd tests/server/js && npm ci --no-audit --no-fund --loglevel=error)
fi
