"""What pose recoverability (``pose_recover``) costs a cpu-preset pose training step: the
same step with and without it, in alternating rounds of one run on one machine state;
prints seconds a step and the ratio.

    .venv/bin/python bench/pose_recover.py DATASET [--weight 20] [--steps 8] [--threads 1]

DATASET: a synthetic dataset with a train split (e.g. an experiment's ``synthetic``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from aist_app.experiments.presets import PRESETS  # noqa: E402
from aist_plugins.dpc.config import PoseConfig  # noqa: E402
from aist_plugins.dpc.train import PoseTrainer  # noqa: E402


def trainer(dataset: Path, weight: float, folder: str) -> PoseTrainer:
    pose = {**PRESETS["cpu"]["pose"], "device": "cpu", "pose_recover": weight,
            "pose_eval_every": 0, "select_checkpoint": "last"}
    t = PoseTrainer(PoseConfig(**pose), dataset, Path(folder) / f"w{weight:g}")
    t.train_step()  # warm-up
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--weight", type=float, default=20.0)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per side")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        sides = {"without": trainer(args.dataset, 0.0, d),
                 f"pose_recover {args.weight:g}": trainer(args.dataset, args.weight, d)}
        spent = dict.fromkeys(sides, 0.0)
        for _ in range(args.steps):  # alternate: both sides see the same machine state
            for name, t in sides.items():
                t0 = time.perf_counter()
                t.train_step()
                spent[name] += time.perf_counter() - t0
    per = {k: v / args.steps for k, v in spent.items()}
    for name, s in per.items():
        print(f"{name}: {s:.3f} s/step")
    base, other = per.values()
    print(f"ratio: {other / base:.3f} ({args.steps} steps a side, {args.threads} thread(s))")


if __name__ == "__main__":
    main()
