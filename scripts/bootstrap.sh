#!/usr/bin/env bash
# Installs everything AIST needs on a fresh Debian machine: system packages for headless
# rendering (EGL/Mesa for pyrender, X/GL client libraries that the bpy wheel links against),
# Redis for the render farm's broker, Xvfb and the X client libraries of Qt's xcb platform
# (the app's OpenGL 3D view in screenshots and its test),
# a virtual environment at .venv in the repository root, and the project with its dev extras.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libgles2 libglu1-mesa
              libxrender1 libxi6 libxkbcommon0 libxxf86vm1 libxfixes3 libsm6 libice6 libx11-6
              libfontconfig1 libdbus-1-3 libglib2.0-0 libfreetype6
              redis-server
              xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1
              libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[aist] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${AIST_PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  echo "[aist] creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.aist-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "[aist] installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  touch "$stamp"
fi
