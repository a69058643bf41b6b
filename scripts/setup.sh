#!/usr/bin/env bash
# One command from a fresh clone: build .venv with everything the CLI, training, triage and tests use,
# then (unless --no-demo) run the main job on the bundled sample account.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.ctad-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[all,dev]'
  touch "$stamp"
fi
if [ "${1:-}" != "--no-demo" ]; then
  .venv/bin/ctad demo --out out/demo
fi
