"""Refactors change no output: every dataset-writing command (render on pyrender, on a local
pool and on Blender, segment, train-stylizer + stylize, make-cars, import-dpc from a DPC
layout) and the Blender add-on's render operator write byte-identical datasets (every file
of make-cars' mesh tree) to the ones recorded before the stage runner
(``tests/data/dataset-digests.json``, made by ``scripts/dataset_digests.py`` at commit
8d8d3b1). The GUI's Stages page is compared with the
same record in ``test_gui.py``, the farm's Celery workers with the local pool in
``test_farm.py``.

Every array a dataset stores is computed without CPU-specific kernels
(``aist_app/common/exact.py``), so the record holds on any x86-64 machine; ``.ci/run`` runs
this test again under ``OPENBLAS_CORETYPE=Prescott``. Cycles images are the exception
(Embree and Cycles pick kernels by processor): a Blender view whose digest differs from the
record is compared with ``tests/data/cycles-reference`` (this test's own render, recorded on
an Intel Xeon with AVX-512) within a tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_shared

#: The fast loop (`pytest -m "not slow"`) leaves these out; `.ci/run` runs them.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "data" / "dataset-digests.json"
CYCLES_REFERENCE = ROOT / "tests" / "data" / "cycles-reference"


def cycles_view_close(path: Path) -> bool:
    """A Cycles view against the reference render of the same view: the same silhouette
    (alpha > 0 IoU >= 0.95) and colours within 6/255 on average."""
    import numpy as np
    from PIL import Image

    ref = CYCLES_REFERENCE / path.name
    a = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float64)
    b = np.asarray(Image.open(ref).convert("RGBA"), dtype=np.float64)
    if a.shape != b.shape:
        return False
    ma, mb = a[..., 3] > 0, b[..., 3] > 0
    iou = (ma & mb).sum() / max(1, (ma | mb).sum())
    return bool(iou >= 0.95 and np.abs(a - b).mean() <= 6.0)


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
        if command == "render-blender":  # Cycles: per-processor images, compared by content
            changed = [f for f in changed if not (
                f.endswith(".png") and cycles_view_close(tmp_path / "out" / command / f))]
        assert not changed and set(now[command]) == set(files), (command, changed)


def test_cycles_tolerance_rejects_another_view(tmp_path):
    """The tolerance for Cycles views is not a pass for anything: the other view, or the
    view shifted by two pixels, fails it."""
    import numpy as np
    from PIL import Image

    other = tmp_path / "view_000.png"
    other.write_bytes((CYCLES_REFERENCE / "view_001.png").read_bytes())
    assert not cycles_view_close(other)
    same = tmp_path / "view_001.png"
    same.write_bytes((CYCLES_REFERENCE / "view_001.png").read_bytes())
    assert cycles_view_close(same)
    shifted = np.roll(np.asarray(Image.open(same)), 2, axis=1)
    Image.fromarray(shifted).save(same)
    assert not cycles_view_close(same)
