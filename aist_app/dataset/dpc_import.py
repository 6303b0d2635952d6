"""Import the original DPC dataset (eldar/differentiable-point-clouds) into the contract.

DPC layout, per model (``renders/<synset>/<model_id>/``)::

    render_<k>.png   RGBA; alpha is the mask, RGB composited on white
    camera_<k>.mat   "extrinsic": 4x4 Blender world-to-camera, "pos": camera position
    depth_<k>.png    16-bit, depth = value / 65535 * 10

and ground truth ``gt/downsampled/<synset>/<model_id>.mat`` (key ``points``, N x 3, ShapeNet
v1 frame). Conversion to our convention (OpenCV camera axes, object frame = ShapeNet's Y-up
frame): ``world_to_camera = diag(1, -1, -1, 1) @ extrinsic @ A``, where ``A`` maps the Y-up
object frame into Blender's Z-up world, ``(x, y, z) -> (x, -z, y)`` (Blender's OBJ import
default). The focal length is DPC's normalized 1.875 unless told otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aist_app.api.progress import ItemProgress
from aist_app.common.exact import linear, matmul, nearest_rotation, norm3
from aist_app.common.outputs import OutputRecord, folder_identity
from aist_app.dataset.writer import DatasetWriter
from aist_app.scene.cameras import DEFAULT_FOCAL_LENGTH, Camera, intrinsics

#: Y-up object frame -> Blender Z-up world.
Y_UP_TO_BLENDER = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
CV_FROM_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0, 1.0])
_RENDER = re.compile(r"render_(\d+)\.png$")


class DPCImportError(Exception):
    def __init__(self, path: Path, message: str, category: str = "invalid-dpc") -> None:
        self.path, self.message, self.category = Path(path), message, category
        super().__init__(f"{path}: {message}")


# The same shape as the other stages' records on purpose, not one class: each record's
# field names are its stage's words in the CLI and the events (rendered,
# imported; a farm job's done/running/pending), which readers already parse.
@dataclass
class ImportSummary:
    out: Path
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"written": len(self.imported), "skipped": len(self.skipped),
                "failed": len(self.failed)}


def camera_from_dpc(extrinsic: np.ndarray, image_size: tuple[int, int],
                    focal_length: float = DEFAULT_FOCAL_LENGTH) -> Camera:
    """The dataset camera of a DPC extrinsic, computed without BLAS or LAPACK (the same bits
    on every processor: :mod:`aist_app.common.exact`)."""
    w2c = matmul(matmul(CV_FROM_BLENDER_CAMERA, np.asarray(extrinsic, dtype=np.float64)),
                 Y_UP_TO_BLENDER)
    # Re-orthonormalize (the .mat files store float32): the polar factor, as u @ vt of an SVD.
    w2c[:3, :3] = nearest_rotation(w2c[:3, :3])
    centre = -linear(w2c[:3, :3].T, w2c[None, :3, 3])[0]
    d = norm3(centre)
    el = math.degrees(math.asin(min(1.0, max(-1.0, float(centre[1]) / d))))
    az = math.degrees(math.atan2(float(centre[0]), float(centre[2]))) % 360.0
    return Camera(az, el, d, w2c, intrinsics(image_size, focal_length))


def dpc_extrinsic_from_camera(camera: Camera) -> np.ndarray:
    """Inverse of :func:`camera_from_dpc` (used to write DPC-layout fixtures and exports)."""
    return CV_FROM_BLENDER_CAMERA @ camera.world_to_camera @ np.linalg.inv(Y_UP_TO_BLENDER)


def find_models(src: Path) -> list[tuple[str, str | None, Path]]:
    """(model_id, synset, folder) for every folder holding ``render_*.png``."""
    out = []
    for d in sorted(p for p in [src, *src.rglob("*")] if p.is_dir()):
        if any(_RENDER.search(f.name) for f in d.glob("render_*.png")):
            synset = d.parent.name if re.fullmatch(r"\d{8}", d.parent.name) else None
            out.append((d.name, synset, d))
    return out


def estimate_normals(points: np.ndarray, k: int = 12) -> np.ndarray:
    """Unit normals by PCA over k nearest neighbours, oriented away from the centroid."""
    from scipy.spatial import cKDTree

    k = min(k, len(points))
    _, idx = cKDTree(points).query(points, k=k)
    nb = points[idx] - points[idx].mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", nb, nb)
    _, vecs = np.linalg.eigh(cov)
    n = vecs[:, :, 0]
    flip = np.einsum("ni,ni->n", n, points - points.mean(axis=0)) < 0
    n[flip] *= -1
    return n.astype(np.float32)


def _load_mat(path: Path, key: str) -> np.ndarray:
    from scipy.io import loadmat

    try:
        data = loadmat(path)
    except Exception as e:
        raise DPCImportError(path, f"unreadable .mat ({type(e).__name__}: {e})") from None
    if key not in data:
        raise DPCImportError(path, f"has no {key!r} array")
    return np.asarray(data[key])


def _load_view(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "RGBA":
                raise DPCImportError(path, f"render must be RGBA (alpha = mask), got {im.mode}")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BICUBIC)
            rgba = np.array(im, dtype=np.uint8)
    except DPCImportError:
        raise
    except Exception as e:
        raise DPCImportError(path, f"unreadable image ({type(e).__name__}: {e})") from None
    rgba[rgba[..., 3] == 0] = 0  # background: RGB 0 (DPC composites it on white)
    return rgba


def _load_depth(path: Path, size: tuple[int, int]) -> np.ndarray | None:
    from PIL import Image

    if not path.is_file():
        return None
    with Image.open(path) as im:
        if im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.NEAREST)
        d = np.asarray(im).astype(np.float32) * 10.0 / 65535.0
    return np.where(d >= 10.0 - 1e-4, 0.0, d).astype(np.float32)


def import_dpc(
    src: str | Path, out: str | Path, *, gt: str | Path | None = None, views: int | None = None,
    image_size: tuple[int, int] | None = None, focal_length: float = DEFAULT_FOCAL_LENGTH,
    seed: int = 0, overwrite: bool = False,
) -> Generator[tuple[int, int, str, str], None, ImportSummary]:
    """Import every model under ``src``; yields a
    :class:`~aist_app.render.pipeline.Progress` per model. A folder
    holding another output is refused unless ``overwrite`` (the output-folder contract)."""
    src, out = Path(src), Path(out)
    gt_root = Path(gt) if gt is not None else None
    models = find_models(src)
    if not models:
        raise DPCImportError(src, "no DPC model folders (render_<k>.png) found")
    first = next(iter(sorted(models[0][2].glob("render_*.png"))))
    from PIL import Image

    with Image.open(first) as im:
        native = (im.size[1], im.size[0])
    size = tuple(image_size) if image_size else native
    summary = ImportSummary(out)
    source = {"stage": "import-dpc", "plugin": "dpc", "seed": seed, "src": str(src),
              "gt": str(gt_root) if gt_root else None, "focal_length": focal_length,
              "convention": "world_to_camera = diag(1,-1,-1,1) @ extrinsic @ Yup_to_Blender"}
    record = OutputRecord("import-dpc", "dpc", {"views": views, "image_size": list(size),
                                                "focal_length": focal_length, "seed": seed},
                          {"src": folder_identity(src),
                           "gt": folder_identity(gt_root) if gt_root else None})
    with DatasetWriter(out, kind="synthetic", image_size=size, up_axis="y", source=source,
                       record=record, overwrite=overwrite) as writer:
        for n, (mid, synset, folder) in enumerate(models, 1):
            if writer.is_complete(mid):
                summary.skipped.append(mid)
                yield ItemProgress(n, len(models), mid, "skipped")
                continue
            try:
                _import_model(writer, mid, synset, folder, gt_root, views, size, focal_length)
                summary.imported.append(mid)
                yield ItemProgress(n, len(models), mid, "imported")
            except DPCImportError as e:
                summary.failed.append({"object_id": mid, "path": str(e.path),
                                       "category": e.category, "reason": e.message})
                yield ItemProgress(n, len(models), mid, "failed", f"[{e.category}] {e.message}")
        writer.finalize(seed=seed, source={"failures": summary.failed})
    return summary


def _gt_path(gt_root: Path | None, mid: str, synset: str | None, folder: Path) -> Path | None:
    candidates = []
    if gt_root is not None:
        if synset:
            candidates.append(gt_root / synset / f"{mid}.mat")
        candidates.append(gt_root / f"{mid}.mat")
    candidates.append(folder / "points.mat")
    return next((c for c in candidates if c.is_file()), None)


def _import_model(writer, mid, synset, folder, gt_root, views, size, focal_length) -> None:
    renders = sorted(folder.glob("render_*.png"), key=lambda p: int(_RENDER.search(p.name)[1]))
    gt_path = _gt_path(gt_root, mid, synset, folder)
    if gt_path is None:
        raise DPCImportError(folder, "no ground-truth point cloud (<gt>/<synset>/<model>.mat)",
                             "missing-ground-truth")
    if views is not None:
        if len(renders) < views:
            raise DPCImportError(folder, f"has {len(renders)} renders, {views} requested")
        renders = renders[:views]
    points = _load_mat(gt_path, "points").astype(np.float32)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise DPCImportError(gt_path, f"'points' must be N x 3, got {points.shape}")
    with writer.object(mid) as obj:
        obj.set_points(points, estimate_normals(points))
        for r in renders:
            k = _RENDER.search(r.name)[1]
            cam_file = folder / f"camera_{k}.mat"
            if not cam_file.is_file():
                raise DPCImportError(cam_file, "camera file is missing")
            extrinsic = _load_mat(cam_file, "extrinsic").astype(np.float64)
            if extrinsic.shape != (4, 4):
                raise DPCImportError(cam_file, f"'extrinsic' must be 4x4, got {extrinsic.shape}")
            camera = camera_from_dpc(extrinsic, size, focal_length)
            obj.add_view(_load_view(r, size), camera,
                         depth=_load_depth(folder / f"depth_{k}.png", size),
                         extra={"source_file": str(r)})
        obj.set_provenance({"source": str(folder), "ground_truth": str(gt_path),
                            "synset": synset})
