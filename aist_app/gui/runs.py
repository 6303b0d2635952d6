"""The Runs page: a stylizer or pose run, an evaluation report or an experiment: its key
figures beside the chance baselines, pose learning curves drawn here (an experiment's runs
overlaid on one axis), and every figure the folder holds."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from aist_app.gui.curves import CurvePlot, Series

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
#: The key figures of a pose model, with the chance baselines beside them: (column, key in
#: an evaluation's metrics, key in a run's validation line).
KEY_FIGURES = [
    ("acc@30", "acc30", "val_acc30"),
    ("median (°)", "median_err_deg", "val_median_err_deg"),
    ("acc@30 best single rotation", "acc30_best_align", "val_acc30_best_align"),
    ("acc@30 up to front/back", "acc30_front_back", "val_acc30_front_back"),
    ("chance: random rotation", "acc30_random", "val_acc30_random"),
    ("chance: best constant", "acc30_constant", "val_acc30_constant"),
    ("Chamfer (×100)", "chamfer", "val_chamfer"),
    ("mask XOR (median)", "xor_median", None),
]
#: What the curve plot can show: label -> (key of a validation line, chance keys).
CURVES = {
    "acc@30 (reference alignment)": ("val_acc30", ("val_acc30_constant", "val_acc30_random")),
    "acc@30 (best single rotation)": ("val_acc30_best_align", ("val_acc30_constant",)),
    "acc@30 (up to front/back)": ("val_acc30_front_back", ("val_acc30_constant_front_back",)),
    "median error (°)": ("val_median_err_deg", ("val_median_err_constant",)),
    "Chamfer (×100)": ("val_chamfer", ()),
}


def _fmt(v) -> str:
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def pose_curves(folder: Path) -> dict[str, list[dict]]:
    """The validation lines (``val_pose``) of the pose runs behind ``folder``: a pose run
    itself, an evaluation's run, or an experiment's runs (baseline first)."""
    folder = Path(folder)
    runs: dict[str, Path] = {}
    if (folder / "metrics.jsonl").is_file():
        runs[folder.name] = folder
    elif (folder.parent / "experiment.json").is_file():  # an experiment's report folder
        from aist_app.experiments.presets import pose_runs

        cfg = json.loads((folder.parent / "experiment.json").read_text())
        runs = {name: run for name, (_, run) in pose_runs(cfg, folder.parent).items()}
    elif (folder / "alignment.json").is_file() or (folder / "metrics.json").is_file():
        try:
            from aist_app.experiments.compare import evaluation_inputs

            run, _ = evaluation_inputs(folder)
            runs[Path(run).name] = Path(run)
        except (ValueError, OSError):
            pass
    out = {}
    for name, run in runs.items():
        lines = [x for x in _lines(Path(run) / "metrics.jsonl") if x.get("kind") == "val_pose"]
        if lines:
            out[name] = lines
    return out


def key_figures(folder: Path) -> tuple[list[str], list[list[str]]]:
    """The table of the folder's figures: for a report (metrics.json) a row per model and
    test set, for a pose run its last validation, the pose figures beside the chance
    baselines; anything else: its last metrics of each kind."""
    folder = Path(folder)
    if (folder / "metrics.json").is_file():
        data = json.loads((folder / "metrics.json").read_text())
        flat: dict[str, dict] = {}
        for k, v in data.items():  # report {set: {..}} or experiment {model: {set: {..}}}
            if v and all(isinstance(x, dict) for x in v.values()):
                flat.update({f"{k} | {s}": m for s, m in v.items()})
            elif isinstance(v, dict):
                flat[k] = v
        keys = [(c, k) for c, k, _ in KEY_FIGURES if any(k in m for m in flat.values())]
        if keys:
            return (["model | test set", *[c for c, _ in keys]],
                    [[name, *[_fmt(m.get(k)) for _, k in keys]] for name, m in flat.items()])
        cols = ["name", *sorted({c for m in flat.values() for c in m})]
        return cols, [[n, *[_fmt(m.get(c)) for c in cols[1:]]] for n, m in flat.items()]
    lines = _lines(folder / "metrics.jsonl")
    val = [x for x in lines if x.get("kind") == "val_pose"]
    if val:
        keys = [(c, k) for c, _, k in KEY_FIGURES if k and k in val[-1]]
        return (["step", *[c for c, _ in keys]],
                [[str(x.get("step")), *[_fmt(x.get(k)) for _, k in keys]] for x in val])
    last: dict[str, dict] = {}
    for line in lines:
        last[line.get("kind", "train")] = line
    cols = ["kind", *sorted({k for d in last.values() for k in d if k != "kind"})]
    return cols, [[k] + [_fmt(d.get(c)) for c in cols[1:]] for k, d in last.items()]


def run_figures(folder: Path) -> list[Path]:
    """Every figure the folder holds (its PNGs; a training run's latest sample grid)."""
    folder = Path(folder)
    figures = sorted(folder.glob("*.png"))
    samples = sorted((folder / "samples").glob("*.png")) if (folder / "samples").is_dir() \
        else []
    return figures + samples[-1:]


def figure_title(path: Path) -> str:
    """A figure's file name read as words."""
    stem = path.stem.replace("_", " ").replace("-", " ")
    return f"{stem} ({path.parent.name})" if path.parent.name == "samples" else stem


class RunsPage(QWidget):
    """``open_run(folder)``: a run, an evaluation report or an experiment's report."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.title = QLabel("open a run (File > Open run…)")
        self.title.setWordWrap(True)
        self.table = QTableWidget()
        self.table.verticalHeader().hide()
        self.table.setWordWrap(True)
        self.curve_choice = QComboBox()
        self.curve_choice.addItems(list(CURVES))
        self.curve_choice.currentTextChanged.connect(lambda _t: self._draw_curves())
        self.plot = CurvePlot()
        self.figure_list = QListWidget()
        self.figure_list.currentRowChanged.connect(self._show_figure)
        self.figure = QLabel()
        self.figure.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidget(self.figure)
        scroll.setWidgetResizable(True)
        curves = QWidget()
        cl = QVBoxLayout(curves)
        cl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("curve"))
        row.addWidget(self.curve_choice, 1)
        cl.addLayout(row)
        cl.addWidget(self.plot, 1)
        figures = QWidget()
        fl = QHBoxLayout(figures)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.figure_list, 1)
        fl.addWidget(scroll, 4)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(curves)
        bottom.addWidget(figures)
        bottom.setSizes([450, 800])
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.table, 2)
        lay.addWidget(bottom, 3)
        self.run: Path | None = None
        self.curves: dict[str, list[dict]] = {}
        self.figures: list[Path] = []

    def open_run(self, run: str | Path) -> None:
        run = Path(run)
        if not run.is_dir():
            raise FileNotFoundError(f"{run}: not a run or report folder")
        cols, rows = key_figures(run)
        figures = run_figures(run)
        if not rows and not figures:
            raise ValueError(f"{run}: no metrics.jsonl, metrics.json or figures: not a "
                             "stylizer/pose run or an evaluation report")
        self.run, self.figures, self.curves = run, figures, pose_curves(run)
        self.title.setText(f"{run}   ({len(figures)} figures"
                           + (f"; pose runs: {', '.join(self.curves)})" if self.curves
                              else ")"))
        self.table.clear()
        self.table.setColumnCount(len(cols))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(cols)
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                self.table.setItem(i, j, QTableWidgetItem(v))
        self.table.resizeColumnsToContents()
        self.figure_list.clear()
        self.figure_list.addItems([figure_title(p) for p in figures])
        if figures:
            self.figure_list.setCurrentRow(0)
        else:
            self.figure.setPixmap(QPixmap())
        self._draw_curves()

    def _draw_curves(self) -> None:
        label = self.curve_choice.currentText()
        key, chance = CURVES[label]
        series = []
        for i, (name, lines) in enumerate(self.curves.items()):
            colour = COLOURS[i % len(COLOURS)]
            series.append(Series(name, colour, [x["step"] for x in lines],
                                 [x.get(key, float("nan")) for x in lines]))
        first = next(iter(self.curves.values()), [])
        for k, c in enumerate(chance):  # the same views for every run: the first's
            if first and c in first[-1]:
                series.append(Series(c.replace("val_", "chance: ").replace("_", " "),
                                     (120, 120, 120) if k == 0 else (170, 170, 170),
                                     [x["step"] for x in first],
                                     [x.get(c, float("nan")) for x in first], dashed=True))
        self.plot.set_series(series, f"validation {label}" if series else
                             "no pose learning curves in this folder", label)

    def _show_figure(self, row: int) -> None:
        if 0 <= row < len(self.figures):
            self.figure.setPixmap(QPixmap(str(self.figures[row])))
