"""Pose-model speed: training seconds per step at the reference's scale (8 objects x 4
views, 8000 points, 64^3 grid, ensemble of 4) for the reference's objective (one shape per
object: 8 x 4 x 4 = 128 projections a step) against the all-pairs reading (every view's shape
with every view's poses: 512), measured in alternating rounds of the same run; and how the
projection's forward+backward time and memory grow with the number of points and the grid size.

    .venv/bin/python bench/pose.py [--device auto] [--steps 3] [--skip-train]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from aist_app.api.manager import create_plugin_manager  # noqa: E402
from aist_app.api.progress import drain  # noqa: E402
from aist_app.common.devices import resolve_device  # noqa: E402
from aist_app.pose.quaternion import normalize  # noqa: E402
from aist_app.render.pipeline import RenderConfig, render_collection  # noqa: E402
from aist_plugins.dpc.config import PoseConfig  # noqa: E402
from aist_plugins.dpc.projection import project  # noqa: E402
from aist_plugins.dpc.train import PoseTrainer  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def projection_cost(device: torch.device, m: int, points: int, grid: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(0)
    pts = ((torch.rand(m, points, 3, generator=g) - 0.5) * 0.8).to(device).requires_grad_(True)
    q = normalize(torch.randn(m, 4, generator=g)).to(device).requires_grad_(True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(2):  # the first is warm-up
        sync(device)
        t0 = time.perf_counter()
        sil = project(pts, q, size=grid, sigma=1.0, kernel_size=21)["silhouette"]
        sil.square().sum().backward()
        sync(device)
        dt = time.perf_counter() - t0
    return dt, peak_mb(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--meshes", type=Path, default=ROOT.parent / "shared" / "data" / "meshes")
    args = ap.parse_args()
    device = torch.device(resolve_device(args.device))
    print(f"device {device}, {torch.get_num_threads()} CPU threads")
    print("  projection forward+backward (M=16 clouds):")
    print("    points  grid   seconds   peak MiB" + ("" if device.type == "cuda" else
                                                   " (process RSS)"))
    # Ascending cost, so on the CPU the process's peak RSS so far is this size's peak.
    for points, grid in ((8000, 32), (8000, 48), (1000, 64), (2000, 64), (4000, 64),
                         (8000, 64), (8000, 96)):
        dt, mem = projection_cost(device, 16, points, grid)
        print(f"    {points:6d}  {grid:4d}   {dt:7.3f}   {mem:8.0f}")

    if not args.skip_train:
        tmp = Path(tempfile.mkdtemp(prefix="aist-bench-pose-"))
        drain(render_collection(args.meshes, tmp / "ds", RenderConfig(views=8, device="cpu",
                                                                      points=1000),
                                create_plugin_manager().stage("renderer", "pyrender").factory))
        times: dict[str, list[float]] = {"reference": [], "all-pairs": []}
        trainers = {}
        for objective in times:
            cfg = PoseConfig(steps=10**9, device=str(device), dropout_keep_start=1.0,
                             objective=objective)
            trainers[objective] = PoseTrainer(cfg, tmp / "ds", tmp / f"run-{objective}")
            trainers[objective].train_step()  # warm-up
        for _ in range(args.steps):  # alternating rounds: the same machine state for both
            for objective, t in trainers.items():
                sync(device)
                t0 = time.perf_counter()
                t.train_step()
                sync(device)
                times[objective].append(time.perf_counter() - t0)
        med = {k: float(np.median(v)) for k, v in times.items()}
        for k, v in med.items():
            n = 8 * 4 * 4 * (4 if k == "all-pairs" else 1)
            print(f"  training step, {k}: 8 objects x 4 views, 8000 points, 64^3, ensemble 4 "
                  f"({n} projections): {v:.2f} s/step (median of {args.steps})")
        print(f"  reference objective / all-pairs: {med['reference'] / med['all-pairs']:.2f}x "
              "the time")


if __name__ == "__main__":
    main()
