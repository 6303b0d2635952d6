"""The product's core promise, checked: ground-truth points projected with the saved camera
land on the rendered silhouette."""

from __future__ import annotations

import numpy as np

from aist_app.scene.cameras import Camera, mask_iou, points_mask


def view_iou(points: np.ndarray, view: dict, rgba: np.ndarray) -> float:
    """IoU of the pixels hit by projected points and the pixels with alpha > 0."""
    h, w = rgba.shape[:2]
    return mask_iou(points_mask(points, Camera.from_json(view), (h, w)), rgba[..., 3] > 0)


def check_dataset(ds, *, max_points: int = 100_000) -> dict:
    """Per-view IoUs of a synthetic or stylized dataset."""
    ious: dict[str, list[float]] = {}
    for oid in ds.object_ids():
        pts, _ = ds.points(oid)
        pts = pts[:max_points]
        ious[oid] = [view_iou(pts, v, ds.load_view(oid, v["file"])) for v in ds.cameras(oid)]
    flat = [x for v in ious.values() for x in v]
    return {
        "per_object": ious,
        "views": len(flat),
        "min_iou": float(min(flat)) if flat else float("nan"),
        "mean_iou": float(np.mean(flat)) if flat else float("nan"),
    }
