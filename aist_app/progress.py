"""Long jobs are generators that yield progress and return a summary; this runs one to the
end without a front end (scripts, tests, benchmarks)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

R = TypeVar("R")


def drain(gen: Generator[object, None, R]) -> R:
    """Exhaust ``gen`` and return its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
