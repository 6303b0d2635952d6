"""The 3D view (pyqtgraph's OpenGL scene): a point cloud, the cameras of its views as
frustums, and any model's predicted cloud and camera in that model's colour; orbit (drag),
pan (Ctrl+drag or middle button), zoom (wheel), axes with their names, a ground grid, a
point-size control, layer toggles and a view reset. Clicking a camera selects its view.

Without an OpenGL context (``QT_QPA_PLATFORM=offscreen``) the scene is kept and every
control works, but nothing can be drawn: the pane says so (run under a desktop or
``xvfb-run``)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph.opengl as gl
from PySide6.QtCore import QPointF, QTimer, Signal
from PySide6.QtGui import QMatrix4x4, QVector3D
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from aist_app.gui.colours import AIST, CAMERAS, SELECTED, TRUTH, css

MAX_POINTS = 20_000
LAYERS = ("ground truth", "cameras", "predictions", "axes and grid")
AXIS_COLOURS = ((230, 80, 80), (80, 200, 80), (90, 140, 255))  # x, y, z


def to_gl(p: np.ndarray, up: str) -> np.ndarray:
    """Object coordinates in the scene's z-up frame (a y-up object turns about x)."""
    p = np.asarray(p, dtype=np.float64).reshape(-1, 3)
    return p[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0]) if up == "y" else p


