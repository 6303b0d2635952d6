"""The segmentation configuration: a dataclass without heavy imports (the CLI takes its
defaults from it), recorded in every real dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aist_app.api.segmenter import SegmenterOptions
    from aist_app.segment.filters import FilterConfig


@dataclass
class SegmentConfig:
    """Everything that determines a segmentation run's output (recorded in dataset.json)."""

    segmenter: str = "maskrcnn"
    classes: tuple[str, ...] = ("car", "truck")
    min_score: float = 0.7
    min_side: float = 128.0
    min_fill: float = 0.5
    seed: int = 0
    batch_size: int = 2
    device: str = "auto"
    weights: str | None = None
    variant: str | None = None
    input_size: int | None = None
    max_megapixels: float = 50.0
    test_fraction: float = 0.2

    def validate(self) -> None:
        """Every value in range, or a ValueError naming the option (before any work)."""
        from aist_app.api.config import check_bounds
        from aist_app.common.devices import parse_device

        check_bounds(self, {"min_score": (0, 1), "min_side": (0, None), "min_fill": (0, 1),
                            "seed": (0, None), "batch_size": (1, None),
                            "test_fraction": (0, 1)}, positive=("max_megapixels",))
        if self.input_size is not None and self.input_size < 32:
            raise ValueError(f"--input-size {self.input_size}: must be at least 32")
        if not self.classes:
            raise ValueError("--classes: name at least one class")
        parse_device(self.device)

    def filters(self) -> FilterConfig:
        from aist_app.segment.filters import FilterConfig

        return FilterConfig(classes=tuple(self.classes), min_score=self.min_score,
                            min_side=self.min_side, min_fill=self.min_fill)

    def options(self) -> SegmenterOptions:
        from aist_app.api.segmenter import SegmenterOptions

        return SegmenterOptions(weights=self.weights, device=self.device,
                                batch_size=self.batch_size, input_size=self.input_size,
                                variant=self.variant, score_floor=min(0.3, self.min_score))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d
