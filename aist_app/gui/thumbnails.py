"""Lazy, cached thumbnails: decoded and scaled off the GUI thread, kept in a bounded cache
(memory stays flat however large the dataset).

Worker threads only touch numpy and PIL; every Qt object is made on the GUI thread, which
picks finished thumbnails up from a queue on a timer (no signal is emitted from a Python
worker thread: that has proved unsafe with PySide6).
"""

from __future__ import annotations

import os
import queue
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage

from aist_app.common.images import BACKGROUNDS, background_array, composite

__all__ = ["BACKGROUNDS", "THUMB", "ThumbnailCache", "composite", "thumbnail_array"]

THUMB = 96
def thumbnail_array(path: Path, size: int = THUMB, background: str = "checkerboard"
                    ) -> np.ndarray:
    """(size, size, 4) uint8: the view composited on ``background``, fitted and centred
    (red when the file cannot be read)."""
    from PIL import Image

    out = np.empty((size, size, 4), np.uint8)
    out[..., :3] = background_array(size, size, background)
    out[..., 3] = 255
    try:
        with Image.open(path) as im:
            im = im.convert("RGBA")
            im.thumbnail((size, size), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.float32)
    except Exception:
        out[..., :3] = (128, 32, 32)
        return out
    h, w = a.shape[:2]
    y, x = (size - h) // 2, (size - w) // 2
    alpha = a[..., 3:4] / 255.0
    region = out[y:y + h, x:x + w, :3].astype(np.float32)
    out[y:y + h, x:x + w, :3] = (a[..., :3] * alpha + region * (1 - alpha)).astype(np.uint8)
    return out


def to_qimage(rgba: np.ndarray) -> QImage:
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


class ThumbnailCache(QObject):
    """``get(path)`` returns a cached image or None and schedules the load; ``ready`` fires
    (on the GUI thread) when it arrives. At most ``capacity`` images are kept."""

    ready = Signal(str)

    def __init__(self, capacity: int = 1000, parent=None,
                 background: str = "checkerboard") -> None:
        super().__init__(parent)
        self.capacity = capacity
        self.background = background
        self.root: Path | None = None  # the open dataset: views are read from inside it
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._pending: dict[str, object] = {}
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._generation = 0
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aist-thumb")
        self._timer = QTimer(self)
        self._timer.setInterval(15)
        self._timer.timeout.connect(self._collect)

    def _load(self, path: str, generation: int, background: str) -> None:
        from aist_app.common.paths import UnsafePath, inside

        try:  # a link out of the open dataset is never read (the red "unreadable" tile)
            if self.root is not None:
                inside(path, self.root, "view", self.root)
            image = thumbnail_array(Path(path), background=background)
        except UnsafePath:
            image = thumbnail_array(Path(os.devnull), background=background)
        self._done.put((path, image, generation))

    def set_background(self, background: str) -> None:
        """Redraw every thumbnail on ``background`` (those on screen are asked again)."""
        if background not in BACKGROUNDS:
            raise ValueError(f"background {background!r}: use one of {BACKGROUNDS}")
        self.background = background
        self.clear_pending()
        self._cache.clear()

    def get(self, path: str) -> QImage | None:
        img = self._cache.get(path)
        if img is not None:
            self._cache.move_to_end(path)
            return img
        if path not in self._pending:
            self._pending[path] = self.pool.submit(self._load, path, self._generation,
                                                   self.background)
            if not self._timer.isActive():
                self._timer.start()
        return None

    def busy(self) -> bool:
        return bool(self._pending)

    def _collect(self) -> None:
        while True:
            try:
                path, arr, generation = self._done.get_nowait()
            except queue.Empty:
                break
            if generation != self._generation:
                continue
            self._pending.pop(path, None)
            self._cache[path] = to_qimage(arr)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
            self.ready.emit(path)
        if not self._pending:
            self._timer.stop()

    def __len__(self) -> int:
        return len(self._cache)

    def clear_pending(self) -> None:
        """Forget queued loads (a new filter or dataset): those not started are cancelled."""
        self._generation += 1
        for fut in self._pending.values():
            fut.cancel()
        self._pending.clear()

    def close(self) -> None:
        self.clear_pending()
        self._timer.stop()
        self.pool.shutdown(wait=True, cancel_futures=True)
