"""The one stage runner: every front end (the CLI, the GUI's Stages page, the experiment,
the local render pool, Celery workers, the Blender add-on through ``--progress jsonl``) runs
stages through :class:`StageRunner`.

Given the plugin manager (one per invocation, injectable), a stage kind, a plugin name and
the stage's typed config, each operation is a generator of the events of
:mod:`aist_app.api.events` that returns the stage's summary, and fires the hooks
(``aist_dataset_written`` once a dataset is complete). Qt-free; nothing heavy is imported
before a stage runs.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

from aist_app.api.contracts import Trainer
from aist_app.api.events import Artifact, Done, Event, Log, Metric, Progress

R = TypeVar("R")


def item_events(gen: Generator[Any, None, R], unit: str
                ) -> Generator[Event, None, R]:
    """A dataset stage's per-item progress (render, segment, stylize, the farm's pool) as
    events: a failed item is also a warning naming it and why."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Progress(p.done, p.total, unit, p.object_id, p.status, p.message)
        if p.status == "failed":
            yield Log(f"skipped {p.object_id}: {p.message}", "warning")


def train_events(gen: Generator[Any, None, R]) -> Generator[Event, None, R]:
    """A trainer's steps as events: progress with the step's losses, metrics of the
    periodic evaluations, checkpoints and the finished run as artifacts."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if p.event == "step":
            yield Progress(p.step, p.total, "step", str(p.step), "step",
                           values=dict(p.losses))
        elif p.event == "eval":
            name = "val_pose" if any(k.startswith("val_acc") for k in p.info) else "val"
            yield Metric(p.step, {k: v for k, v in p.info.items()
                                  if isinstance(v, int | float)}, name)
        elif p.event == "checkpoint":
            yield Artifact(str(p.info["path"]), "checkpoint")


def threaded(fn: Callable[..., R], unit: str, **kwargs: Any) -> Generator[Event, None, R]:
    """Run ``fn(progress=callback, **kwargs)`` on a thread and yield its progress callbacks
    (``callback(item, done, total)``) as events; returns its result, raises its error."""
    q: queue.Queue = queue.Queue()
    out: dict[str, Any] = {}

    def progress(item: str, done: int, total: int) -> None:
        q.put(Progress(done, total, unit, str(item)))

    def work() -> None:
        try:
            out["result"] = fn(progress=progress, **kwargs)
        except BaseException as e:  # re-raised on the caller's thread
            out["error"] = e
        finally:
            q.put(None)

    t = threading.Thread(target=work, name="aist-stage", daemon=True)
    t.start()
    while (event := q.get()) is not None:
        yield event
    t.join()
    if "error" in out:
        raise out["error"]
    return out["result"]


class StageRunner:
    """Runs stages of the plugins a plugin manager holds."""

    def __init__(self, pm=None) -> None:
        if pm is None:
            from aist_app.api.manager import create_plugin_manager

            pm = create_plugin_manager()
        self.pm = pm

    # -- what is installed -------------------------------------------------------------------
    def stage(self, kind: str, name: str):
        """The stage's :class:`~aist_app.api.registry.StageInfo` (a clear error names
        what is installed)."""
        return self.pm.stage(kind, name)

    def config_class(self, kind: str, name: str | None = None) -> type:
        """The configuration dataclass of a stage (its kind's pipeline config for renderers
        and segmenters that declare none)."""
        if name is not None:
            declared = self.stage(kind, name).factory.config_class
            if declared is not None:
                return declared()
        return default_config_class(kind)

    # -- hooks ---------------------------------------------------------------------------------
    def dataset_written(self, path: str | Path, kind: str, summary: dict[str, Any]
                        ) -> Artifact:
        """Fire ``aist_dataset_written`` for a complete dataset; the artifact event."""
        self.pm.dataset_written(Path(path), kind, summary)
        return Artifact(str(path), "dataset", kind, summary)

    def dataset_stage(self, gen, kind: str, stage: str, unit: str = "obj"):
        """Any core generator that writes a dataset (``ItemProgress`` per item, a summary
        with ``out`` and ``as_dict()``): events, then the hook once it is complete."""
        return (yield from self._dataset(gen, unit, kind, stage))

    def _dataset(self, gen, unit: str, kind: str, stage: str):
        summary = yield from item_events(gen, unit)
        info = summary.as_dict()
        yield self.dataset_written(summary.out, kind, info)
        yield Done(stage, info)
        return summary

    # -- operations ----------------------------------------------------------------------------
    def render_items(self, meshes, config):
        """The renderer's stage and the collection's meshes, checked before anything is
        written (the renderer is installed, the viewpoint specs parse, there are meshes);
        a render here or a farm job uses them."""
        from aist_app.scene.meshes import discover

        stage = self.stage("renderer", config.renderer)
        items = discover(meshes)
        config.validate()
        if not items:
            raise ValueError(f"{meshes}: no meshes found (ShapeNet layout or "
                             "OBJ/GLB/PLY/STL/OFF files)")
        return stage, items

    def render(self, meshes, out, config, *, overwrite: bool = False):
        """Render a mesh collection folder into a synthetic dataset with
        ``config.renderer``."""
        from aist_app.render.pipeline import render_collection

        stage, items = self.render_items(meshes, config)
        gen = render_collection(items, out, config, stage.factory, root=meshes,
                                overwrite=overwrite)
        return (yield from self._dataset(gen, "obj", "synthetic",
                                         f"renderer:{config.renderer}:render"))

    def segment(self, photos, out, synthetic, config, *, overwrite: bool = False):
        """Segment photos into a real dataset with ``config.segmenter``."""
        from aist_app.segment.pipeline import segment_photos

        stage = self.stage("segmenter", config.segmenter)
        gen = segment_photos(photos, out, synthetic, config, stage.factory,
                             overwrite=overwrite)
        return (yield from self._dataset(gen, "photo", "real",
                                         f"segmenter:{config.segmenter}:segment"))

    def _train(self, trainer, stage: str):
        if not isinstance(trainer, Trainer):
            raise TypeError(f"{stage}: the plugin's trainer {type(trainer).__qualname__} does "
                            "not subclass aist_app.api.contracts.Trainer")
        for note in trainer.notes():
            yield Log(note)
        path = yield from train_events(trainer.run())
        run = trainer.run_dir or Path(path).parent.parent
        yield Artifact(str(run), "run", summary={"checkpoint": str(path)})
        yield Done(stage, {"checkpoint": str(path), "step": trainer.step})
        return path

    def train_stylizer(self, plugin: str, config, synthetic, real, out, *,
                       overwrite: bool = False):
        trainer = self.stage("stylizer", plugin).factory.trainer(
            config, synthetic, real, out, overwrite=overwrite)
        return (yield from self._train(trainer, f"stylizer:{plugin}:train"))

    def resume(self, kind: str, plugin: str, run, *, steps: int | None = None,
               device: str = "auto"):
        """Continue a stylizer's or a pose model's run from its checkpoint (to ``steps``)."""
        trainer = self.stage(kind, plugin).factory.resume(run, steps=steps, device=device)
        yield Log(f"resuming {run} at step {trainer.step} of {trainer.steps_to_train()}")
        return (yield from self._train(trainer, f"{kind}:{plugin}:train"))

    def stylize(self, plugin: str, run, dataset, out, *, batch: int = 32,
                device: str = "auto", overwrite: bool = False):
        gen = self.stage("stylizer", plugin).factory.stylize(
            run, dataset, out, batch=batch, device=device, overwrite=overwrite)
        return (yield from self._dataset(gen, "obj", "stylized", f"stylizer:{plugin}:apply"))

    def train_pose(self, plugin: str, config, dataset, out, *, overwrite: bool = False):
        trainer = self.stage("pose_model", plugin).factory.trainer(
            config, dataset, out, overwrite=overwrite)
        return (yield from self._train(trainer, f"pose_model:{plugin}:train"))

    def default_stage(self, kind: str) -> str:
        """The installed stage of ``kind`` used when none is named (the one whose class
        declares ``default = True``, else the only one)."""
        return self.pm.registry.default(kind)

    def pose_plugin(self, run) -> str:
        """The pose model that trained ``run`` (its output record; the default pose model for
        runs older than records)."""
        from aist_app.common.outputs import read_record

        run = Path(run)
        record = read_record(run if run.is_dir() else run.parent.parent)
        if not record:
            return self.default_stage("pose_model")
        stage = record.get("stage")
        if stage not in (None, "train-pose"):
            made = f"`aist {stage}`" + (f" ({record['plugin']})" if record.get("plugin") else "")
            raise LookupError(f"{run}: is the output of {made}, not a pose-model run; give a "
                              "folder written by `aist train-pose` (or an experiment's "
                              "runs/<name>)")
        return record.get("plugin") or self.default_stage("pose_model")

    def predictor(self, run, *, plugin: str | None = None, device: str = "auto"):
        """The :class:`~aist_app.api.contracts.PosePredictor` of a trained pose run (of
        ``plugin``, else of the plugin that trained it)."""
        stage = self.stage("pose_model", plugin or self.pose_plugin(run)).factory
        return stage.predictor(run, device=device)

    def evaluate(self, plugin: str, run, test_sets, out, **options: Any):
        """Evaluate a pose run on test sets (``options``: device, split, overwrite,
        model_name and the plugin's own, e.g. ``refine``). A plugin without an ``evaluate``
        of its own is scored by the core evaluator from its predictor."""
        stage = self.stage("pose_model", plugin).factory
        if stage.evaluate is not None:
            work = stage.evaluate
        else:
            def work(run, test_sets, out, *, device: str = "auto", progress=None, **kw):
                from aist_app.pose.evaluate import evaluate

                return evaluate(stage.predictor(run, device=device), test_sets, out,
                                plugin=plugin, progress=progress, **kw)
        metrics = yield from threaded(work, "view", run=run,
                                      test_sets=list(test_sets), out=out, **options)
        yield Artifact(str(out), "report", summary={"sets": list(metrics)})
        yield Done(f"pose_model:{plugin}:evaluate", {"metrics": metrics})
        return metrics

    def reconstruct(self, plugin: str, run, image, out, **options: Any):
        stage = self.stage("pose_model", plugin).factory
        if stage.reconstruct is not None:
            work = stage.reconstruct
        else:
            def work(run, image, out, *, device: str = "auto", progress=None, **kw):
                from aist_app.pose.reconstruct import reconstruct

                return reconstruct(stage.predictor(run, device=device), image, out, **kw)
        yield Progress(0, 1, "image", str(image))
        result = yield from threaded(work, "step", run=run, image=image, out=out, **options)
        yield Progress(1, 1, "image", str(image), "done")
        yield Artifact(str(out), "reconstruction")
        yield Done(f"pose_model:{plugin}:reconstruct",
                   {k: v for k, v in result.items() if k.startswith("refine_")})
        return result

    def run(self, kind: str, plugin: str, operation: str, config=None, **inputs: Any
            ) -> Iterator[Event]:
        """Any operation by name (:data:`OPERATIONS`): ``renderer render`` (meshes, out),
        ``segmenter segment`` (photos, out, synthetic), ``stylizer train`` (synthetic, real,
        out) / ``apply`` (run, dataset, out), ``pose_model train`` (dataset, out) /
        ``evaluate`` (run, test_sets, out) / ``reconstruct`` (run, image, out)."""
        if (kind, operation) not in OPERATIONS:
            known = [op for k, op in OPERATIONS if k == kind]
            raise ValueError(f"{kind} {plugin!r} has no operation {operation!r} (operations: "
                             f"{', '.join(known) or 'none'})")
        method, named, config_at = OPERATIONS[(kind, operation)]
        args = [inputs.pop(name) for name in named]
        if config_at == "pipeline":  # renderers and segmenters: the config names the stage
            field = "renderer" if kind == "renderer" else "segmenter"
            if getattr(config, field) != plugin:
                config = dataclasses.replace(config, **{field: plugin})
            return getattr(self, method)(*args, config, **inputs)
        if config_at == "plugin+config":
            return getattr(self, method)(plugin, config, *args, **inputs)
        return getattr(self, method)(plugin, *args, **inputs)


#: (kind, operation) -> (the runner's method, the inputs it takes in order, how the stage
#: and its config are passed): the one table behind :meth:`StageRunner.run`.
OPERATIONS: dict[tuple[str, str], tuple[str, tuple[str, ...], str]] = {
    ("renderer", "render"): ("render", ("meshes", "out"), "pipeline"),
    ("segmenter", "segment"): ("segment", ("photos", "out", "synthetic"), "pipeline"),
    ("stylizer", "train"): ("train_stylizer", ("synthetic", "real", "out"), "plugin+config"),
    ("stylizer", "apply"): ("stylize", ("run", "dataset", "out"), "plugin"),
    ("pose_model", "train"): ("train_pose", ("dataset", "out"), "plugin+config"),
    ("pose_model", "evaluate"): ("evaluate", ("run", "test_sets", "out"), "plugin"),
    ("pose_model", "reconstruct"): ("reconstruct", ("run", "image", "out"), "plugin"),
}


def default_config_class(kind: str) -> type:
    """The pipeline configuration of renderers and segmenters."""
    if kind == "renderer":
        from aist_app.render.pipeline import RenderConfig

        return RenderConfig
    if kind == "segmenter":
        from aist_app.segment.pipeline import SegmentConfig

        return SegmentConfig
    raise ValueError(f"a {kind} declares its config_class")
