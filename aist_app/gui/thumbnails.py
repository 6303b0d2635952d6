"""Lazy, cached thumbnails: loaded off the GUI thread, a bounded cache (memory stays flat
however large the dataset)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

THUMB = 96
CHECKER = 0xFF3C3C3C


def load_thumbnail(path: Path, size: int = THUMB) -> QImage:
    """The view composited on a dark background, scaled to fit ``size`` (a worker thread may
    call this: QImage, unlike QPixmap, is thread-safe)."""
    img = QImage(str(path))
    if img.isNull():
        out = QImage(size, size, QImage.Format.Format_ARGB32)
        out.fill(0xFF802020)
        return out
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPainter

    scaled = img.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)
    out = QImage(size, size, QImage.Format.Format_ARGB32)
    out.fill(CHECKER)
    p = QPainter(out)
    p.drawImage((size - scaled.width()) // 2, (size - scaled.height()) // 2, scaled)
    p.end()
    return out


class _Signals(QObject):
    loaded = Signal(str, QImage)


class _Load(QRunnable):
    def __init__(self, path: str, signals: _Signals) -> None:
        super().__init__()
        self.path = path
        self.signals = signals

    def run(self) -> None:
        self.signals.loaded.emit(self.path, load_thumbnail(Path(self.path)))


class ThumbnailCache(QObject):
    """``get(path)`` returns a cached image or None and schedules the load; ``ready`` fires
    when it arrives. At most ``capacity`` images are kept (least recently used go)."""

    ready = Signal(str)

    def __init__(self, capacity: int = 3000, parent=None) -> None:
        super().__init__(parent)
        self.capacity = capacity
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._pending: set[str] = set()
        self._signals = _Signals()
        self._signals.loaded.connect(self._on_loaded)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)

    def get(self, path: str) -> QImage | None:
        img = self._cache.get(path)
        if img is not None:
            self._cache.move_to_end(path)
            return img
        if path not in self._pending:
            self._pending.add(path)
            self.pool.start(_Load(path, self._signals))
        return None

    def _on_loaded(self, path: str, img: QImage) -> None:
        self._pending.discard(path)
        self._cache[path] = img
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        self.ready.emit(path)

    def __len__(self) -> int:
        return len(self._cache)

    def clear_pending(self) -> None:
        self.pool.clear()
        self._pending.clear()
