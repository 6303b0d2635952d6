"""The seven candidate filters of SPEC §2 (report chapter 3), each a small pure function.

A candidate is one detected instance in a photo. :func:`first_rejection` applies the filters
in the spec's order and returns the first failing reason (``None`` when it passes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Reasons, in filter order (SPEC §2, filters 1-7).
REASONS = ("label", "score", "size", "fill", "grayscale", "occlusion", "cropping")


@dataclass(frozen=True)
class FilterConfig:
    classes: tuple[str, ...] = ("car", "truck")
    min_score: float = 0.7
    min_side: float = 128.0  # sqrt(box area) in pixels (the synthetic image size)
    min_fill: float = 0.5  # mask area / box area
    border_frac: float = 0.02  # width of the image border bands, as a fraction of the side
    max_border_cover: float = 1.0 / 3.0  # of any border band
    gray_tolerance: int = 12  # channel spread (0..255) still counted as gray
    gray_fraction: float = 0.01  # a photo with fewer coloured pixels than this is grayscale


def label_ok(label: str, classes: Iterable[str]) -> bool:
    """Filter 1: the detected class is one we want."""
    return label in set(classes)


def score_ok(score: float, min_score: float) -> bool:
    """Filter 2: detection confidence at least ``min_score``."""
    return score >= min_score


def size_ok(box: tuple[float, float, float, float], min_side: float) -> bool:
    """Filter 3: sqrt(box area) at least ``min_side`` pixels (box is x0, y0, x1, y1)."""
    w, h = max(0.0, box[2] - box[0]), max(0.0, box[3] - box[1])
    return float(np.sqrt(w * h)) >= min_side


def fill_ratio(mask: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Mask pixels over the predicted box's area."""
    area = max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
    return float(np.count_nonzero(mask)) / area if area > 0 else 0.0


def fill_ok(mask: np.ndarray, box: tuple[float, float, float, float], min_fill: float) -> bool:
    """Filter 4: the mask fills at least ``min_fill`` of its box."""
    return fill_ratio(mask, box) >= min_fill


def is_grayscale(image: np.ndarray, tolerance: int = 12, fraction: float = 0.01) -> bool:
    """Filter 5: a photo whose pixels are (nearly) all gray, also when stored as RGB: fewer
    than ``fraction`` of its pixels have a channel spread above ``tolerance``."""
    if image.ndim == 2 or image.shape[2] == 1:
        return True
    # A regular subsample of at most ~16k pixels decides as well as every pixel (the 1%
    # threshold is estimated to +-0.1%), and ~100x faster on a 2 MP photo.
    step = max(1, int(np.ceil(np.sqrt(image.shape[0] * image.shape[1] / 16384))))
    rgb = np.ascontiguousarray(image[::step, ::step, :3])
    spread = np.ptp(rgb, axis=2)  # uint8: max - min never underflows
    return float(np.count_nonzero(spread > tolerance)) < fraction * spread.size


_EIGHT = np.ones((3, 3), dtype=bool)


def components(mask: np.ndarray) -> int:
    """Connected components of a mask (8-connected: pixels touching at a corner or through a
    one-pixel bridge belong together)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return 0
    crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # label only where it is
    return int(ndimage.label(crop, structure=_EIGHT)[1])


def occluded(mask: np.ndarray) -> bool:
    """Filter 6: something in front splits the object into more than one piece."""
    return components(mask) > 1


def border_cover(mask: np.ndarray, border_frac: float = 0.02) -> float:
    """The largest fraction of any of the four border bands (``border_frac`` of the image side
    wide, at least one pixel) covered by the mask."""
    h, w = mask.shape
    bh, bw = max(1, round(h * border_frac)), max(1, round(w * border_frac))
    bands = (mask[:bh, :], mask[h - bh:, :], mask[:, :bw], mask[:, w - bw:])
    return max(float(np.mean(b)) for b in bands)


def cropped(mask: np.ndarray, border_frac: float = 0.02, max_cover: float = 1 / 3) -> bool:
    """Filter 7: the photo cuts the object off (more than ``max_cover`` of a border band
    covered)."""
    return border_cover(mask, border_frac) > max_cover


def first_rejection(label: str, score: float, box: tuple[float, float, float, float],
                    mask: np.ndarray, photo_is_gray: bool, cfg: FilterConfig) -> str | None:
    """The first filter (in the spec's order) the candidate fails, or ``None``."""
    if not label_ok(label, cfg.classes):
        return "label"
    if not score_ok(score, cfg.min_score):
        return "score"
    if not size_ok(box, cfg.min_side):
        return "size"
    if not fill_ok(mask, box, cfg.min_fill):
        return "fill"
    if photo_is_gray:
        return "grayscale"
    if occluded(mask):
        return "occlusion"
    if cropped(mask, cfg.border_frac, cfg.max_border_cover):
        return "cropping"
    return None
