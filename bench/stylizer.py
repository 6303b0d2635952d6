"""Stylizer speed and memory: one training step with the full AIST loss vs the same step
without the alpha and feature-distance terms (ratio target <= 1.15), stylization throughput
(128^2 views -> 256^2 network -> 128^2), and the peak memory of a training step.

    .venv/bin/python bench/stylizer.py [--device auto] [--size 256] [--batch 4] [--steps 5]

On the CPU the defaults take minutes; ``--size 128`` is quicker. The feature network is
ResNet-18 when its weights are found, else EfficientNet-Lite0 (printed).
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
from aist_app.dataset.writer import DatasetWriter  # noqa: E402
from aist_app.render.pipeline import RenderConfig, render_collection  # noqa: E402
from aist_plugins.cyclegan.apply import Stylizer  # noqa: E402
from aist_plugins.cyclegan.config import StylizerConfig  # noqa: E402
from aist_plugins.cyclegan.train import Trainer  # noqa: E402


def real_dataset(out: Path, synthetic: Path) -> Path:
    """Stand-in real images (the synthetic views recoloured): speed does not depend on them."""
    from aist_app.dataset import Dataset

    ds = Dataset.open(synthetic)
    with DatasetWriter(out, kind="real", image_size=ds.image_size) as w:
        for oid in ds.object_ids():
            for f in ds.view_files(oid):
                v = ds.load_view(oid, f).copy()
                v[..., :3] = 255 - v[..., :3]
                v[v[..., 3] == 0, :3] = 0
                with w.object(f"{oid}_{f[5:8]}") as obj:
                    obj.add_view(v)
        w.finalize(seed=0, fractions={"train": 0.8, "test": 0.2})
    return out


def time_steps(trainer: Trainer, steps: int) -> float:
    trainer.train_step()  # warm-up (allocations, cudnn autotune)
    sync(trainer.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    sync(trainer.device)
    return (time.perf_counter() - t0) / steps


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--images", type=int, default=64, help="Views to stylize per batch size.")
    ap.add_argument("--meshes", type=Path, default=ROOT.parent / "shared" / "data" / "meshes")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aist-bench-sty-"))
    pm = create_plugin_manager()
    syn = tmp / "synthetic"
    drain(render_collection(args.meshes, syn, RenderConfig(views=8, device="cpu", points=1000),
                            pm.stage("renderer", "pyrender").factory))
    real = real_dataset(tmp / "real", syn)
    feature = "resnet18"
    try:
        from aist_app.stylize.features import resnet18_features

        resnet18_features()
    except FileNotFoundError:
        feature = "efficientnet-lite0"
    common = dict(size=args.size, batch=args.batch, device=args.device, feature_net=feature,
                  steps=10**9, pool_size=50)
    full = Trainer(StylizerConfig.from_preset("constrained", **common), syn, real, tmp / "a")
    print(f"device {full.device}, {args.size}^2, batch {args.batch}, feature net {feature}, "
          f"amp {full.amp_dtype}, {torch.get_num_threads()} CPU threads")
    if full.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(full.device)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t_full = time_steps(full, args.steps)
    if full.device.type == "cuda":
        peak = f"{torch.cuda.max_memory_allocated(full.device) / 2**20:.0f} MiB GPU"
    else:
        peak = (f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB RSS peak "
                f"(process, was {rss0:.0f} before the steps)")
    del full
    plain = Trainer(StylizerConfig.from_preset("constrained", **{**common, "lambda_alpha": 0.0,
                                                                 "lambda_resdist": 0.0}),
                    syn, real, tmp / "b")
    t_plain = time_steps(plain, args.steps)
    print(f"  training step, full AIST loss:          {t_full:.3f} s")
    print(f"  training step, no alpha / ResDist terms: {t_plain:.3f} s")
    print(f"  ratio: {t_full / t_plain:.3f}  (target <= 1.15)")
    print(f"  peak memory of training: {peak}")
    run = tmp / "b"
    plain.save_checkpoint()
    del plain
    model = Stylizer(run, device=args.device)
    rng = np.random.default_rng(0)
    views = torch.from_numpy(rng.integers(0, 256, (args.images, 4, 128, 128), dtype=np.uint8))
    views[:, 3] = 255
    for batch in (1, 8, 32):
        model(views[:batch])  # warm-up
        sync(model.device)
        t0 = time.perf_counter()
        for i in range(0, args.images, batch):
            model(views[i:i + batch])
        sync(model.device)
        dt = time.perf_counter() - t0
        print(f"  stylize 128^2 -> {model.config.size}^2 -> 128^2, batch {batch:2d}: "
              f"{args.images / dt:7.1f} images/s")


if __name__ == "__main__":
    main()
