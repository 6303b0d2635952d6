"""``aist experiment --dry-run``: the plan of an experiment before it runs: every stage, its
steps, its expected GPU memory at its batch size, the batch sizes that fit 8, 12 and 24 GB
cards, and its time from a short measured run on this machine.

Memory is counted on the CPU, without a GPU: parameters, their gradients and Adam's two
moments (training), plus every tensor autograd saves for the backward pass during one real
forward and loss at batch sizes 1 and 2 (activations grow linearly with the batch, so two
points give the line), plus 10 % for the allocator's fragmentation and workspaces. Inference
stages (segmentation, stylizing) count parameters plus the largest input + output of any one
layer, twice (two layers' tensors are alive at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GB = 2**30
CARDS_GB = (8, 12, 24)
OVERHEAD = 1.10  # allocator fragmentation, cuDNN workspaces
CUDA_CONTEXT_GB = 0.5  # the CUDA context itself, outside PyTorch's accounting


@dataclass
class StagePlan:
    stage: str
    work: str  # what it does, in numbers
    batch: int | None = None
    memory_gb: float | None = None  # at ``batch``
    fits: dict[str, int | None] = field(default_factory=dict)  # card -> largest batch
    seconds_per_unit: float | None = None  # measured here
    unit: str = ""
    units: int = 0
    measured_on: str = ""
    note: str = ""

    @property
    def hours(self) -> float | None:
        if self.seconds_per_unit is None:
            return None
        return self.seconds_per_unit * self.units / 3600


def saved_bytes(run: Callable[[], Any]) -> int:
    """Bytes of the distinct tensors autograd saves for backward while ``run()`` builds the
    graph (its activations at training time)."""
    import torch

    seen: dict[tuple, int] = {}

    def pack(t):
        try:
            key = (t.untyped_storage().data_ptr(), t.dtype)
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        except RuntimeError:
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    del out
    return sum(seen.values())


def param_bytes(*modules) -> int:
    return sum(p.numel() * p.element_size() for m in modules for p in m.parameters())


def fits(fixed: float, per_item: float) -> dict[str, int | None]:
    out = {}
    for card in CARDS_GB:
        room = card * GB / OVERHEAD - fixed - CUDA_CONTEXT_GB * GB
        out[f"{card} GB"] = int(room // per_item) if room >= per_item else None
    return out


def warm_seconds(step: Callable[[], Any], repeats: int = 3) -> float:
    """The median wall time of ``step()`` after one untimed warm-up call (which pays for
    allocations and lazy initialization, not for the steps of a training)."""
    import statistics
    import time

    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def linear(measure: Callable[[int], int]) -> tuple[float, float]:
    a1, a2 = measure(1), measure(2)
    per = max(a2 - a1, 1)
    return a1 - per, per


def plan_render(cfg: dict, objects: int, seed: int, stage: str = "render",
                generated: bool = False) -> StagePlan:
    """A render stage timed on three objects in one collection (the renderer's start-up,
    paid once a stage, shared by three), with the stage's own RenderConfig (its renderer,
    look, samples, supersampling: what the run renders with): generated cars when the
    experiment generates its meshes, else copies of the bundled car."""
    import shutil
    import tempfile
    import time

    from aist_app.api.progress import drain
    from aist_app.common.samples import sample_meshes
    from aist_app.experiments.experiment import render_config

    rc = render_config(cfg, seed, "cpu")
    with tempfile.TemporaryDirectory(prefix="aist-plan-") as tmp:
        meshes = Path(tmp) / "meshes"
        if generated:
            from aist_app.scene.cars import make_cars

            meshes = drain(make_cars(meshes, 3, seed=seed))
        else:
            car = next(sample_meshes().rglob("*.glb"))
            for k in range(3):
                (meshes / f"car{k}").mkdir(parents=True)
                shutil.copy(car, meshes / f"car{k}" / car.name)
        t0 = time.perf_counter()
        summary = render(meshes, Path(tmp) / "out", rc)
        per_object = (time.perf_counter() - t0) / 3
    if summary.failed:  # a plan timed on failures would say nothing of the run
        raise ValueError(f"plan of {stage}: the renderer failed on its test objects: "
                         f"{summary.failed}")
    size = rc.image_size[0]
    return StagePlan(stage, f"{objects} objects x {rc.views} views at {size}^2 with "
                     f"{rc.renderer}", seconds_per_unit=per_object, unit="object",
                     units=objects,
                     measured_on="this CPU (" + ("generated cars" if generated
                                                 else "the bundled car") + ")",
                     note="GPU memory: the renderer's scene only (well under 1 GB); the "
                          "renderer's start-up shared by 3 objects")


def tiny_dataset(out: Path, *, size: int, views: int = 24, seed: int = 0) -> Path:
    """Six generated cars rendered with pyrender at ``size``, cut 4 / 1 / 1: what a plan
    runs a few real training steps, a validation and a pose evaluation on."""
    from aist_app.api.progress import drain
    from aist_app.render.pipeline import RenderConfig
    from aist_app.scene.cars import make_cars

    meshes = drain(make_cars(out / "meshes", 6, seed=seed))
    render(meshes, out / "data", RenderConfig(
        renderer="pyrender", views=views, image_size=(size, size), device="cpu", seed=seed,
        points=20_000, splits="4/1/1"))
    return out / "data"


def render(meshes: Path, out: Path, rc):
    """Render a mesh collection with ``rc``'s renderer, to the end; its summary."""
    from aist_app.api.manager import create_plugin_manager
    from aist_app.api.progress import drain
    from aist_app.render.pipeline import render_collection

    factory = create_plugin_manager().stage("renderer", rc.renderer).factory
    return drain(render_collection(meshes, out, rc, factory))


