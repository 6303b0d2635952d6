"""Segmenter throughput on the CPU: photos/s per segmenter at its default input size, the
share of time in the network vs the filters and normalization, and the accept/reject counts.

    .venv/bin/python bench/segment.py [--photos ../shared/data/photos] [--repeat 3]
        [--maskrcnn-weights FILE]

Mask R-CNN runs with COCO weights when ``--maskrcnn-weights`` or ``$AIST_WEIGHTS_DIR`` has
them; otherwise with random weights of the same architecture (the network's cost does not
depend on the weights; ``--min-score 0`` then keeps its random detections as candidates, a
stress test for the filters). The filters must cost under 5% of the network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aist_app.api.manager import create_plugin_manager  # noqa: E402
from aist_app.api.progress import drain  # noqa: E402
from aist_app.render.pipeline import RenderConfig, render_collection  # noqa: E402
from aist_app.segment.pipeline import SegmentConfig, segment_photos  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared" / "data"
    ap.add_argument("--photos", type=Path, default=shared / "photos")
    ap.add_argument("--meshes", type=Path, default=shared / "meshes")
    ap.add_argument("--repeat", type=int, default=3, help="Copies of each photo.")
    ap.add_argument("--maskrcnn-weights", type=Path)
    ap.add_argument("--skip-maskrcnn", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aist-bench-seg-"))
    try:
        pm = create_plugin_manager()
        synthetic = tmp / "synthetic"
        drain(render_collection(args.meshes, synthetic,
                                RenderConfig(views=8, elevation="0:40", device="cpu"),
                                pm.stage("renderer", "pyrender").factory))
        photos = tmp / "photos"
        photos.mkdir()
        src = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        for k in range(args.repeat):
            for p in src:
                shutil.copy(p, photos / f"{p.stem}_{k}{p.suffix}")
        n = len(src) * args.repeat
        print(f"{n} photos ({len(src)} x {args.repeat}), CPU, {os.cpu_count()} cores")
        runs = [("deeplab-lite", SegmentConfig(segmenter="deeplab-lite", device="cpu"))]
        weights = args.maskrcnn_weights
        note = "COCO weights"
        if weights is None and not args.skip_maskrcnn:
            from aist_app.common.weights import WeightsNotFoundError, find_weights
            from aist_plugins.maskrcnn_segmenter import weights_filename

            try:
                weights = find_weights(weights_filename("v2"), None, "Mask R-CNN v2")
            except WeightsNotFoundError:
                import torch

                from aist_plugins.maskrcnn_segmenter import build_model

                torch.manual_seed(0)
                weights = tmp / "random-v2.pth"
                torch.save(build_model("v2").state_dict(), weights)
                note = "random weights, --min-score 0"
        min_score = 0.0 if note.startswith("random") else 0.7
        if not args.skip_maskrcnn:
            runs.append(("maskrcnn", SegmentConfig(
                segmenter="maskrcnn", device="cpu", weights=str(weights),
                min_score=min_score, batch_size=2)))
        for name, cfg in runs:
            cls = pm.stage("segmenter", name).factory
            s = drain(segment_photos(photos, tmp / f"out-{name}", synthetic, cfg, cls))
            t = s.timings
            net = t["network"]
            post = t["filters"] + t["normalize"]
            label = name + (f" ({note})" if name == "maskrcnn" else "")
            print(f"\n[{label}]")
            print(f"  photos/s: {n / s.seconds:.2f}  ({s.seconds:.2f} s; network "
                  f"{n / net:.2f} photos/s)")
            print(f"  time: load {t['load']:.2f} s, network {net:.2f} s, filters "
                  f"{t['filters']:.3f} s, normalize {t['normalize']:.3f} s, write "
                  f"{t['write']:.3f} s")
            print(f"  filters + normalization = {post / net * 100:.1f}% of the network "
                  f"(filters alone {t['filters'] / net * 100:.1f}%; target < 5%)")
            rej = s.rejections()
            print(f"  candidates {s.candidates}, accepted {len(s.accepted)}; rejected: "
                  + ", ".join(f"{k}={v}" for k, v in rej["candidates"].items() if v))
            print(f"  KS real vs synthetic ratios: before {s.ks.get('ks_before', float('nan')):.3f}"
                  f", after {s.ks.get('ks_after', float('nan')):.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
