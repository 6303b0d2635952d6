"""Images at full size: an image label that opens on double-click in a zoomable window
(mouse wheel or +/- to zoom about the cursor, drag to pan, 0 for 1:1, F to fit), pixels
drawn sharp (nearest neighbour) so that single mask pixels can be counted."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (
    QDialog,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QVBoxLayout,
    QWidget,
)


def to_pixmap(rgba: np.ndarray, scale: int = 1) -> QPixmap:
    """An (H, W, 4) uint8 array as a pixmap, enlarged ``scale`` times (nearest neighbour)."""
    h, w = rgba.shape[:2]
    img = QImage(np.ascontiguousarray(rgba).data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
    pix = QPixmap.fromImage(img.copy())
    return pix if scale == 1 else pix.scaled(w * scale, h * scale,
                                             Qt.AspectRatioMode.KeepAspectRatio)


class ImageLabel(QLabel):
    """A label showing an image small; double-click opens it full size in a
    :class:`ZoomDialog` (the array it was given, not the enlarged thumbnail)."""

    opened = Signal(object)  # the ZoomDialog

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rgba: np.ndarray | None = None
        self.title = ""
        self.dialog: ZoomDialog | None = None

    def set_image(self, rgba: np.ndarray | None, scale: int = 2, title: str = "") -> None:
        self.rgba, self.title = rgba, title
        if rgba is None:
            self.clear()
            self.setToolTip("")
            return
        self.setPixmap(to_pixmap(rgba, scale))
        self.setToolTip((title + "\n" if title else "") + "double-click: full size, zoomable")

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.rgba is not None:
            self.open_full_size()
        super().mouseDoubleClickEvent(event)

    def open_full_size(self) -> ZoomDialog:
        self.dialog = ZoomDialog(self.rgba, self.title, self.window())
        self.dialog.show()
        self.opened.emit(self.dialog)
        return self.dialog


class ZoomView(QGraphicsView):
    """One image, zoomed with the wheel about the cursor and panned by dragging."""

    def __init__(self, rgba: np.ndarray, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem(to_pixmap(rgba))
        self.item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.scene().addItem(self.item)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(Qt.GlobalColor.darkGray)

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        z = min(64.0, max(0.05, self.zoom * factor))
        self.setTransform(QTransform.fromScale(z, z))

    def actual_size(self) -> None:
        self.setTransform(QTransform())

    def fit(self) -> None:
        self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(0.8)
        elif key == Qt.Key.Key_0:
            self.actual_size()
        elif key == Qt.Key.Key_F:
            self.fit()
        else:
            super().keyPressEvent(event)


class ZoomDialog(QDialog):
    def __init__(self, rgba: np.ndarray, title: str = "", parent=None) -> None:
        super().__init__(parent)
        h, w = rgba.shape[:2]
        self.setWindowTitle(f"{title}  ({w}×{h} px)" if title else f"{w}×{h} px")
        self.view = ZoomView(rgba, self)
        hint = QLabel("wheel or +/−: zoom · drag: pan · 0: 1:1 · F: fit")
        lay = QVBoxLayout(self)
        lay.addWidget(self.view, 1)
        lay.addWidget(hint)
        self.resize(720, 720)
        self.view.setFocus()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.view.fit()


def pixmap_array(pix: QPixmap) -> np.ndarray:
    """A pixmap as an (H, W, 4) uint8 array."""
    img = pix.toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : 4 * w].reshape(h, w, 4).copy()


class FittedImage(QLabel):
    """A figure scaled to the pane it is in (aspect kept, never clipped, never scrolled);
    double-click opens it full size and zoomable."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.source = QPixmap()
        self.title = ""
        self.dialog: ZoomDialog | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(120, 90)

    def set_figure(self, pix: QPixmap, title: str = "") -> None:
        self.source, self.title = pix, title
        self.setToolTip(f"{title}\ndouble-click: full size, zoomable" if title else "")
        self._fit()

    def sizeHint(self):  # noqa: N802 - Qt API: never asks for more than the pane
        return self.minimumSize()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.source.isNull():
            self.clear()
            return
        self.setPixmap(self.source.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt API
        if not self.source.isNull():
            self.dialog = ZoomDialog(pixmap_array(self.source), self.title, self.window())
            self.dialog.show()
        super().mouseDoubleClickEvent(event)


def captioned(image: QLabel, caption: str, colour: tuple[int, int, int] | None = None):
    """An image with the words that say what it is above it (in a model's colour, if any)."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    label = QLabel(caption)
    label.setWordWrap(True)
    label.setMaximumWidth(max(160, image.sizeHint().width()))
    if colour is not None:
        label.setStyleSheet(f"color: rgb{tuple(colour)}; font-weight: bold")
    lay.addWidget(label)
    lay.addWidget(image)
    lay.addStretch(1)
    box.caption = label
    return box
