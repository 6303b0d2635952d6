"""Cut an instance out of its photo and normalize it like the synthetic views (SPEC §2):
RGBA cut-out, padded square, padded to a sampled car-to-frame ratio, resized.

Car-to-frame ratio r = (pixels with alpha > 0) / (pixels with alpha = 0). For a square
cut-out of side s with a object pixels, padding n on every side gives
r = a / ((s + 2n)^2 - a), so n = (sqrt(a (1 + r) / r) - s) / 2 (report Fig. 3.13).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from aist_app.common.images import color_correct


def car_to_frame_ratio(alpha: np.ndarray) -> float:
    fg = int(np.count_nonzero(alpha))
    bg = alpha.size - fg
    return fg / bg if bg else float("inf")


def cutout(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The instance as RGBA cropped to its mask's bounding box (background RGB 0, alpha 0;
    object pixels colour-corrected so black means background). Returns it and the crop box
    (x0, y0, x1, y1)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("empty mask")
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    m = mask[y0:y1, x0:x1].astype(bool)
    rgba = np.zeros((y1 - y0, x1 - x0, 4), dtype=np.uint8)
    rgba[..., :3] = np.where(m[..., None], image[y0:y1, x0:x1, :3], 0)
    rgba[..., 3] = np.where(m, 255, 0)
    return color_correct(rgba), (x0, y0, x1, y1)


def pad_square(rgba: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Pad the shorter side with zeros to a square; an odd remainder goes to a random side."""
    h, w = rgba.shape[:2]
    d = abs(h - w)
    first = d // 2 + (int(rng.integers(0, 2)) if d % 2 else 0)
    pad = {"top": 0, "bottom": 0, "left": 0, "right": 0}
    if h < w:
        pad["top"], pad["bottom"] = first, d - first
    else:
        pad["left"], pad["right"] = first, d - first
    out = np.pad(rgba, ((pad["top"], pad["bottom"]), (pad["left"], pad["right"]), (0, 0)))
    return out, pad


def ratio_padding(side: int, fg: int, ratio: float) -> int:
    """Padding n (pixels on every side) that brings a square of ``side`` with ``fg`` object
    pixels closest to ``ratio``; 0 when the object already fills less than that (no crop)."""
    if ratio <= 0 or fg <= 0:
        return 0
    n = (np.sqrt(fg * (1.0 + ratio) / ratio) - side) / 2.0
    return max(0, int(round(n)))


def resize_rgba(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-filtered resize; colour is alpha-weighted (black background does not bleed into
    edges) and alpha > 0 stays exactly where some object pixel landed."""
    h, w = size
    if rgba.shape[:2] == (h, w):
        return rgba.copy()
    a = rgba[..., 3].astype(np.float32) / 255.0

    def rs(ch: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(ch.astype(np.float32), mode="F")
                          .resize((w, h), Image.Resampling.BOX))

    a2 = rs(a)
    rgb = np.stack([rs(rgba[..., c].astype(np.float32) * a) for c in range(3)], axis=-1)
    rgb = rgb / np.maximum(a2, 1e-6)[..., None]
    out = np.zeros((h, w, 4), dtype=np.uint8)
    covered = a2 > 1e-6
    out[..., :3] = np.where(covered[..., None], np.clip(np.rint(rgb), 0, 255), 0)
    out[..., 3] = np.where(covered, np.clip(np.rint(a2 * 255), 1, 255), 0)
    return color_correct(out)


@dataclass
class Normalized:
    rgba: np.ndarray  # (H, W, 4) at the synthetic size
    crop_box: tuple[int, int, int, int]
    square_pad: dict
    ratio_pad: int
    target_ratio: float
    ratio_before: float  # of the square cut-out (report Fig. 3.10)
    ratio_padded: float  # after ratio padding, before resizing (exact)
    ratio_after: float  # of the output (Fig. 3.14)


def normalize(image: np.ndarray, mask: np.ndarray, target_ratio: float,
              size: tuple[int, int], rng: np.random.Generator) -> Normalized:
    """Cut out, square, pad to ``target_ratio`` and resize. The padding is solved on the
    full-resolution mask (report Fig. 3.13), then corrected once for the edge pixels that
    resizing makes partly covered (alpha > 0 counts them, in synthetic views too), so the
    output's ratio, the one compared with the synthetic views, lands on the target."""
    cut, box = cutout(image, mask)
    square, spad = pad_square(cut, rng)
    before = car_to_frame_ratio(square[..., 3])
    fg = int(np.count_nonzero(square[..., 3]))
    n = ratio_padding(square.shape[0], fg, target_ratio)
    out = resize_rgba(np.pad(square, ((n, n), (n, n), (0, 0))), size)
    inflation = car_to_frame_ratio(out[..., 3]) / max(car_to_frame_ratio(
        np.pad(square[..., 3], n)), 1e-12)
    if inflation > 0 and np.isfinite(inflation):
        n2 = ratio_padding(square.shape[0], fg, target_ratio / inflation)
        if n2 != n:
            n = n2
            out = resize_rgba(np.pad(square, ((n, n), (n, n), (0, 0))), size)
    padded_alpha = np.pad(square[..., 3], n)
    return Normalized(out, box, spad, n, float(target_ratio), before,
                      car_to_frame_ratio(padded_alpha), car_to_frame_ratio(out[..., 3]))


def render_padded(image: np.ndarray, mask: np.ndarray, n: int, size: tuple[int, int],
                  rng: np.random.Generator) -> np.ndarray:
    """The output for a given padding ``n`` (for checking the chosen one)."""
    square, _ = pad_square(cutout(image, mask)[0], rng)
    return resize_rgba(np.pad(square, ((n, n), (n, n), (0, 0))), size)
