"""A dataset written in the original DPC layout (renders on white, Blender camera .mat
files, 16-bit depth, ground-truth point .mat files): the input of ``aist import-dpc`` in
tests and in ``scripts/dataset_digests.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat

from aist_app.dataset import Dataset
from aist_app.dataset.dpc_import import dpc_extrinsic_from_camera
from aist_app.scene.cameras import Camera


def make_dpc_fixture(src_ds: Dataset, root: Path, synset: str = "02958343") -> Path:
    """Write src_ds in DPC's layout: renders/<synset>/<id>/render_k.png (RGB on white),
    camera_k.mat (Blender extrinsic, pos), depth_k.png (16-bit, /65535*10), gt .mat points."""
    for oid in src_ds.object_ids():
        d = root / "renders" / synset / oid
        d.mkdir(parents=True)
        for k, v in enumerate(src_ds.cameras(oid)):
            img = src_ds.load_view(oid, v["file"]).astype(np.float32)
            a = img[..., 3:] / 255.0
            rgb = img[..., :3] * a + 255.0 * (1 - a)
            out = np.concatenate([rgb, img[..., 3:]], -1).round().astype(np.uint8)
            Image.fromarray(out).save(d / f"render_{k}.png")
            cam = Camera.from_json(v)
            E = dpc_extrinsic_from_camera(cam)
            pos = -E[:3, :3].T @ E[:3, 3]
            savemat(d / f"camera_{k}.mat", {"extrinsic": E.astype(np.float32), "pos": pos})
            if "depth_file" not in v:  # rendered without depth: DPC's depth is optional
                continue
            depth = np.asarray(Image.open(src_ds.object_dir(oid) / v["depth_file"])) * 1e-4
            d16 = np.where(depth > 0, depth / 10 * 65535, 65535).astype(np.uint16)
            Image.fromarray(d16).save(d / f"depth_{k}.png")
        gt = root / "gt" / "downsampled" / synset
        gt.mkdir(parents=True, exist_ok=True)
        pts, _ = src_ds.points(oid)
        savemat(gt / f"{oid}.mat", {"points": pts[::3]})
    return root
