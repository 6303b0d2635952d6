"""A light 3-D view: a point cloud and the cameras of its views as frustums, orbitable with
the mouse; clicking a frustum selects that view. Drawn with QPainter (no OpenGL context
needed, so it works offscreen and over remote desktops)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

MAX_POINTS = 20_000


def rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rx @ ry


class PointCloudView(QWidget):
    """``set_cloud(points, cameras)``; ``camera_clicked(index)`` when a frustum is clicked."""

    camera_clicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 320)
        self.points = np.zeros((0, 3))
        self.predicted = np.zeros((0, 3))
        self.frusta: list[np.ndarray] = []
        self.predicted_frustum: np.ndarray | None = None  # the pose model's camera
        #: More models' clouds and cameras, each in its colour (the Compare page).
        self.models: list[tuple[np.ndarray, np.ndarray | None, tuple[int, int, int]]] = []
        self.highlight = -1
        self.yaw, self.pitch, self.zoom = 0.6, 0.35, 1.0
        self._drag = None
        self.up = "y"

    def set_cloud(self, points: np.ndarray, frusta: list[np.ndarray] | None = None,
                  predicted: np.ndarray | None = None, up: str = "y") -> None:
        step = max(1, len(points) // MAX_POINTS)
        self.points = np.asarray(points)[::step]
        self.predicted = np.zeros((0, 3)) if predicted is None else np.asarray(predicted)
        self.frusta = frusta or []
        self.up = up
        self.update()

    # -- projection ------------------------------------------------------------------------
    def _to_view(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        if self.up == "y":  # screen up = object up
            p = p * np.array([1, -1, 1])
        else:
            p = p[..., [0, 2, 1]] * np.array([1, -1, 1])
        return p @ rotation(self.yaw, self.pitch).T

    def project(self, p: np.ndarray) -> np.ndarray:
        v = self._to_view(p)
        s = 0.35 * min(self.width(), self.height()) * self.zoom
        z = v[..., 2] + 4.0
        return np.stack([self.width() / 2 + s * 4.0 * v[..., 0] / z,
                         self.height() / 2 + s * 4.0 * v[..., 1] / z], axis=-1)

    # -- drawing -----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 34))
        for cloud, colour in ((self.points, QColor(220, 220, 220)),
                              (self.predicted, QColor(255, 140, 40))):
            if len(cloud):
                p.setPen(QPen(colour, 1.5))
                p.drawPoints([QPointF(x, y) for x, y in self.project(cloud)])
        for cloud, _cam, rgb in self.models:  # clouds first, cameras over every cloud
            if len(cloud):
                p.setPen(QPen(QColor(*rgb), 1.5))
                p.drawPoints([QPointF(x, y) for x, y in self.project(cloud)])
        for _cloud, cam, rgb in self.models:
            if cam is not None:
                self._draw_frustum(p, cam, QColor(*rgb), 2.5)
        frusta = list(enumerate(self.frusta))
        if self.predicted_frustum is not None:
            frusta.append((-2, self.predicted_frustum))
        for k, f in frusta:
            colour = (QColor(255, 140, 40) if k == -2 else QColor(255, 210, 0)
                      if k == self.highlight else QColor(90, 160, 255))
            self._draw_frustum(p, f, colour, 2.5 if k in (-2, self.highlight) else 1.0)
        p.end()

    def _draw_frustum(self, p: QPainter, f: np.ndarray, colour: QColor, width: float) -> None:
        """A camera: its outline over a dark halo, so that it stays visible on any cloud."""
        xy = self.project(f)
        c = QPointF(*xy[0])
        corners = [QPointF(*q) for q in xy[1:]]
        for pen in (QPen(QColor(0, 0, 0, 200), width + 2.5), QPen(colour, width)):
            p.setPen(pen)
            for q in corners:
                p.drawLine(c, q)
            for i in range(4):
                p.drawLine(corners[i], corners[(i + 1) % 4])

    # -- interaction -------------------------------------------------------------------------
    def mousePressEvent(self, e) -> None:  # noqa: N802
        self._drag = (e.position(), self.yaw, self.pitch, False)

    def mouseMoveEvent(self, e) -> None:  # noqa: N802
        if self._drag is None:
            return
        start, yaw, pitch, _ = self._drag
        d = e.position() - start
        self.yaw = yaw + d.x() * 0.01
        self.pitch = float(np.clip(pitch + d.y() * 0.01, -1.5, 1.5))
        self._drag = (start, yaw, pitch, abs(d.x()) + abs(d.y()) > 3)
        self.update()

    def mouseReleaseEvent(self, e) -> None:  # noqa: N802
        moved = self._drag is not None and self._drag[3]
        self._drag = None
        if not moved:
            k = self.frustum_at(e.position().x(), e.position().y())
            if k >= 0:
                self.highlight = k
                self.update()
                self.camera_clicked.emit(k)

    def wheelEvent(self, e) -> None:  # noqa: N802
        self.zoom *= 1.1 ** (e.angleDelta().y() / 120)
        self.update()

    def frustum_at(self, x: float, y: float, tolerance: float = 12.0) -> int:
        """The frustum whose projected outline is nearest to (x, y), within tolerance."""
        best, best_d = -1, tolerance
        for k, f in enumerate(self.frusta):
            xy = self.project(f)
            d = float(np.min(np.hypot(xy[:, 0] - x, xy[:, 1] - y)))
            inside = (xy[1:, 0].min() <= x <= xy[1:, 0].max()
                      and xy[1:, 1].min() <= y <= xy[1:, 1].max())
            if inside:
                d = min(d, tolerance * 0.5)
            if d < best_d:
                best, best_d = k, d
        return best
