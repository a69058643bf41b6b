#!/usr/bin/env bash
# Debian packages the tests use: Chromium renders the HTML report. Skipped when present or not root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "system-deps: not root, skipping chromium install" >&2; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
