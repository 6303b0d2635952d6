"""Learning curves drawn in the app (QPainter): several runs' series on one axis, each in
its colour, chance levels dashed, as TensorBoard overlays runs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


@dataclass
class Series:
    name: str
    colour: tuple[int, int, int]
    xs: list[float]
    ys: list[float]
    dashed: bool = False


class CurvePlot(QWidget):
    """``set_series(series, title, y_label)``: lines with markers on one pair of axes and a
    legend that names every series."""

    MARGIN_L, MARGIN_B, MARGIN_T = 46, 30, 22

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(300, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.series: list[Series] = []
        self.title = ""
        self.y_label = ""

    def set_series(self, series: list[Series], title: str, y_label: str) -> None:
        self.series, self.title, self.y_label = series, title, y_label
        self.update()

    def _ranges(self) -> tuple[float, float, float, float]:
        xs = [x for s in self.series for x in s.xs if math.isfinite(x)]
        ys = [y for s in self.series for y in s.ys if math.isfinite(y)]
        x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
        y0, y1 = (min(0.0, min(ys)), max(ys)) if ys else (0.0, 1.0)
        return x0, x1 if x1 > x0 else x0 + 1, y0, y1 if y1 > y0 else y0 + 1

    def to_screen(self, x: float, y: float) -> QPointF:
        x0, x1, y0, y1 = self._ranges()
        w = self.width() - self.MARGIN_L - 10
        h = self.height() - self.MARGIN_B - self.MARGIN_T
        return QPointF(self.MARGIN_L + (x - x0) / (x1 - x0) * w,
                       self.MARGIN_T + h - (y - y0) / (y1 - y0) * h)

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(255, 255, 255))
        x0, x1, y0, y1 = self._ranges()
        left, top = self.MARGIN_L, self.MARGIN_T
        right, bottom = self.width() - 10, self.height() - self.MARGIN_B
        p.setPen(QColor(60, 60, 60))
        p.drawRect(QRectF(left, top, right - left, bottom - top))
        p.drawText(QRectF(left, 2, right - left, top - 4), Qt.AlignmentFlag.AlignCenter,
                   self.title)
        p.drawText(QRectF(left, bottom + 2, right - left, self.MARGIN_B - 4),
                   Qt.AlignmentFlag.AlignCenter, "step")
        for v, align in ((y1, Qt.AlignmentFlag.AlignTop), (y0, Qt.AlignmentFlag.AlignBottom)):
            p.drawText(QRectF(0, top - 2 if v == y1 else bottom - 16, left - 4, 18),
                       align | Qt.AlignmentFlag.AlignRight, f"{v:.3g}")
        p.drawText(QRectF(right - 60, bottom + 2, 60, 16), Qt.AlignmentFlag.AlignRight,
                   f"{x1:.0f}")
        p.drawText(QRectF(left, bottom + 2, 60, 16), Qt.AlignmentFlag.AlignLeft, f"{x0:.0f}")
        legend_y = top + 4
        for s in self.series:
            colour = QColor(*s.colour)
            pen = QPen(colour, 1.5 if s.dashed else 2.0,
                       Qt.PenStyle.DashLine if s.dashed else Qt.PenStyle.SolidLine)
            p.setPen(pen)
            pts = [self.to_screen(x, y) for x, y in zip(s.xs, s.ys, strict=True)
                   if math.isfinite(x) and math.isfinite(y)]
            for a, b in zip(pts, pts[1:], strict=False):
                p.drawLine(a, b)
            if not s.dashed:
                p.setBrush(colour)
                for q in pts:
                    p.drawEllipse(q, 2.5, 2.5)
            p.setPen(colour)
            p.drawText(QRectF(left + 8, legend_y, right - left - 16, 16),
                       Qt.AlignmentFlag.AlignLeft, ("- - " if s.dashed else "— ") + s.name)
            legend_y += 15
        p.end()
