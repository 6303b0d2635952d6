"""``aist gui``: start the desktop app, or render its window to a PNG (``--screenshot``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def run(path: str | None = None, *, screenshot: str | None = None, page: str | None = None,
        select: int = 0) -> int:
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from aist_app.api.manager import create_plugin_manager
    from aist_app.gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(create_plugin_manager())
    ok = True
    if path:
        ok = win.open_path(path)
    if screenshot:
        if not ok:  # the dialog is invisible offscreen: say it on the terminal
            print(f"error: {win.last_error}", file=sys.stderr)
            return 1
        return _screenshot(app, win, Path(screenshot), page, select)
    win.show()
    return app.exec()


def _screenshot(app, win, out: Path, page: str | None, select: int) -> int:
    import time

    win.show()
    tabs = {win.tabs.tabText(i): i for i in range(win.tabs.count())}
    if win.index is not None and win.browser.model.rowCount():
        win.browser.grid.setCurrentIndex(win.browser.model.index(
            min(select, win.browser.model.rowCount() - 1)))
    if page is not None:  # else the page opening PATH chose (Browser or Runs)
        win.tabs.setCurrentIndex(tabs.get(page, 0))
    deadline = time.monotonic() + 5.0  # let the visible thumbnails arrive
    while time.monotonic() < deadline:
        app.processEvents()
        if not win.browser.cache.busy() and len(win.browser.cache):
            break
        time.sleep(0.02)
    app.processEvents()
    if win.grab().save(str(out), "PNG"):
        return 0
    print(f"error: {out}: could not write the screenshot", file=sys.stderr)
    return 1
