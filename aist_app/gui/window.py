"""The main window: Browser, 3D view, Stages and Runs pages."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from aist_app.common.outputs import folder_kind
from aist_app.dataset import DatasetError
from aist_app.dataset.index import DatasetIndex
from aist_app.experiments.compare import FLIP_DEG
from aist_app.gui.browser import BrowserPage, kind_label
from aist_app.gui.colours import model_colour
from aist_app.gui.compare import ComparePage
from aist_app.gui.runs import RunsPage
from aist_app.gui.stages import StagesPage
from aist_app.gui.view3d import PointCloudView
from aist_app.scene.cameras import frustum_points
from aist_app.stages.runner import StageRunner

RECENT = 10  # folders remembered in File > Open recent


def is_pose_run(path: Path) -> bool:
    """A pose model's training run, whatever the plugin (its output record says so; runs
    older than records: a dpc checkpoint and config)."""
    from aist_app.common.outputs import OutputConflict, read_record

    try:
        record = read_record(path)
    except OutputConflict:
        return False
    if record is not None:
        return record.get("stage") == "train-pose"
    return (path / "checkpoints" / "last.pt").is_file() and (path / "config.json").is_file() \
        and "dataset" in (path / "config.json").read_text()


def prediction_text(pred: dict, truth: dict | None, up_axis: str, run: str) -> str:
    """The predicted camera in words beside the true one, and its error in degrees."""
    from aist_app.scene.cameras import rotation_error_deg, viewpoint_of

    v = viewpoint_of(pred["world_to_camera"], up_axis)
    text = (f"{run}: predicted camera azimuth {v['azimuth_deg']:.0f}°, elevation "
            f"{v['elevation_deg']:.0f}°, distance {v['distance']:.2f}")
    if truth is not None and "world_to_camera" in truth:
        err = rotation_error_deg(pred["world_to_camera"], truth["world_to_camera"])
        text += (f"; true: azimuth {truth['azimuth_deg']:.0f}°, elevation "
                 f"{truth['elevation_deg']:.0f}°; error {err:.0f}°"
                 + (" (a front/back flip)" if err >= FLIP_DEG else ""))
    return text


def one_line(error: object) -> str:
    """An error (or a traceback's text) as the one line a person reads: an error's first
    line (it names the file), a traceback's last; at most 300 characters."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    if not lines:
        return type(error).__name__
    text = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return text if len(text) <= 300 else text[:297] + "..."


@contextlib.contextmanager
def busy(window: QMainWindow, message: str):
    """A wait cursor and ``message`` in the status bar while a load blocks the window."""
    from PySide6.QtGui import QGuiApplication

    window.statusBar().showMessage(message)
    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    QGuiApplication.processEvents()
    try:
        yield
    finally:
        QGuiApplication.restoreOverrideCursor()
        window.statusBar().clearMessage()


class MainWindow(QMainWindow):
    """Takes the plugin manager (the model of installed stages) in its constructor."""

    def __init__(self, plugin_manager, parent=None, settings=None) -> None:
        """``settings``: a QSettings for what the app remembers (default: the user's)."""
        super().__init__(parent)
        self.pm = plugin_manager
        self.setWindowTitle("AIST")
        self.resize(1400, 860)
        self.tabs = QTabWidget()
        self.browser = BrowserPage(settings=settings)
        self.view3d = PointCloudView()
        self.runner = StageRunner(plugin_manager)
        self.stages = StagesPage(self.runner)
        self.runs = RunsPage()
        self.compare = ComparePage(runner=self.runner)
        self.tabs.addTab(self.browser, "Browser")
        # The 3D view with its legend and, with a pose run open, the prediction's figures.
        self.view3d_legend = self.view3d.legend  # what each colour means, kept current
        self.prediction_label = QLabel()
        self.prediction_label.setWordWrap(True)
        page3d = QWidget()
        lay3d = QVBoxLayout(page3d)
        lay3d.addWidget(self.prediction_label)
        lay3d.addWidget(self.view3d, 1)
        self.tabs.addTab(page3d, "3D view")
        self.tabs.addTab(self.stages, "Stages")
        self.tabs.addTab(self.runs, "Runs")
        self.tabs.addTab(self.compare, "Compare")
        self.setCentralWidget(self.tabs)
        self.index: DatasetIndex | None = None
        self.last_error: str | None = None
        self._object: str | None = None
        self._views: list[dict] = []
        self.pose_run: Path | None = None
        self._predictor = None  # (the run's PosePredictor, alignment), loaded on first use
        self._pending_predictor = None  # the PosePredictor read when the run was opened
        self.prediction_error: str | None = None  # the last prediction's failure, one line
        self._silhouettes = None  # (dataset root, its PoseData, the run's Evaluator)
        self._predict_job = None
        self._prediction_jobs: list = []  # every prediction job started, until it ends
        self.browser.view_selected.connect(self._show_object)
        self.view3d.camera_clicked.connect(self._camera_clicked)
        for kind, panel in self.stages.panels.items():
            panel.finished.connect(lambda status, result, k=kind: self._stage_done(k, status,
                                                                                   result))
        menu = self.menuBar().addMenu("&File")
        for text, slot in (("Open dataset…", self._ask_dataset), ("Open run…", self._ask_run)):
            action = QAction(text, self)
            action.triggered.connect(slot)
            menu.addAction(action)
        self.recent_menu = menu.addMenu("Open &recent")
        pose_menu = self.menuBar().addMenu("&Pose")
        # The 3D view's prediction refined by render-and-compare (docs/refine.md).
        self.refine_action = QAction("Refine predictions (render-and-compare)", self)
        self.refine_action.setCheckable(True)
        self.refine_action.toggled.connect(lambda _: self._refresh_prediction())
        pose_menu.addAction(self.refine_action)
        self.refine_config = None  # the pose model's refinement settings (None: defaults)
        self._refiner = None
        self._fill_recent()
        # Keys: 1-5 switch pages; space toggles the mask overlay (arrows move through the
        # views in the grid, Qt's own).
        for i in range(self.tabs.count()):
            key = QShortcut(QKeySequence(str(i + 1)), self)
            key.activated.connect(lambda i=i: self.tabs.setCurrentIndex(i))
        space = QShortcut(QKeySequence(Qt.Key.Key_Space), self.browser)
        space.activated.connect(self.browser.toggle_overlay)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.browser.cache.close()
        self.compare.stop_background()
        for panel in self.stages.panels.values():
            if panel.job is not None and panel.job.isRunning():
                panel.job.cancel()
                panel.job.wait(10_000)
        # Predictions still running (each view selected starts one): let them end.
        for job in [*self._prediction_jobs, self.compare._job]:
            if job is not None and job.isRunning():
                job.wait(60_000)
        super().closeEvent(event)

    # -- opening things ------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        """A dataset (has dataset.json), an experiment, or a run/report folder."""
        path = Path(path)
        if (path / "dataset.json").is_file() or not path.is_dir():
            return self.open_dataset(path)
        try:
            kind = folder_kind(path)
        except ValueError as e:
            self.error("Cannot open folder", str(e))
            return False
        if kind == "experiment":
            return self.open_experiment(path)
        try:
            self.runs.open_run(path)
        except (OSError, ValueError) as e:
            self.error("Cannot open run", str(e))
            return False
        if is_pose_run(path):  # predictions in the 3D view
            try:  # its checkpoint read now: a bad one is said at once, in one line
                with busy(self, f"opening {path.name}: reading its checkpoint (the first "
                                "run opened also loads torch) …"):
                    predictor = self.runner.predictor(path, device="cpu")
            except Exception as e:  # noqa: BLE001 - any unreadable checkpoint
                self.error("Cannot open pose run", one_line(e))
                return False
            self.pose_run, self._predictor, self._refiner = path, None, None
            self.view3d.predicted_name = path.name
            self.view3d.predicted_colour = model_colour(path.name)
            self.browser.detail.prediction_colour = self.view3d.predicted_colour
            self._pending_predictor = predictor
            self._silhouettes = None
            self.prediction_error = None
        self.tabs.setCurrentWidget(self.runs)
        return True

    def open_experiment(self, path: Path) -> bool:
        """An experiment folder: its report on the Runs page, its pose runs compared."""
        if (path / "report").is_dir():
            try:
                self.runs.open_run(path / "report")
            except (OSError, ValueError):
                pass  # not reported yet: the comparison alone
        try:
            self.compare.open_experiment(path)
        except (OSError, ValueError) as e:
            self.error("Cannot compare the experiment's runs", str(e))
            return False
        self._remember(path)
        self.setWindowTitle(f"AIST — {path}")
        self.tabs.setCurrentWidget(self.compare)
        return True

    def open_dataset(self, path: str | Path) -> bool:
        try:
            index = DatasetIndex.build(path)
        except (DatasetError, OSError, ValueError, KeyError) as e:
            self.error("Cannot open dataset", str(e))
            return False
        self.index = index
        self._remember(index.root)
        self.browser.set_index(index)
        ds = index.ds
        first = next(iter(ds.object_ids()), None) if ds.kind != "real" else None
        self.stages.use_dataset(index.root, {
            "kind": ds.kind, "image_size": ds.image_size,
            "views_per_object": len(ds.view_files(first)) if first else None})
        self.setWindowTitle(f"AIST — {index.root}")
        self.statusBar().showMessage(f"{index.root}: {kind_label(index.ds)}, "
                                     f"{len(index.records)} view"
                                     f"{'s' * (len(index.records) != 1)}")
        self.tabs.setCurrentWidget(self.browser)  # a dataset opens in the Browser
        return True

    def recent(self) -> list[str]:
        """Recently opened folders, newest first (remembered in the settings)."""
        value = self.browser.settings.value("recent", [])
        return [str(v) for v in (value if isinstance(value, list) else [value]) if v]

    def _remember(self, path: Path) -> None:
        paths = [str(Path(path).resolve())]
        paths += [p for p in self.recent() if p != paths[0]]
        self.browser.settings.setValue("recent", paths[:RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent():
            action = self.recent_menu.addAction(p)
            action.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent()))

    def error(self, title: str, message: str) -> None:
        """A non-blocking error dialog (the app goes on)."""
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, parent=self)
        box.setModal(False)
        box.open()
        self._error_box = box

    def _ask_dataset(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open dataset")
        if path:
            self.open_dataset(path)

    def _ask_run(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open run or report")
        if path:
            self.open_path(path)

    # -- 3D view -----------------------------------------------------------------------------
    def _show_object(self, record) -> None:
        if self.index is None or self.index.ds.kind == "real":
            return
        if record.object_id != self._object:
            ds = self.index.ds
            points, _ = ds.points(record.object_id)
            self._views = ds.cameras(record.object_id)
            frusta = [frustum_points(np.asarray(v["world_to_camera"]), np.asarray(v["K"]),
                              ds.image_size) for v in self._views]
            self.view3d.set_cloud(points, frusta, up=ds.meta.get("up_axis", "y"))
            self._object = record.object_id
        files = [v["file"] for v in self._views]
        self.view3d.highlight = files.index(record.file) if record.file in files else -1
        self.view3d.predicted_frustum = None
        self.view3d.predicted = np.zeros((0, 3))
        self.view3d.refresh()
        self.prediction_label.setText("")
        self.browser.detail.set_prediction(None)
        if self.pose_run is not None:
            self.prediction_label.setText(f"predicting with {Path(self.pose_run).name} …")
            self._predict(record)

    def _predict(self, record) -> None:
        """The pose run's reconstruction of this view, computed off the GUI thread."""
        from aist_app.gui.jobs import JobThread

        rgba = self.index.ds.load_view(record.object_id, record.file)
        size = self.index.ds.image_size

        refine = self.refine_action.isChecked()
        focal = None
        if self._views and "K" in self._views[0]:
            from aist_app.scene.cameras import relative_focal_length

            focal = relative_focal_length(self._views[0]["K"], tuple(size))
        if refine:
            self.statusBar().showMessage(f"refining {record.object_id} / {record.file}…")

        def job():
            from aist_app.pose.reconstruct import reconstruct_view, refiner_of, run_alignment

            if self._predictor is None:
                predictor = self._pending_predictor or \
                    self.runner.predictor(self.pose_run, device="cpu")
                self._predictor = (predictor, run_alignment(predictor))
            predictor, align = self._predictor
            if not refine:
                pred = reconstruct_view(predictor, rgba, align)
                if self.index.ds.kind != "real":  # the silhouette at the predicted pose
                    from aist_app.pose.data import PoseData
                    from aist_app.pose.evaluate import Evaluator

                    root = self.index.root  # the set and the evaluator: loaded once each
                    if self._silhouettes is None or self._silhouettes[0] != root:
                        self._silhouettes = (root, PoseData(root, None), Evaluator(predictor))
                    _, data, evaluator = self._silhouettes
                    pred["silhouette"] = evaluator.predict(
                        data, render=True, views=[(record.object_id, record.file)])[0].proj
                return pred
            if self._refiner is None:
                self._refiner = refiner_of(predictor, align, self.refine_config)
            self._refiner.focal = focal or predictor.focal_length  # this dataset's camera
            return reconstruct_view(predictor, rgba, align, refiner=self._refiner)

        def show(pred) -> None:
            from aist_app.scene.cameras import intrinsics

            self.last_prediction = pred
            if "refine_loss" in pred:
                self.statusBar().showMessage(
                    f"refined: objective {pred['refine_loss_start']:.1f} -> "
                    f"{pred['refine_loss']:.1f}")

            K = intrinsics(size, float(pred["focal_length"]))
            self.view3d.predicted = pred["points"]
            self.view3d.predicted_frustum = frustum_points(pred["world_to_camera"], K, size)
            self.view3d.refresh()
            truth = {v["file"]: v for v in self._views}.get(record.file)
            text = prediction_text(pred, truth, self.index.ds.meta.get("up_axis", "y"),
                                   Path(self.pose_run).name)
            self.prediction_label.setText(text)
            self.browser.detail.set_prediction(text, pred.get("silhouette"), rgba)

        self._predict_job = JobThread(job, self)
        self._predict_job.succeeded.connect(show)
        self._predict_job.failed.connect(self._prediction_failed)
        job_ref = self._predict_job
        self._prediction_jobs.append(job_ref)
        job_ref.finished.connect(lambda: self._prediction_jobs.remove(job_ref)
                                 if job_ref in self._prediction_jobs else None)
        self._predict_job.start()

    def _prediction_failed(self, message: str) -> None:
        """A prediction that failed: its last line, in the pane and the status bar."""
        line = one_line(message)
        self.prediction_error = line
        self.prediction_label.setText(f"prediction failed: {line}")
        self.statusBar().showMessage(f"prediction failed: {line}")

    def _refresh_prediction(self) -> None:
        """Predict the selected view again (the refine setting changed)."""
        r = self.browser.detail.record
        if self.pose_run is not None and self.index is not None and r is not None:
            self._show_object(r)

    def _camera_clicked(self, k: int) -> None:
        if self._object is not None and 0 <= k < len(self._views):
            self.browser.select(self._object, self._views[k]["file"])

    def _stage_done(self, kind: str, status: str, result) -> None:
        if status == "failed":
            self.error(f"{kind} failed", str(result))
        elif status == "succeeded":
            out = self.stages.panels[kind].paths["out"].text()
            if out and (Path(out) / "dataset.json").is_file():
                self.open_dataset(out)
