"""``aist doctor``'s vocabulary: a check's result, the options every check gets, and the
registry plugins add their checks and their stages' needs to (``aist_register_checks``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Check:
    """One check's result: ``ok``, ``warn`` or ``missing``, with how to fix it."""

    name: str
    status: str  # ok | warn | missing
    detail: str
    fix: str = ""
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DoctorOptions:
    """What the user told ``aist doctor``: the output folder (its free disk space) and the
    broker to reach (``--broker``, default ``$AIST_BROKER``)."""

    out: Path = Path(".")
    broker: str | None = None


CheckFn = Callable[[DoctorOptions], Check]


class CheckRegistry:
    """Checks by name, in the order added, and what each doctor stage (``aist doctor --stage
    S``) needs."""

    def __init__(self) -> None:
        self.checks: dict[str, CheckFn] = {}
        self.stages: dict[str, list[str]] = {}
        self.added_by: dict[str, str] = {}
        self._current_plugin = "aist"

    def add(self, name: str, fn: CheckFn, *, stages: tuple[str, ...] = ()) -> None:
        """A check ``fn(options) -> Check`` called ``name``, needed by ``stages``."""
        if name in self.checks:
            raise LookupError(f"{self._current_plugin!r} adds the doctor check {name!r}, "
                              f"which {self.added_by[name]!r} added")
        self.checks[name] = fn
        self.added_by[name] = self._current_plugin
        for stage in stages:
            self.require(stage, name)

    def require(self, stage: str, *names: str) -> None:
        """Doctor stage ``stage`` needs the checks ``names`` (a stage starts with the
        core's ``python`` and ``packages``)."""
        needed = self.stages.setdefault(stage, [])
        for name in (*(() if needed or stage == "disk" else ("python", "packages")), *names):
            if name not in needed:
                needed.append(name)


def run_python(code: str, timeout: float = 60, env: dict | None = None) -> tuple[int, str]:
    """``code`` in a fresh Python (a GL context, Blender or Qt that crashes or hangs cannot
    take the doctor down): its exit status and last line of output (of stderr on failure)."""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, **(env or {})})
    return p.returncode, (p.stdout.strip().splitlines() or [""])[-1] if p.returncode == 0 \
        else (p.stderr.strip().splitlines() or ["(no output)"])[-1]
