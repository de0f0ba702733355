#!/usr/bin/env bash
# Installs the Debian 12 packages realizar needs to build, test and benchmark. Idempotent: installs only
# what is missing. Needs root (or sudo).
set -euo pipefail

build_pkgs=(build-essential cmake ninja-build ccache pkg-config
            libcpp-httplib-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libpcre2-dev
            liblz4-dev libzstd-dev)
test_pkgs=(libgtest-dev libgmock-dev googletest libbenchmark-dev clang libclang-rt-14-dev
           prometheus curl chromium tmux wrk)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm (the OpenAI SDK test): machines that already have them (e.g. from NodeSource, whose nodejs
# bundles npm and conflicts with Debian's npm package) keep theirs; others get Debian's.
if [[ "${1:-}" == "--test" ]] && ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if ((${#missing[@]} == 0)); then exit 0; fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
