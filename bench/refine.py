"""Render-and-compare refinement on the CPU: seconds per image for K restarts x steps, and
what it buys on held-out target views (pose error and mask XOR, unrefined vs refined, on
the same views; per view in --csv).

    .venv/bin/python bench/refine.py EXPERIMENT [--run pose-constrained] [--set target]
        [--views 16] [--steps 600] [--reseed-every 150] [--azimuths 8] [--csv out.csv]

EXPERIMENT: an `aist experiment` folder (the cpu preset's: its target domain has ground
truth).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", type=Path)
    ap.add_argument("--run", default="pose-constrained")
    ap.add_argument("--set", default="target")
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--reseed-every", type=int, default=150)
    ap.add_argument("--azimuths", type=int, default=8)
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args()

    from aist_app.pose import quaternion as Q
    from aist_app.pose.data import PoseData, images_and_masks
    from aist_app.pose.reconstruct import run_alignment
    from aist_plugins.dpc.predictor import DPCPredictor
    from aist_plugins.dpc.refine import RefineConfig, mask_problems, run_refiner

    ev = DPCPredictor(args.experiment / args.run, device="cpu")
    c = ev.config
    align = run_alignment(ev)
    data = PoseData(args.experiment / args.set, "test")
    views = [(o, f) for o in data.ids for f in data.views[o]]
    rng = np.random.default_rng(0)
    views = [views[i] for i in sorted(rng.choice(len(views), min(args.views, len(views)),
                                                 replace=False))]
    print(f"{args.run} on {len(views)} views of {args.set} (of {data.ids.__len__()} test "
          f"objects); threads {torch.get_num_threads()}")
    # Cost per image and step against the number of restarts (a short run each).
    o, f = views[0]
    x, m = images_and_masks(data.load(o, [f]), c.image_size, c.vox_size)
    for az in (2, 4, 8, 16):
        cfg = RefineConfig(azimuths=az, steps=20, reseed_every=20, tol=-1.0)
        ref = run_refiner(ev, align, cfg, focal_length=data.focal_length())
        t0 = time.perf_counter()
        ref.refine(x, m)
        dt = (time.perf_counter() - t0) / 20
        print(f"  K = {cfg.restarts:3d} restarts: {dt * 1000:6.0f} ms a step per image "
              f"-> {dt * args.steps:6.1f} s per image at {args.steps} steps")
    cfg = RefineConfig(azimuths=args.azimuths, steps=args.steps,
                       reseed_every=args.reseed_every, batch=8)
    ref = run_refiner(ev, align, cfg, focal_length=data.focal_length())
    rows = []
    t_all = 0.0
    for i in range(0, len(views), cfg.batch):
        chunk = views[i:i + cfg.batch]
        rgba = torch.cat([data.load(o, [f]) for o, f in chunk])
        x, m = images_and_masks(rgba, c.image_size, c.vox_size)
        ok = [k for k, p in enumerate(mask_problems(m)) if p is None]
        x, m, chunk = x[ok], m[ok], [chunk[k] for k in ok]
        gt = torch.from_numpy(np.stack([data.gt_quaternions(o)[f] for o, f in chunk])).float()
        with torch.no_grad():
            out = ev.model(x)
            sil0 = ref.objective(ev.model.latent(x), out["student"], m, c.sigma_end)[1]
        t0 = time.perf_counter()
        res = ref.refine(x, m)
        t_all += time.perf_counter() - t0
        e0 = Q.angle_deg(ref.to_truth(out["student"]), gt)
        e1 = Q.angle_deg(ref.to_truth(Q.normalize(res.quaternion)), gt)
        area = (m > 0.5).sum((1, 2)).float()
        x0 = ((sil0 > 0.5) ^ (m > 0.5)).sum((1, 2)) / area
        x1 = ((res.silhouette > 0.5) ^ (m > 0.5)).sum((1, 2)) / area
        for k, (o, f) in enumerate(chunk):
            rows.append((o, f, float(e0[k]), float(e1[k]), float(x0[k]), float(x1[k]),
                         float(res.loss_start[k]), float(res.loss[k]), res.steps))
    a = np.array([r[2:8] for r in rows])
    print(f"refined {len(rows)} views, K = {cfg.restarts}, at most {cfg.steps} steps "
          f"(re-seeded every {cfg.reseed_every}): {t_all / len(rows):.1f} s per image")
    for name, j in (("pose error (deg)", 0), ("mask XOR", 2), ("objective", 4)):
        print(f"  {name:17s} median {np.median(a[:, j]):8.3f} -> {np.median(a[:, j + 1]):8.3f}"
              f"   mean {a[:, j].mean():8.3f} -> {a[:, j + 1].mean():8.3f}   better on "
              f"{int((a[:, j + 1] < a[:, j]).sum())}/{len(a)} views")
    print(f"  acc@30 {np.mean(a[:, 0] < 30):.3f} -> {np.mean(a[:, 1] < 30):.3f}")
    if args.csv:
        import csv

        with open(args.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["object", "view", "angle_err_deg", "angle_err_deg_refined", "xor",
                        "xor_refined", "objective", "objective_refined", "steps"])
            w.writerows(rows)


if __name__ == "__main__":
    main()
