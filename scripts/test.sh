#!/usr/bin/env bash
# Install everything the tests need (Debian packages, a virtualenv) and run them all.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
mapfile -t packages < <(grep -v '^\s*#' "$ROOT/scripts/apt-packages.txt" | grep -v '^\s*$')
apt_install "${packages[@]}"
venv_install test
cd "$ROOT"
"$VENV/bin/ruff" check src tests bench
exec "$VENV/bin/python" -m pytest "$@"