def timed(fn: Callable[[], Any]) -> float:
    """The wall time of one call of ``fn``."""
    import time

    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def stage_plan(runner, kind: str, plugin: str, settings: dict, steps: int) -> StagePlan:
    """A training stage's plan from its plugin (its optional ``plan(settings, steps)``)."""
    factory = runner.stage(kind, plugin).factory
    if factory.plan is None:
        return StagePlan("train-stylizer" if kind == "stylizer" else "train-pose",
                         f"{steps} steps with {plugin}", units=steps,
                         note=f"{plugin} gives no plan of its memory and time")
    return factory.plan({k: v for k, v in settings.items() if k != "plugin"}, steps)


def planned_objects(cfg: dict[str, Any]) -> int | None:
    """How many objects the experiment ``cfg`` renders: its meshes' (discovered), the cars
    it generates (``[cars] count``), or None (the reference's scale, with no data given)."""
    if cfg["data"].get("meshes"):
        from aist_app.scene.meshes import discover

        return len(discover(cfg["data"]["meshes"]))
    return cfg.get("cars", {}).get("count")


def make_plan(cfg: dict[str, Any], *, objects: int | None, photos: int | None
              ) -> list[StagePlan]:
    """A plan of each stage the experiment ``cfg`` declares
    (:func:`aist_app.experiments.stages.declare`, the list the run runs), in its order."""
    import tempfile
    from types import SimpleNamespace

    from aist_app.experiments.presets import REFERENCE_OBJECTS
    from aist_app.experiments.stages import declare
    from aist_app.stages.runner import StageRunner

    objects = objects or REFERENCE_OBJECTS
    if cfg.get("threads"):  # timed with the threads the experiment runs with
        import torch

        torch.set_num_threads(cfg["threads"])
    runner = StageRunner()
    with tempfile.TemporaryDirectory(prefix="aist-plan-") as tmp:  # nothing is written
        stages = declare(SimpleNamespace(cfg=cfg, runner=runner, out=Path(tmp)))
    measured: dict[str, StagePlan] = {}  # one measurement per kind of stage
    return [p for s in stages
            if (p := _stage_plan(s.name, cfg, runner, objects, photos or 0, measured))]


