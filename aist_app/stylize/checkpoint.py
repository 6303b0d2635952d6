"""Stylizer checkpoints: atomic, self-describing (config, product version), weights-only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from aist_app import __version__

FORMAT = "aist-stylizer"
LAST = "last.pt"


class CheckpointError(ValueError):
    """A checkpoint that is unreadable, not a stylizer's, or of another architecture."""


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, "aist_version": __version__, **state}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve(run_or_checkpoint: str | Path) -> Path:
    """A run folder means its last checkpoint."""
    p = Path(run_or_checkpoint)
    if p.is_dir():
        p = p / "checkpoints" / LAST
    if not p.is_file():
        raise CheckpointError(f"{p}: no stylizer checkpoint here")
    return p


def load(path: str | Path) -> dict[str, Any]:
    path = resolve(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})"
                              ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an AIST stylizer checkpoint")
    ckpt["path"] = str(path)
    return ckpt


def load_module(module: torch.nn.Module, state: dict, name: str, path: str) -> None:
    """Load a state dict, refusing one of another architecture with a clear message."""
    own = module.state_dict()
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        raise CheckpointError(
            f"{path}: {name} does not match this architecture ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} of the wrong shape, e.g. "
            f"{(wrong + missing + unexpected)[:2]}); was it trained with other --ngf/--ndf/"
            "--n-blocks?")
    module.load_state_dict(state)
