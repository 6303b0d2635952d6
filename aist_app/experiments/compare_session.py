"""The state behind the GUI's Compare page, without Qt: the evaluations compared, the test
set open, and the work its background threads do. Work is a plain function or generator
over a snapshot of the state; it *returns* (or yields as :class:`~aist_app.api.progress.
Yielded`) what it made, and the GUI thread stores it with ``accept_*`` (as napari's
workers hand results back): no worker writes the session."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aist_app.api.progress import ItemProgress, Yielded
from aist_app.experiments.compare import (
    Comparison,
    evaluation_alignment,
    evaluation_inputs,
    load_comparison,
)


@dataclass
class ViewResult:
    """One view's overlays: each model's predicted silhouette (``projs``), its aligned
    cloud and camera frustum (``clouds``), the truth's (``truth``), and what the work loaded
    on the way (the test set, the models' evaluators) for the next view."""

    projs: dict[str, np.ndarray]
    clouds: dict[str, tuple[np.ndarray, np.ndarray]]
    truth: tuple[np.ndarray, np.ndarray] | None
    data: Any = None
    evaluators: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CacheReady:
    """A model's prediction cache for the open test set (yielded by the fill work)."""

    model: str
    cache: Any


class CompareSession:
    """Evaluations by model name (the first is the baseline), the open test set's
    comparison, the prediction caches and the loaded predictors."""

    def __init__(self, *, runner=None, cache_root: str | Path | None = None) -> None:
        self.runner = runner
        self.cache_root = cache_root  # None: the user's cache directory
        self.evaluations: dict[str, Path] = {}
        self.runs: dict[str, Path] = {}
        self.set_paths: dict[str, Path] = {}  # test set name -> its dataset folder
        self.aligns: dict[str, np.ndarray] = {}
        self.comparison: Comparison | None = None
        self.caches: dict[str, Any] = {}  # model -> PredictionCache of the open test set
        self.evaluators: dict[str, Any] = {}
        self.data = None  # the open test set's PoseData, loaded by the first view's work

    # -- opening (GUI thread) --------------------------------------------------------------
    def open(self, evaluations: dict[str, Path]) -> list[str]:
        """``aist evaluate`` output folders by model name; the test sets they share."""
        self.evaluations = {m: Path(p) for m, p in evaluations.items()}
        inputs = {m: evaluation_inputs(e) for m, e in self.evaluations.items()}
        self.runs = {m: run for m, (run, _) in inputs.items()}
        self.set_paths = {}
        for _, sets in inputs.values():
            for name, path in sets.items():
                self.set_paths.setdefault(name, path)
        self.aligns = {m: evaluation_alignment(e) for m, e in self.evaluations.items()
                       if (e / "alignment.json").is_file()}
        self.evaluators = {}
        names = [{p.name[len("per_view_"):-4] for p in Path(e).glob("per_view_*.csv")}
                 for e in self.evaluations.values()]
        return sorted(n for n in set.intersection(*names) if n in self.set_paths) \
            if names else []

    def load(self, test_set: str) -> Comparison:
        """Open ``test_set``: its comparison; its caches and data load in the work."""
        self.comparison = load_comparison(self.evaluations, test_set)
        self.data = None
        self.caches = {}
        return self.comparison

    def _runner(self):
        if self.runner is None:
            from aist_app.stages.runner import StageRunner

            self.runner = StageRunner()
        return self.runner

    # -- work (a worker thread) ------------------------------------------------------------
    def fill_work(self) -> Callable[[], Generator[Any, None, int]]:
        """Work that predicts every view of the open set for every model (what the disk
        cache holds is skipped), yielding progress and each model's :class:`CacheReady`."""
        runner, runs = self._runner(), dict(self.runs)
        root = self.set_paths[self.comparison.test_set]
        views = [(r["object"], r["view"]) for r in self.comparison.rows]
        cache_root = self.cache_root

        def work():
            from aist_app.pose.data import PoseData
            from aist_app.pose.evaluate import Evaluator
            from aist_app.pose.prediction_cache import PredictionCache

            data = PoseData(root, None)
            computed = 0
            for i, (m, run) in enumerate(runs.items()):
                predictor = runner.predictor(run, device="cpu")
                cache = PredictionCache(run, root, root=cache_root,
                                        checkpoint=predictor.checkpoint)
                yield Yielded(CacheReady(m, cache))
                if all(cache.has(oid) for oid, _ in views):
                    continue
                for p in cache.fill(Evaluator(predictor), data, views):
                    computed += 1
                    yield ItemProgress(p.done, p.total, f"{m} ({i + 1}/{len(runs)})",
                                       "predicted")
            return computed

        return work

    def view_work(self, r: dict) -> Callable[[], ViewResult]:
        """Work that makes the overlays of the view ``r`` (a comparison row)."""
        runner, runs, aligns = self._runner(), dict(self.runs), dict(self.aligns)
        caches, data, evaluators = dict(self.caches), self.data, dict(self.evaluators)
        path = self.set_paths[self.comparison.test_set]

        def work() -> ViewResult:
            from aist_app.pose.data import PoseData
            from aist_app.pose.evaluate import Evaluator
            from aist_app.pose.reconstruct import to_truth_frame
            from aist_app.scene.cameras import frustum_points, intrinsics

            pose_data = data if data is not None else PoseData(path, None)
            ds = pose_data.ds
            size = tuple(ds.image_size)
            projs, clouds = {}, {}

            def evaluator(m: str):
                if m not in evaluators:  # loaded once per model, when first needed
                    evaluators[m] = Evaluator(runner.predictor(runs[m], device="cpu"))
                return evaluators[m]

            for m in runs:
                p = caches[m].get(r["object"], r["view"]) if m in caches else None
                if p is None:  # not predicted in the background yet
                    p = evaluator(m).predict(pose_data, render=True,
                                             views=[(r["object"], r["view"])])[0]
                projs[m] = p.proj
                if m in aligns:
                    ev = evaluator(m)
                    pts, _, w2c = to_truth_frame(p.points, p.quaternion, aligns[m],
                                                 ev.predictor.camera_distance)
                    K = intrinsics(size, pose_data.focal_length() or ev.predictor.focal_length)
                    clouds[m] = (pts, frustum_points(w2c, K, size))
            truth = None
            if pose_data.has_gt:
                v = {v["file"]: v for v in ds.cameras(r["object"])}[r["view"]]
                truth = (pose_data.gt_points(r["object"]),
                         frustum_points(np.asarray(v["world_to_camera"]), np.asarray(v["K"]),
                                       size))
            return ViewResult(projs, clouds, truth, pose_data, evaluators)

        return work

    # -- results (GUI thread) --------------------------------------------------------------
    def accept_cache(self, ready: CacheReady) -> None:
        self.caches[ready.model] = ready.cache

    def accept_view(self, result: ViewResult) -> None:
        """Keep what the view's work loaded (the set, the evaluators) for the next one."""
        if self.data is None:
            self.data = result.data
        for m, ev in result.evaluators.items():
            self.evaluators.setdefault(m, ev)
