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


#: Backgrounds RGBA views are drawn on (the app's toolbar choice, the report's figures).
BACKGROUNDS = ("checkerboard", "grey", "white", "black")
_FLAT = {"grey": (60, 60, 60), "white": (255, 255, 255), "black": (0, 0, 0)}


def background_array(h: int, w: int, background: str = "checkerboard") -> np.ndarray:
    """(h, w, 3) uint8 of a background: a light checkerboard (8-pixel squares) or a flat
    colour."""
    if background not in BACKGROUNDS:
        raise ValueError(f"background {background!r}: use one of {BACKGROUNDS}")
    if background == "checkerboard":
        squares = (np.indices((h, w)) // 8).sum(0) % 2
        return np.where(squares[..., None] == 1, 245, 218).astype(np.uint8).repeat(3, -1)
    return np.broadcast_to(np.asarray(_FLAT[background], np.uint8), (h, w, 3)).copy()


def composite(rgba: np.ndarray, background: str = "checkerboard") -> np.ndarray:
    """(H, W, 4) uint8 RGBA -> opaque RGBA on ``background``."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    bg = background_array(*rgba.shape[:2], background).astype(np.float32)
    out = np.empty_like(rgba)
    out[..., :3] = (rgba[..., :3] * a + bg * (1 - a) + 0.5).astype(np.uint8)
    out[..., 3] = 255
    return out
