"""The pose model's plan for ``aist experiment --dry-run``: GPU memory at its batch size (counted on
the CPU) and the time of one measured step (:mod:`aist_app.experiments.plan`)."""

from __future__ import annotations

import time

from aist_app.experiments.plan import (
    CUDA_CONTEXT_GB,
    GB,
    OVERHEAD,
    StagePlan,
    fits,
    linear,
    param_bytes,
    saved_bytes,
)


def plan_training(cfg: dict, steps: int) -> StagePlan:
    import torch

    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.loss import dpc_loss, shape_views
    from aist_plugins.dpc.model import dpc_model

    keys = {k: v for k, v in cfg.items() if k in PoseConfig.__dataclass_fields__}
    c = PoseConfig(**{**keys, "device": "cpu"})
    model = dpc_model(config=c)
    gen = torch.Generator().manual_seed(0)

    def step(b: int):
        images = torch.rand(b * c.views_per_object, 3, c.image_size, c.image_size)
        masks = (torch.rand(b, c.views_per_object, c.vox_size, c.vox_size) > 0.5).float()

        def run():
            out = model(images, shape_views(b, c.views_per_object, c))
            return dpc_loss(out, masks, c, 0, gen)["total"]
        return saved_bytes(run)

    base, per = linear(step)
    fixed = param_bytes(model) * 4 + max(base, 0)
    t0 = time.perf_counter()
    images = torch.rand(c.views_per_object, 3, c.image_size, c.image_size)
    masks = (torch.rand(1, c.views_per_object, c.vox_size, c.vox_size) > 0.5).float()
    dpc_loss(model(images, shape_views(1, c.views_per_object, c)), masks, c, 0, gen
             )["total"].backward()
    one = time.perf_counter() - t0
    return StagePlan(
        "train-pose", f"{steps} steps, {c.batch_objects} objects x {c.views_per_object} views, "
        f"{c.num_points} points, {c.vox_size}^3 grid, ensemble {c.ensemble}",
        batch=c.batch_objects,
        memory_gb=round((fixed + per * c.batch_objects) * OVERHEAD / GB + CUDA_CONTEXT_GB, 2),
        fits=fits(fixed, per), seconds_per_unit=one * c.batch_objects, unit="step",
        units=steps, measured_on="this CPU",
        note="time: one forward-backward at 1 object measured, x objects per batch")
