"""Image helpers shared by every stage."""

from __future__ import annotations

import io

import numpy as np


def color_correct(rgba: np.ndarray) -> np.ndarray:
    """Pixels with alpha > 0 and RGB exactly (0, 0, 0) become (1, 1, 1), so that pure black
    always means background (SPEC §2, report §4.1.1.1). Returns a new array only if needed."""
    black = (rgba[..., 3] > 0) & ~rgba[..., :3].any(axis=-1)
    if not black.any():
        return rgba
    out = rgba.copy()
    out[black, :3] = 1
    return out


def encode_png(arr: np.ndarray, *, compress_level: int = 3) -> bytes:
    """PNG bytes of an (H, W, 4) uint8 or (H, W) uint16 array."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(arr))
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()
