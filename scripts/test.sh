#!/usr/bin/env bash
# Install everything the tests need (Debian packages, a virtualenv) and run them all.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
# The benchmark's smoke test (tests/test_bench.py) runs too: its tools are installed here.
mapfile -t packages < <(cat "$ROOT/scripts/apt-packages.txt" "$ROOT/scripts/bench-apt-packages.txt" \
    | grep -v '^\s*#' | grep -v '^\s*$' | sort -u)
apt_install "${packages[@]}"
venv_install "test,bench"
cd "$ROOT"
"$VENV/bin/ruff" check src tests bench harness
exec "$VENV/bin/python" -m pytest "$@"
