"""The interfaces of the four stage kinds, next to the hook specs.

A plugin registers a stage class (``aist_register_stages``); its class attributes describe
it, so listing stages imports nothing heavy, and its operations are what the runner
(:mod:`aist_app.stages.runner`) calls. Each kind declares its configuration dataclass
(``config_class``): the CLI's options, the GUI's forms and the experiment's config sections
are generated from it.

* **renderer**: a class opened with :class:`~aist_app.render.base.RenderOptions` that renders
  the views of one object (:class:`~aist_app.render.base.Renderer`); the render pipeline does
  the rest. Configured by :class:`~aist_app.render.pipeline.RenderConfig`.
* **segmenter**: a class opened with :class:`~aist_app.segment.base.SegmenterOptions` that
  finds instances in photos (:class:`~aist_app.segment.base.Segmenter`). Configured by
  :class:`~aist_app.segment.pipeline.SegmentConfig`.
* **stylizer**: :class:`Stylizer` below: train from two datasets, apply to a dataset.
* **pose model**: :class:`PoseModel` below: train on a dataset; its :class:`PosePredictor`
  predicts, and the core evaluates and reconstructs from it (a plugin may bring its own).

Renderers and segmenters may leave ``config_class`` out (their pipeline's config applies).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from aist_app.render.base import Renderer
from aist_app.segment.base import Segmenter

__all__ = ["Renderer", "Segmenter", "Stylizer", "PoseModel", "PosePredictor", "Trainer",
           "TrainStep",
           "ItemProgress", "DatasetSummary", "KIND_OPERATIONS"]

#: What the runner can do with each kind.
KIND_OPERATIONS: dict[str, tuple[str, ...]] = {
    "renderer": ("render",),
    "segmenter": ("segment",),
    "stylizer": ("train", "apply"),
    "pose_model": ("train", "evaluate", "reconstruct"),
}


class TrainStep(Protocol):
    """What a trainer yields each step (:class:`aist_app.stages.progress.TrainProgress`):
    ``event`` is ``"step"``, ``"eval"`` (``info``: the figures), ``"checkpoint"`` or
    ``"done"`` (``info["path"]``: the checkpoint)."""

    step: int
    total: int
    losses: dict[str, float]
    event: str
    info: dict


class Trainer(Protocol):
    """A training run in a folder, resumable from its full-state checkpoint."""

    step: int  # the step it starts (or resumes) at
    config: Any

    def run(self) -> Generator[TrainStep, None, Path]:
        """Train to the configured steps; returns the final checkpoint's path."""
        ...


class ItemProgress(Protocol):
    """What dataset-writing stages yield per item (:class:`aist_app.render.pipeline.Progress`)."""

    done: int
    total: int
    object_id: str
    status: str  # "rendered"/"written", "skipped" (already complete), "failed"
    message: str


class DatasetSummary(Protocol):
    out: Path

    def as_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class Stylizer(Protocol):
    """Learns synthetic -> real and restyles a synthetic dataset, keeping its annotations."""

    name: ClassVar[str]
    description: ClassVar[str]
    needs_gpu: ClassVar[bool]
    #: The loss terms a progress bar shows.
    progress_keys: ClassVar[tuple[str, ...]]

    @staticmethod
    def config_class() -> type:
        """The training configuration dataclass."""
        ...

    @staticmethod
    def trainer(config: Any, synthetic: str | Path, real: str | Path, run_dir: str | Path, *,
                resume: bool = False, overwrite: bool = False) -> Trainer:
        """A run training on ``synthetic`` (domain X) and ``real`` (domain Y) in ``run_dir``."""
        ...

    @staticmethod
    def resume(run: str | Path, *, steps: int | None = None, device: str = "auto"
               ) -> Trainer:
        """The run in ``run`` continued from its checkpoint (optionally to ``steps``)."""
        ...

    @staticmethod
    def stylize(run: str | Path, dataset: str | Path, out: str | Path, *, batch: int = 32,
                device: str = "auto", overwrite: bool = False
                ) -> Generator[ItemProgress, None, DatasetSummary]:
        """Write a stylized copy of ``dataset`` at ``out``: new RGB, the same alpha,
        cameras and points."""
        ...


class PosePredictor(Protocol):
    """A trained pose run loaded for prediction: what the core evaluator
    (:mod:`aist_app.pose.evaluate`), the reconstruction of one image, the experiment's
    report and the GUI's comparison ask a pose model for. Points and quaternions are in the
    model's own frame; the core aligns them to the ground truth's."""

    run_dir: Path
    checkpoint: Path  # the file its predictions come from (identity for records and caches)
    step: int
    training_set: Path  # the dataset it trained on (its validation objects align the frame)
    camera_distance: float
    focal_length: float  # its camera's relative focal length
    batch: int  # views per batch

    def predict(self, data: Any, *, render: bool = False, limit: int | None = None,
                views: list[tuple[str, str]] | None = None) -> list:
        """:class:`~aist_app.pose.evaluate.Prediction` s of the views of ``data`` (a
        :class:`~aist_app.pose.data.PoseData`): every view of the first ``limit`` objects,
        or ``views`` (object, file), in that order; ``render``: with the predicted
        silhouette (``proj``, the grid of the mask) for the XOR."""
        ...

    def predict_view(self, rgba: Any) -> dict:
        """``points`` (N, 3) and ``quaternion`` (4,) predicted from one (H, W, 4) image."""
        ...


@runtime_checkable
class PoseModel(Protocol):
    """Predicts shape and pose from single images.

    Optional operations: ``evaluate(run, test_sets, out, *, device, model_name, split,
    overwrite, progress, **options)`` and ``reconstruct(run, image, out, *, device,
    progress, **options)`` (the core's, from :meth:`predictor`, when left out), ``plan(
    settings, steps)`` (the memory and time for ``aist experiment --dry-run``); a predictor
    may offer ``refiner(align, settings)`` and ``refine_view(rgba, refiner)`` for test-time
    refinement."""

    name: ClassVar[str]
    description: ClassVar[str]
    needs_gpu: ClassVar[bool]
    progress_keys: ClassVar[tuple[str, ...]]

    @staticmethod
    def config_class() -> type: ...

    @staticmethod
    def trainer(config: Any, dataset: str | Path, run_dir: str | Path, *,
                resume: bool = False, overwrite: bool = False) -> Trainer: ...

    @staticmethod
    def resume(run: str | Path, *, steps: int | None = None, device: str = "auto"
               ) -> Trainer: ...

    @staticmethod
    def predictor(run: str | Path, *, device: str = "auto") -> PosePredictor:
        """The trained run in ``run`` loaded for prediction."""
        ...
