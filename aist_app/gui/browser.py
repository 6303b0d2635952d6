"""Dataset browser: a virtualized thumbnail grid with filters, and a detail pane."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from aist_app.dataset.contract import DatasetError
from aist_app.dataset.index import DatasetIndex, ViewFilter, ViewRecord
from aist_app.gui.colours import AIST
from aist_app.gui.thumbnails import BACKGROUNDS, THUMB, ThumbnailCache, composite
from aist_app.gui.zoom import ImageLabel, captioned


class ViewListModel(QAbstractListModel):
    """The filtered views; thumbnails are asked of the cache only for rows on screen."""

    def __init__(self, cache: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.cache = cache
        self.index_: DatasetIndex | None = None
        self.rows: list[ViewRecord] = []
        self._row_of: dict[str, int] = {}
        self._placeholder = QImage(THUMB, THUMB, QImage.Format.Format_ARGB32)
        self._placeholder.fill(QColor(60, 60, 60))
        cache.ready.connect(self._thumb_ready)

    def set_rows(self, index: DatasetIndex | None, rows: list[ViewRecord]) -> None:
        self.beginResetModel()
        self.cache.clear_pending()
        self.index_, self.rows = index, rows
        root = index.root if index else Path()
        self.cache.root = index.root if index else None  # no thumbnail from outside it
        self._row_of = {str(r.path(root)): i for i, r in enumerate(rows)}
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.index_ is None:
            return None
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{r.object_id[:14]}\n{r.file}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self.cache.get(str(r.path(self.index_.root))) or self._placeholder
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{r.object_id}/{r.file} ({r.split})"
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None

    def _thumb_ready(self, path: str) -> None:
        row = self._row_of.get(path)
        if row is not None:
            i = self.index(row)
            self.dataChanged.emit(i, i, [Qt.ItemDataRole.DecorationRole])


def photo_with_box(photo: str | Path, box, crop_box=None, width: int = 320) -> np.ndarray:
    """The source photo of a real view, ``width`` px wide, with the detector's box (green)
    and the crop actually taken (yellow, dashed, drawn over it) on it."""
    from PIL import Image, ImageDraw

    with Image.open(photo) as im:
        im = im.convert("RGBA")
    s = width / im.width
    im = im.resize((width, max(1, round(im.height * s))))
    draw = ImageDraw.Draw(im)
    if box is not None:
        draw.rectangle([v * s for v in box], outline=(40, 220, 80, 255), width=2)
    if crop_box is not None:  # over the box, dashed: both stay visible where they meet
        _dashed_rectangle(draw, [v * s for v in crop_box], (240, 200, 40, 255))
    return np.asarray(im)


def _dashed_rectangle(draw, rect, colour, dash: float = 6.0, gap: float = 4.0) -> None:
    x0, y0, x1, y1 = rect
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)),
                 ((x0, y1), (x0, y0))):
        length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        t = 0.0
        while t < length:
            u = min(t + dash, length)
            p = [a[k] + (b[k] - a[k]) * t / max(length, 1e-9) for k in (0, 1)]
            q = [a[k] + (b[k] - a[k]) * u / max(length, 1e-9) for k in (0, 1)]
            draw.line([*p, *q], fill=colour, width=2)
            t = u + gap


#: What the segmenter recorded about a real view, as labelled values: (key, label).
PHOTO_FIELDS = (("rejected_by", "rejected by filter"), ("label", "class"), ("score", "score"),
                ("box", "box (x0 y0 x1 y1)"), ("side", "box side √area (px)"),
                ("fill", "mask fill of the box"),
                ("crop_box", "crop"), ("padding", "padding"),
                ("ratio_before", "object/image ratio: cut-out"),
                ("ratio_padded", "… after square padding"),
                ("ratio_after", "… after ratio padding"),
                ("target_ratio", "… the synthetic set's"), ("segmenter", "segmenter"))


def _fmt_field(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt_field(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return "  ".join(f"{x:.6g}" if isinstance(x, float | int) else str(x) for x in v)
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def overlay(rgba: np.ndarray) -> np.ndarray:
    """The view on grey with its mask tinted: where alpha > 0, in a translucent green."""
    out = np.empty_like(rgba)
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    grey = np.full(rgba.shape[:2] + (3,), 90.0)
    out[..., :3] = (rgba[..., :3] * a + grey * (1 - a)).astype(np.uint8)
    mask = rgba[..., 3] > 0
    out[mask, :3] = (0.6 * out[mask, :3] + 0.4 * np.array([40, 220, 80])).astype(np.uint8)
    out[..., 3] = 255
    return out


#: What the mask-difference tile's colours mean (its caption).
DIFF_LEGEND = ("mask vs source: white = object in both, red = changed, "
               "black = background in both")


def mask_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """White where the two masks agree on the object, red where they disagree, black where
    both are background."""
    ma, mb = a[..., 3] > 0, b[..., 3] > 0
    out = np.zeros(a.shape[:2] + (4,), np.uint8)
    out[..., 3] = 255
    out[ma & mb, :3] = 255
    out[ma ^ mb, :3] = (230, 30, 30)
    return out


#: The camera's labelled values in the detail pane: (key of camera_summary, label).
CAMERA_FIELDS = (("azimuth_deg", "azimuth (°)"), ("elevation_deg", "elevation (°)"),
                 ("distance", "distance"), ("focal_px", "focal length (px)"),
                 ("fov_h_deg", "field of view H (°)"), ("fov_v_deg", "field of view V (°)"),
                 ("principal_point_px", "principal point (px)"),
                 ("quaternion_wxyz", "quaternion (w x y z)"))


def _fmt(v, key: str = "") -> str:
    """A camera value with fixed decimals for its kind (degrees and pixels 0.1, distances
    0.001, quaternions 0.0001)."""
    digits = 4 if "quaternion" in key else 3 if key == "distance" else 1
    if isinstance(v, list):
        return "  ".join(f"{x:.{digits}f}" for x in v)
    return f"{v:.{digits}f}"


class DetailPane(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.title = QLabel("no view selected")
        self.title.setWordWrap(True)
        self.images = QHBoxLayout()
        self.view_label, self.overlay_label, self.source_label, self.diff_label = (
            ImageLabel(), ImageLabel(), ImageLabel(), ImageLabel())
        # With a pose run open: the view with the run's predicted silhouette outlined.
        self.predicted_label = ImageLabel()
        #: Each image with what it is above it (hidden with its image).
        self.captions = {}
        for w, text in ((self.view_label, "view"), (self.overlay_label, "mask (green)"),
                        (self.source_label, "source (synthetic) view"),
                        (self.diff_label, DIFF_LEGEND),
                        (self.predicted_label, "predicted silhouette (outline)")):
            box = captioned(w, text)
            self.captions[w] = box
            self.images.addWidget(box)
        self.images.addStretch(1)
        # A real view: the photo it was cut from, the box, and the figures that let it in.
        self.photo_box = QGroupBox("source photo")
        photo_lay = QVBoxLayout(self.photo_box)  # the photo above its figures: full width
        self.photo_label = ImageLabel()
        photo_lay.addWidget(self.photo_label)
        photo_lay.addWidget(QLabel("<span style='color:rgb(40,220,80)'>&#9633;</span> "
                                   "detection box &nbsp; <span style='color:rgb(240,200,40)'>"
                                   "&#9633;</span> crop taken (dashed)"))
        self.photo_form = QFormLayout()
        photo_lay.addLayout(self.photo_form, 1)
        self.photo_values: dict[str, QLabel] = {}
        for key, label in PHOTO_FIELDS:
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            self.photo_values[key] = value
            self.photo_form.addRow(label, value)
        self.photo_box.setVisible(False)
        self.annotations = QPlainTextEdit(readOnly=True)
        # The raw record, folded: the camera and the photo boxes above say it in words.
        self.raw_toggle = QPushButton("Show the raw record (JSON)")
        self.raw_toggle.setCheckable(True)
        self.raw_toggle.toggled.connect(self._toggle_raw)
        self.annotations.setVisible(False)
        # The camera as labelled values (issue: "a 4x4 matrix across 30 lines").
        self.camera_box = QGroupBox("camera")
        self.camera_form = QFormLayout(self.camera_box)
        self.camera_values: dict[str, QLabel] = {}
        for key, label in CAMERA_FIELDS:
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.camera_values[key] = value
            self.camera_form.addRow(label, value)
        self.prediction = QLabel()  # the open pose run's camera for this view, and its error
        self.prediction.setWordWrap(True)
        self.prediction.setStyleSheet("color: #c05a00")
        self.camera_form.addRow("prediction", self.prediction)
        self.copy_json = QPushButton("Copy as JSON")
        self.copy_json.clicked.connect(self._copy_json)
        self.camera_form.addRow(self.copy_json)
        self.camera_box.setVisible(False)
        self.camera: dict | None = None
        lay.addWidget(self.title)
        lay.addLayout(self.images)
        lay.addWidget(self.photo_box)
        lay.addWidget(self.camera_box)
        lay.addWidget(self.raw_toggle)
        lay.addWidget(self.annotations, 1)
        lay.addStretch(0)
        self.record: ViewRecord | None = None
        self.background = "checkerboard"
        self.prediction_colour = AIST  # the open pose run's model colour
        self._caption_visibility()
        self._index: DatasetIndex | None = None

    def set_background(self, background: str) -> None:
        self.background = background
        if self.record is not None and self._index is not None:
            self.show_view(self._index, self.record)

    def set_prediction(self, text: str | None, silhouette=None, rgba=None) -> None:
        """The pose run's prediction of this view in words (None: no run open), and its
        silhouette at its predicted pose outlined over the view."""
        self.prediction.setText(text or "open a pose run (Pose menu) to see its prediction")
        if silhouette is None or rgba is None:
            self.predicted_label.set_image(None)
            self._caption_visibility()
            return
        from aist_app.gui.compare import outline

        self.predicted_label.set_image(
            outline(np.asarray(rgba), silhouette, self.prediction_colour, self.background),
            title="the pose run's predicted silhouette at its predicted pose")
        self._caption_visibility()

    def _toggle_raw(self, shown: bool) -> None:
        self.annotations.setVisible(shown)
        self.raw_toggle.setText(("Hide" if shown else "Show") + " the raw record (JSON)")

    def _copy_json(self) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(self.annotations.toPlainText())

    def _show_camera(self, view: dict | None, image_size) -> None:
        self.camera = None
        if view and "K" in view and "world_to_camera" in view:
            from aist_app.scene.cameras import camera_summary

            self.camera = camera_summary(view, tuple(image_size))
        self.camera_box.setVisible(self.camera is not None)
        for key, value in self.camera_values.items():
            value.setText("" if self.camera is None else _fmt(self.camera[key], key))

    def _show_photo(self, prov: dict | None, root: Path | None = None) -> None:
        """The source photo with its box and the segmenter's figures (real data)."""
        photo = (prov or {}).get("photo")
        if photo and root is not None and not Path(photo).is_absolute():
            photo = root / photo
        self.photo_box.setVisible(bool(photo))
        if not photo:
            return
        try:
            self.photo_label.set_image(photo_with_box(photo, prov.get("box"),
                                                      prov.get("crop_box")), 1, str(photo))
        except OSError as e:
            self.photo_label.set_image(None)
            self.photo_label.setText(f"{photo}: cannot be read ({e.__class__.__name__})")
        self.photo_box.setTitle(f"source photo: {Path(photo).name}")
        for key, value in self.photo_values.items():
            value.setText(_fmt_field(prov[key]) if key in prov else "")
            self.photo_form.setRowVisible(value, key in prov)

    def show_view(self, index: DatasetIndex, r: ViewRecord) -> None:
        self.record = r
        self._index = index
        ds = index.ds
        if r.reason is not None:  # a rejected candidate's cut-out
            from PIL import Image

            rgba = np.asarray(Image.open(r.path(index.root)).convert("RGBA"))
            self.title.setText(f"{r.object_id}: rejected ({r.reason})")
            self.captions[self.view_label].caption.setText(f"rejected cut-out ({r.reason})")
            self.view_label.set_image(composite(rgba, self.background), title=r.object_id)
            self.overlay_label.set_image(overlay(rgba), title=f"{r.object_id} mask")
            self.source_label.set_image(None)
            self.diff_label.set_image(None)
            self.annotations.setPlainText(compact_json({"rejected": r.reason,
                                                        "file": str(r.path(index.root))}))
            self._show_camera(None, None)
            sidecar = r.path(index.root).with_suffix(".json")
            record = json.loads(sidecar.read_text()) if sidecar.is_file() else None
            self._show_photo(record, index.root)
            if record:
                self.annotations.setPlainText(compact_json(record))
            self._caption_visibility()
            return
        rgba = ds.load_view(r.object_id, r.file)
        self.title.setText(f"{r.object_id} / {r.file}  ({r.split}, {kind_label(ds)})")
        self.captions[self.view_label].caption.setText(f"view: {kind_label(ds)}")
        name = f"{r.object_id} / {r.file}"
        self.view_label.set_image(composite(np.asarray(rgba), self.background), title=name)
        self.overlay_label.set_image(overlay(rgba), title=f"{name}: mask")
        src = index.source_view(r)
        if src is not None:
            from PIL import Image

            source = np.asarray(Image.open(src).convert("RGBA"))
            self.source_label.set_image(composite(source, self.background),
                                        title=f"{name}: source (synthetic) view")
            self.diff_label.set_image(mask_difference(source, rgba),
                                      title=f"{name}: mask difference to the source")
        else:
            self.source_label.set_image(None)
            self.diff_label.set_image(None)
        info: dict = {}
        if ds.kind != "real":
            views = {v["file"]: v for v in ds.cameras(r.object_id)}
            info = views.get(r.file, {})
        self._show_camera(info, ds.image_size)
        prov = ds.provenance(r.object_id)
        self._show_photo(prov if ds.kind == "real" else None, index.root)
        if prov:
            info = {**info, "provenance": prov}
        self.annotations.setPlainText(compact_json(info))
        self._caption_visibility()

    def _caption_visibility(self) -> None:
        """A tile (image and caption) shows only when it holds an image."""
        for label, box in self.captions.items():
            box.setVisible(label.rgba is not None)


