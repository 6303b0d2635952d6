"""The Runs page: a stylizer or pose run (loss curves, latest samples, metrics) or an
evaluation/experiment report (its table and plots)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def read_metrics(run: Path) -> tuple[list[str], list[list[str]]]:
    """Rows of a run's last metrics (metrics.jsonl) or of a report (metrics.json)."""
    if (run / "metrics.json").is_file():
        data = json.loads((run / "metrics.json").read_text())
        rows, cols = [], ["test set"]
        flat = {}
        for k, v in data.items():  # report: {set: {metric: v}} or experiment {model: {set: ..}}
            if v and all(isinstance(x, dict) for x in v.values()):
                flat.update({f"{k} | {s}": m for s, m in v.items()})
            else:
                flat[k] = v
        for m in flat.values():
            cols += [c for c in m if c not in cols and c != "kind"]
        for name, m in flat.items():
            rows.append([name] + [_fmt(m.get(c)) for c in cols[1:]])
        return cols, rows
    lines = []
    if (run / "metrics.jsonl").is_file():
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
    last: dict[str, dict] = {}
    for line in lines:
        last[line.get("kind", "train")] = line
    cols = ["kind", *sorted({k for d in last.values() for k in d if k != "kind"})]
    return cols, [[k] + [_fmt(d.get(c)) for c in cols[1:]] for k, d in last.items()]


def _fmt(v) -> str:
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


class RunsPage(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.title = QLabel("open a run (File > Open run…)")
        self.table = QTableWidget()
        self.curves = QLabel()
        self.sample = QLabel()
        self.curves.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.sample.setAlignment(Qt.AlignmentFlag.AlignTop)
        images = QWidget()
        row = QHBoxLayout(images)
        row.addWidget(self.curves)
        row.addWidget(self.sample)
        scroll = QScrollArea()
        scroll.setWidget(images)
        scroll.setWidgetResizable(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.table, 1)
        lay.addWidget(scroll, 2)
        self.run: Path | None = None

    def open_run(self, run: str | Path) -> None:
        run = Path(run)
        if not run.is_dir():
            raise FileNotFoundError(f"{run}: not a run or report folder")
        self.run = run
        cols, rows = read_metrics(run)
        if not rows and not (run / "loss_curves.png").exists():
            raise ValueError(f"{run}: no metrics.jsonl, metrics.json or loss curves: not a "
                             "stylizer/pose run or an evaluation report")
        self.title.setText(str(run))
        self.table.setColumnCount(len(cols))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(cols)
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                self.table.setItem(i, j, QTableWidgetItem(v))
        self.table.resizeColumnsToContents()
        plots = [run / "loss_curves.png", run / "xor_cdf.png"]
        samples = sorted((run / "samples").glob("*.png")) if (run / "samples").is_dir() else []
        samples += sorted(run.glob("samples_*.png"))
        self.curves.setPixmap(next((QPixmap(str(p)) for p in plots if p.is_file()), QPixmap()))
        self.sample.setPixmap(QPixmap(str(samples[-1])) if samples else QPixmap())
