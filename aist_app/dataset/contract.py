"""Validation of every file of the dataset contract; errors name the offending file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from aist_app.common.outputs import folder_identity

FORMAT = "aist-dataset"
VERSION = 1
KINDS = ("synthetic", "real", "stylized")
SPLITS = ("train", "val", "test")
VIEW_KEYS = ("file", "azimuth_deg", "elevation_deg", "distance", "quaternion_wxyz",
             "world_to_camera", "K")


class DatasetError(ValueError):
    """A file breaks the dataset contract."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{path}: {message}")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(path, "file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(path, f"not valid JSON ({e})") from None


def dataset_identity(root: str | Path) -> dict[str, Any]:
    """A dataset by path, kind, image size and its objects and splits (not by run timings)."""
    root = Path(root)
    meta = read_json(root / "dataset.json")
    splits = meta.get("splits", {})
    digest = hashlib.sha256(json.dumps(splits, sort_keys=True).encode()).hexdigest()[:16]
    return {"path": folder_identity(root), "kind": meta.get("kind"),
            "image_size": meta.get("image_size"), "objects": digest}


def _matrix(value: Any, shape: tuple[int, int], path: Path, what: str) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(path, f"{what} is not a numeric matrix") from None
    if m.shape != shape:
        raise DatasetError(path, f"{what} must be {shape[0]}x{shape[1]}, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise DatasetError(path, f"{what} has non-finite values")
    return m


def validate_meta(meta: Any, path: Path) -> dict:
    """Check ``dataset.json``; returns it."""
    if not isinstance(meta, dict):
        raise DatasetError(path, "must hold a JSON object")
    if meta.get("format") != FORMAT:
        raise DatasetError(path, f"'format' must be {FORMAT!r}, got {meta.get('format')!r}")
    if meta.get("version") != VERSION:
        raise DatasetError(path, f"unsupported 'version' {meta.get('version')!r} (expected 1)")
    if meta.get("kind") not in KINDS:
        raise DatasetError(path, f"'kind' must be one of {KINDS}, got {meta.get('kind')!r}")
    size = meta.get("image_size")
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(s, int) and s > 0 for s in size)):
        raise DatasetError(path, f"'image_size' must be [H, W] positive integers, got {size!r}")
    if meta.get("up_axis") not in ("y", "z"):
        raise DatasetError(path, f"'up_axis' must be 'y' or 'z', got {meta.get('up_axis')!r}")
    splits = meta.get("splits")
    if not isinstance(splits, dict) or set(splits) != set(SPLITS):
        raise DatasetError(path, "'splits' must have exactly the keys train, val, test")
    seen: dict[str, str] = {}
    for split in SPLITS:
        ids = splits[split]
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise DatasetError(path, f"split {split!r} must be a list of object ids")
        for oid in ids:
            if oid in seen:
                raise DatasetError(path, f"object {oid!r} is in both {seen[oid]!r} and {split!r}")
            if "/" in oid or "\\" in oid or oid.startswith("."):
                raise DatasetError(path, f"invalid object id {oid!r}")
            seen[oid] = split
    if not isinstance(meta.get("source"), dict):
        raise DatasetError(path, "'source' must be an object with the provenance of the data")
    return meta


def validate_cameras(cams: Any, path: Path) -> list[dict]:
    """Check one ``cameras.json``; returns its list of views."""
    from aist_app.scene.cameras import quaternion_from_matrix

    if not isinstance(cams, dict) or not isinstance(cams.get("views"), list):
        raise DatasetError(path, "must be an object with a 'views' list")
    views = cams["views"]
    if not views:
        raise DatasetError(path, "'views' is empty")
    files = set()
    for n, v in enumerate(views):
        if not isinstance(v, dict):
            raise DatasetError(path, f"view {n} is not an object")
        missing = [k for k in VIEW_KEYS if k not in v]
        if missing:
            raise DatasetError(path, f"view {n} lacks {', '.join(missing)}")
        f = v["file"]
        if not isinstance(f, str) or "/" in f or not f.endswith(".png"):
            raise DatasetError(path, f"view {n}: 'file' must be a PNG file name, got {f!r}")
        if f in files:
            raise DatasetError(path, f"view {n}: file {f!r} listed twice")
        files.add(f)
        for key in ("azimuth_deg", "elevation_deg", "distance"):
            if not isinstance(v[key], (int, float)) or not np.isfinite(v[key]):
                raise DatasetError(path, f"view {n}: {key!r} must be a finite number")
        w2c = _matrix(v["world_to_camera"], (4, 4), path, f"view {n}: world_to_camera")
        K = _matrix(v["K"], (3, 3), path, f"view {n}: K")
        R = w2c[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
            raise DatasetError(path, f"view {n}: world_to_camera rotation is not a rotation")
        if not np.allclose(w2c[3], [0, 0, 0, 1], atol=1e-6):
            raise DatasetError(path, f"view {n}: world_to_camera last row must be 0 0 0 1")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
            raise DatasetError(path, f"view {n}: K is not a pinhole intrinsics matrix")
        q = np.asarray(v["quaternion_wxyz"], dtype=np.float64)
        if q.shape != (4,) or abs(np.linalg.norm(q) - 1) > 1e-4:
            raise DatasetError(path, f"view {n}: quaternion_wxyz must be a unit 4-vector")
        if abs(abs(float(q @ quaternion_from_matrix(R))) - 1) > 1e-4:
            raise DatasetError(path, f"view {n}: quaternion_wxyz disagrees with world_to_camera")
    return views


def validate_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Load and check ``points.npz``; returns (points, normals)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "points" not in z or "normals" not in z:
                raise DatasetError(path, "must hold arrays 'points' and 'normals'")
            pts, nrm = z["points"], z["normals"]
    except FileNotFoundError:
        raise DatasetError(path, "file is missing") from None
    except DatasetError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError, EOFError, OSError
        raise DatasetError(path, f"unreadable npz ({type(e).__name__}: {e})") from None
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.dtype != np.float32 or len(pts) == 0:
        raise DatasetError(path, f"'points' must be (N, 3) float32, got {pts.shape} {pts.dtype}")
    if nrm.shape != pts.shape:
        raise DatasetError(path, f"'normals' must have the shape of 'points', got {nrm.shape}")
    if not np.all(np.isfinite(pts)):
        raise DatasetError(path, "'points' has non-finite values")
    return pts, nrm


def validate_png(path: Path, image_size: tuple[int, int]) -> None:
    """Check a view PNG's header: 8-bit RGBA of the dataset's image size."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            fmt, mode, size = im.format, im.mode, im.size
    except FileNotFoundError:
        raise DatasetError(path, "view image is missing") from None
    except Exception as e:
        raise DatasetError(path, f"unreadable image ({type(e).__name__}: {e})") from None
    if fmt != "PNG":
        raise DatasetError(path, f"views must be PNG, got {fmt}")
    if mode != "RGBA":
        raise DatasetError(path, f"views must be 8-bit RGBA, got mode {mode}")
    h, w = image_size
    if size != (w, h):
        raise DatasetError(path, f"size {size[1]}x{size[0]} differs from image_size {h}x{w}")
