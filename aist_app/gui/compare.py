"""The Compare page: two or more pose runs on one test set, view by view. A sortable table
of every view's figures per model and each model's difference to the first (the baseline),
so the views where a model helps or hurts most are one click away; the selected view with
each model's predicted silhouette outlined (computed off the GUI thread); export of the
table (CSV) and of the view (PNG). Every view's predictions are computed in the background
when a test set opens and kept on disk per run and test set
(:mod:`aist_app.pose.prediction_cache`), so a view shown again, or in the next session,
costs a file read."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from aist_app.common.images import composite
from aist_app.experiments.compare import (
    FIGURE_LABELS,
    FIGURE_UNITS,
    Comparison,
    evaluation_inputs,
    experiment_evaluations,
    figure_label,
    view_figures_text,
)
from aist_app.experiments.compare_session import CompareSession, ViewResult
from aist_app.gui.colours import TRUTH, css, model_colours

#: Decimals each figure is shown with (its unit's useful precision).
FIGURE_DECIMALS = {"angle_err_deg": 1, "chamfer": 2, "precision": 2, "coverage": 2,
                   "xor": 3}


class CompareModel(QAbstractTableModel):
    """Rows of a :class:`Comparison` for one figure: object, view, each model's value, each
    model minus the first. Sorting is numeric (NaN last)."""

    def __init__(self, comparison: Comparison, figure: str, parent=None) -> None:
        super().__init__(parent)
        self.comparison, self.figure = comparison, figure
        self.rows = list(comparison.rows)
        base = comparison.models[0]
        self.columns: list[tuple[str, str, str | None]] = [("object", "", None),
                                                           ("view", "", None)]
        self.columns += [(m, m, None) for m in comparison.models]
        self.columns += [(f"{m} − {base}", m, base) for m in comparison.models[1:]]
        #: The differences' colour scale: their 90th percentile of magnitude.
        diffs = [abs(comparison.value(r, figure, m, base)) for r in self.rows
                 for m in comparison.models[1:]]
        diffs = [d for d in diffs if np.isfinite(d)]
        self.scale = float(np.percentile(diffs, 90)) if diffs else 1.0

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(self.columns)

    def value(self, row: int, column: int):
        name, model, minus = self.columns[column]
        r = self.rows[row]
        if column < 2:
            return r[name]
        return self.comparison.value(r, self.figure, model, minus)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        v = self.value(index.row(), index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(v, str):
                return v
            return "n/a" if not np.isfinite(v) else f"{v:.{FIGURE_DECIMALS.get(self.figure, 2)}f}"
        if role == Qt.ItemDataRole.ToolTipRole and index.column() < 2:
            return v  # the whole id
        if role == Qt.ItemDataRole.UserRole:
            return v
        if role == Qt.ItemDataRole.BackgroundRole and self.columns[index.column()][2]:
            return difference_colour(v, self.scale)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        name, _model, minus = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            if section < 2:
                return name
            unit = FIGURE_UNITS.get(self.figure, "")
            return f"{name}\n{unit + ', ' if unit else ''}lower is better" if minus is None \
                else f"{name}\n< 0: better than {minus}"
        if role == Qt.ItemDataRole.ToolTipRole and section >= 2:
            return f"{name}: {figure_label(self.figure)}"
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        desc = order == Qt.SortOrder.DescendingOrder

        def key(r: dict):
            name, model, minus = self.columns[column]
            if column < 2:
                return (0, r[name])
            v = self.comparison.value(r, self.figure, model, minus)
            return (1, 0.0) if np.isnan(v) else (0, -v if desc else v)

        self.rows.sort(key=key)
        self.layoutChanged.emit()

    def to_csv(self) -> bytes:
        """The table as shown (its order, its columns, its numbers)."""
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([f"{c[0]}" if i < 2 else f"{c[0]}:{self.figure}"
                    for i, c in enumerate(self.columns)])
        for i in range(len(self.rows)):
            w.writerow([self.data(self.index(i, j)) for j in range(len(self.columns))])
        return buf.getvalue().encode()


def difference_colour(value: float, scale: float) -> QColor | None:
    """A cell's background for a model minus the baseline (lower is better): green where the
    model is better, red where worse, stronger with the size of the difference."""
    if not np.isfinite(value) or value == 0 or scale <= 0:
        return None
    a = min(1.0, abs(value) / scale)
    good = value < 0
    return QColor(60, 170, 80, int(40 + 120 * a)) if good else QColor(210, 60, 50,
                                                                        int(40 + 120 * a))


def outline(rgba: np.ndarray, silhouette: np.ndarray, colour,
            background: str = "white") -> np.ndarray:
    """The view on ``background`` with the predicted silhouette's outline drawn in
    ``colour`` (the silhouette, any square size, is scaled to the image with nearest
    neighbours)."""
    h, w = rgba.shape[:2]
    out = composite(rgba, background)
    g = silhouette.shape[0]
    rows = (np.arange(h) * g // h).clip(0, g - 1)
    cols = (np.arange(w) * g // w).clip(0, g - 1)
    m = silhouette[rows][:, cols] > 0.5
    inner = m.copy()
    inner[1:] &= m[:-1]
    inner[:-1] &= m[1:]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    out[m & ~inner, :3] = colour
    return out


class ComparePage(QWidget):
    """``open_experiment(folder)``, ``open_evaluations({model: eval folder})`` or
    ``add_evaluation(folder)`` one at a time;
    the table sorts by any column; selecting a view shows the overlays."""

    def __init__(self, parent=None, *, cache_root: str | Path | None = None,
                 runner=None) -> None:
        super().__init__(parent)
        #: The page's state, Qt-free; its workers return results to this (GUI) thread.
        self.session = CompareSession(runner=runner, cache_root=cache_root)
        self.model: CompareModel | None = None
        self.status = QLabel("Open an experiment folder to compare its pose runs.")
        self.sets = QComboBox()
        self.figures = QComboBox()
        self.sets.currentTextChanged.connect(self._load)
        self.figures.currentIndexChanged.connect(
            lambda _i: self._set_figure(self.figures.currentData()))
        open_btn = QPushButton("Open experiment…")
        open_btn.clicked.connect(self._ask)
        add_btn = QPushButton("Add evaluation…")
        add_btn.setToolTip("compare any runs: add their `aist evaluate` output folders")
        add_btn.clicked.connect(self._ask_add)
        self.export_csv_btn = QPushButton("Export table (CSV)…")
        self.export_csv_btn.clicked.connect(lambda: self._ask_export("csv"))
        self.export_png_btn = QPushButton("Export view (PNG)…")
        self.export_png_btn.clicked.connect(lambda: self._ask_export("png"))
        bar = QHBoxLayout()
        for w in (open_btn, add_btn, QLabel("test set"), self.sets, QLabel("figure"), self.figures,
                  self.export_csv_btn, self.export_png_btn):
            bar.addWidget(w)
        bar.addStretch(1)
        self.table = QTableView()
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setWordWrap(False)
        from aist_app.gui.plots import ErrorScatter

        self.scatter = ErrorScatter()  # each view: the baseline across, each model up
        self.scatter.view_clicked.connect(self._scatter_clicked)
        self.view = QWidget()
        self.view_layout = QHBoxLayout(self.view)
        from aist_app.gui.view3d import PointCloudView

        self.view3d = PointCloudView()  # ground truth (grey) and each model's aligned cloud
        self.view3d.setToolTip("ground truth (grey) and each model's cloud and camera, "
                               "aligned to the ground-truth frame (drag to orbit)")
        self.legend = QLabel()  # which colour is which model
        self.legend.setWordWrap(True)
        self.view_title = QLabel()
        self.view_title.setWordWrap(True)
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        self.fill_bar = QProgressBar()  # predictions of every view, computed in the background
        self.fill_bar.setFormat("predicting views: %v / %m")
        self.fill_bar.hide()
        lay.addWidget(self.status)
        lay.addWidget(self.fill_bar)
        top = QHBoxLayout()
        top.addWidget(self.table, 3)
        top.addWidget(self.scatter, 1)
        lay.addLayout(top, 2)
        lay.addWidget(self.view_title)
        lay.addWidget(self.legend)
        bottom = QHBoxLayout()
        bottom.addWidget(self.view, 3)
        bottom.addWidget(self.view3d, 2)
        lay.addLayout(bottom, 3)
        self._job = None
        self._fill_job = None
        self.overlays: dict[str, np.ndarray] = {}
        self.clouds: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- opening --------------------------------------------------------------------------
    def _ask(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open experiment")
        if path:
            self.open_experiment(path)

    def open_experiment(self, root: str | Path) -> None:
        self.open_evaluations(experiment_evaluations(root))

    def _ask_add(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add an evaluation (aist evaluate --out)")
        if path:
            self.add_evaluation(path)

    def add_evaluation(self, folder: str | Path, name: str | None = None) -> None:
        """Add an ``aist evaluate`` output folder to the comparison (named ``name``, by
        default its folder's); the comparison shows once there are two."""
        folder = Path(folder)
        evaluation_inputs(folder)  # refuses what is not an evaluation, naming the folder
        name = name or folder.name
        while name in self.evaluations:
            name += "'"
        evaluations = {**self.evaluations, name: folder}
        if len(evaluations) < 2:
            self.session.evaluations = evaluations  # one so far: wait for another
            self.status.setText(f"{name} added: add another evaluation to compare")
            return
        self.open_evaluations(evaluations)

    def open_evaluations(self, evaluations: dict[str, Path]) -> None:
        """``aist evaluate`` output folders by model name (the first is the baseline); each
        names its run and its test sets (an experiment's evaluations, or any)."""
        common = self.session.open(evaluations)
        self.sets.blockSignals(True)
        self.sets.clear()
        self.sets.addItems(common)
        self.sets.blockSignals(False)
        if "target" in common:
            self.sets.setCurrentText("target")
        self._load(self.sets.currentText())

    # What the session holds, for the page's readers (tests, benchmarks, screenshots).
    evaluations = property(lambda self: self.session.evaluations)
    comparison = property(lambda self: self.session.comparison)
    set_paths = property(lambda self: self.session.set_paths)
    caches = property(lambda self: self.session.caches)

    def _load(self, test_set: str) -> None:
        if not test_set:
            return
        self.stop_background()
        comparison = self.session.load(test_set)
        self._start_fill()
        figs = comparison.figures()
        self.figures.blockSignals(True)
        self.figures.clear()
        for f in figs:  # shown with its unit; the figure's key is the item's data
            self.figures.addItem(FIGURE_LABELS.get(f, f), f)
        self.figures.blockSignals(False)
        self._set_figure(figs[0])
        self.status.setText(f"{len(comparison.rows)} views of {test_set}, "
                            f"{len(self.evaluations)} models (differences to "
                            f"{comparison.models[0]})")

    def _start_fill(self) -> None:
        """Predict every view of the set for every model in the background (what the disk
        cache already holds is skipped), one object at a time; each model's cache comes
        back to this thread as it opens."""
        from aist_app.gui.jobs import JobThread

        self.fill_bar.setValue(0)
        self._fill_job = JobThread(self.session.fill_work(), self)
        self._fill_job.yielded.connect(self.session.accept_cache)
        self._fill_job.progress.connect(self._fill_progress)
        self._fill_job.succeeded.connect(lambda _: self.fill_bar.hide())
        self._fill_job.failed.connect(lambda m: (self.fill_bar.hide(), self.status.setText(
            "background predictions stopped: " + m.splitlines()[0][:200])))
        self._fill_job.start()

    def stop_background(self) -> None:
        """Stop the background predictions (what is cached stays)."""
        if self._fill_job is not None and self._fill_job.isRunning():
            self._fill_job.cancel()
            self._fill_job.wait(30_000)

    def _fill_progress(self, done: int, total: int, message: str) -> None:
        self.fill_bar.show()
        self.fill_bar.setMaximum(total)
        self.fill_bar.setValue(done)
        self.fill_bar.setToolTip(message)

    def wait_for_predictions(self, timeout_ms: int = 600_000) -> bool:
        """Block until the background predictions are done (tests, benchmarks); the
        caches it opened are handed over."""
        done = self._fill_job is None or self._fill_job.wait(timeout_ms)
        QApplication.processEvents()
        return done

    def _set_figure(self, figure: str) -> None:
        if not figure or self.comparison is None:
            return
        self.model = CompareModel(self.comparison, figure, self)
        self.table.setModel(self.model)
        self.table.resizeColumnsToContents()
        self.figures.setToolTip(figure_label(figure))
        models = self.comparison.models
        rows = self.comparison.rows
        colours = model_colours(models)
        self.scatter.set_points(rows, [
            (m, colours[m], [(self.comparison.value(r, figure, models[0]),
                              self.comparison.value(r, figure, m)) for r in rows])
            for m in models[1:]], figure_label(figure), models[0])
        self.legend.setText("   ".join(
            f"<span style='color: {css(colours[m])}'>&#9632;</span> {html.escape(m)}"
            for m in models)
            + f"   <span style='color: {css(TRUTH)}'>&#9632;</span> ground truth (3D; "
              "its camera in yellow)")
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

    def sort_by_difference(self, model: str, descending: bool = False) -> None:
        """Sort by ``model`` minus the baseline (ascending: where it helps most first)."""
        col = [c[0] for c in self.model.columns].index(
            f"{model} − {self.comparison.models[0]}")
        self.table.sortByColumn(col, Qt.SortOrder.DescendingOrder if descending
                                else Qt.SortOrder.AscendingOrder)

    # -- the selected view ----------------------------------------------------------------
    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def _scatter_clicked(self, r: dict) -> None:
        """A point of the scatter: its view's row selected (and shown)."""
        self.select_row(self.model.rows.index(r))

    def _row_changed(self, current, _previous) -> None:
        if current.isValid():
            r = self.model.rows[current.row()]
            self.scatter.select(r)
            self.show_view(r)

    def show_view(self, r: dict) -> None:
        from aist_app.dataset import Dataset
        from aist_app.gui.jobs import JobThread
        from aist_app.gui.zoom import ImageLabel, captioned

        path = self.set_paths[self.comparison.test_set]
        # The set's full index (every object's views) is built off the GUI thread, once.
        data = self.session.data
        ds = data.ds if data is not None else Dataset.open(path, check="meta")
        rgba = np.asarray(ds.load_view(r["object"], r["view"]))
        self.current = r
        self.view_title.setText(f"{r['object']} / {r['view']}   "
                                + view_figures_text(r["figures"]))
        while self.view_layout.count():
            w = self.view_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        name = f"{r['object']} / {r['view']}"
        image = ImageLabel()
        image.set_image(outline(rgba, np.zeros((1, 1)), (0, 0, 0)), 3, name)
        self.view_layout.addWidget(captioned(image, f"input view ({r['view']})"))
        self.overlays = {}

        def show(result: ViewResult) -> None:
            self.session.accept_view(result)
            if getattr(self, "current", None) is not r:
                return  # another view was selected meanwhile
            projs, clouds, truth = result.projs, result.clouds, result.truth
            self.clouds = clouds
            if truth is not None:
                self.view3d.set_cloud(truth[0], [truth[1]], up=ds.meta.get("up_axis", "y"))
                self.view3d.highlight = 0  # the true camera in yellow
            else:
                self.view3d.set_cloud(np.zeros((0, 3)), [])
            colours = model_colours(list(projs))
            self.view3d.models = [(clouds[m][0], clouds[m][1], colours[m])
                                  for m in projs if m in clouds]
            self.view3d.model_names = [m for m in projs if m in clouds]
            self.view3d.refresh()
            for m, proj in projs.items():
                self.overlays[m] = proj
                label = ImageLabel()
                label.set_image(outline(rgba, proj, colours[m]), 3,
                                f"{name}: {m}'s predicted silhouette at its predicted pose")
                self.view_layout.addWidget(captioned(
                    label, f"{m}: predicted silhouette (outline) at its predicted pose",
                    colours[m]))

        self._job = JobThread(self.session.view_work(r), self)
        self._job.succeeded.connect(show)
        self._job.failed.connect(lambda m: self.status.setText(
            "overlays unavailable: " + m.splitlines()[0][:200]))
        self._job.start()

    # -- export ---------------------------------------------------------------------------
    def _ask_export(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}",
                                              f"comparison.{kind}")
        if path:
            (self.export_csv if kind == "csv" else self.export_png)(path)

    def export_csv(self, path: str | Path) -> None:
        from aist_app.common.io_utils import atomic_write_bytes

        atomic_write_bytes(Path(path), self.model.to_csv())

    def export_png(self, path: str | Path) -> None:
        if not self.view.grab().save(str(path), "PNG"):
            raise OSError(f"{path}: could not write the PNG")
