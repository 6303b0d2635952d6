"""Mixed-precision parity: does ``--amp`` train the same stylizer and pose model as fp32?

For each model, from the same initial weights and data order:
  1. the gradient of each loss term at initialization, fp32 vs autocast (cosine similarity);
  2. a short training run in fp32 (seed 0), with autocast (seed 0) and in fp32 with another
     seed (seed 1): the autocast run's distance from fp32 is compared with the seed-to-seed
     distance of two fp32 runs, the noise floor any precision change has to stay under.

    .venv/bin/python bench/amp_parity.py [--device auto] [--steps 60] [--size 64]

Autocast is bfloat16 (``aist_app.common.devices.amp_dtype``); on the CPU it runs the same
code as on a GPU, several times slower where the CPU has no bfloat16 units.
"""

from __future__ import annotations

import argparse
import os
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
from aist_app.common.devices import autocast  # noqa: E402
from aist_app.render.pipeline import RenderConfig, render_collection  # noqa: E402
from aist_app.stylize.metrics import mask_iou  # noqa: E402
from aist_plugins.cyclegan.config import StylizerConfig  # noqa: E402
from aist_plugins.cyclegan.losses import alpha_loss, l1, lsgan, resdist_loss  # noqa: E402
from aist_plugins.cyclegan.train import Trainer  # noqa: E402
from aist_plugins.dpc.config import PoseConfig  # noqa: E402
from aist_plugins.dpc.loss import dpc_loss  # noqa: E402
from aist_plugins.dpc.train import PoseTrainer  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from stylizer import real_dataset  # noqa: E402


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def flat_grad(params) -> torch.Tensor:
    return torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                      for p in params])


def stylizer_term_gradients(t: Trainer, dtype: torch.dtype) -> dict[str, float]:
    G, F_, D_Y = t.nets["G"], t.nets["F"], t.nets["D_Y"]
    x, y = t._batch(t.X), t._batch(t.Y)
    terms = {
        "gan_G": lambda: lsgan(D_Y(G(x)), True),
        "cycle_A": lambda: l1(F_(G(x)), x),
        "idt_G": lambda: l1(G(y), y),
        "alpha": lambda: alpha_loss(x, G(x).float()),
    }
    if t.phi is not None:
        terms["resdist"] = lambda: resdist_loss(t.phi, x, G(x))
    out = {}
    for name, term in terms.items():
        grads = []
        for dt in (None, dtype):
            G.zero_grad(set_to_none=True)
            with autocast(t.device, dt):
                loss = term()
            loss.float().backward()
            grads.append(flat_grad(G.parameters()).cpu())
        out[name] = cosine(*grads) if grads[0].norm() > 0 else float("nan")
    G.zero_grad(set_to_none=True)
    return out


def pose_gradient(t: PoseTrainer, dtype: torch.dtype) -> float:
    images, masks = t._batch(t.train_data, torch.Generator().manual_seed(3))
    grads = []
    for dt in (None, dtype):
        t.amp_dtype = dt
        t.model.zero_grad(set_to_none=True)
        out = t._forward(images, masks.shape[0])
        dpc_loss(out, masks, t.config, 0, torch.Generator().manual_seed(4))["total"].backward()
        grads.append(flat_grad(t.model.parameters()).cpu())
    t.amp_dtype = None
    t.model.zero_grad(set_to_none=True)
    return cosine(*grads)


