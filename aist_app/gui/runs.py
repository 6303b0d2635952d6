"""The Runs page: a stylizer or pose run, an evaluation report or an experiment: its key
figures beside the chance baselines, pose learning curves drawn here (an experiment's runs
overlaid on one axis), and every figure the folder holds."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from aist_app.gui.colours import CHANCE, model_colours
from aist_app.gui.plots import CurvePlot, Series
from aist_app.gui.zoom import FittedImage

NA = "n/a"
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


#: The chance levels' names in the curves' legend.
CHANCE_NAMES = {"val_acc30_constant": "chance: best constant rotation",
                "val_acc30_random": "chance: random rotation",
                "val_acc30_constant_front_back": "chance: best constant, up to front/back",
                "val_median_err_constant": "chance: best constant rotation"}


def _fmt(v) -> str:
    """A cell's text before its column's decimals are fixed: "n/a" where there is none."""
    return NA if v is None else repr(float(v)) if isinstance(v, float) else str(v)


def column_decimals(values: list[float]) -> int:
    """One number of decimals for a column: 3 below 1, 2 below 100, else 1."""
    top = max((abs(v) for v in values), default=0.0)
    return 3 if top < 1 else 2 if top < 100 else 1


class Cell(QTableWidgetItem):
    """A table cell that sorts by its number ("n/a" last) and shows fixed decimals."""

    def __init__(self, text: str, decimals: int | None) -> None:
        try:
            self.number: float | None = float(text) if decimals is not None else None
        except ValueError:
            self.number = None
        shown = text if self.number is None else (
            str(int(self.number)) if decimals == 0 else f"{self.number:.{decimals}f}")
        super().__init__(shown)
        self.setToolTip(text)  # the whole value (ids, names) on hover
        if self.number is not None:
            self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other) -> bool:  # numbers in order, then text, "n/a" last
        a, b = self.number, getattr(other, "number", None)
        if a is not None and b is not None:
            return a < b
        if (a is None) != (b is None):
            return a is not None
        if (self.text() == NA) != (other.text() == NA):
            return other.text() == NA
        return self.text() < other.text()


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
    if (folder / "elevations.txt").is_file() and (folder / "summary.json").is_file():
        return elevation_figures(json.loads((folder / "summary.json").read_text()))
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


def elevation_figures(summary: dict) -> tuple[list[str], list[list[str]]]:
    """An ``aist elevations`` folder's figures: the fit and, with cameras, the comparison."""
    fit = summary["fit"]
    rows = [["views", str(summary["views"])], ["fitted spec", fit["spec"]],
            ["mean (°)", repr(float(fit["mu"]))], ["sd (°)", repr(float(fit["sigma"]))]]
    for key, label in (("ks", "KS against the true elevations"),
                       ("mean_abs_error_deg", "mean error per view (°)"),
                       ("median_abs_error_deg", "median error per view (°)")):
        if key in summary.get("against_truth", {}):
            rows.append([label, repr(float(summary["against_truth"][key]))])
    return ["figure", "value"], rows


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
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter
                                                          | Qt.TextFlag.TextWordWrap)
        self.curve_choice = QComboBox()
        self.curve_choice.addItems(list(CURVES))
        self.curve_choice.currentTextChanged.connect(lambda _t: self._draw_curves())
        self.plot = CurvePlot()
        self.figure_list = QListWidget()
        self.figure_list.setWordWrap(True)  # whole names, on as many lines as they need
        self.figure_list.currentRowChanged.connect(self._show_figure)
        self.figure = FittedImage()  # scaled to the pane; double-click for full size
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
        fl.addWidget(self.figure, 4)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        self.curves_pane = curves
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
        self._fill_table(cols, rows)
        self.figure_list.clear()
        self.figure_list.addItems([figure_title(p) for p in figures])
        for k, p in enumerate(figures):
            self.figure_list.item(k).setToolTip(str(p))
        if figures:
            self.figure_list.setCurrentRow(0)
        else:
            self.figure.set_figure(QPixmap())
        self._draw_curves()

    def _fill_table(self, cols: list[str], rows: list[list[str]]) -> None:
        """Sortable cells with one number of decimals a column ("step" whole), "n/a" where
        a value does not exist, the whole value on hover."""
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(cols))
        self.table.setRowCount(len(rows))
        # Long headers on as many lines as they need (the header grows to hold them).
        self.table.setHorizontalHeaderLabels([textwrap.fill(c, 14) for c in cols])
        for j, col in enumerate(cols):
            numbers = []
            for r in rows:
                try:
                    numbers.append(float(r[j]))
                except ValueError:
                    pass
            decimals = None if not numbers else 0 if col == "step" else \
                column_decimals(numbers)
            for i, r in enumerate(rows):
                self.table.setItem(i, j, Cell(r[j], decimals))
        self.table.resizeRowsToContents()
        self.table.setSortingEnabled(True)

    def _draw_curves(self) -> None:
        label = self.curve_choice.currentText()
        key, chance = CURVES[label]
        series = []
        colours = model_colours(list(self.curves))
        for name, lines in self.curves.items():
            series.append(Series(name, colours[name], [x["step"] for x in lines],
                                 [x.get(key, float("nan")) for x in lines]))
        first = next(iter(self.curves.values()), [])
        for k, c in enumerate(chance):  # the same views for every run: the first's
            if first and c in first[-1]:
                series.append(Series(CHANCE_NAMES.get(c, c.replace("val_", "chance: ")),
                                     CHANCE[min(k, len(CHANCE) - 1)],
                                     [x["step"] for x in first],
                                     [x.get(c, float("nan")) for x in first], dashed=True))
        self.plot.set_series(series, f"validation {label}" if series else
                             "no pose learning curves in this folder", label)
        self.curves_pane.setVisible(bool(series))  # no empty panel: the figures take it

    def _show_figure(self, row: int) -> None:
        if 0 <= row < len(self.figures):
            self.figure.set_figure(QPixmap(str(self.figures[row])), figure_title(
                self.figures[row]))
