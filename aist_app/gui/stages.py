"""The Stages page: per stage kind, the installed plugins (from the registry, nothing heavy
imported), a form generated from the stage's configuration, and run / progress / log /
cancel. Work runs on a :class:`JobThread`; the window never waits for it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from aist_app.common.devices import DEFAULT_DEVICE
from aist_app.gui.forms import ConfigForm
from aist_app.gui.jobs import JobThread

#: The inputs (path fields) of the operation each kind's panel runs.
PATHS: dict[str, tuple[str, ...]] = {
    "renderer": ("meshes", "out"),
    "segmenter": ("photos", "synthetic", "out"),
    "stylizer": ("synthetic", "real", "out"),
    "pose_model": ("dataset", "out"),
}
OPERATION = {"renderer": "render", "segmenter": "segment", "stylizer": "train",
             "pose_model": "train"}
#: What each path field is, said under it.
PATH_HELP = {"meshes": "a folder of meshes (.obj, .glb, .ply, ...) or one mesh file",
             "photos": "a folder of photos of the real objects",
             "synthetic": "a rendered dataset (its dataset.json)",
             "real": "a real dataset (from the segmenter)",
             "dataset": "a rendered or stylized dataset (its dataset.json)",
             "out": "the output folder (made; an existing one is resumed or refused)"}
#: The path field an open dataset fills, per stage kind.
DATASET_FIELD = {"segmenter": "synthetic", "stylizer": "synthetic", "pose_model": "dataset"}


def default_plugin(runner, kind: str) -> str:
    """The stage the CLI runs when none is named: the pipeline config's renderer or
    segmenter, else the installed stages' default."""
    if kind in ("renderer", "segmenter"):
        from aist_app.stages.runner import default_config_class

        return getattr(default_config_class(kind)(), kind)
    try:
        return runner.default_stage(kind)
    except (KeyError, ValueError, LookupError):
        return ""


def make_job(runner, kind: str, plugin: str, config, paths: dict[str, str], *,
             overwrite: bool = False):
    """A generator factory running ``plugin`` through the stage runner with ``config`` on
    ``paths`` (``overwrite``: the output-folder contract's --overwrite)."""
    return lambda: runner.run(kind, plugin, OPERATION[kind], config, overwrite=overwrite,
                              **paths)


