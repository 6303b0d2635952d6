"""Plots in the app, drawn by pyqtgraph: learning curves (several runs on one pair of axes,
chance levels dashed) and the Compare page's per-view scatter. Both have ticks on both
axes, a grid, zoom and pan (wheel, drag; right-click for the menu, "View All" to reset), a
crosshair whose values are read out under the plot, and a legend; a click on the scatter
selects the nearest view."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from aist_app.gui.colours import SELECTED

pg.setConfigOptions(antialias=True, background="w", foreground=(40, 40, 40))


@dataclass
class Series:
    name: str
    colour: tuple[int, int, int]
    xs: list[float]
    ys: list[float]
    dashed: bool = False


def _finite(xs, ys) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


class _Plot(QWidget):
    """A PlotWidget with a grid, a crosshair and a read-out line under it."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.widget = pg.PlotWidget()
        self.item = self.widget.getPlotItem()
        self.item.showGrid(x=True, y=True, alpha=0.25)
        # The legend under the plot, never over what it names.
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        for name in ("bottom", "left"):  # values as they are, no "(x0.001)" rescaling
            self.item.getAxis(name).enableAutoSIPrefix(False)
        self.vline = pg.InfiniteLine(angle=90, pen=pg.mkPen((120, 120, 120), width=1))
        self.hline = pg.InfiniteLine(angle=0, pen=pg.mkPen((120, 120, 120), width=1))
        for line in (self.vline, self.hline):
            line.setZValue(-5)
            self.item.addItem(line, ignoreBounds=True)
            line.hide()
        self.readout = QLabel(" ")
        self.readout.setWordWrap(True)
        self.empty = QLabel()
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.widget, 1)
        lay.addWidget(self.empty, 1)
        lay.addWidget(self.legend)
        lay.addWidget(self.readout)
        self.widget.scene().sigMouseMoved.connect(self._moved)

    def set_legend(self, entries: list[tuple[str, tuple[int, int, int], str]]) -> None:
        """``(name, colour, symbol)`` per entry: a line (━), a dashed line (╍) or a dot (●)."""
        self.legend.setText(" &nbsp; ".join(
            f"<span style='color:rgb{tuple(c)}'>{sym}</span> {html.escape(name)}"
            for name, c, sym in entries))

    def axis_labels(self, bottom: str, left: str) -> None:
        self.item.setLabel("bottom", bottom)
        self.item.setLabel("left", left)

    def show_empty(self, text: str) -> None:
        """No data: a sentence instead of an empty frame."""
        self.widget.setVisible(not text)
        self.empty.setVisible(bool(text))
        self.empty.setText(text)

    def to_view(self, scene_pos) -> QPointF:
        return self.item.vb.mapSceneToView(scene_pos)

    def to_widget(self, x: float, y: float) -> QPointF:
        """A data point's position in the PlotWidget's own pixels (for clicks)."""
        scene = self.item.vb.mapViewToScene(QPointF(x, y))
        return QPointF(self.widget.mapFromScene(scene))

    def _moved(self, scene_pos) -> None:
        if not self.item.sceneBoundingRect().contains(scene_pos):
            return
        p = self.to_view(scene_pos)
        self.vline.setPos(p.x())
        self.hline.setPos(p.y())
        self.vline.show()
        self.hline.show()
        self.readout.setText(self.values_at(p.x(), p.y()))

    def values_at(self, x: float, y: float) -> str:  # pragma: no cover - overridden
        return f"{x:.3g}, {y:.3g}"


