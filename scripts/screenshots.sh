#!/usr/bin/env bash
# Every page of the desktop app at 1280x800, made by `aist gui --screenshot`, on an experiment
# folder (the cpu preset's: `aist experiment --preset cpu --out EXP`), written to OUT
# (default docs/screenshots; docs/gui.md describes each).
#
#   bash scripts/screenshots.sh EXP [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
EXP=${1:?usage: scripts/screenshots.sh EXPERIMENT [OUT]}
OUT=${2:-docs/screenshots}
mkdir -p "$OUT"
export PYOPENGL_PLATFORM=egl
AIST_CACHE_DIR=$(mktemp -d)
export AIST_CACHE_DIR
# Under Xvfb (scripts/bootstrap.sh installs it) the 3D view draws with OpenGL; offscreen it
# can only say that it has none.
if command -v xvfb-run >/dev/null; then
  shot() { xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \
             .venv/bin/aist gui "$@" 2> >(grep -v propagateSizeHints >&2); }
else
  echo "no xvfb-run: the 3D view's screenshot will say that it has no OpenGL" >&2
  export QT_QPA_PLATFORM=offscreen
  shot() { .venv/bin/aist gui "$@" 2> >(grep -v propagateSizeHints >&2); }
fi
# The Browser: the target domain (a Blender render with a varied look), the stylized set
# (its source view and mask difference), the real photos' accepted cut-outs; a pose run open,
# so the selected view's camera box shows its prediction.
shot "$EXP/target" --pose-run "$EXP/pose-constrained" --select 3 --screenshot "$OUT/browser.png"
shot "$EXP/stylized-constrained" --select 3 --screenshot "$OUT/browser-stylized.png"
shot "$EXP/real" --select 0 --screenshot "$OUT/browser-real.png"
# The 3D view: the ground truth, every view's camera, the run's predicted cloud and camera.
shot "$EXP/target" --pose-run "$EXP/pose-constrained" --select 3 --page "3D view" \
  --screenshot "$OUT/view3d.png"
shot "$EXP/synthetic" --page Stages --screenshot "$OUT/stages.png"
# Runs: a pose run (its validation rows, curves drawn here) and the experiment's report.
shot "$EXP/pose-constrained" --page Runs --screenshot "$OUT/run.png"
shot "$EXP/report" --page Runs --screenshot "$OUT/experiment.png"
shot "$EXP" --page Compare --test-set target --select 3 --screenshot "$OUT/compare.png"
ls -l "$OUT"
