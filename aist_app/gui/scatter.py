"""A per-view scatter of one figure: the baseline's value across, each other model's up
(one colour a model), the diagonal where they are equal; a click selects the nearest view.
Drawn with QPainter."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class ErrorScatter(QWidget):
    """``set_points(rows, series, label)``: ``series`` is ``[(name, colour, [(x, y), ...])]``
    with one point per row; ``view_clicked(row)`` gives the clicked point's row."""

    view_clicked = Signal(object)
    MARGIN = 34

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(220, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.rows: list = []
        self.series: list[tuple[str, tuple[int, int, int], list[tuple[float, float]]]] = []
        self.label = ""
        self.baseline = ""
        self.selected = None
        self.setToolTip("each view: the baseline's value across, the model's up; below the "
                        "diagonal the model is better (click a point to show the view)")

    def set_points(self, rows: list, series, label: str, baseline: str) -> None:
        self.rows, self.series, self.label, self.baseline = rows, series, label, baseline
        self.update()

    def _range(self) -> tuple[float, float]:
        vals = [v for _, _, pts in self.series for p in pts for v in p if math.isfinite(v)]
        if not vals:
            return 0.0, 1.0
        lo, hi = min(0.0, min(vals)), max(vals)
        return lo, hi if hi > lo else lo + 1.0

    def _to_screen(self, x: float, y: float) -> QPointF:
        lo, hi = self._range()
        m = self.MARGIN
        w, h = self.width() - m - 8, self.height() - m - 8
        return QPointF(m + (x - lo) / (hi - lo) * w, 8 + h - (y - lo) / (hi - lo) * h)

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(255, 255, 255))
        lo, hi = self._range()
        a, b = self._to_screen(lo, lo), self._to_screen(hi, hi)
        p.setPen(QPen(QColor(150, 150, 150), 1, Qt.PenStyle.DashLine))
        p.drawLine(a, b)
        p.setPen(QColor(60, 60, 60))
        m = self.MARGIN
        p.drawRect(QRectF(m, 8, self.width() - m - 8, self.height() - m - 8))
        font = p.font()
        font.setPointSizeF(max(7.5, font.pointSizeF() * 0.85))
        p.setFont(font)
        p.drawText(QRectF(m, self.height() - m + 2, self.width() - m - 8, m - 4),
                   Qt.AlignmentFlag.AlignCenter, f"{self.baseline}: {self.label}")
        p.drawText(QRectF(2, 8, m - 4, 16), Qt.AlignmentFlag.AlignLeft, f"{hi:.3g}")
        p.drawText(QRectF(2, self.height() - m - 10, m - 4, 16), Qt.AlignmentFlag.AlignLeft,
                   f"{lo:.3g}")
        y = 10
        for name, colour, pts in self.series:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(*colour, 170))
            for k, (vx, vy) in enumerate(pts):
                if not (math.isfinite(vx) and math.isfinite(vy)):
                    continue
                r = 5.0 if self.rows[k] is self.selected else 3.0
                p.drawEllipse(self._to_screen(vx, vy), r, r)
            p.setPen(QColor(*colour))
            p.drawText(QRectF(m + 6, y, self.width() - m - 20, 16), Qt.AlignmentFlag.AlignLeft,
                       f"● {name} (up)")
            y += 15
        p.end()

    def nearest(self, x: float, y: float, tolerance: float = 12.0):
        """The row of the point nearest to the screen position (x, y), within tolerance."""
        best, best_d = None, tolerance
        for _, _, pts in self.series:
            for k, (vx, vy) in enumerate(pts):
                if not (math.isfinite(vx) and math.isfinite(vy)):
                    continue
                s = self._to_screen(vx, vy)
                d = math.hypot(s.x() - x, s.y() - y)
                if d < best_d:
                    best, best_d = self.rows[k], d
        return best

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        row = self.nearest(event.position().x(), event.position().y())
        if row is not None:
            self.selected = row
            self.update()
            self.view_clicked.emit(row)