def frustum_segments(f: np.ndarray) -> np.ndarray:
    """A camera (apex, then 4 image corners) as line segments: apex to each corner and the
    image rectangle."""
    c, corners = f[0], f[1:]
    segs = [(c, q) for q in corners] + [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    return np.asarray(segs).reshape(-1, 3)


def _rgba(rgb: tuple[int, int, int], alpha: float = 1.0) -> tuple[float, ...]:
    return (rgb[0] / 255, rgb[1] / 255, rgb[2] / 255, alpha)


class _Canvas(gl.GLViewWidget):
    """pyqtgraph's view, with a click (press and release without a drag) as a signal."""

    clicked = Signal(float, float)

    def mousePressEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self._press = ev.position()
        super().mousePressEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802 - Qt API
        start = getattr(self, "_press", None)
        self._press = None
        if start is not None and (ev.position() - start).manhattanLength() <= 3:
            self.clicked.emit(ev.position().x(), ev.position().y())


class PointCloudView(QWidget):
    """``set_cloud(points, cameras)``, then ``predicted``/``predicted_frustum`` (one pose
    run's) or ``models`` (several, each in its colour) and ``refresh()``;
    ``camera_clicked(index)`` when a camera is clicked."""

    camera_clicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.points = np.zeros((0, 3))
        self.predicted = np.zeros((0, 3))
        self.frusta: list[np.ndarray] = []
        self.predicted_frustum: np.ndarray | None = None
        self.predicted_name = "the pose run"
        self.predicted_colour = AIST
        #: More models' clouds and cameras, each in its colour (the Compare page).
        self.models: list[tuple[np.ndarray, np.ndarray | None, tuple[int, int, int]]] = []
        self.model_names: list[str] = []
        self.highlight = -1
        self.up = "y"
        self.canvas = _Canvas()
        self.canvas.setBackgroundColor((28, 28, 32))
        self.canvas.setMinimumSize(320, 280)
        self.canvas.clicked.connect(self._clicked)
        self._items: list = []
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.no_gl = QLabel()  # shown instead of the scene when OpenGL is missing
        self.no_gl.setWordWrap(True)
        self.no_gl.hide()
        self.toggles = {name: QCheckBox(name) for name in LAYERS}
        for box in self.toggles.values():
            box.setChecked(True)
            box.toggled.connect(lambda _=False: self.refresh())
        self.point_size = QDoubleSpinBox()
        self.point_size.setRange(1.0, 12.0)
        self.point_size.setSingleStep(0.5)
        self.point_size.setDecimals(1)
        self.point_size.setValue(3.0)
        self.point_size.setSuffix(" px")
        self.point_size.setToolTip("the size of every point on screen")
        self.point_size.valueChanged.connect(lambda _=0: self.refresh())
        reset = QPushButton("Reset view")
        reset.setToolTip("back to the starting viewpoint, framing the whole scene")
        reset.clicked.connect(self.reset_view)
        bar = QHBoxLayout()
        for box in self.toggles.values():
            bar.addWidget(box)
        bar.addWidget(QLabel("point size"))
        bar.addWidget(self.point_size)
        bar.addWidget(reset)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.legend)
        lay.addWidget(self.no_gl)
        lay.addWidget(self.canvas, 1)
        self.refresh()

    # -- data --------------------------------------------------------------------------------
    def set_cloud(self, points: np.ndarray, frusta: list[np.ndarray] | None = None,
                  predicted: np.ndarray | None = None, up: str = "y") -> None:
        step = max(1, len(points) // MAX_POINTS)
        self.points = np.asarray(points)[::step]
        self.predicted = np.zeros((0, 3)) if predicted is None else np.asarray(predicted)
        self.frusta = frusta or []
        self.up = up
        self.reset_view()

    def reset_view(self) -> None:
        """The starting viewpoint: from the front-left, above, framing the cloud and cameras."""
        pts = [to_gl(self.points, self.up)] + [to_gl(f, self.up) for f in self.frusta]
        allp = np.concatenate([p for p in pts if len(p)] or [np.zeros((1, 3))])
        centre = to_gl(self.points, self.up).mean(0) if len(self.points) else allp.mean(0)
        radius = float(np.max(np.linalg.norm(allp - centre, axis=1))) or 1.0
        self.canvas.setCameraPosition(pos=QVector3D(*centre.astype(float)),
                                      distance=radius / math.tan(math.radians(30)),
                                      elevation=25, azimuth=-60)
        self.refresh()

    # -- drawing -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the scene's items from the data and the controls."""
        for item in self._items:
            self.canvas.removeItem(item)
        self._items = []
        size = self.point_size.value()
        on = {name: box.isChecked() for name, box in self.toggles.items()}
        if on["axes and grid"]:
            self._add_axes()
        if on["ground truth"] and len(self.points):
            self._add_points(self.points, TRUTH, size)
        if on["predictions"]:
            for cloud, cam, rgb in self.models:
                self._add_points(cloud, rgb, size)
                if cam is not None:
                    self._add_frustum(cam, rgb, 3.0)
            if len(self.predicted):
                self._add_points(self.predicted, self.predicted_colour, size)
            if self.predicted_frustum is not None:
                self._add_frustum(self.predicted_frustum, self.predicted_colour, 3.0)
        if on["cameras"]:
            for k, f in enumerate(self.frusta):
                selected = k == self.highlight
                self._add_frustum(f, SELECTED if selected else CAMERAS,
                                  3.0 if selected else 1.0)
        self.legend.setText(self.legend_text())
        self.canvas.update()

    def _add(self, item) -> None:
        self.canvas.addItem(item)
        self._items.append(item)

    def _add_points(self, cloud: np.ndarray, rgb, size: float) -> None:
        step = max(1, len(cloud) // MAX_POINTS)
        item = gl.GLScatterPlotItem(pos=to_gl(cloud[::step], self.up), size=size,
                                    color=_rgba(rgb, 1.0), pxMode=True)
        item.setGLOptions("opaque")  # each model's colour as it is (not summed to white)
        self._add(item)

    def _add_frustum(self, f: np.ndarray, rgb, width: float) -> None:
        self._add(gl.GLLinePlotItem(pos=frustum_segments(to_gl(f, self.up)), mode="lines",
                                    color=_rgba(rgb), width=width, antialias=True))

    def _add_axes(self) -> None:
        """x red, y green, z blue (the object's own axes, named in the legend), and a
        ground grid under the object."""
        length = 0.6
        for k, rgb in enumerate(AXIS_COLOURS):
            end = np.zeros(3)
            end[k] = length
            seg = to_gl(np.stack([np.zeros(3), end]), self.up)
            self._add(gl.GLLinePlotItem(pos=seg, mode="lines", color=_rgba(rgb), width=2.0))
        floor = float(to_gl(self.points, self.up)[:, 2].min()) if len(self.points) else 0.0
        grid = gl.GLGridItem(color=(255, 255, 255, 40))
        grid.setSize(4, 4)
        grid.setSpacing(0.25, 0.25)
        grid.translate(0, 0, floor)
        self._add(grid)

    def legend_text(self) -> str:
        """What each colour shown means, for the layers that hold something."""
        sq, box = "&#9632;", "&#9633;"
        parts = []
        if len(self.points):
            parts.append(f"<span style='color:{css(TRUTH)}'>{sq}</span> ground-truth points")
        if len(self.frusta) > 1 or (self.frusta and self.highlight != 0):
            parts.append(f"<span style='color:{css(CAMERAS)}'>{box}</span> the views' cameras")
        if 0 <= self.highlight < len(self.frusta):
            parts.append(f"<span style='color:{css(SELECTED)}'>{box}</span> the selected "
                         "view's camera")
        if len(self.predicted) or self.predicted_frustum is not None:
            parts.append(f"<span style='color:{css(self.predicted_colour)}'>{sq}{box}</span> "
                         f"{self.predicted_name}'s predicted points and camera")
        for k, (_cloud, _cam, rgb) in enumerate(self.models):
            name = self.model_names[k] if k < len(self.model_names) else f"model {k + 1}"
            parts.append(f"<span style='color:{css(rgb)}'>{sq}{box}</span> {name}")
        parts.append("axes: <span style='color:rgb(230,80,80)'>x</span> "
                     "<span style='color:rgb(80,200,80)'>y</span> "
                     "<span style='color:rgb(90,140,255)'>z</span>; drag to orbit, "
                     "Ctrl+drag to pan, wheel to zoom")
        return " &nbsp; ".join(parts)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        QTimer.singleShot(0, self._check_gl)

    def _check_gl(self) -> None:
        """Say so in the pane when no OpenGL context could be made for the scene."""
        if self.canvas.isVisible() and not self.canvas.isValid():
            self.no_gl.setText("The 3D view needs OpenGL, and this display has none "
                               "(for example QT_QPA_PLATFORM=offscreen): run the app on a "
                               "desktop, or under xvfb-run for screenshots.")
            self.no_gl.show()

    # -- picking -----------------------------------------------------------------------------
    def _mvp(self) -> QMatrix4x4:
        w, h = max(1, self.canvas.width()), max(1, self.canvas.height())
        viewport = (0, 0, w, h)
        return self.canvas.projectionMatrix(viewport, viewport) * self.canvas.viewMatrix()

    def project(self, p: np.ndarray) -> np.ndarray:
        """Object points to the canvas' pixel coordinates (x right, y down)."""
        m = self._mvp()
        w, h = self.canvas.width(), self.canvas.height()
        out = []
        for q in to_gl(p, self.up):
            ndc = m.map(QVector3D(*q.astype(float)))
            out.append(((ndc.x() + 1) / 2 * w, (1 - ndc.y()) / 2 * h))
        return np.asarray(out)

    def frustum_at(self, x: float, y: float, tolerance: float = 12.0) -> int:
        """The camera whose projected outline is nearest to (x, y), within tolerance."""
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

    def _clicked(self, x: float, y: float) -> None:
        if not self.toggles["cameras"].isChecked():
            return
        k = self.frustum_at(x, y)
        if k >= 0:
            self.highlight = k
            self.refresh()
            self.camera_clicked.emit(k)

    def click_point(self, p: np.ndarray) -> QPointF:
        """Where on the canvas an object point is drawn (tests click cameras with it)."""
        x, y = self.project(np.asarray(p).reshape(1, 3))[0]
        return QPointF(float(x), float(y))

