"""The segmenter interface every segmenter plugin implements, and where weights come from."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

WEIGHTS_ENV = "AIST_WEIGHTS_DIR"


class WeightsNotFoundError(FileNotFoundError):
    """Model weights are not on this machine; the message says which file and where."""


@dataclass(frozen=True)
class SegmenterOptions:
    weights: str | None = None  # a file; default: the plugin's own search
    device: str = "auto"  # auto | cpu | cuda[:N]
    batch_size: int = 2
    input_size: int | None = None  # the network's input size (plugin default when None)
    variant: str | None = None  # e.g. maskrcnn "v2" (default) or "v1"
    score_floor: float = 0.3  # detections below this are not candidates at all


@dataclass
class Instance:
    """One detected object in a photo."""

    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in photo pixels
    mask: np.ndarray  # (H, W) bool at the photo's resolution


class Segmenter(Protocol):
    """Segmenter plugins: class attributes describe them; heavy imports go in ``__init__``."""

    name: ClassVar[str]
    description: ClassVar[str]
    needs_gpu: ClassVar[bool]

    def __init__(self, options: SegmenterOptions) -> None: ...

    def segment(self, images: Sequence[np.ndarray]) -> list[list[Instance]]:
        """Every instance found in each (H, W, 3) uint8 RGB image, in order."""
        ...

    def describe(self) -> dict:
        """What produced the masks (model, weights file, input size), for provenance."""
        ...

    def close(self) -> None: ...


def find_weights(filename: str, explicit: str | None, what: str) -> Path:
    """``explicit`` (a file, or a folder holding ``filename``), else ``$AIST_WEIGHTS_DIR``,
    else the torch hub cache. Raises :class:`WeightsNotFoundError` naming the file and the
    places looked at."""
    looked: list[Path] = []
    if explicit:
        p = Path(explicit).expanduser()
        p = p / filename if p.is_dir() else p
        if p.is_file():
            return p
        raise WeightsNotFoundError(f"{p}: weights file not found ({what})")
    if os.environ.get(WEIGHTS_ENV):
        looked.append(Path(os.environ[WEIGHTS_ENV]).expanduser() / filename)
    try:
        from torch.hub import get_dir

        looked.append(Path(get_dir()) / "checkpoints" / filename)
    except ImportError:
        looked.append(Path("~/.cache/torch/hub/checkpoints").expanduser() / filename)
    for p in looked:
        if p.is_file():
            return p
    places = "\n  ".join(str(p) for p in looked)
    raise WeightsNotFoundError(
        f"{what}: weights file {filename!r} not found. Looked at:\n  {places}\n"
        f"Download it on a machine with internet and put it in ${WEIGHTS_ENV} (or the torch "
        f"cache above), or pass --weights PATH. AIST never falls back to random weights.")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; others are checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device}: torch sees no CUDA GPU on this machine")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"--device {device!r}: use auto, cpu or cuda[:N]")
    return device
