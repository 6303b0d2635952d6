"""The interfaces of the four stage kinds, next to the hook specs.

A plugin registers a stage class (``aist_register_stages``); its class attributes describe
it, so listing stages imports nothing heavy, and its operations are what the runner
(:mod:`aist_app.stages.runner`) calls. Each kind declares its configuration dataclass
(``config_class``): the CLI's options, the GUI's forms and the experiment's config sections
are generated from it.

* **renderer**: a class opened with :class:`~aist_app.api.renderer.RenderOptions` that renders
  the views of one object (:class:`~aist_app.api.renderer.Renderer`); the render pipeline does
  the rest. Configured by :class:`~aist_app.render.pipeline.RenderConfig`.
* **segmenter**: a class opened with :class:`~aist_app.api.segmenter.SegmenterOptions` that
  finds instances in photos (:class:`~aist_app.api.segmenter.Segmenter`). Configured by
  :class:`~aist_app.segment.pipeline.SegmentConfig`.
* **stylizer**: :class:`Stylizer` below: train from two datasets, apply to a dataset.
* **pose model**: :class:`PoseModel` below: train on a dataset; its :class:`PosePredictor`
  predicts, and the core evaluates and reconstructs from it (a plugin may bring its own).

Renderers and segmenters may leave ``config_class`` out (their pipeline's config applies).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, ClassVar, Protocol

from aist_app.api.progress import ItemProgress, TrainProgress
from aist_app.api.renderer import Renderer
from aist_app.api.segmenter import Segmenter
from aist_app.api.stage import Stage

__all__ = ["Renderer", "Segmenter", "Stylizer", "PoseModel", "PosePredictor", "Trainer",
           "TrainProgress", "ItemProgress", "DatasetSummary", "KIND_BASES",
           "Stage"]

class Trainer:
    """The trainer contract: a training run in a folder, resumable from its full-state
    checkpoint. ``run()`` yields a :class:`~aist_app.api.progress.TrainProgress` per step
    (``event``: ``"step"``, ``"eval"`` with the figures in ``info``, ``"checkpoint"`` or
    ``"done"`` with ``info["path"]``) and returns the final checkpoint's path."""

    step: int = 0  # the step it starts (or resumes) at
    config: Any = None
    #: Steps it trains to (None: ``config.steps``).
    total: int | None = None
    #: Its run folder (None: the checkpoint's grandparent).
    run_dir: Path | None = None

    def notes(self) -> list[str]:
        """Lines to tell the user before it starts (what it trains, where)."""
        return []

    def run(self) -> Generator[TrainProgress, None, Path]:
        """Train to the configured steps; returns the final checkpoint's path."""
        raise NotImplementedError

    def steps_to_train(self) -> int | None:
        """The step it trains to."""
        return self.total or getattr(self.config, "steps", None)


class DatasetSummary(Protocol):
    out: Path

    def as_dict(self) -> dict[str, Any]: ...


class TrainedStage(Stage):
    """What the learned kinds share: a config dataclass and resumable runs."""

    @staticmethod
    def config_class() -> type:
        """The training configuration dataclass."""
        raise NotImplementedError

    @staticmethod
    def resume(run: str | Path, *, steps: int | None = None, device: str = "auto"
               ) -> Trainer:
        """The run in ``run`` continued from its checkpoint (optionally to ``steps``)."""
        raise NotImplementedError


class Stylizer(TrainedStage):
    """The stylizer contract: learns synthetic -> real and restyles a synthetic dataset,
    keeping its annotations."""

    required = ("config_class", "trainer", "resume", "stylize")

    @staticmethod
    def trainer(config: Any, synthetic: str | Path, real: str | Path, run_dir: str | Path, *,
                resume: bool = False, overwrite: bool = False) -> Trainer:
        """A run training on ``synthetic`` (domain X) and ``real`` (domain Y) in ``run_dir``."""
        raise NotImplementedError

    @staticmethod
    def stylize(run: str | Path, dataset: str | Path, out: str | Path, *, batch: int = 32,
                device: str = "auto", overwrite: bool = False
                ) -> Generator[ItemProgress, None, DatasetSummary]:
        """Write a stylized copy of ``dataset`` at ``out``: new RGB, the same alpha,
        cameras and points."""
        raise NotImplementedError


class PosePredictor:
    """The predictor contract: a trained pose run loaded for prediction, what the core
    evaluator (:mod:`aist_app.pose.evaluate`), the reconstruction of one image, the
    experiment's report and the GUI's comparison ask a pose model for. Points and
    quaternions are in the model's own frame; the core aligns them to the ground truth's."""

    run_dir: Path
    checkpoint: Path  # the file its predictions come from (identity for records and caches)
    step: int
    training_set: Path  # the dataset it trained on (its validation objects align the frame)
    camera_distance: float
    focal_length: float  # its camera's relative focal length
    batch: int  # views per batch
    #: Optional test-time refinement: ``refiner(align, settings)`` builds a refiner,
    #: ``refine_view(rgba, refiner)`` predicts one image with it; None: cannot refine.
    refiner: Callable[..., Any] | None = None
    refine_view: Callable[..., Any] | None = None

    def predict(self, data: Any, *, render: bool = False, limit: int | None = None,
                views: list[tuple[str, str]] | None = None) -> list:
        """:class:`~aist_app.pose.evaluate.Prediction` s of the views of ``data`` (a
        :class:`~aist_app.pose.data.PoseData`): every view of the first ``limit`` objects,
        or ``views`` (object, file), in that order; ``render``: with the predicted
        silhouette (``proj``, the grid of the mask) for the XOR."""
        raise NotImplementedError

    def predict_view(self, rgba: Any) -> dict:
        """``points`` (N, 3) and ``quaternion`` (4,) predicted from one (H, W, 4) image."""
        raise NotImplementedError


def _evaluate(run: str | Path, test_sets: list, out: str | Path, *, device: str = "auto",
              progress: Any = None, **options: Any) -> dict:
    """Evaluate ``run`` on ``test_sets`` into ``out`` (``options``: model_name, split,
    overwrite and the plugin's own); returns the metrics by set."""


def _reconstruct(run: str | Path, image: str | Path, out: str | Path, *,
                 device: str = "auto", progress: Any = None, **options: Any) -> dict:
    """Predict one image's points and camera into ``out``; returns the record."""


class PoseModel(TrainedStage):
    """The pose-model contract: predicts shape and pose from single images.

    Optional: ``evaluate`` and ``reconstruct`` (None: the core's, from :meth:`predictor`),
    ``plan`` (for ``aist experiment --dry-run``)."""

    required = ("config_class", "trainer", "resume", "predictor")
    optional = {"evaluate": _evaluate, "reconstruct": _reconstruct}
    evaluate: ClassVar[Callable[..., Any] | None] = None
    reconstruct: ClassVar[Callable[..., Any] | None] = None

    @staticmethod
    def trainer(config: Any, dataset: str | Path, run_dir: str | Path, *,
                resume: bool = False, overwrite: bool = False) -> Trainer:
        """A run training on ``dataset`` in ``run_dir``."""
        raise NotImplementedError

    @staticmethod
    def predictor(run: str | Path, *, device: str = "auto") -> PosePredictor:
        """The trained run in ``run`` loaded for prediction."""
        raise NotImplementedError


#: Each kind's contract: the base class its stages subclass.
KIND_BASES: dict[str, type[Stage]] = {"renderer": Renderer, "segmenter": Segmenter,
                                      "stylizer": Stylizer, "pose_model": PoseModel}
