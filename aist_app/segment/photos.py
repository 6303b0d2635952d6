"""Reading real photos robustly: every odd format becomes 8-bit RGB, or a clear rejection."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class PhotoError(Exception):
    """A photo that cannot be used; ``category`` is a short machine-readable reason."""

    def __init__(self, path: Path | str, message: str, category: str) -> None:
        self.path = Path(path)
        self.message = message
        self.category = category
        super().__init__(f"{path}: {message}")


def discover_photos(root: str | Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.suffix.lower() in PHOTO_EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def load_photo(path: str | Path, *, max_megapixels: float = 50.0,
               min_side: float = 0.0) -> np.ndarray:
    """(H, W, 3) uint8 RGB, upright (EXIF orientation applied). CMYK, 16-bit, palette,
    gray and alpha photos are converted; unreadable, truncated, too large or too small ones
    raise :class:`PhotoError`."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            w, h = im.size
            if w * h > max_megapixels * 1e6:
                raise PhotoError(path, f"{w}x{h} is {w * h / 1e6:.0f} MP, over the "
                                       f"{max_megapixels:g} MP limit", "too-large")
            if np.sqrt(w * h) < min_side:
                raise PhotoError(path, f"{w}x{h} is too small for any object of "
                                       f"{min_side:g} px to pass the size filter", "too-small")
            im.load()
    except PhotoError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise PhotoError(path, f"not a readable image ({e})", "unreadable") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated files raise OSError
        raise PhotoError(path, f"unreadable or truncated ({e})", "unreadable") from None
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit gray: scale to 8 bits
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    elif im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(a * (255.0 if a.max() <= 1 else 1), 0, 255)
                             .astype(np.uint8), mode="L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(bg, rgba)
    rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise PhotoError(path, f"unexpected image shape {rgb.shape}", "unreadable")
    return np.ascontiguousarray(rgb)