def _stage_plan(name: str, cfg: dict, runner, objects: int, photos: int,
                measured: dict[str, StagePlan]) -> StagePlan | None:
    """The plan of the declared stage ``name``: renders and trainings measured here (a
    training measured once for all its variants), the rest described."""
    import copy

    from aist_app.experiments.experiment import plugin_of

    st, po, seed = cfg["stylizer"], cfg["pose"], cfg.get("seed", 0)
    views = objects * int(cfg["render"].get("views", 5))
    if name == "cars":
        return StagePlan("cars", f"{cfg['cars']['count']} generated cars",
                         note="procedural meshes: seconds")
    if name in ("render", "render-target", "render-measured"):
        section = {**cfg["render"], **cfg["target"]} if name == "render-target" else \
            cfg["render"]  # (measured elevations: the source's views, other elevations)
        return plan_render(section, objects, seed,
                           stage="render" if name == "render" else f"render ({name})",
                           generated=not cfg["data"].get("meshes"))
    if name == "elevations":
        return StagePlan(name, f"the baseline's elevations on the "
                         f"{cfg['elevations']['measure_on']} views",
                         note="inference: one prediction a view")
    if name == "segment":
        return _segment_plan(cfg, runner, photos)
    if name.startswith(("stylizer-", "pose-")):
        kind = "stylizer" if name.startswith("stylizer-") else "pose_model"
        section = st if kind == "stylizer" else po
        if kind not in measured:
            steps = _stylizer_steps(st, views, photos) if kind == "stylizer" else \
                int(po.get("steps", 600_000))
            measured[kind] = stage_plan(runner, kind, plugin_of(runner, kind, section),
                                        section, steps)
        plan = copy.copy(measured[kind])
        plan.stage = f"{'train-stylizer' if kind == 'stylizer' else 'train-pose'} ({name})"
        return plan
    if name.startswith("stylize-"):
        return StagePlan(f"stylize ({name})", f"{views} views",
                         note="inference: G alone, well under the training memory")
    if name == "kid":
        return StagePlan(name, "KID of every set to the target, over seeds",
                         note="inference: the feature net on the held-out views")
    return StagePlan(f"evaluate ({name})", "every test set, the held-out split",
                     note="inference: predictions, silhouettes, alignment")


def _segment_plan(cfg: dict, runner, photos: int) -> StagePlan:
    from aist_app.segment.pipeline import SegmentConfig

    segmenter = runner.stage("segmenter",
                             cfg["segment"].get("segmenter") or SegmentConfig().segmenter)
    if segmenter.factory.plan is not None:  # the stage's own plan of its memory and time
        return segmenter.factory.plan(cfg["segment"], photos)
    return StagePlan("segment", f"{photos} photos with {segmenter.name}",
                     note=f"{segmenter.name} gives no plan of its memory and time")


def _stylizer_steps(st: dict, views: int, photos: int) -> int:
    if st.get("steps"):
        return int(st["steps"])
    return int(st.get("epochs", 44)) * -(-max(views, photos) // int(st.get("batch", 4)))


def duration(seconds: float) -> str:
    """``45 s``, ``12.5 min`` or ``3.2 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def format_plan(plans: list[StagePlan]) -> str:
    lines = []
    for p in plans:
        lines.append(f"{p.stage}: {p.work}")
        if p.memory_gb is not None:
            fits = ", ".join(f"{card}: batch {b}" if b else f"{card}: does not fit"
                             for card, b in p.fits.items())
            lines.append(f"    GPU memory at batch {p.batch}: {p.memory_gb:.2f} GB; largest "
                         f"batch that fits {fits}")
        if p.hours is not None:
            lines.append(f"    time: {p.seconds_per_unit:.2f} s/{p.unit} x {p.units} = "
                         f"{duration(p.hours * 3600)} on {p.measured_on}")
        if p.note:
            lines.append(f"    ({p.note})")
    total = sum(p.hours or 0 for p in plans)
    lines.append(f"total measured on this machine: {duration(total * 3600)} for the stages "
                 "timed above (a GPU is many times faster; memory figures are for a GPU)")
    return "\n".join(lines)


def plan_json(plans: list[StagePlan]) -> list[dict]:
    return [{**asdict(p), "hours": p.hours} for p in plans]
