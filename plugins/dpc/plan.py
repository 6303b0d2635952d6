"""How much GPU memory and time training the pose model takes (``aist experiment
--dry-run``): memory counted from the tensors autograd saves in one forward of the DPC model
(:mod:`aist_app.experiments.plan` has the method), time from the real trainer's steps,
validation and pose evaluation on six generated cars, on this CPU."""

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
    seconds, note = trainer_seconds(c)
    return P.StagePlan(
        "train-pose", f"{steps} steps, {c.batch_objects} objects x {c.views_per_object} views, "
        f"{c.num_points} points, {c.vox_size}^3 grid, ensemble {c.ensemble}",
        batch=c.batch_objects,
        memory_gb=round((fixed + per * c.batch_objects) * P.OVERHEAD / P.GB
                        + P.CUDA_CONTEXT_GB, 2),
        fits=P.fits(fixed, per), seconds_per_unit=seconds, unit="step",
        units=steps, measured_on="this CPU",
        note=note)


def trainer_seconds(c) -> tuple[float, str]:
    """Seconds a step of the real trainer on six generated cars (24 views at the config's
    image size): its training step (batch loading, loss, weight decay, backward, Adam,
    schedule; the median of 3 after a warm-up) plus its share of the periodic validation
    and pose evaluation (one object's, times ``pose_eval_objects``)."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from aist_plugins.dpc.train import PoseTrainer

    with tempfile.TemporaryDirectory(prefix="aist-plan-") as tmp:
        data = P.tiny_dataset(Path(tmp), size=c.image_size, seed=c.seed)
        tr = PoseTrainer(dataclasses.replace(c, pose_eval_objects=1), data, Path(tmp) / "run")
        step = P.warm_seconds(tr.train_step)
        val = P.timed(tr.validate) / c.val_every if c.val_every else 0.0
        pose = P.timed(tr.evaluate_pose) * c.pose_eval_objects / c.pose_eval_every \
            if c.pose_eval_every else 0.0
    return step + val + pose, (
        f"time: the trainer's step at the real batch on 6 generated cars ({step:.2f} s, the "
        f"median of 3 after a warm-up) + validation every {c.val_every} steps "
        f"({val:.3f} s a step) + pose evaluation of {c.pose_eval_objects} object(s) every "
        f"{c.pose_eval_every} ({pose:.3f} s a step)")
