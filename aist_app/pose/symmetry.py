"""Whether decoded shapes can tell front from back: each cloud's extent along the model's
axes and its asymmetry about the planes through the model's origin across and along its
long horizontal axis (the model's up axis is y, as its poses turn about it). A cloud that is
its own mirror image about the plane across its long axis (asymmetry 0, in geometry and in
colour) looks the same from the front and from the back: no loss can teach its poses which
end is which, and a folded model is the only self-consistent one (docs/learning.md)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

#: The model's horizontal axes (y is up).
HORIZONTAL = (0, 2)
AXES = "xyz"


def mirror_asymmetry(points: np.ndarray, axis: int, rgb: np.ndarray | None = None,
                     tree: cKDTree | None = None) -> tuple[float, float | None]:
    """(geometry, colour) asymmetry of one cloud about the plane through the origin normal
    to ``axis``: the mean distance (x100, unit cube) from each mirrored point to the nearest
    point of the cloud, and the mean absolute colour difference (x100, colours in [0, 1])
    between each point and that nearest point; 0 for a cloud that is its mirror image."""
    tree = tree or cKDTree(points)
    flip = np.ones(3)
    flip[axis] = -1.0
    dist, idx = tree.query(points * flip)
    colour = None if rgb is None else float(100.0 * np.abs(rgb[idx] - rgb).mean())
    return float(100.0 * dist.mean()), colour


def cloud_symmetry(points: np.ndarray, rgb: np.ndarray | None = None) -> dict[str, float]:
    """One cloud's figures: its standard deviation along x, y, z, which horizontal axis is
    the long one (0 x, 2 z), and its asymmetry across that axis (front/back) and along it
    (left/right: about the plane that holds the long axis)."""
    std = points.std(axis=0)
    long = max(HORIZONTAL, key=lambda a: std[a])
    lateral = HORIZONTAL[1] if long == HORIZONTAL[0] else HORIZONTAL[0]
    tree = cKDTree(points)
    fb, fb_rgb = mirror_asymmetry(points, long, rgb, tree)
    lr, lr_rgb = mirror_asymmetry(points, lateral, rgb, tree)
    out = {"std_x": float(std[0]), "std_y": float(std[1]), "std_z": float(std[2]),
           "long_axis": float(long), "asym_front_back": fb, "asym_left_right": lr}
    if fb_rgb is not None:
        out.update(asym_front_back_rgb=fb_rgb, asym_left_right_rgb=lr_rgb)
    return out


def set_symmetry(clouds: list[tuple[np.ndarray, np.ndarray | None]]) -> dict[str, float]:
    """The figures of :func:`cloud_symmetry` over a set of clouds (points, colours or
    None): means, and ``long_along_x``, the fraction of clouds whose long axis is x."""
    per = [cloud_symmetry(p, c) for p, c in clouds]
    if not per:
        return {}
    keys = dict.fromkeys(k for d in per for k in d if k != "long_axis")
    out = {f"shape_{k}": float(np.mean([d[k] for d in per if k in d])) for k in keys}
    out["shape_long_along_x"] = float(np.mean([d["long_axis"] == 0 for d in per]))
    return out


def describe(metrics: dict[str, float], mirror_symmetry: bool | None = None) -> str:
    """A short reading: the long axis, the mirror plane (x = 0 with ``mirror_symmetry``)
    across or along it, and the two asymmetries."""
    if "shape_asym_front_back" not in metrics:
        return "n/a"
    frac = metrics["shape_long_along_x"]
    long = "x" if frac >= 0.5 else "z"
    text = f"long along {long} ({max(frac, 1 - frac):.0%})"
    if mirror_symmetry:
        text += ", mirror x = 0 " + ("across the car" if long == "x" else "along the car")
    text += (f"; front/back {metrics['shape_asym_front_back']:.2f}"
             + (f" (colour {metrics['shape_asym_front_back_rgb']:.2f})"
                if "shape_asym_front_back_rgb" in metrics else "")
             + f", left/right {metrics['shape_asym_left_right']:.2f}")
    return text
