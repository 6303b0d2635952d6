#!/usr/bin/env bash
# Installs everything (Debian packages, .venv, AIST with dev extras), checks the style (ruff)
# and the layering (import-linter contracts in pyproject.toml), and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PYOPENGL_PLATFORM=egl
# The layering and the style first: cheap, and a broken contract fails the run.
.venv/bin/ruff check .
.venv/bin/lint-imports
set +e
.venv/bin/python -m pytest -p no:cacheprovider --durations=15 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
if [ "$rc" -eq 0 ] && [ "$#" -eq 0 ]; then
  # The recorded bytes hold under another BLAS kernel too (docs/outputs.md): Prescott is the
  # oldest x86-64 kernel, so it differs from whatever this machine picks by itself.
  echo "[aist] byte-identity record under OPENBLAS_CORETYPE=Prescott"
  set +e
  OPENBLAS_CORETYPE=Prescott .venv/bin/python -m pytest -p no:cacheprovider -q \
    tests/test_byte_identical.py
  rc=$?
  set -e
fi
exit "$rc"
