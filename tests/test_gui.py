"""The desktop app with real PySide6 widgets (pytest-qt, offscreen): open and filter a dataset
rendered from the shared meshes, the detail pane, the 3D view, a render job run from the
Stages page, cancel, a malformed dataset, runs, and --screenshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from .conftest import SHARED_DATA, require_shared  # noqa: E402

AIST = str(Path(sys.executable).with_name("aist"))


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "aist-gui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    from aist_app.api.manager import create_plugin_manager
    from aist_app.gui.window import MainWindow

    win = MainWindow(create_plugin_manager(), settings=settings)
    qtbot.addWidget(win)
    win.show()
    return win


def test_open_filter_select(window, qtbot, pyrender_dataset):
    assert window.open_dataset(pyrender_dataset)
    b = window.browser
    assert b.model.rowCount() == 15  # 3 objects x 5 views
    b.text.setText("1caa02b8")  # the airplane
    assert b.model.rowCount() == 5
    b.text.setText("")
    b.split.setCurrentText("train")
    train = json.loads((pyrender_dataset / "dataset.json").read_text())["splits"]["train"]
    assert b.model.rowCount() == 5 * len(train)
    b.split.setCurrentText("all")
    b.el[0].setValue(10.0)
    assert all(r.elevation >= 10.0 for r in b.model.rows) and b.model.rowCount() < 15
    b.el[0].setValue(-90.0)
    rec = b.model.rows[3]
    assert b.select(rec.object_id, rec.file)
    assert b.detail.record == rec
    assert rec.object_id in b.detail.title.text() and rec.file in b.detail.title.text()
    shown = json.loads(b.detail.annotations.toPlainText())
    assert shown["file"] == rec.file and len(shown["world_to_camera"]) == 4
    # The camera as labelled values, computed independently here from K and the pose.
    cam = b.detail.camera_values
    assert b.detail.camera_box.isVisibleTo(b.detail)
    # (fixed decimals a kind: 0.1° and 0.1 px)
    assert float(cam["azimuth_deg"].text()) == pytest.approx(shown["azimuth_deg"], abs=0.051)
    assert float(cam["elevation_deg"].text()) == pytest.approx(shown["elevation_deg"],
                                                               abs=0.051)
    assert cam["azimuth_deg"].text() == f"{shown['azimuth_deg']:.1f}"
    K = np.asarray(shown["K"])
    w = json.loads((pyrender_dataset / "dataset.json").read_text())["image_size"][1]
    assert float(cam["focal_px"].text()) == pytest.approx(K[0, 0], abs=0.051)
    fov = np.degrees(2 * np.arctan(w / (2 * K[0, 0])))
    assert float(cam["fov_h_deg"].text()) == pytest.approx(fov, abs=0.051)
    centre = -np.asarray(shown["world_to_camera"])[:3, :3].T @ np.asarray(
        shown["world_to_camera"])[:3, 3]
    assert np.linalg.norm(centre) == pytest.approx(float(cam["distance"].text()), rel=1e-3)
    b.detail.copy_json.click()
    from PySide6.QtGui import QGuiApplication

    assert json.loads(QGuiApplication.clipboard().text())["file"] == rec.file
    assert not b.detail.view_label.pixmap().isNull()
    assert not b.detail.overlay_label.pixmap().isNull()
    # Thumbnails arrive from worker threads.
    qtbot.waitUntil(lambda: len(b.cache) >= 1, timeout=5000)
    # The 3D view shows the object's cloud with one frustum per view, this one highlighted,
    # and clicking a frustum selects its view in the browser.
    v = window.view3d
    assert len(v.frusta) == 5 and v.highlight == 3 and len(v.points) > 1000
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: v.canvas.isVisible() and v.canvas.width() > 100)
    xy = v.project(v.frusta[1])[0]
    assert v.frustum_at(*xy) == 1
    from PySide6.QtCore import QPoint, Qt

    qtbot.mouseClick(v.canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(xy[0]), int(xy[1])))
    assert b.detail.record.file == "view_001.png" and v.highlight == 1
    # A library's scene (pyqtgraph's OpenGL view): the cloud, every camera, named axes and a
    # grid; point size, layer toggles and a reset that frames the scene again.
    import pyqtgraph.opengl as gl

    kinds = [type(i) for i in v.canvas.items]
    assert kinds.count(gl.GLScatterPlotItem) == 1
    assert kinds.count(gl.GLLinePlotItem) == 3 + 5 and gl.GLGridItem in kinds
    v.point_size.setValue(6.0)
    assert [i for i in v.canvas.items if isinstance(i, gl.GLScatterPlotItem)][0].size == 6.0
    v.toggles["cameras"].setChecked(False)
    assert [type(i) for i in v.canvas.items].count(gl.GLLinePlotItem) == 3
    v.toggles["cameras"].setChecked(True)
    start = dict(v.canvas.opts)
    v.canvas.orbit(40, 10)
    v.reset_view()
    assert v.canvas.opts["azimuth"] == start["azimuth"]
    assert v.canvas.opts["distance"] == pytest.approx(start["distance"])
    assert "selected view's camera" in v.legend.text() and "predicted" not in v.legend.text()


def test_stylized_detail_shows_source_and_mask_difference(window, tmp_path, pyrender_dataset):
    from aist_app.dataset import Dataset
    from aist_app.dataset.writer import DatasetWriter

    src = Dataset.open(pyrender_dataset)
    out = tmp_path / "styled"
    with DatasetWriter(out, kind="stylized", image_size=src.image_size,
                       source={"input": str(pyrender_dataset)}) as w:
        oid = src.object_ids()[0]
        with w.object(oid) as obj:
            for f in src.view_files(oid):
                v = src.load_view(oid, f).copy()
                v[..., :3] = 255 - v[..., :3]
                obj.add_view(v, name=f)
            for name in ("cameras.json", "points.npz"):
                obj.copy_file(src.object_dir(oid) / name)
        w.finalize(splits={"train": [oid], "val": [], "test": []})
    assert window.open_dataset(out)
    rec = window.browser.model.rows[0]
    window.browser.select(rec.object_id, rec.file)
    d = window.browser.detail
    assert not d.source_label.pixmap().isNull() and not d.diff_label.pixmap().isNull()


def test_a_stylized_set_opened_from_elsewhere_shows_its_source(window, tmp_path,
                                                               pyrender_dataset,
                                                               monkeypatch):
    """`aist stylize out/synthetic out/stylized` writes the input as given (relative to
    where it ran); the app started in another folder still finds the source view, through
    the output record's absolute path."""
    import shutil

    from aist_app.common.outputs import OutputRecord
    from aist_app.dataset import Dataset
    from aist_app.dataset.contract import dataset_identity
    from aist_app.dataset.writer import DatasetWriter

    work = tmp_path / "work"
    shutil.copytree(pyrender_dataset, work / "out" / "synthetic")
    monkeypatch.chdir(work)
    src = Dataset.open("out/synthetic")
    record = OutputRecord("stylize", "aist-cyclegan", {},
                          {"input": dataset_identity(src.root)})
    with DatasetWriter(Path("out/stylized"), kind="stylized", image_size=src.image_size,
                       record=record, source={"input": str(src.root)}) as w:
        oid = src.object_ids()[0]
        with w.object(oid) as obj:
            for f in src.view_files(oid):
                obj.add_view(src.load_view(oid, f), name=f)
            for name in ("cameras.json", "points.npz"):
                obj.copy_file(src.object_dir(oid) / name)
        w.finalize(splits={"train": [oid], "val": [], "test": []})
    assert Dataset.open("out/stylized").source["input"] == "out/synthetic"
    monkeypatch.chdir(tmp_path)  # the app runs from somewhere else
    assert window.open_dataset(work / "out" / "stylized")
    rec = window.browser.model.rows[0]
    window.browser.select(rec.object_id, rec.file)
    d = window.browser.detail
    assert not d.source_label.pixmap().isNull() and not d.diff_label.pixmap().isNull()
    assert window.index.source_root() == (work / "out" / "synthetic").resolve()


