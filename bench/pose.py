"""Pose-model speed: training iterations/s at the reference's scale (4 objects x 4 views,
8000 points, 64^3 grid, ensemble of 4), and how the projection's forward+backward time and
memory grow with the number of points and the grid size.

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

import torch  # noqa: E402

from aist_app.plugins import create_plugin_manager  # noqa: E402
from aist_app.pose.config import PoseConfig  # noqa: E402
from aist_app.pose.projection import project  # noqa: E402
from aist_app.pose.quaternion import normalize  # noqa: E402
from aist_app.pose.train import PoseTrainer  # noqa: E402
from aist_app.progress import drain  # noqa: E402
from aist_app.render.pipeline import RenderConfig, render_collection  # noqa: E402
from aist_app.weights import resolve_device  # noqa: E402


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
        cfg = PoseConfig(steps=10**9, device=str(device), dropout_keep_start=1.0)
        t = PoseTrainer(cfg, tmp / "ds", tmp / "run")
        t.train_step()  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            t.train_step()
        sync(device)
        dt = (time.perf_counter() - t0) / args.steps
        print(f"  training, 4 objects x 4 views, 8000 points, 64^3, ensemble 4 "
              f"({4 * 4 * 4 * 4} projections a step): {1 / dt:.3f} it/s ({dt:.2f} s/it); "
              f"reference GTX 1080Ti ~2 it/s, target >= 25 it/s on a modern GPU")

if __name__ == "__main__":
    main()