def stylizer_runs(syn: Path, real: Path, tmp: Path, args) -> None:
    base = dict(size=args.size, batch=2, ngf=16, ndf=16, n_blocks=6, steps=args.steps,
                device=args.device, feature_net="efficientnet-lite0", pool_size=10,
                checkpoint_every=10**9, sample_every=10**9, eval_every=10**9, log_every=1)
    cfg = StylizerConfig.from_preset("constrained", **base)
    probe = Trainer(cfg, syn, real, tmp / "probe")
    print(f"stylizer: {args.size}^2, ngf 16, 6 blocks, batch 2, {args.steps} steps, "
          f"device {probe.device}")
    for name, c in stylizer_term_gradients(probe, torch.bfloat16).items():
        print(f"  gradient of G at init, {name:8s}: cosine fp32 vs bf16 = {c:.4f}")
    del probe
    runs = {}
    for label, amp, seed in (("fp32 seed 0", False, 0), ("bf16 seed 0", True, 0),
                             ("fp32 seed 1", False, 1)):
        t = Trainer(StylizerConfig.from_preset("constrained", **{**base, "amp": amp,
                                                                 "seed": seed}),
                    syn, real, tmp / label.replace(" ", "-"))
        t0 = time.perf_counter()
        hist = [t.train_step() for _ in range(args.steps)]
        dt = (time.perf_counter() - t0) / args.steps
        with torch.no_grad():
            x = t._eval_batch(t.X_eval).to(t.device)
            fake = t.nets["G"].eval()(x).float()
        runs[label] = {"hist": hist, "fake": fake.cpu(), "iou": mask_iou(x, fake), "s": dt}
    tail = max(1, args.steps // 5)
    for key in ("G", "cycle_A", "gan_G", "D_Y"):
        vals = {k: np.mean([h[key] for h in r["hist"][-tail:]]) for k, r in runs.items()}
        print(f"  {key:8s} (mean of last {tail} steps): "
              + ", ".join(f"{k} {v:.4f}" for k, v in vals.items())
              + f" | |bf16-fp32| {abs(vals['bf16 seed 0'] - vals['fp32 seed 0']):.4f}"
              f" vs seed-to-seed {abs(vals['fp32 seed 1'] - vals['fp32 seed 0']):.4f}")
    a, b, s = (runs[k]["fake"] for k in ("fp32 seed 0", "bf16 seed 0", "fp32 seed 1"))
    print(f"  G(x) on held-out views, mean |diff|: bf16 vs fp32 {float((a - b).abs().mean()):.4f}"
          f" vs seed-to-seed {float((a - s).abs().mean()):.4f}")
    print("  mask IoU of G(x): " + ", ".join(f"{k} {r['iou']:.4f}" for k, r in runs.items()))
    print("  seconds per step: " + ", ".join(f"{k} {r['s']:.3f}" for k, r in runs.items()))


def pose_runs(syn: Path, tmp: Path, args) -> None:
    base = dict(steps=args.steps, batch_objects=4, views_per_object=4, num_points=2000,
                vox_size=32, image_size=64, device=args.device, val_every=10**9,
                checkpoint_every=10**9, log_every=1)
    probe = PoseTrainer(PoseConfig(**base), syn, tmp / "pose-probe")
    print(f"pose model: 4 objects x 4 views, 2000 points, 32^3 grid, {args.steps} steps, "
          f"device {probe.device}")
    print(f"  gradient at init: cosine fp32 vs bf16 = {pose_gradient(probe, torch.bfloat16):.4f}")
    del probe
    runs = {}
    for label, amp, seed in (("fp32 seed 0", False, 0), ("bf16 seed 0", True, 0),
                             ("fp32 seed 1", False, 1)):
        t = PoseTrainer(PoseConfig(**{**base, "amp": amp, "seed": seed}), syn,
                        tmp / ("pose-" + label.replace(" ", "-")))
        t0 = time.perf_counter()
        hist = [t.train_step() for _ in range(args.steps)]
        runs[label] = {"hist": hist, "s": (time.perf_counter() - t0) / args.steps,
                       "val": t.validate()}
    tail = max(1, args.steps // 5)
    vals = {k: np.mean([h["projection"] for h in r["hist"][-tail:]]) for k, r in runs.items()}
    print(f"  projection loss (mean of last {tail} steps): "
          + ", ".join(f"{k} {v:.4f}" for k, v in vals.items())
          + f" | |bf16-fp32| {abs(vals['bf16 seed 0'] - vals['fp32 seed 0']):.4f} vs "
          f"seed-to-seed {abs(vals['fp32 seed 1'] - vals['fp32 seed 0']):.4f}")
    print("  validation projection loss: "
          + ", ".join(f"{k} {r['val']['val_projection']:.4f}" for k, r in runs.items()))
    print("  seconds per step: " + ", ".join(f"{k} {r['s']:.3f}" for k, r in runs.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--meshes", type=Path, default=ROOT.parent / "shared" / "data" / "meshes")
    ap.add_argument("--skip-pose", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aist-bench-amp-"))
    syn = tmp / "synthetic"
    drain(render_collection(args.meshes, syn, RenderConfig(views=8, image_size=(64, 64),
                                                           device="cpu", points=2000),
                            create_plugin_manager().stage("renderer", "pyrender").factory))
    real = real_dataset(tmp / "real", syn)
    print(f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    stylizer_runs(syn, real, tmp, args)
    if not args.skip_pose:
        pose_runs(syn, tmp, args)


if __name__ == "__main__":
    main()
