#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (the venv, Debian's Chromium for the
# report test), lints, then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-demo
bash scripts/system-deps.sh
.venv/bin/ruff check app tests bench bin/*.py
.venv/bin/ruff format --check app tests bench bin/*.py
.venv/bin/python -m pytest -q "$@"
