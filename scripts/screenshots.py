"""Every page of the desktop app, on an experiment folder (``aist demo``'s, or the cpu
preset's), written to docs/screenshots/ (what docs/gui.md shows).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py EXPERIMENT [OUT]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    exp = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIST_CACHE_DIR", tempfile.mkdtemp(prefix="aist-shots-"))
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from aist_app.api.manager import create_plugin_manager
    from aist_app.gui.window import MainWindow

    app = QApplication(sys.argv[:1])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(create_plugin_manager(), settings=settings)
    win.resize(1400, 900)
    win.show()

    def settle(until=lambda: True, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            if until() and not win.browser.cache.busy():
                break
            time.sleep(0.02)
        for _ in range(5):
            app.processEvents()
            time.sleep(0.02)

    def shot(name: str, widget=None) -> None:
        path = out / f"{name}.png"
        if not (widget or win).grab().save(str(path)):
            raise OSError(f"{path}: could not write")
        print(path)

    b = win.browser
    # Browser: the target domain (Blender Cycles, randomized looks), a view selected.
    assert win.open_dataset(exp / "target"), win.last_error
    b.grid.setCurrentIndex(b.model.index(min(5, b.model.rowCount() - 1)))
    settle()
    shot("browser")
    # Browser, real data: the source photo with the detector's box and the filter figures.
    assert win.open_dataset(exp / "real"), win.last_error
    b.grid.setCurrentIndex(b.model.index(0))
    settle()
    shot("browser-real")
    # 3D view: the ground truth with its cameras and the AIST run's reconstruction.
    win.open_path(exp / "pose-constrained")
    assert win.open_dataset(exp / "target"), win.last_error
    b.grid.setCurrentIndex(b.model.index(min(5, b.model.rowCount() - 1)))
    win.tabs.setCurrentWidget(win.view3d)
    settle(lambda: len(win.view3d.predicted) > 0)
    shot("view3d")
    win.tabs.setCurrentWidget(win.stages)
    settle()
    shot("stages")
    win.open_path(exp / "pose-constrained")
    settle()
    shot("run")
    # The experiment: its report on the Runs page, then Compare.
    assert win.open_path(exp), win.last_error
    win.tabs.setCurrentWidget(win.runs)
    settle()
    shot("experiment")
    win.tabs.setCurrentWidget(win.compare)
    page = win.compare
    page.wait_for_predictions()
    page.sort_by_difference(page.comparison.models[-1])  # where AIST helps most, first
    page.select_row(0)
    settle(lambda: len(page.overlays) == len(page.comparison.models))
    shot("compare")
    label = page.view_layout.itemAt(page.view_layout.count() - 1).widget()
    dialog = label.open_full_size()
    dialog.resize(640, 640)
    settle()
    dialog.view.fit()
    settle()
    shot("zoom", dialog)
    dialog.close()
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
