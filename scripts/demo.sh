#!/usr/bin/env bash
# Installs everything (Debian packages, .venv, AIST) and runs the demo on the bundled data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PYOPENGL_PLATFORM=egl
exec .venv/bin/aist demo "$@"
