#!/usr/bin/env bash
# One set-up command: creates .venv (if missing) and installs chatmem with its test extra.
# torch is installed first and pinned, so that sentence-transformers does not pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3; do command -v "$c" >/dev/null && PY="$c" && break; done
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
echo "chatmem installed in .venv: start it with .venv/bin/chatmem"
