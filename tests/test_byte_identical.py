"""Refactors change no output: every dataset-writing command (render on pyrender, on a local
pool and on Blender, segment, train-stylizer + stylize, make-cars, import-dpc from a DPC
layout) and the Blender add-on's render operator write byte-identical datasets (every file
of make-cars' mesh tree) to the ones recorded before the stage runner
(``tests/data/dataset-digests.json``, made by ``scripts/dataset_digests.py`` at commit
8d8d3b1). The GUI's Stages page is compared with the
same record in ``test_gui.py``, the farm's Celery workers with the local pool in
``test_farm.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_shared

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "data" / "dataset-digests.json"


def test_every_command_writes_the_recorded_bytes(tmp_path):
    meshes = require_shared()
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "dataset_digests.py"),
                        str(tmp_path / "out"), "--meshes", str(meshes)], capture_output=True,
                       text=True, timeout=900, env={**os.environ, "PYOPENGL_PLATFORM": "egl"})
    assert p.returncode == 0, p.stderr[-3000:]
    now = json.loads(p.stdout)
    before = {k: v for k, v in json.loads(RECORD.read_text()).items()
              if not k.startswith("_")}
    assert set(now) == set(before)
    for command, files in before.items():
        changed = sorted(f for f in files if now[command].get(f) != files[f])
        assert not changed and set(now[command]) == set(files), (command, changed)
