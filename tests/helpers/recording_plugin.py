"""A real third-party plugin for tests: records every ``aist_dataset_written`` call.

In-process, register :class:`Recorder` on a plugin manager; in a subprocess (a CLI run, a
Celery worker, an experiment), :func:`install` puts this module on an entry point of a
temporary site folder and ``$AIST_TEST_HOOK_LOG`` names the file each call appends to."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aist_app import hookimpl

LOG_ENV = "AIST_TEST_HOOK_LOG"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    @hookimpl
    def aist_dataset_written(self, path, kind, summary):
        self.calls.append({"path": str(path), "kind": kind, "summary": dict(summary)})


@hookimpl
def aist_dataset_written(path, kind, summary):
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"path": str(path), "kind": kind, "pid": os.getpid(),
                                "summary": summary}, default=str) + "\n")


def install(site: Path, log: Path) -> dict[str, str]:
    """This module as the entry point ``recorder`` in ``site``; the environment to run
    ``aist`` with it (PYTHONPATH, the log)."""
    from tests.helpers.site import install_entry_point

    return {**install_entry_point(site, Path(__file__), "aist_recording_plugin", "recorder"),
            LOG_ENV: str(log)}


def records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