class StagePanel(QWidget):
    """One stage kind: choose a plugin, fill the form and the paths, run."""

    finished = Signal(str, object)  # status ("succeeded", "failed", "cancelled"), result
    job_progress_seen = Signal()

    def __init__(self, kind: str, runner, device: str = DEFAULT_DEVICE, parent=None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.runner = runner
        stages = runner.pm.registry.list(kind)
        self.stages = {s.name: s for s in stages}
        self.job: JobThread | None = None
        self.browse_buttons: dict[str, QPushButton] = {}
        self.plugin = QComboBox()
        for s in stages:
            self.plugin.addItem(s.name)
            self.plugin.setItemData(self.plugin.count() - 1, s.description, 3)  # tooltip
        self.description = QLabel(stages[0].description if stages else "none installed")
        self.description.setWordWrap(True)
        default = default_plugin(runner, kind)
        if default in self.stages:
            self.plugin.setCurrentText(default)
            self.description.setText(self.stages[default].description)
        self.plugin.currentTextChanged.connect(self._plugin_changed)
        self.form = ConfigForm(self._config_class())
        self.paths = {name: QLineEdit() for name in PATHS[kind]}
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(device)
        self.device.setToolTip("auto takes a GPU when torch sees one (the CLI's --device)")
        self.overwrite = QCheckBox("replace what the output folder holds")
        self.overwrite.setToolTip("A folder made by another stage or other settings is "
                                  "refused; checked, it is replaced once the new output is "
                                  "complete.")
        self.plugin.setMaximumWidth(360)
        self.device.setMaximumWidth(160)
        top = QFormLayout()
        top.addRow("plugin", self.plugin)
        top.addRow(self.description)
        for name, w in self.paths.items():
            w.setPlaceholderText(PATH_HELP[name])
            w.setToolTip(PATH_HELP[name])
            top.addRow(name, self._path_row(name, w))
        top.addRow("device", self.device)
        top.addRow("overwrite", self.overwrite)
        self.scroll = scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("no job running")
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(2000)
        self.log.setVisible(False)  # it takes the space once there is something to say
        self.log.textChanged.connect(
            lambda: self.log.setVisible(bool(self.log.toPlainText())))
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.bar, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(scroll, 3)
        lay.addLayout(buttons)
        lay.addWidget(self.log, 2)

    def _path_row(self, name: str, edit: QLineEdit) -> QWidget:
        """A path field with its Browse button (a folder; a file too for meshes)."""
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(name, edit))
        lay.addWidget(browse)
        self.browse_buttons[name] = browse
        return row

    def _browse(self, name: str, edit: QLineEdit) -> None:
        path = QFileDialog.getExistingDirectory(self, f"Choose {name}", edit.text())
        if path:
            edit.setText(path)

    def use_dataset(self, root: Path, meta: dict) -> None:
        """Values from the open dataset: its folder in this stage's input, and for the
        renderer its views per object and image size."""
        field = DATASET_FIELD.get(self.kind)
        kind = meta.get("kind")
        if field and (self.kind != "stylizer" or kind in ("synthetic", None)):
            self.paths[field].setText(str(root))
        if self.kind == "stylizer" and kind == "real":
            self.paths["real"].setText(str(root))
        if self.kind == "renderer":
            values = {}
            if meta.get("views_per_object"):
                values["views"] = int(meta["views_per_object"])
            if meta.get("image_size"):
                values["image_size"] = tuple(meta["image_size"])
            self.form.set_values(**values)

    def _config_class(self) -> type:
        name = self.plugin.currentText()
        return self.runner.config_class(self.kind, name or None)

    def _plugin_changed(self, name: str) -> None:
        """Another plugin: its description, and the form of its config dataclass."""
        self.description.setText(self.stages[name].description)
        cls = self._config_class()
        if cls is not self.form.cls:
            self.form = ConfigForm(cls)
            self.scroll.setWidget(self.form)

    def config(self):
        fixed = {"device": self.device.currentText()}
        if self.kind == "renderer":
            fixed["renderer"] = self.plugin.currentText()
        elif self.kind == "segmenter":
            fixed["segmenter"] = self.plugin.currentText()
        return self.form.value(**fixed)

    def run(self) -> None:
        if self.job is not None and self.job.isRunning():
            return
        try:
            config = self.config()
            paths = {k: w.text().strip() for k, w in self.paths.items()}
            missing = [k for k, v in paths.items() if not v]
            if missing:
                raise ValueError(f"fill in: {', '.join(missing)}")
            for k, v in paths.items():
                if k != "out" and not Path(v).exists():
                    raise ValueError(f"{k}: {v} does not exist")
            make = make_job(self.runner, self.kind, self.plugin.currentText(), config, paths,
                            overwrite=self.overwrite.isChecked())
        except (ValueError, TypeError) as e:
            self.log.appendPlainText(f"error: {e}")
            self.finished.emit("failed", str(e))
            return
        self.job = JobThread(make, self)
        self.job.progress.connect(self._progress)
        self.job.succeeded.connect(lambda r: self._done("succeeded", r))
        self.job.failed.connect(lambda m: self._done("failed", m))
        self.job.cancelled.connect(lambda: self._done("cancelled", None))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, 0)  # busy until the first progress says how much
        self.bar.setFormat("starting …")
        self.log.appendPlainText(f"running {self.plugin.currentText()} …")
        self.job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.log.appendPlainText("cancelling …")

    def _progress(self, done: int, total: int, message: str) -> None:
        self.job_progress_seen.emit()
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
            self.bar.setFormat("%v / %m (%p%)")
        self.log.appendPlainText(message)

    def _done(self, status: str, result) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.log.appendPlainText(f"{status}: {result}" if status == "failed" else status)
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
        if status == "succeeded":
            self.bar.setValue(self.bar.maximum())
        self.bar.setFormat(f"{status}: %v / %m" if self.bar.maximum() > 1 else status)
        self.finished.emit(status, result)


class StagesPage(QTabWidget):
    def __init__(self, runner, parent=None) -> None:
        """One panel per stage kind; every stage runs through ``runner`` (the window's
        :class:`~aist_app.stages.runner.StageRunner`)."""
        super().__init__(parent)
        self.panels: dict[str, StagePanel] = {}
        for kind in ("renderer", "segmenter", "stylizer", "pose_model"):
            panel = StagePanel(kind, runner)
            self.panels[kind] = panel
            self.addTab(panel, kind.replace("_", " "))

    def use_dataset(self, root: Path, meta: dict) -> None:
        """The open dataset's folder and settings in every panel that can take them."""
        for panel in self.panels.values():
            panel.use_dataset(Path(root), meta)
