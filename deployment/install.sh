#!/bin/sh
# Install mayfly with nginx, uWSGI, systemd and a Let's Encrypt certificate:
#
#   sudo deployment/install.sh --domain secrets.example.org --email admin@example.org
#
# install.py does the work; this makes sure there is a Python to run it with.
# `deployment/install.sh --help` lists the options; docs/deployment.md explains them.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v python3 >/dev/null 2>&1; then
    case " $* " in
        *" --dry-run "*) echo "install.sh: python3 is missing (a real run installs it)" >&2; exit 1 ;;
    esac
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3
fi
exec python3 "$here/install.py" "$@"
