#!/usr/bin/env bash
# Install everything the tests need (Debian packages, a virtualenv) and run them all.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
# The benchmark's smoke test (tests/test_bench.py) runs too: its tools are installed here.
mapfile -t packages < <(cat "$ROOT/scripts/apt-packages.txt" "$ROOT/scripts/bench-apt-packages.txt" \
    | grep -v '^\s*#' | grep -v '^\s*$' | sort -u)
apt_install "${packages[@]}"
# tests/deployment/test_fresh_server.py boots a fresh Debian. Without recommends:
# systemd-container's would add libnss-mymachines to this machine's nsswitch.conf.
mapfile -t guest_packages < <(grep -v '^\s*#' "$ROOT/scripts/guest-apt-packages.txt" | grep -v '^\s*$')
apt_install --no-install-recommends "${guest_packages[@]}"
venv_install "test,bench"
cd "$ROOT"
"$VENV/bin/ruff" check src tests bench harness
exec "$VENV/bin/python" -m pytest "$@"
