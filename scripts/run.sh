#!/usr/bin/env bash
# Set up and run mayfly locally on SQLite: http://127.0.0.1:8000
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
apt_install python3-venv
venv_install run
exec "$VENV/bin/mayfly" serve "$@"
