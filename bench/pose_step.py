"""The cpu preset's pose training step with this checkout's projection against a baseline
revision's (``plugins/dpc/projection.py`` as ``git show REV:`` has it), in alternating rounds
of the same run, so both see the same machine state; prints seconds a step and the ratio.
Every function of the projection module is swapped wherever the pose model's modules hold
it (the loss, the pose search, the colour targets), nothing else changes.

    .venv/bin/python bench/pose_step.py [--baseline 4f1a27c] [--steps 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import aist_plugins.dpc.loss  # noqa: E402, F401  (the modules that hold projection functions)
import aist_plugins.dpc.predictor  # noqa: E402, F401
import aist_plugins.dpc.projection as current  # noqa: E402
import aist_plugins.dpc.train  # noqa: E402, F401
from aist_app.api.manager import create_plugin_manager  # noqa: E402
from aist_app.api.progress import drain  # noqa: E402
from aist_app.experiments.presets import PRESETS  # noqa: E402
from aist_app.render.pipeline import RenderConfig, render_collection  # noqa: E402
from aist_plugins.dpc.config import PoseConfig  # noqa: E402
from aist_plugins.dpc.train import PoseTrainer  # noqa: E402


def baseline_module(rev: str) -> types.ModuleType:
    """The projection module as it was at ``rev``."""
    src = subprocess.run(["git", "show", f"{rev}:plugins/dpc/projection.py"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    mod = types.ModuleType("aist_bench_projection_baseline")
    exec(compile(src, f"{rev}:plugins/dpc/projection.py", "exec"), mod.__dict__)
    return mod


def use(projection: types.ModuleType) -> None:
    """Point every aist_plugins.dpc module's projection names at ``projection``'s."""
    names = [n for n, f in vars(current).items()
             if isinstance(f, types.FunctionType) and f.__module__ == current.__name__]
    for name, mod in list(sys.modules.items()):
        if not name.startswith("aist_plugins.dpc") or mod is current:
            continue
        for n in names:
            held = getattr(mod, n, None)
            if held is not None and getattr(held, "__name__", None) == n and hasattr(projection, n):
                setattr(mod, n, getattr(projection, n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="4f1a27c", help="git revision of the baseline")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per side")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--meshes", type=Path, default=ROOT.parent / "shared" / "data" / "meshes")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sides = {"baseline": baseline_module(args.baseline), "current": current}
    tmp = Path(tempfile.mkdtemp(prefix="aist-bench-pose-step-"))
    drain(render_collection(args.meshes, tmp / "ds", RenderConfig(views=8, device="cpu",
                                                                  points=1000, image_size=(64, 64)),
                            create_plugin_manager().stage("renderer", "pyrender").factory))
    preset = {**PRESETS["cpu"]["pose"], "device": "cpu", "seed": 0}
    trainers = {}
    for side, mod in sides.items():
        use(mod)
        trainers[side] = PoseTrainer(PoseConfig.from_dict(preset), tmp / "ds", tmp / side)
        trainers[side].train_step()  # warm-up
    times: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(args.steps):  # alternating rounds
        for side, t in trainers.items():
            use(sides[side])
            t0 = time.perf_counter()
            t.train_step()
            times[side].append(time.perf_counter() - t0)
    use(current)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"cpu preset pose step ({preset['batch_objects']} objects x "
          f"{preset['views_per_object']} views, {preset['num_points']} points, "
          f"{preset['vox_size']}^3, pose search and colours), {args.threads} thread(s), "
          f"median of {args.steps}:")
    for k, v in med.items():
        label = f"baseline {args.baseline}" if k == "baseline" else "this checkout"
        print(f"  {label}: {v:.3f} s/step")
    print(f"  speed-up: {med['baseline'] / med['current']:.2f}x")


if __name__ == "__main__":
    main()
