"""The segmenter interface every segmenter plugin implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aist_app.api.stage import Stage


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


class Segmenter(Stage):
    """The segmenter contract: a stage class opened with :class:`SegmenterOptions` (heavy
    imports in ``__init__``) that finds instances in photos. Configured by
    :class:`~aist_app.segment.pipeline.SegmentConfig`."""

    required = ("__init__", "segment", "describe")

    def __init__(self, options: SegmenterOptions) -> None:
        raise NotImplementedError

    def segment(self, images: Sequence[np.ndarray]) -> list[list[Instance]]:
        """Every instance found in each (H, W, 3) uint8 RGB image, in order."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What produced the masks (model, weights file, input size), for provenance."""
        raise NotImplementedError

    def close(self) -> None:
        """Free its resources."""
