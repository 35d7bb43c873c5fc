#!/usr/bin/env bash
# Install what the benchmark needs and run it: results in docs/performance.md (about 15 min).
#   scripts/bench.sh            the full comparison
#   scripts/bench.sh --quick    a smoke run of a minute, results in a temporary folder
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
mapfile -t packages < <(grep -v '^\s*#' "$ROOT/scripts/bench-apt-packages.txt" | grep -v '^\s*$')
apt_install "${packages[@]}"
venv_install "test,bench"
cd "$ROOT"
exec "$VENV/bin/python" -m bench "$@"
