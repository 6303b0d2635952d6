"""How much GPU memory and time training the stylizer takes (``aist experiment --dry-run``):
a training step measured on this CPU, memory counted from the tensors autograd saves
(:mod:`aist_app.experiments.plan` has the method)."""

from __future__ import annotations

from aist_app.experiments import plan as P


def plan_training(cfg: dict, steps: int) -> P.StagePlan:
    import torch

    from aist_plugins.cyclegan.config import StylizerConfig
    from aist_plugins.cyclegan.losses import l1, lsgan
    from aist_plugins.cyclegan.models import build

    c = StylizerConfig.from_preset("constrained", **{k: v for k, v in cfg.items()
                                                     if k in StylizerConfig.__dataclass_fields__
                                                     and k != "preset"})
    nets = build(c)
    G, F_, D_X, D_Y = (nets[k] for k in ("G", "F", "D_X", "D_Y"))
    feature = 46e6 if c.feature_net == "resnet18" else 19e6  # frozen, fp32 bytes (approx.)

    def step(b: int):
        x = torch.rand(b, 3, c.size, c.size) * 2 - 1
        y = torch.rand(b, 3, c.size, c.size) * 2 - 1

        def run():
            fy, fx = G(x), F_(y)
            return (lsgan(D_Y(fy), True) + lsgan(D_X(fx), True) + l1(F_(fy), x)
                    + l1(G(fx), y) + l1(G(y), y) + l1(F_(x), x))
        return P.saved_bytes(run)

    base, per = P.linear(step)
    params = P.param_bytes(*nets.values())
    fixed = params * 4 + feature + max(base, 0)  # weights, grads, Adam m and v
    seconds = trainer_seconds(c)
    return P.StagePlan(
        "train-stylizer", f"{steps} steps at {c.size}^2, batch {c.batch}, ngf {c.ngf}",
        batch=c.batch, memory_gb=round((fixed + per * c.batch) * P.OVERHEAD / P.GB
                                       + P.CUDA_CONTEXT_GB, 2),
        fits=P.fits(fixed, per), seconds_per_unit=seconds, unit="step",
        units=steps, measured_on="this CPU",
        note="time: the trainer's step at the real batch on six generated cars (every term "
             "of the variant, both discriminators, Adam, the weight average), the median of "
             "3 after a warm-up")


def trainer_seconds(c) -> float:
    """Seconds a step of the real trainer, six generated cars in each domain."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from aist_plugins.cyclegan.train import Trainer

    with tempfile.TemporaryDirectory(prefix="aist-plan-") as tmp:
        x, y = (P.tiny_dataset(Path(tmp) / d, size=c.size, views=8, seed=c.seed + k)
                for k, d in enumerate("xy"))
        tr = Trainer(dataclasses.replace(c, device="cpu"), x, y, Path(tmp) / "run")
        return P.warm_seconds(tr.train_step)
