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


def linear(measure: Callable[[int], int]) -> tuple[float, float]:
    a1, a2 = measure(1), measure(2)
    per = max(a2 - a1, 1)
    return a1 - per, per


def plan_render(cfg: dict, objects: int, seed: int) -> StagePlan:
    import tempfile
    from pathlib import Path

    from aist_app.api.manager import create_plugin_manager
    from aist_app.api.progress import drain
    from aist_app.common.samples import sample_meshes
    from aist_app.render.pipeline import RenderConfig, render_collection

    name = cfg.get("renderer") or RenderConfig().renderer
    views = int(cfg.get("views", 5))
    size = int(cfg.get("size", 128))
    with tempfile.TemporaryDirectory(prefix="aist-plan-") as tmp:
        rc = RenderConfig(renderer=name, views=views, image_size=(size, size), device="cpu",
                          seed=seed, points=100_000)
        factory = create_plugin_manager().stage("renderer", name).factory
        summary = drain(render_collection(sample_meshes(), Path(tmp) / "ds", rc, factory))
    per_object = summary.seconds / max(1, len(summary.rendered))
    return StagePlan("render", f"{objects} objects x {views} views at {size}^2 with {name}",
                     seconds_per_unit=per_object, unit="object", units=objects,
                     measured_on="this CPU (the bundled car)",
                     note="GPU memory: the renderer's scene only (well under 1 GB)")


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
    """Every stage of the experiment ``cfg`` (see :mod:`aist_app.experiments.experiment`)."""
    from aist_app.experiments.presets import REFERENCE_OBJECTS
    from aist_app.stages.runner import StageRunner

    objects = objects or REFERENCE_OBJECTS
    photos = photos or 0
    st, po = cfg["stylizer"], cfg["pose"]
    variants = list(st.get("variants", []))
    from aist_app.experiments.experiment import plugin_of
    from aist_app.segment.pipeline import SegmentConfig

    runner = StageRunner()
    plans = [plan_render(cfg["render"], objects, cfg.get("seed", 0))]
    segmenter = runner.stage("segmenter",
                             cfg["segment"].get("segmenter") or SegmentConfig().segmenter)
    if segmenter.factory.plan is not None:  # the stage's own plan of its memory and time
        plans.append(segmenter.factory.plan(cfg["segment"], photos))
    else:
        plans.append(StagePlan("segment", f"{photos} photos with {segmenter.name}",
                               note=f"{segmenter.name} gives no plan of its memory and time"))
    views = objects * int(cfg["render"].get("views", 5))
    if st.get("steps"):
        sty_steps = int(st["steps"])
    else:
        sty_steps = int(st.get("epochs", 44)) * -(-max(views, photos) // int(st.get("batch", 4)))
    sty = stage_plan(runner, "stylizer", plugin_of(runner, "stylizer", st), st, sty_steps)
    sty.stage = f"train-stylizer x{len(variants)}"
    sty.units *= len(variants)
    plans.append(sty)
    plans.append(StagePlan(f"stylize x{len(variants)}", f"{views} views each",
                           note="inference: G alone, well under the training memory"))
    pose = stage_plan(runner, "pose_model", plugin_of(runner, "pose_model", po), po,
                      int(po.get("steps", 600_000)))
    pose.stage = f"train-pose x{1 + len(variants)}"
    pose.units *= 1 + len(variants)
    plans.append(pose)
    return plans


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
                         f"{p.hours:.1f} h on {p.measured_on}")
        if p.note:
            lines.append(f"    ({p.note})")
    total = sum(p.hours or 0 for p in plans)
    lines.append(f"total measured on this machine: {total:.1f} h (a GPU is many times faster; "
                 "memory figures are for a GPU)")
    return "\n".join(lines)


def plan_json(plans: list[StagePlan]) -> list[dict]:
    return [{**asdict(p), "hours": p.hours} for p in plans]
