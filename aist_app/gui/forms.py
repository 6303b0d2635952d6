"""Forms generated from a stage's configuration dataclass."""

from __future__ import annotations

import dataclasses
import typing

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from aist_app.api.config import field_help

HIDDEN = {"renderer", "segmenter", "device"}
#: Editors never wider than this (a number or a short list, not a 1000 px field).
EDITOR_WIDTH = 280
HELP_WIDTH = 560


def unit_of(name: str) -> str:
    """A field's unit from its name (``*_deg``: °, ``*_px``/``image_size``: px, ...)."""
    if name.endswith("_deg") or name in ("azimuth", "elevation", "fov"):
        return "°"
    if name.endswith("_px") or name in ("image_size", "size"):
        return "px"
    if name.endswith(("_s", "_seconds")):
        return "s"
    if name in ("lr", "learning_rate") or name.startswith("lr_"):
        return "per step"
    return ""


class ConfigForm(QWidget):
    """One editor per field of ``cls`` (ints, floats, bools, strings, tuples, optionals)."""

    def __init__(self, cls, defaults=None, parent=None) -> None:
        super().__init__(parent)
        self.cls = cls
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        default = defaults if defaults is not None else cls()
        hints = typing.get_type_hints(cls)
        helps = field_help(cls)  # what the config declares (setting(..., help=...))
        for f in dataclasses.fields(cls):
            if f.name in HIDDEN:
                continue
            value = getattr(default, f.name)
            hint = hints.get(f.name)
            editor = self._editor(hint, value)
            editor.setMaximumWidth(EDITOR_WIDTH)
            unit = unit_of(f.name)
            if unit and isinstance(editor, QSpinBox | QDoubleSpinBox):
                editor.setSuffix(f" {unit}")
            self.editors[f.name] = editor
            label = f.name.replace("_", " ") + (f" ({unit})" if unit else "")
            form.addRow(label, self._with_help(editor, helps.get(f.name, "")))

    @staticmethod
    def _with_help(editor: QWidget, text: str) -> QWidget:
        """The editor with its help written under it (grey, small), not only in a tooltip."""
        if not text:
            return editor
        editor.setToolTip(text)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.setSpacing(1)
        lay.addWidget(editor)
        help_label = QLabel(text)
        help_label.setWordWrap(True)
        help_label.setStyleSheet("color: #666; font-size: 9pt")
        help_label.setFixedWidth(HELP_WIDTH)  # its whole text, on as many lines as it needs
        help_label.setMinimumHeight(help_label.heightForWidth(HELP_WIDTH))
        lay.addWidget(help_label)
        return box

    def set_values(self, **values) -> None:
        """Fill editors from values (a dataset's views and image size, say)."""
        for name, v in values.items():
            w = self.editors.get(name)
            if isinstance(w, QCheckBox):
                w.setChecked(bool(v))
            elif isinstance(w, QSpinBox):
                w.setValue(int(v))
            elif isinstance(w, QDoubleSpinBox):
                w.setValue(float(v))
            elif isinstance(w, QLineEdit):
                w.setText(",".join(str(x) for x in v) if isinstance(v, tuple | list)
                          else str(v))

    @staticmethod
    def _editor(hint, value) -> QWidget:
        if hint is bool:
            w = QCheckBox()
            w.setChecked(bool(value))
        elif hint is int:
            w = QSpinBox()
            w.setRange(-2**31, 2**31 - 1)
            w.setValue(int(value))
        elif hint is float:
            w = QDoubleSpinBox()
            w.setRange(-1e9, 1e9)
            w.setDecimals(6 if 0 < abs(float(value)) < 0.01 else 3)  # 2.000, 0.000200
            w.setValue(float(value))
        else:
            w = QLineEdit()
            if isinstance(value, tuple | list):
                w.setText(",".join(str(v) for v in value))
            else:
                w.setText("" if value is None else str(value))
        return w

    def value(self, **fixed):
        """An instance of the dataclass from the editors (``fixed`` fields override)."""
        hints = typing.get_type_hints(self.cls)
        kw = {}
        for name, w in self.editors.items():
            hint = hints.get(name)
            if isinstance(w, QCheckBox):
                kw[name] = w.isChecked()
            elif isinstance(w, QSpinBox | QDoubleSpinBox):
                kw[name] = w.value()
            else:
                text = w.text().strip()
                origin = typing.get_origin(hint)
                args = typing.get_args(hint)
                if origin is tuple:
                    kw[name] = tuple(_parse(args[0], x) for x in text.split(","))
                elif type(None) in args:
                    inner = next(a for a in args if a is not type(None))
                    kw[name] = None if not text else _parse(inner, text)
                else:
                    kw[name] = text
        kw.update(fixed)
        return self.cls(**kw)


def _parse(t, text: str):
    return t(text.strip()) if t in (int, float) else text.strip()
