"""What the core's long jobs yield, and running one to the end without a front end.

Dataset stages (render, segment, stylize, import, the farm's pool) yield an
:class:`ItemProgress` per item; trainers yield a :class:`TrainProgress` per step. The stage
runner turns both into the events of :mod:`aist_app.api.events`.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TypeVar

R = TypeVar("R")


@dataclass
class ItemProgress:
    done: int
    total: int
    object_id: str
    status: str  # "rendered", "written", "imported", "skipped", "failed", "retrying"
    message: str = ""


@dataclass
class TrainProgress:
    step: int
    total: int
    losses: dict[str, float] = field(default_factory=dict)
    event: str = "step"  # step | checkpoint | eval | done
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Yielded:
    """A partial result a worker's generator hands to the thread that started it (the GUI
    thread), e.g. a cache as soon as it opens; not progress."""

    value: object


def drain(gen: Generator[object, None, R]) -> R:
    """Exhaust ``gen`` and return its return value (scripts, tests, benchmarks)."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