def test_malformed_dataset_shows_an_error(window, tmp_path):
    bad = tmp_path / "bad"
    (bad / "objects").mkdir(parents=True)
    (bad / "dataset.json").write_text("{ not json")
    assert not window.open_dataset(bad)
    assert "dataset.json" in window.last_error
    assert window._error_box.isVisible()
    assert window.index is None  # nothing half-opened; the app goes on
    (bad / "dataset.json").write_text(json.dumps({"format": "aist-dataset", "version": 1,
                                                  "kind": "synthetic", "image_size": [8, 8],
                                                  "up_axis": "y", "source": {},
                                                  "splits": {"train": ["x"], "val": [],
                                                             "test": []}}))
    assert not window.open_dataset(bad)
    assert "x" in window.last_error


def test_run_render_from_the_stages_page(window, qtbot, tmp_path):
    from tests.helpers.recording_plugin import Recorder

    require_shared()
    recorder = Recorder()
    window.pm.register(recorder, name="recorder")  # a real plugin, on the window's manager
    panel = window.stages.panels["renderer"]
    assert panel.plugin.findText("pyrender") >= 0 and panel.plugin.findText("blender") >= 0
    panel.plugin.setCurrentText("pyrender")
    panel.paths["meshes"].setText(str(SHARED_DATA / "meshes" / "toycar"))
    out = tmp_path / "rendered"
    panel.paths["out"].setText(str(out))
    panel.form.editors["views"].setValue(3)
    panel.form.editors["image_size"].setText("64,64")
    panel.device.setCurrentText("cpu")
    with qtbot.waitSignal(panel.finished, timeout=120_000) as sig:
        panel.run()
    assert sig.args[0] == "succeeded"
    assert panel.bar.value() == panel.bar.maximum()
    assert (out / "dataset.json").is_file()
    assert window.index is not None and window.index.root == out  # opened when done
    assert window.browser.model.rowCount() == 3
    # The page ran it through the stage runner: the hook fired.
    assert [(Path(c["path"]), c["kind"]) for c in recorder.calls] == [(out, "synthetic")]


