"""``aist gui``: start the desktop app, or render its window to a PNG (``--screenshot``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def run(path: str | None = None, *, screenshot: str | None = None, page: str | None = None,
        select: int = 0, test_set: str | None = None, size: tuple[int, int] = (1280, 800),
        pose_run: str | None = None) -> int:
    if screenshot and not os.environ.get("DISPLAY"):  # under xvfb-run: a real X screen
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # (and OpenGL for 3D)
    # One OpenGL platform in the process: EGL, for pyrender's headless renders (the Stages
    # page) and the 3D view alike (Qt on X11 makes its contexts through EGL too).
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if os.environ["PYOPENGL_PLATFORM"] == "egl":
        os.environ.setdefault("QT_XCB_GL_INTEGRATION", "xcb_egl")
    from PySide6.QtWidgets import QApplication

    from aist_app.api.manager import create_plugin_manager
    from aist_app.gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(create_plugin_manager())
    ok = True
    if pose_run:
        ok = win.open_path(pose_run)
    if path and ok:
        ok = win.open_path(path)
    if screenshot:
        if not ok:  # the dialog is invisible offscreen: say it on the terminal
            print(f"error: {win.last_error}", file=sys.stderr)
            return 1
        win.resize(*size)
        return _screenshot(app, win, Path(screenshot), page, select, test_set)
    win.show()
    return app.exec()


def _settle(app, done, seconds: float) -> None:
    """Process events until ``done()`` or ``seconds`` pass."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def _compare(app, win, select: int, test_set: str | None) -> str | None:
    """The Compare page on ``test_set``, row ``select`` selected and its overlays drawn; an
    error message when it cannot."""
    page = win.compare
    if page.comparison is None:
        return "nothing to compare: open an experiment folder (or evaluations)"
    if test_set is not None:
        sets = [page.sets.itemText(i) for i in range(page.sets.count())]
        if test_set not in sets:
            return f"--test-set {test_set!r}: the evaluations share {sets}"
        page.sets.setCurrentText(test_set)
    rows = len(page.comparison.rows)
    if not 0 <= select < rows:
        return f"--select {select}: the comparison has {rows} view(s), 0 to {rows - 1}"
    page.select_row(select)
    _settle(app, lambda: len(page.overlays) == len(page.comparison.models), 120.0)
    return None


def _screenshot(app, win, out: Path, page: str | None, select: int,
                test_set: str | None = None) -> int:
    import time

    win.show()
    tabs = {win.tabs.tabText(i): i for i in range(win.tabs.count())}
    if win.index is not None and win.browser.model.rowCount():
        rows = win.browser.model.rowCount()
        if not 0 <= select < rows:
            win.close()
            print(f"error: --select {select}: the dataset shows {rows} view(s), 0 to "
                  f"{rows - 1}", file=sys.stderr)
            return 1
        win.browser.grid.setCurrentIndex(win.browser.model.index(select))
    if page is not None:  # else the page opening PATH chose (Browser or Runs)
        win.tabs.setCurrentIndex(tabs.get(page, 0))
    if win.pose_run is not None and win.index is not None:  # the selected view's prediction
        _settle(app, lambda: (len(win.view3d.predicted) > 0 or win.prediction_error
                              or win.browser.view_error or not win._prediction_jobs), 120.0)
        if win.prediction_error:
            win.close()
            print(f"error: {win.prediction_error}", file=sys.stderr)
            return 1
    if page == "Compare":
        error = _compare(app, win, select, test_set)
        if error:
            win.close()  # its jobs end first
            print(f"error: {error}", file=sys.stderr)
            return 1
    deadline = time.monotonic() + 5.0  # let the visible thumbnails arrive
    while time.monotonic() < deadline:
        app.processEvents()
        if not win.browser.cache.busy() and len(win.browser.cache):
            break
        time.sleep(0.02)
    app.processEvents()
    saved = win.grab().save(str(out), "PNG")
    win.close()  # its jobs end first
    if saved:
        return 0
    print(f"error: {out}: could not write the screenshot", file=sys.stderr)
    return 1
