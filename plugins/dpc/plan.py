"""How much GPU memory and time training the pose model takes (``aist experiment
--dry-run``): one forward-backward of the DPC model measured on this CPU, memory counted
from the tensors autograd saves (:mod:`aist_app.experiments.plan` has the method)."""

from __future__ import annotations

from aist_app.experiments import plan as P


def plan_training(cfg: dict, steps: int) -> P.StagePlan:
    import torch

    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.loss import dpc_loss, shape_views
    from aist_plugins.dpc.model import dpc_model

    keys = {k: v for k, v in cfg.items() if k in PoseConfig.__dataclass_fields__}
    c = PoseConfig(**{**keys, "device": "cpu"})
    model = dpc_model(config=c)
    gen = torch.Generator().manual_seed(0)

    def colours(b: int):  # the colour targets of pc_rgb, else None
        return torch.rand(b, c.views_per_object, 3, c.vox_size, c.vox_size) \
            if c.colour_loss else None

    def step(b: int):
        images = torch.rand(b * c.views_per_object, 3, c.image_size, c.image_size)
        masks = (torch.rand(b, c.views_per_object, c.vox_size, c.vox_size) > 0.5).float()

        def run():
            out = model(images, shape_views(b, c.views_per_object, c))
            return dpc_loss(out, masks, c, 0, gen, colours(b))["total"]
        return P.saved_bytes(run)

    base, per = P.linear(step)
    fixed = P.param_bytes(model) * 4 + max(base, 0)
    b, v = c.batch_objects, c.views_per_object
    images = torch.rand(b * v, 3, c.image_size, c.image_size)
    masks = (torch.rand(b, v, c.vox_size, c.vox_size) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)

    def train_step():  # a training step at the real batch: forward, loss, backward, Adam
        opt.zero_grad(set_to_none=True)
        dpc_loss(model(images, shape_views(b, v, c)), masks, c, 0, gen,
                 colours(b))["total"].backward()
        opt.step()

    seconds = P.warm_seconds(train_step)
    return P.StagePlan(
        "train-pose", f"{steps} steps, {c.batch_objects} objects x {c.views_per_object} views, "
        f"{c.num_points} points, {c.vox_size}^3 grid, ensemble {c.ensemble}",
        batch=c.batch_objects,
        memory_gb=round((fixed + per * c.batch_objects) * P.OVERHEAD / P.GB
                        + P.CUDA_CONTEXT_GB, 2),
        fits=P.fits(fixed, per), seconds_per_unit=seconds, unit="step",
        units=steps, measured_on="this CPU",
        note="time: a training step at the real batch (forward, loss, backward, Adam), "
             "the median of 3 after a warm-up; validation adds a little")
