"""The real `aist` command from the tests, and file hashes to prove nothing on disk changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

AIST = str(Path(sys.executable).with_name("aist"))
#: A tiny render of the bundled sample meshes.
RENDER = ["--views", "3", "--size", "32", "--points", "500", "--device", "cpu"]


def aist(*args, cwd=None, umask: int | None = None, env=None, timeout=600):
    """Run ``aist ARGS`` (EGL for pyrender); the completed process, output captured."""
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl", **(env or {})}
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([AIST, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, preexec_fn=pre)


def hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}