class CurvePlot(_Plot):
    """``set_series(series, title, y_label)``: lines with markers on one pair of axes and a
    legend that names every series; the read-out gives each series' value at the step under
    the cursor."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.widget.setMinimumSize(300, 220)
        self.series: list[Series] = []
        self.title = ""

    def set_series(self, series: list[Series], title: str, y_label: str) -> None:
        self.series, self.title = series, title
        self.item.clear()
        for line in (self.vline, self.hline):
            self.item.addItem(line, ignoreBounds=True)
            line.hide()
        self.show_empty("" if series else title)
        self.set_legend([(s.name, s.colour, "╍╍" if s.dashed else "━●━") for s in series])
        self.item.setTitle(title, size="10pt")
        self.axis_labels("step", y_label)
        for s in series:
            x, y = _finite(s.xs, s.ys)
            pen = pg.mkPen(s.colour, width=1.5 if s.dashed else 2,
                           style=Qt.PenStyle.DashLine if s.dashed else Qt.PenStyle.SolidLine)
            self.item.plot(x, y, pen=pen,
                           symbol=None if s.dashed else "o", symbolSize=5,
                           symbolBrush=s.colour, symbolPen=None)
        self.item.enableAutoRange()
        self.readout.setText("hover for values; wheel to zoom, drag to pan, right-click > "
                             "View All to reset" if series else " ")

    def values_at(self, x: float, y: float) -> str:
        parts = []
        for s in self.series:
            xs, ys = _finite(s.xs, s.ys)
            if len(xs):
                k = int(np.argmin(np.abs(xs - x)))
                parts.append(f"{s.name}: {ys[k]:.3g} (step {xs[k]:.0f})")
        return " · ".join(parts) or " "


class ErrorScatter(_Plot):
    """``set_points(rows, series, label, baseline)``: ``series`` is
    ``[(name, colour, [(x, y), ...])]`` with one point per row (the baseline's value across,
    the model's up, the diagonal where they are equal); ``view_clicked(row)`` gives the
    clicked point's row; ``select(row)`` rings it."""

    view_clicked = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.widget.setMinimumSize(240, 220)
        self.rows: list = []
        self.series: list[tuple[str, tuple[int, int, int], list[tuple[float, float]]]] = []
        self.label = ""
        self.baseline = ""
        self.selected = None
        self.ring = pg.ScatterPlotItem(size=14, pen=pg.mkPen(SELECTED, width=2.5),
                                       brush=None)
        self.widget.scene().sigMouseClicked.connect(self._clicked)
        self.setToolTip("each view: the baseline's value across, the model's up; below the "
                        "diagonal the model is better (click a point to show the view)")

    def set_points(self, rows: list, series, label: str, baseline: str) -> None:
        self.rows, self.series, self.label, self.baseline = rows, series, label, baseline
        self.item.clear()
        vals = [v for _, _, pts in series for p in pts for v in p if math.isfinite(v)]
        lo, hi = (min(0.0, min(vals)), max(vals)) if vals else (0.0, 1.0)
        self.item.plot([lo, hi], [lo, hi], pen=pg.mkPen((150, 150, 150), width=1,
                                                       style=Qt.PenStyle.DashLine))
        for _name, colour, pts in series:
            x, y = _finite([p[0] for p in pts], [p[1] for p in pts])
            self.item.addItem(pg.ScatterPlotItem(x, y, size=7, pen=None,
                                                 brush=pg.mkBrush(*colour, 180)))
        self.set_legend([(f"{name} (up), {baseline} across", colour, "●")
                         for name, colour, _ in series]
                        + [("equal (the diagonal)", (150, 150, 150), "╍╍"),
                           ("the selected view", SELECTED, "◯")])
        self.item.addItem(self.ring)
        for line in (self.vline, self.hline):
            self.item.addItem(line, ignoreBounds=True)
            line.hide()
        self.axis_labels(f"{baseline}: {label}", f"model: {label}")
        self.show_empty("" if series else "no second model to compare")
        self.item.enableAutoRange()
        self.select(self.selected if self.selected in rows else None)

    def points_of(self, row) -> list[tuple[float, float]]:
        k = next((i for i, r in enumerate(self.rows) if r is row), None)
        return [] if k is None else [pts[k] for _, _, pts in self.series
                                     if all(math.isfinite(v) for v in pts[k])]

    def select(self, row) -> None:
        """Ring ``row``'s points (none: no ring)."""
        self.selected = row
        pts = self.points_of(row) if row is not None else []
        self.ring.setData([p[0] for p in pts], [p[1] for p in pts])

    def nearest(self, x: float, y: float, tolerance: float = 12.0):
        """The row of the point nearest to the widget position (x, y), within tolerance."""
        best, best_d = None, tolerance
        for _, _, pts in self.series:
            for k, (vx, vy) in enumerate(pts):
                if not (math.isfinite(vx) and math.isfinite(vy)):
                    continue
                s = self.to_widget(vx, vy)
                d = math.hypot(s.x() - x, s.y() - y)
                if d < best_d:
                    best, best_d = self.rows[k], d
        return best

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = self.widget.mapFromScene(event.scenePos())
        row = self.nearest(pos.x(), pos.y())
        if row is not None:
            self.select(row)
            self.view_clicked.emit(row)

    def values_at(self, x: float, y: float) -> str:
        side = "below" if y < x else "above" if y > x else "on"
        return (f"{self.baseline}: {x:.3g}, model: {y:.3g} ({side} the diagonal: the model's "
                f"value is {'lower' if y < x else 'higher' if y > x else 'the same'})")
