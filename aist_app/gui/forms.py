"""Forms generated from a stage's configuration dataclass."""

from __future__ import annotations

import dataclasses
import typing

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from aist_app.api.config import field_help

HIDDEN = {"renderer", "segmenter", "device"}


class ConfigForm(QWidget):
    """One editor per field of ``cls`` (ints, floats, bools, strings, tuples, optionals)."""

    def __init__(self, cls, defaults=None, parent=None) -> None:
        super().__init__(parent)
        self.cls = cls
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout(self)
        default = defaults if defaults is not None else cls()
        hints = typing.get_type_hints(cls)
        helps = field_help(cls)  # what the config declares (setting(..., help=...))
        for f in dataclasses.fields(cls):
            if f.name in HIDDEN:
                continue
            value = getattr(default, f.name)
            hint = hints.get(f.name)
            editor = self._editor(hint, value)
            if f.name in helps:
                editor.setToolTip(helps[f.name])
            self.editors[f.name] = editor
            form.addRow(f.name.replace("_", " "), editor)

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
            w.setDecimals(6)
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