@pytest.fixture
def toy_plugin_manager(tmp_path, monkeypatch):
    """A plugin manager that found the toy stages through their entry point, in a site
    folder on sys.path (as a user's installed package)."""
    from aist_app.api.manager import create_plugin_manager
    from tests.helpers import toy_stages

    site = tmp_path / "toy-site"
    toy_stages.install(site)
    monkeypatch.syspath_prepend(str(site))
    pm = create_plugin_manager()
    assert pm.stage("pose_model", "toy-mean").factory.__module__ == "aist_toy_stages"
    return pm


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_third_party_stylizer_on_the_stages_page(qtbot, settings, tmp_path, toy_plugin_manager,
                                                pyrender_dataset, blender_dataset):
    """A stylizer from another package (installed through its entry point) gets a form made
    from its own config and runs."""
    from aist_app.gui.window import MainWindow

    win = MainWindow(toy_plugin_manager, settings=settings)
    qtbot.addWidget(win)
    panel = win.stages.panels["stylizer"]
    assert "lambda_alpha" in panel.form.editors  # aist-cyclegan's form first
    panel.plugin.setCurrentText("toy-tint")
    assert set(panel.form.editors) == {"steps", "strength", "seed"}
    panel.form.editors["steps"].setValue(2)
    panel.paths["synthetic"].setText(str(pyrender_dataset))
    panel.paths["real"].setText(str(blender_dataset))
    run = tmp_path / "tint"
    panel.paths["out"].setText(str(run))
    with qtbot.waitSignal(panel.finished, timeout=60_000) as sig:
        panel.run()
    assert sig.args[0] == "succeeded", sig.args
    assert json.loads((run / "checkpoints" / "tint.json").read_text())["config"]["steps"] == 2
    assert "toy-tint: 2 steps" in panel.log.toPlainText()


def test_third_party_pose_model_on_the_stages_page(qtbot, settings, tmp_path,
                                                  toy_plugin_manager, pyrender_dataset):
    """A pose model from another package (installed through its entry point) trains from its
    own form, and its run predicts in the 3D view through its predictor."""
    from aist_app.gui.window import MainWindow

    win = MainWindow(toy_plugin_manager, settings=settings)
    qtbot.addWidget(win)
    panel = win.stages.panels["pose_model"]
    assert "num_points" in panel.form.editors and "vox_size" in panel.form.editors  # dpc
    panel.plugin.setCurrentText("toy-mean")
    assert set(panel.form.editors) == {"steps", "num_points", "grid", "seed"}
    panel.form.editors["num_points"].setValue(150)
    panel.paths["dataset"].setText(str(pyrender_dataset))
    run = tmp_path / "mean"
    panel.paths["out"].setText(str(run))
    with qtbot.waitSignal(panel.finished, timeout=60_000) as sig:
        panel.run()
    assert sig.args[0] == "succeeded", sig.args
    assert "toy-mean: 3 objects" in panel.log.toPlainText()
    assert win.open_path(run) and win.pose_run == run
    assert win.open_dataset(pyrender_dataset)
    rec = win.browser.model.rows[1]
    win.browser.select(rec.object_id, rec.file)
    qtbot.waitUntil(lambda: len(win.view3d.predicted) == 150, timeout=60_000)
    assert win.view3d.predicted_frustum is not None


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_stages_page_writes_the_recorded_bytes(window, qtbot, tmp_path):
    """The Stages page renders what `aist render` wrote before the stage runner, byte for
    byte (tests/data/dataset-digests.json, options of scripts/dataset_digests.py)."""
    import importlib.util

    meshes = require_shared()
    spec = importlib.util.spec_from_file_location(
        "dataset_digests", Path(__file__).parents[1] / "scripts" / "dataset_digests.py")
    digests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digests)
    digests.set_meshes(meshes)
    panel = window.stages.panels["renderer"]
    panel.plugin.setCurrentText("pyrender")
    panel.paths["meshes"].setText(str(meshes))
    out = tmp_path / "render"
    panel.paths["out"].setText(str(out))
    opts = dict(zip(digests.RENDER[::2], digests.RENDER[1::2], strict=True))
    panel.form.editors["views"].setValue(int(opts["--views"]))
    panel.form.editors["image_size"].setText(f"{opts['--size']},{opts['--size']}")
    panel.form.editors["points"].setValue(int(opts["--points"]))
    panel.form.editors["seed"].setValue(int(opts["--seed"]))
    panel.form.editors["elevation"].setText(opts["--elevation"])
    panel.device.setCurrentText(opts["--device"])
    with qtbot.waitSignal(panel.finished, timeout=120_000) as sig:
        panel.run()
    assert sig.args[0] == "succeeded", sig.args
    record = json.loads((Path(__file__).parent / "data" / "dataset-digests.json").read_text())
    assert digests.digest(out, tmp_path) == record["render"]


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_cancel_a_running_job(window, qtbot, tmp_path):
    from aist_app.gui.jobs import JobThread

    def slow():
        import time

        from aist_app.api.progress import ItemProgress

        for k in range(1000):
            time.sleep(0.01)
            yield ItemProgress(k, 1000, f"item{k}", "rendered")
        return "finished"

    job = JobThread(slow)
    with qtbot.waitSignal(job.progress, timeout=5000):
        job.start()
    with qtbot.waitSignal(job.cancelled, timeout=5000):
        job.cancel()
    job.wait(5000)
    assert job.result is None
    # Through the panel: a render of many objects cancelled after the first one.
    require_shared()
    panel = window.stages.panels["renderer"]
    panel.paths["meshes"].setText(str(SHARED_DATA / "meshes"))
    panel.plugin.setCurrentText("pyrender")
    panel.paths["out"].setText(str(tmp_path / "cancelled"))
    panel.form.editors["views"].setValue(40)
    panel.device.setCurrentText("cpu")
    with qtbot.waitSignal(panel.job_progress_seen, timeout=60_000):
        panel.run()
    with qtbot.waitSignal(panel.finished, timeout=60_000) as sig:
        panel.cancel()
    assert sig.args[0] == "cancelled" and panel.run_button.isEnabled()
    done = [p for p in (tmp_path / "cancelled" / "objects").iterdir()]
    assert len(done) < 3 and not (tmp_path / "cancelled" / "dataset.json").exists()
    assert all(not p.name.startswith(".tmp") for p in done)  # nothing half-written
    # A bad path is refused before anything runs.
    panel = window.stages.panels["segmenter"]
    panel.paths["photos"].setText(str(tmp_path / "missing"))
    panel.paths["synthetic"].setText(str(tmp_path))
    panel.paths["out"].setText(str(tmp_path / "o"))
    with qtbot.waitSignal(panel.finished, timeout=5000) as sig:
        panel.run()
    assert sig.args[0] == "failed" and "does not exist" in sig.args[1]


