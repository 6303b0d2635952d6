"""Stylizer checkpoints (format ``aist-stylizer``) on the shared checkpoint helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aist_app.common import checkpoints
from aist_app.common.checkpoints import LAST, CheckpointError, load_module

FORMAT = "aist-stylizer"
__all__ = ["FORMAT", "LAST", "CheckpointError", "load", "load_module", "save"]


def save(path: Path, state: dict[str, Any]) -> None:
    checkpoints.save(path, FORMAT, state)


def load(run_or_checkpoint: str | Path) -> dict[str, Any]:
    return checkpoints.load(run_or_checkpoint, FORMAT, "stylizer")