def kind_label(ds) -> str:
    """The dataset's kind in words: a render with a scene look (``--look``: a target domain)
    says so; a stylized set names its stylizer."""
    source = ds.source or {}
    look = (source.get("config") or {}).get("look")
    if ds.kind == "synthetic" and look and look != "as-is":
        return f"synthetic, rendered with the {look} look ({source.get('plugin', '?')})"
    if ds.kind == "stylized" and source.get("plugin"):
        return f"stylized by {source['plugin']}"
    return ds.kind


def compact_json(record) -> str:
    """``record`` as indented JSON with every list of numbers (a matrix's row, a quaternion)
    on one line."""
    import re

    text = json.dumps(record, indent=2)
    number_list = r"\[\s*(-?[\d.eE+-]+(?:\s*,\s*-?[\d.eE+-]+)*)\s*\]"
    return re.sub(number_list, lambda m: "[" + ", ".join(
        x.strip() for x in m.group(1).split(",")) + "]", text)


class BrowserPage(QWidget):
    """Filters | grid | detail. ``view_selected`` carries the record."""

    view_selected = Signal(object)

    def __init__(self, parent=None, settings=None) -> None:
        """``settings``: a QSettings (default: the user's) remembering the background."""
        super().__init__(parent)
        from PySide6.QtCore import QSettings

        self.settings = settings if settings is not None else QSettings("aist", "aist-gui")
        background = str(self.settings.value("browser/background", "checkerboard"))
        if background not in BACKGROUNDS:
            background = "checkerboard"
        self.cache = ThumbnailCache(parent=self, background=background)
        self.model = ViewListModel(self.cache, self)
        self.index_: DatasetIndex | None = None
        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setUniformItemSizes(True)  # virtualized layout: cheap with 100k rows
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(500)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setGridSize(QSize(THUMB + 24, THUMB + 40))
        self.grid.setModel(self.model)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.split = QComboBox()
        self.split.addItems(["all", "train", "val", "test"])
        self.text = QLineEdit(placeholderText="object id contains…")
        self.az = (QDoubleSpinBox(), QDoubleSpinBox())
        self.el = (QDoubleSpinBox(), QDoubleSpinBox())
        for lo, hi, bound in ((*self.az, 360.0), (*self.el, 90.0)):
            for sb in (lo, hi):
                sb.setRange(-bound, bound)
                sb.setDecimals(1)
            lo.setValue(-bound)
            hi.setValue(bound)
        self.reasons = QComboBox()
        self.count = QLabel()
        self.view_error: str | None = None  # why the selected view cannot be shown
        self.background = QComboBox()
        self.background.addItems(BACKGROUNDS)
        self.background.setCurrentText(background)
        self.background.setToolTip("Background of RGBA views and thumbnails (remembered)")
        self.background.currentTextChanged.connect(self.set_background)
        form = QFormLayout()
        form.addRow("background", self.background)
        form.addRow("split", self.split)
        form.addRow("object", self.text)
        form.addRow("azimuth from", self.az[0])
        form.addRow("azimuth to", self.az[1])
        form.addRow("elevation from", self.el[0])
        form.addRow("elevation to", self.el[1])
        form.addRow("rejections", self.reasons)
        form.addRow(self.count)
        self.filter_form = form
        self.count.setWordWrap(True)
        filters = QWidget()
        filters.setLayout(form)
        for w in (self.split, self.reasons):
            w.currentIndexChanged.connect(self.apply_filter)
        self.text.textChanged.connect(self.apply_filter)
        for sb in (*self.az, *self.el):
            sb.valueChanged.connect(self.apply_filter)
        self.detail = DetailPane()
        self.detail.background = background
        split = QSplitter()
        split.addWidget(filters)
        split.addWidget(self.grid)
        split.addWidget(self.detail)
        # The grid's width never depends on what the detail pane says: fixed shares.
        for k, stretch in enumerate((0, 1, 1)):
            split.setStretchFactor(k, stretch)
        for w in (self.grid, self.detail):  # their contents never push the other aside
            w.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        split.setSizes([170, 520, 510])
        self.splitter = split
        lay = QVBoxLayout(self)
        lay.addWidget(split)

    def toggle_overlay(self) -> None:
        """Show or hide the detail pane's mask overlay (the space key)."""
        label = self.detail.overlay_label
        label.setVisible(not label.isVisible())

    def set_background(self, background: str) -> None:
        """Show RGBA views on ``background`` (checkerboard, grey, white, black), thumbnails
        included, and remember it."""
        self.settings.setValue("browser/background", background)
        self.cache.set_background(background)
        self.detail.set_background(background)
        if self.model.rowCount():
            self.model.dataChanged.emit(self.model.index(0),
                                        self.model.index(self.model.rowCount() - 1),
                                        [Qt.ItemDataRole.DecorationRole])

    def set_index(self, index: DatasetIndex) -> None:
        self.index_ = index
        self.reasons.clear()
        self.reasons.blockSignals(True)
        counts = index.rejection_counts()
        if counts:
            self.reasons.addItem(f"accepted ({len(index.records)})", None)
            for k, v in counts.items():
                self.reasons.addItem(f"{k} ({v})", k)
            self.reasons.setToolTip("the accepted views, or the candidates one filter "
                                    "rejected (with how many)")
            # The list opens as wide as its longest entry, whatever the panel's width.
            self.reasons.view().setMinimumWidth(self.reasons.view().sizeHintForColumn(0) + 30)
        self.reasons.setEnabled(bool(counts))
        self.reasons.blockSignals(False)
        # Only the filters this set can use: no cameras on photos, no rejections on renders.
        cameras = index.ds.kind != "real"
        for w in (*self.az, *self.el):
            self.filter_form.setRowVisible(w, cameras)
        self.filter_form.setRowVisible(self.reasons, bool(counts))
        self.apply_filter()

    def current_filter(self) -> ViewFilter:
        split = self.split.currentText()
        az = (self.az[0].value(), self.az[1].value())
        el = (self.el[0].value(), self.el[1].value())
        full_az, full_el = az == (-360.0, 360.0), el == (-90.0, 90.0)
        return ViewFilter(split=None if split == "all" else split, text=self.text.text(),
                          azimuth=None if full_az else az, elevation=None if full_el else el)

    def apply_filter(self) -> None:
        if self.index_ is None:
            return
        reason = self.reasons.currentData() if self.reasons.isEnabled() else None
        if reason:
            rows = [r for r in self.index_.rejected(reason) if self.current_filter().text.lower()
                    in r.object_id.lower()]
            self.model.set_rows(self.index_, rows)
            self.count.setText(f"{len(rows)} candidates rejected for {reason}")
            return
        rows = self.index_.filter(self.current_filter())
        self.model.set_rows(self.index_, rows)
        total = len(self.index_.records)
        self.count.setText(f"{len(rows)} of {total} view{'s' * (total != 1)}")

    def select(self, object_id: str, file: str) -> bool:
        for i, r in enumerate(self.model.rows):
            if r.object_id == object_id and r.file == file:
                self.grid.setCurrentIndex(self.model.index(i))
                return True
        return False

    def _current_changed(self, current, _previous) -> None:
        r = self.model.data(current, Qt.ItemDataRole.UserRole)
        if r is not None and self.index_ is not None:
            try:
                self.detail.show_view(self.index_, r)
            except (DatasetError, OSError, ValueError) as e:  # a view refused or unreadable
                self.detail.title.setText(f"{r.object_id} / {r.file}: cannot be shown")
                self.detail.annotations.setPlainText(str(e))
                self.view_error = str(e)
                return
            self.view_error = None
            self.view_selected.emit(r)