def test_open_a_run_and_screenshot(window, tmp_path, pyrender_dataset):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 10, "G": 3.0})
                                       + "\n" + json.dumps({"kind": "eval", "step": 10,
                                                            "mask_iou": 0.9}) + "\n")
    assert window.open_path(run)
    assert window.runs.table.rowCount() == 2
    shot = tmp_path / "shot.png"
    p = subprocess.run([AIST, "gui", str(pyrender_dataset), "--screenshot", str(shot)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert p.returncode == 0, p.stderr
    from PySide6.QtGui import QImage

    img = QImage(str(shot))
    assert img.width() >= 800 and img.height() >= 500


def test_pose_run_prediction_beside_the_ground_truth(window, qtbot, tmp_path, pyrender_dataset):
    from aist_app.api.progress import drain
    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.train import PoseTrainer

    cfg = PoseConfig(num_points=400, vox_size=16, kernel_size=5, image_size=32, f_dim=4,
                     fc_dim=32, z_dim=32, batch_objects=1, views_per_object=2, steps=1,
                     device="cpu")
    drain(PoseTrainer(cfg, pyrender_dataset, tmp_path / "pose").run())
    assert window.open_path(tmp_path / "pose") and window.pose_run == tmp_path / "pose"
    assert window.open_dataset(pyrender_dataset)
    rec = window.browser.model.rows[2]
    window.browser.select(rec.object_id, rec.file)
    qtbot.waitUntil(lambda: len(window.view3d.predicted) == 400, timeout=60_000)
    assert window.view3d.predicted_frustum is not None and len(window.view3d.points) > 1000
    # The prediction in words beside the truth, with its error, on the 3D view and in the
    # Browser's camera box; the legend names every colour.
    from aist_app.scene.cameras import rotation_error_deg

    truth = {v["file"]: v for v in window.index.ds.cameras(rec.object_id)}[rec.file]
    err = rotation_error_deg(window.last_prediction["world_to_camera"],
                             truth["world_to_camera"])
    text = window.prediction_label.text()
    assert f"error {err:.0f}°" in text and f"azimuth {truth['azimuth_deg']:.0f}°" in text
    assert window.browser.detail.prediction.text() == text
    # ... and its silhouette at its predicted pose outlined over the view.
    assert window.last_prediction["silhouette"].shape == (16, 16)
    assert not window.browser.detail.predicted_label.pixmap().isNull()
    assert "predicted points and camera" in window.view3d_legend.text()
    # Pose > Refine predictions: the same view refined by render-and-compare (a few steps).
    from aist_plugins.dpc.refine import RefineConfig

    window.refine_config = RefineConfig(steps=4, reseed_every=2, azimuths=4,
                                        elevations=(20.0,))
    window.view3d.predicted = np.zeros((0, 3))
    window.refine_action.setChecked(True)
    qtbot.waitUntil(lambda: len(window.view3d.predicted) == 400, timeout=60_000)
    pred = window.last_prediction
    assert pred["refine_loss"] <= pred["refine_loss_start"]
    assert "refined: objective" in window.statusBar().currentMessage()


def test_real_dataset_filtered_by_rejection_reason(window, tmp_path, pyrender_dataset):
    from aist_app.api.manager import create_plugin_manager
    from aist_app.api.progress import drain
    from aist_app.segment.pipeline import SegmentConfig, segment_photos

    require_shared()
    out = tmp_path / "real"
    cls = create_plugin_manager().stage("segmenter", "deeplab-lite").factory
    drain(segment_photos(SHARED_DATA / "photos", out, pyrender_dataset,
                         SegmentConfig(segmenter="deeplab-lite"), cls))
    assert window.open_dataset(out)
    b = window.browser
    accepted = b.model.rowCount()
    assert accepted >= 1
    k = b.reasons.findData("cropping")
    assert k > 0 and b.reasons.itemText(k).startswith("cropping (")
    b.reasons.setCurrentIndex(k)
    assert b.model.rowCount() >= 1 and all(r.reason == "cropping" for r in b.model.rows)
    b.select(b.model.rows[0].object_id, b.model.rows[0].file)
    d = b.detail
    assert "rejected (cropping)" in d.title.text()
    # The photo it was cut from, with its box, and the figures the filters judged.
    assert not d.photo_box.isHidden() and d.photo_values["rejected_by"].text() == "cropping"
    record = json.loads(b.model.rows[0].path(out).with_suffix(".json").read_text())
    assert d.photo_values["score"].text() == f"{record['score']:.4g}"
    assert d.photo_label.rgba.shape[1] == 320
    b.reasons.setCurrentIndex(0)
    assert b.model.rowCount() == accepted
    # An accepted view: its photo, box, score and padding; no rejection row.
    r = b.model.rows[0]
    b.select(r.object_id, r.file)
    prov = json.loads((out / "objects" / r.object_id / "provenance.json").read_text())
    assert not d.photo_box.isHidden() and Path(prov["photo"]).name in d.photo_box.title()
    assert d.photo_values["score"].text() == f"{prov['score']:.4g}"
    assert "square" in d.photo_values["padding"].text()
    assert d.photo_values["rejected_by"].text() == ""
    # A box drawn in green where the detector put it (scaled to the shown width).
    from PIL import Image

    with Image.open(prov["photo"]) as im:
        s = 320 / im.width
    x0, y0, x1 = (int(prov["box"][i] * s) for i in (0, 1, 2))
    band = d.photo_label.rgba[y0:y0 + 2, x0 + 5:x1 - 5]
    green = (band[..., 1] > 200) & (band[..., 0] < 80)
    yellow = (band[..., 0] > 200) & (band[..., 1] > 160) & (band[..., 2] < 100)
    # ... the crop taken dashed in yellow over it: where they meet, both show.
    assert (green | yellow).any(axis=0).mean() > 0.9 and green.any(axis=0).mean() > 0.25


def test_zoomable_full_size_view(window, qtbot, pyrender_dataset):
    """Double-clicking an image opens it at full size; wheel/keys zoom, 0 is 1:1."""
    from PySide6.QtCore import Qt

    assert window.open_dataset(pyrender_dataset)
    b = window.browser
    r = b.model.rows[0]
    b.select(r.object_id, r.file)
    label = b.detail.view_label
    qtbot.mouseDClick(label, Qt.MouseButton.LeftButton)
    dlg = label.dialog
    assert dlg is not None and dlg.isVisible()
    h, w = label.rgba.shape[:2]
    assert dlg.view.item.pixmap().size().width() == w and f"{w}×{h}" in dlg.windowTitle()
    assert dlg.view.zoom > 1.5  # fitted: a 128-px view fills the window
    qtbot.keyClick(dlg.view, Qt.Key.Key_0)
    assert dlg.view.zoom == pytest.approx(1.0)
    qtbot.keyClick(dlg.view, Qt.Key.Key_Plus)
    assert dlg.view.zoom == pytest.approx(1.25)
    qtbot.keyClick(dlg.view, Qt.Key.Key_F)
    assert dlg.view.zoom > 1.5
    dlg.close()


def test_background_choice_for_rgba_views_is_remembered(window, qtbot, settings,
                                                       pyrender_dataset):
    from aist_app.gui.browser import BrowserPage
    from aist_app.gui.thumbnails import composite

    b = window.browser
    assert b.background.currentText() == "checkerboard"  # the default
    assert window.open_dataset(pyrender_dataset)
    rec = b.model.rows[0]
    assert b.select(rec.object_id, rec.file)
    path = str(rec.path(b.index_.root))
    qtbot.waitUntil(lambda: b.cache.get(path) is not None, timeout=5000)
    corner = b.cache.get(path).pixelColor(0, 0)
    assert (corner.red(), corner.green(), corner.blue()) == (218, 218, 218)  # a dark square
    b.background.setCurrentText("white")
    qtbot.waitUntil(lambda: b.cache.get(path) is not None, timeout=5000)
    corner = b.cache.get(path).pixelColor(0, 0)
    assert (corner.red(), corner.green(), corner.blue()) == (255, 255, 255)
    shown = b.detail.view_label.pixmap().toImage().pixelColor(0, 0)
    assert (shown.red(), shown.green(), shown.blue()) == (255, 255, 255)
    # The object keeps its colours; only transparent pixels take the background.
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    out = composite(rgba, "black")
    assert out[0, 0].tolist() == [10, 20, 30, 255] and out[1, 1].tolist() == [0, 0, 0, 255]
    # Remembered: a new browser with the same settings starts on white.
    again = BrowserPage(settings=settings)
    qtbot.addWidget(again)
    assert again.background.currentText() == "white" and again.cache.background == "white"
    again.cache.close()


def test_keyboard_and_recent_folders(window, qtbot, settings, pyrender_dataset):
    from PySide6.QtCore import Qt

    from aist_app.api.manager import create_plugin_manager
    from aist_app.gui.window import MainWindow

    assert window.open_dataset(pyrender_dataset)
    b = window.browser
    b.grid.setFocus()
    b.grid.setCurrentIndex(b.model.index(0))
    first = b.detail.record
    qtbot.keyClick(b.grid, Qt.Key.Key_Right)  # arrows move through the views
    assert b.detail.record is not None and b.detail.record != first
    assert b.detail.overlay_label.isVisible()
    qtbot.keyClick(b.grid, Qt.Key.Key_Space)  # space toggles the overlay
    assert not b.detail.overlay_label.isVisible()
    qtbot.keyClick(b.grid, Qt.Key.Key_Space)
    assert b.detail.overlay_label.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_3)  # numbers switch pages
    assert window.tabs.currentWidget() is window.stages
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert window.tabs.currentWidget() is window.browser
    b.text.setFocus()  # typing digits and spaces into a field stays typing
    qtbot.keyClicks(b.text, "2 3")
    assert b.text.text() == "2 3" and window.tabs.currentWidget() is window.browser
    assert b.detail.overlay_label.isVisible()
    b.text.setText("")
    # Recent folders: remembered across windows, newest first, in File > Open recent.
    assert window.recent() == [str(pyrender_dataset.resolve())]
    again = MainWindow(create_plugin_manager(), settings=settings)
    qtbot.addWidget(again)
    actions = again.recent_menu.actions()
    assert [a.text() for a in actions] == [str(pyrender_dataset.resolve())]
    actions[0].trigger()
    assert again.index is not None and again.index.root.resolve() == pyrender_dataset.resolve()
    again.browser.cache.close()



@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_compare_page_on_a_real_experiment(window, qtbot, tmp_path, cpu_experiment):
    """Sort by the gap between two runs (top row checked against values computed here),
    the overlay of a model's prediction against a projection computed here, and the
    exports."""
    import csv

    import torch

    from aist_app.gui.compare import ComparePage
    from aist_app.pose.data import PoseData, images_and_masks
    from aist_plugins.dpc.projection import project
    from aist_plugins.dpc.train import load_model, load_selected

    out, p = cpu_experiment
    assert p.returncode == 0, p.stderr
    page = window.compare
    assert window.open_path(out)  # an experiment folder opens on the Compare page
    assert window.tabs.currentWidget() is page and str(out.resolve()) in window.recent()
    assert page.sets.currentText() == "target"
    assert page.comparison.models == ["baseline", "AIST constrained"]
    # Independently: each view's pose-error gap from the two evaluations' CSVs.
    rows = {}
    for model, folder in (("baseline", "pose-baseline"), ("AIST", "pose-constrained")):
        with open(out / "eval" / folder / "per_view_target.csv") as f:
            for r in csv.DictReader(f):
                rows.setdefault((r["object"], r["view"]), {})[model] = float(r["angle_err_deg"])
    gaps = {k: v["AIST"] - v["baseline"] for k, v in rows.items()}
    page.sort_by_difference("AIST constrained", descending=True)  # where AIST hurts most
    top = page.model.rows[0]
    assert (top["object"], top["view"]) == max(gaps, key=gaps.get)
    page.sort_by_difference("AIST constrained")  # where it helps most
    top = page.model.rows[0]
    assert (top["object"], top["view"]) == min(gaps, key=gaps.get)
    page.select_row(0)
    qtbot.waitUntil(lambda: len(page.overlays) == 2, timeout=60_000)
    # The baseline's overlay: its prediction projected here, from the checkpoint it
    # predicts with (the preset keeps the best on validation).
    ck = load_selected(out / "pose-baseline")
    model = load_model(ck, "cpu")
    c = ck["config"]
    data = PoseData(out / "target", None)

    def predicted(row: dict):
        """The model's output and its silhouette at its predicted pose, computed here."""
        images, _ = images_and_masks(data.load(row["object"], [row["view"]]),
                                     c["image_size"], c["vox_size"])
        with torch.no_grad():
            o = model(images)
            sil = project(o["points"], o["student"], size=c["vox_size"],
                          sigma=c["sigma_end"], kernel_size=c["kernel_size"],
                          scale=o["scale"], focal_length=data.focal_length(),
                          distance=c["camera_distance"])["silhouette"][0].numpy()
        return o, sil

    o, sil = predicted(top)
    assert np.abs(page.overlays["baseline"] - sil).max() < 1e-5
    # The 3D view: the ground truth, and each model's cloud in the truth's frame (the
    # evaluation's alignment applied here) with its camera.
    from aist_app.pose import quaternion as Q

    align = json.loads((out / "eval" / "pose-baseline" / "alignment.json").read_text())
    A = torch.tensor(align["quaternion_wxyz"], dtype=torch.float64)
    mine = o["points"][0].double() @ Q.to_matrix(Q.conjugate(A)).T
    assert len(page.view3d.models) == 2 and len(page.view3d.points) > 0
    assert np.abs(page.clouds["baseline"][0] - mine.numpy()).max() < 1e-5
    assert page.view3d.models[0][1].shape == (5, 3)  # a frustum: centre and 4 corners
    # Every view is predicted in the background and kept on disk: the next view shown
    # comes from the cache, and matches the model.
    assert page.wait_for_predictions()
    assert set(page.caches) == {"baseline", "AIST constrained"}
    assert all(page.caches["baseline"].has(r["object"]) for r in page.model.rows)
    last = page.model.rows[-1]
    cached = page.caches["baseline"].get(last["object"], last["view"])
    _, sil2 = predicted(last)
    assert np.abs(cached.proj - sil2).max() < 1e-5
    page.select_row(page.model.rowCount() - 1)
    qtbot.waitUntil(lambda: page.current is last and len(page.overlays) == 2,
                    timeout=60_000)
    assert np.abs(page.overlays["baseline"] - sil2).max() < 1e-5
    # Exports: the CSV holds the table's numbers in its order; the PNG is written.
    page.export_csv(tmp_path / "t.csv")
    with open(tmp_path / "t.csv") as f:
        table = list(csv.reader(f))
    assert table[0][-1] == "AIST constrained − baseline:angle_err_deg"
    assert [r[:2] for r in table[1:]] == [[r["object"], r["view"]] for r in page.model.rows]
    assert float(table[1][-1]) == pytest.approx(min(gaps.values()), abs=1e-2)
    page.export_png(tmp_path / "v.png")
    assert (tmp_path / "v.png").stat().st_size > 1000
    # It fits a 1280 px laptop; headers say the unit and which way is better, differences
    # are coloured (green: better than the baseline); a point of the scatter selects its view.
    assert page.minimumSizeHint().width() <= 1280 and window.minimumSizeHint().width() <= 1280
    from PySide6.QtCore import Qt

    header = page.model.headerData(2, Qt.Orientation.Horizontal)
    assert "°" in header and "lower is better" in header
    last = page.model.columnCount() - 1
    signs = set()
    for i in range(page.model.rowCount()):
        v = page.model.value(i, last)
        colour = page.model.data(page.model.index(i, last), Qt.ItemDataRole.BackgroundRole)
        if v != 0 and np.isfinite(v):
            signs.add(v < 0)
            assert (colour.green() > colour.red()) == (v < 0), (v, colour.name())
    assert signs
    target = page.model.rows[len(page.model.rows) // 2]
    k = page.comparison.rows.index(target)
    xy = page.scatter.to_widget(*page.scatter.series[0][2][k])
    qtbot.mouseClick(page.scatter.widget.viewport(), Qt.MouseButton.LeftButton,
                     pos=xy.toPoint())
    assert page.model.rows[page.table.currentIndex().row()] is target
    assert page.scatter.selected is target
    assert_tick_labels(page.scatter)
    qtbot.waitUntil(lambda: page.current is target and len(page.overlays) == 2,
                    timeout=60_000)
    # Any two evaluations, added one at a time (no experiment folder): each names its run
    # and test sets.
    page.stop_background()
    other = ComparePage()
    qtbot.addWidget(other)
    with pytest.raises(ValueError, match="not an `aist evaluate` output"):
        other.add_evaluation(tmp_path)
    other.add_evaluation(out / "eval" / "pose-baseline")
    assert other.comparison is None and "add another" in other.status.text()
    other.add_evaluation(out / "eval" / "pose-constrained")
    assert other.comparison.models == ["pose-baseline", "pose-constrained"]
    assert other.set_paths["target"] == out / "target"
    assert len(other.comparison.rows) == len(page.comparison.rows)
    other.select_row(0)
    qtbot.waitUntil(lambda: len(other.overlays) == 2, timeout=60_000)
    other.stop_background()


def assert_tick_labels(plot) -> None:
    """A pyqtgraph plot's bottom and left axes show at least two labelled ticks."""
    for name in ("bottom", "left"):
        axis = plot.item.getAxis(name)
        assert axis.style["showValues"] and axis.isVisible()
        lo, hi = axis.range
        levels = axis.tickValues(lo, hi, max(axis.width(), axis.height(), 100))
        values = [v for _, vals in levels for v in vals]
        assert len([t for t in axis.tickStrings(values, axis.scale, 1) if t]) >= 2, name


def test_runs_page_shows_a_pose_run_and_an_experiment(window, qtbot, cpu_experiment):
    """Every figure the folder holds (whatever its name), the key figures beside the chance
    columns, and the pose learning curves drawn here: an experiment's two runs on one axis."""
    out, p = cpu_experiment
    assert p.returncode == 0, p.stderr
    page = window.runs
    page.open_run(out / "report")
    names = {f.name for f in page.figures}
    assert {"domains.png", "reconstructions.png", "curves.png"} <= names
    assert page.figure_list.count() == len(page.figures) and page.figure.pixmap().width() > 0
    headers = [page.table.horizontalHeaderItem(j).text().replace("\n", " ")
               for j in range(page.table.columnCount())]
    assert {"acc@30", "chance: random rotation", "chance: best constant"} <= set(headers)
    assert page.table.item(0, 0).text().startswith("baseline | ")
    assert list(page.curves) == ["baseline", "AIST constrained"]
    drawn = [s.name for s in page.plot.series]
    assert drawn[:2] == ["baseline", "AIST constrained"] and any("chance" in n for n in drawn)
    steps = [x["step"] for x in page.curves["baseline"]]
    assert page.plot.series[0].xs == steps and steps[-1] == 4
    # A pose run alone: its validation lines as rows, its own figure found by listing.
    page.open_run(out / "pose-baseline")
    assert "learning_curves.png" in {f.name for f in page.figures}
    assert page.table.rowCount() == len(steps) and list(page.curves) == ["pose-baseline"]
    from PySide6.QtCore import Qt

    page.curve_choice.setCurrentText("Chamfer (×100)")
    assert page.plot.series[0].ys == [x["val_chamfer"] for x in page.curves["pose-baseline"]]
    # A table a researcher can use at 1280 px: no horizontal scrollbar, sorted by a click on
    # a header (numbers as numbers), fixed decimals a column, "n/a" where there is no value.
    window.resize(1280, 800)
    window.tabs.setCurrentWidget(page)
    page.open_run(out / "report")
    qtbot.waitUntil(lambda: page.table.viewport().width() > 300)
    header = page.table.horizontalHeader()
    assert header.length() <= page.table.viewport().width()
    assert page.table.horizontalScrollBar().maximum() == 0
    col = [page.table.horizontalHeaderItem(j).text().replace("\n", " ")
           for j in range(page.table.columnCount())].index("Chamfer (×100)")
    page.table.sortItems(col, Qt.SortOrder.DescendingOrder)
    shown = [page.table.item(i, col).text() for i in range(page.table.rowCount())]
    numbers = [float(t) for t in shown if t != "n/a"]
    assert numbers == sorted(numbers, reverse=True) and len({len(t.split(".")[1])
                                                             for t in shown if t != "n/a"}) == 1
    assert all(page.table.item(i, j).text() for i in range(page.table.rowCount())
               for j in range(page.table.columnCount()))  # no blank cell: "n/a"
    # The curves: ticks with labels on both axes (pyqtgraph's own axis API).
    assert_tick_labels(page.plot)


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_gui_screenshot_of_the_compare_page(tmp_path, cpu_experiment):
    """`aist gui EXP --screenshot --page Compare --test-set target --select N`: a 1280x800
    picture of the page with the view's overlays; a test set it does not have is refused."""
    from PySide6.QtGui import QImage

    out, p = cpu_experiment
    assert p.returncode == 0, p.stderr
    aist = str(Path(sys.executable).with_name("aist"))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    shot = tmp_path / "compare.png"
    r = subprocess.run([aist, "gui", str(out), "--screenshot", str(shot), "--page", "Compare",
                        "--test-set", "target", "--select", "1"], capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 800)
    r = subprocess.run([aist, "gui", str(out), "--screenshot", str(shot), "--page", "Compare",
                        "--test-set", "nope"], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 1 and "--test-set 'nope'" in r.stderr


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
@pytest.mark.parametrize("damage", ["missing", "truncated", "not-a-checkpoint"])
def test_a_pose_run_with_a_bad_checkpoint_is_said_in_one_line(window, tmp_path,
                                                              pyrender_dataset, damage):
    """Opening a pose run whose checkpoint is missing, truncated or not one: one line naming
    the file, the run not taken; `--screenshot` exits non-zero at once, naming it."""
    import time

    from aist_app.api.progress import drain
    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.train import PoseTrainer

    cfg = PoseConfig(num_points=200, vox_size=16, kernel_size=5, image_size=32, f_dim=4,
                     fc_dim=32, z_dim=32, batch_objects=1, views_per_object=2, steps=1,
                     device="cpu")
    run = tmp_path / "pose"
    drain(PoseTrainer(cfg, pyrender_dataset, run).run())
    last = run / "checkpoints" / "last.pt"
    if damage == "missing":
        last.unlink()
    elif damage == "truncated":
        last.write_bytes(last.read_bytes()[:200])
    else:
        last.write_text("not a checkpoint\n")
    assert not window.open_path(run) and window.pose_run is None
    assert "\n" not in window.last_error and len(window.last_error) <= 300
    assert "last.pt" in window.last_error or "checkpoint" in window.last_error
    t0 = time.monotonic()
    p = subprocess.run([AIST, "gui", str(pyrender_dataset), "--pose-run", str(run),
                        "--screenshot", str(tmp_path / "s.png")], capture_output=True,
                       text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert p.returncode != 0 and "error:" in p.stderr and "Traceback" not in p.stderr
    assert time.monotonic() - t0 < 60 and not (tmp_path / "s.png").exists()


def test_stages_form_defaults_are_the_cli_s(window):
    """One source of defaults: each panel's stage, device and settings are what the CLI
    runs when nothing is named; every path has a Browse button, fields their units."""
    from aist_app.cli import main
    from aist_app.render.pipeline import RenderConfig

    def default(command: str, option: str):
        cmd = main.commands[command]
        return next(p.default for p in cmd.params if p.name == option)

    panels = window.stages.panels
    assert panels["renderer"].plugin.currentText() == default("render", "renderer")
    assert panels["segmenter"].plugin.currentText() == default("segment", "segmenter")
    assert panels["renderer"].device.currentText() == default("render", "device")
    assert panels["pose_model"].device.currentText() == default("train-pose", "device")
    assert panels["stylizer"].device.currentText() == default("train-stylizer", "device")
    editors = panels["renderer"].form.editors
    assert editors["views"].value() == RenderConfig().views
    for panel in panels.values():
        assert set(panel.browse_buttons) == set(panel.paths)
        assert panel.bar.isTextVisible() and panel.bar.format() == "no job running"
        assert all(e.maximumWidth() <= 280 for e in panel.form.editors.values())


def test_the_open_dataset_fills_the_stages_form(window, pyrender_dataset):
    from aist_app.dataset import Dataset

    ds = Dataset.open(pyrender_dataset)
    assert window.open_dataset(pyrender_dataset)
    panels = window.stages.panels
    assert panels["pose_model"].paths["dataset"].text() == str(window.index.root)
    assert panels["stylizer"].paths["synthetic"].text() == str(window.index.root)
    first = ds.object_ids()[0]
    assert panels["renderer"].form.editors["views"].value() == len(ds.view_files(first))


def test_a_folder_that_is_neither_dataset_nor_run_says_what_was_looked_for(window, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("notes")
    (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert not window.open_path(folder)
    assert "is not a dataset, an experiment, a run or a report" in window.last_error
    assert "dataset.json" in window.last_error and "metrics.jsonl" in window.last_error
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not window.open_path(empty) and "dataset.json" in window.last_error


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_the_3d_view_draws_with_opengl_under_xvfb(tmp_path, pyrender_dataset):
    """Under Xvfb (scripts/bootstrap.sh installs it) the 3D page is drawn by OpenGL: the
    scene's dark background fills the canvas, the cloud and the selected camera (yellow)
    are on it."""
    import shutil

    from PIL import Image

    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (scripts/bootstrap.sh installs it)")
    out = tmp_path / "3d.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYOPENGL_PLATFORM": "egl"}
    p = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", AIST, "gui",
                        str(pyrender_dataset), "--page", "3D view", "--select", "1",
                        "--screenshot", str(out)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.shape[:2] == (800, 1280)

    def near(rgb, tol):
        return np.all(np.abs(img - np.asarray(rgb)) <= tol, axis=-1)

    assert near((28, 28, 32), 3).mean() > 0.2  # the GL scene's background
    assert near((255, 210, 0), 40).sum() > 20  # the selected view's camera
    assert near((180, 180, 180), 30).sum() > 200  # the ground-truth points
