"""Running a core generator on a worker thread, with progress, log and cancel signals."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Generator

from PySide6.QtCore import QThread, Signal

from aist_app.api.progress import Yielded


def describe(event) -> tuple[int, int, str]:
    """(done, total, message) of a stage runner's event, or of a core job's progress."""
    from aist_app.api import events as E
    from aist_app.api.progress import ItemProgress, TrainProgress

    if isinstance(event, E.Progress):
        figures = ", ".join(f"{k}={v:.3g}" for k, v in list(event.values.items())[:4])
        what = figures or f"{event.item} {event.status} {event.message}".strip()
        return event.done, event.total or 0, f"{event.unit} {event.done}: {what}"
    if isinstance(event, E.Log):
        return -1, -1, event.message
    if isinstance(event, E.Metric):
        return -1, -1, f"step {event.step}: " + ", ".join(
            f"{k}={v:.4g}" for k, v in event.values.items())
    if isinstance(event, E.Artifact):
        return -1, -1, f"wrote {event.kind}: {event.path}"
    if isinstance(event, E.Done):
        return -1, -1, f"done: {event.stage}"
    if isinstance(event, TrainProgress):
        losses = ", ".join(f"{k}={v:.3g}" for k, v in list(event.losses.items())[:4])
        return event.step, event.total, f"step {event.step}: {event.event} {losses}"
    if isinstance(event, ItemProgress):
        return event.done, event.total, f"{event.object_id} {event.status} {event.message}"
    return 0, 0, str(event)


class JobThread(QThread):
    """Runs ``make()`` off the GUI thread: a generator (a core job) is driven to its end with
    progress and cancel; any other result is the job's result. A generator's
    :class:`~aist_app.api.progress.Yielded` values come to the GUI thread through
    ``yielded``, its return value through ``succeeded``: the job never writes the caller's
    state itself."""

    progress = Signal(int, int, str)
    yielded = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, make: Callable[[], Generator], parent=None) -> None:
        super().__init__(parent)
        self.make = make
        self._cancel = False
        self.result = None

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        try:
            gen = self.make()
            if not isinstance(gen, Generator):
                self.result = gen
                self.succeeded.emit(gen)
                return
            while True:
                if self._cancel:
                    gen.close()  # runs the generator's cleanup (writers close, temp removed)
                    self.cancelled.emit()
                    return
                try:
                    event = next(gen)
                except StopIteration as stop:
                    self.result = stop.value
                    self.succeeded.emit(stop.value)
                    return
                if isinstance(event, Yielded):
                    self.yielded.emit(event.value)
                    continue
                self.progress.emit(*describe(event))
        except Exception as e:  # shown in the log and a dialog, the app goes on
            self.failed.emit(f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")
