"""Checkpoints of every torch stage: atomic, self-describing (format, product version,
config), loaded with ``weights_only=True``, with the RNG state that makes resuming exact."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from aist_app import __version__
from aist_app.common.io_utils import file_mode

LAST = "last.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, of another kind or of another architecture."""


def save(path: str | Path, fmt: str, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to a temp file, then rename."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, file_mode())  # mkstemp's 0600 would survive the rename
    os.close(fd)
    try:
        torch.save({"format": fmt, "aist_version": __version__, **state}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(run_or_checkpoint: str | Path, fmt: str, what: str) -> dict[str, Any]:
    """A run folder (its ``checkpoints/last.pt``) or a checkpoint file of format ``fmt``;
    ``what`` names the kind in error messages. Adds ``path`` to the returned dict."""
    import torch

    p = Path(run_or_checkpoint)
    if p.is_dir():
        p = p / "checkpoints" / LAST
    if not p.is_file():
        raise CheckpointError(f"{p}: no {what} checkpoint here")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{p}: unreadable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ck, dict) or ck.get("format") != fmt:
        raise CheckpointError(f"{p}: not an AIST {what} checkpoint")
    ck["path"] = str(p)
    return ck


def recorded_path(ck: dict[str, Any], recorded: str) -> Path:
    """A dataset path a checkpoint recorded. Runs before paths were recorded absolute hold
    the path relative to where they were trained from: found by trying each folder above
    the checkpoint (an experiment's runs sit beside its datasets); as recorded otherwise."""
    p = Path(recorded)
    if p.is_absolute() or p.exists() or "path" not in ck:
        return p
    for parent in Path(ck["path"]).resolve().parents:
        if (parent / p).exists():
            return parent / p
    return p


def load_module(module, state: dict, name: str, path: str) -> None:
    """Load a state dict, refusing one of another architecture with a clear message."""
    own = module.state_dict()
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        raise CheckpointError(
            f"{path}: {name} does not match this architecture ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} of the wrong shape, e.g. "
            f"{(wrong + missing + unexpected)[:2]}); was it trained with another config?")
    module.load_state_dict(state)


def rng_state(generator) -> dict[str, Any]:
    import torch

    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(generator, state: dict[str, Any]) -> None:
    import torch

    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
