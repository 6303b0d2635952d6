"""``aist-cyclegan``: the report's stylizer, a CycleGAN with alpha and feature-distance terms.

Everything model-specific lives in this package (config, networks, losses, history pool,
training, stylizing, plan); the core keeps the domain metrics (:mod:`aist_app.stylize`).
This module is the stage's :class:`~aist_app.api.contracts.Stylizer` interface (and
imports no torch at module level, so listing stages stays cheap).
"""

from __future__ import annotations

from aist_app import hookimpl
from aist_app.api.contracts import Stylizer


class AistCycleGAN(Stylizer):
    """CycleGAN (ResNet-9 generators, 70x70 PatchGAN) + alpha loss + ResNet feature distance."""

    name = "aist-cyclegan"
    default = True  # the stage used when none is named
    description = ("AIST CycleGAN: ResNet-9-block generators, PatchGAN, LSGAN + cycle + identity "
                   "+ alpha + ResNet-18 feature distance; presets constrained/less-constrained")
    needs_gpu = False  # trains on the CPU too (slowly); uses the GPU when there is one
    progress_keys = ("G", "D_X", "D_Y", "alpha", "resdist")

    @staticmethod
    def config_class() -> type:
        from aist_plugins.cyclegan.config import StylizerConfig

        return StylizerConfig

    @staticmethod
    def config_preset(name: str | None):
        """The report's Table 6.1 presets (constrained, less-constrained, cyclegan)."""
        from aist_plugins.cyclegan.config import StylizerConfig

        return StylizerConfig.from_preset(name or "constrained")

    @staticmethod
    def trainer(config, synthetic, real, run_dir, *, resume: bool = False,
                overwrite: bool = False):
        from aist_plugins.cyclegan.train import Trainer

        return Trainer(config, synthetic, real, run_dir, resume=resume, overwrite=overwrite)

    @staticmethod
    def resume(run, *, steps: int | None = None, device: str = "auto"):
        from aist_app.common.checkpoints import recorded_path
        from aist_plugins.cyclegan import checkpoint
        from aist_plugins.cyclegan.config import StylizerConfig
        from aist_plugins.cyclegan.train import Trainer

        ck = checkpoint.load(run)
        config = StylizerConfig.from_dict(ck["config"])
        if steps:
            config.steps = steps
        config.device = device  # this machine's, not the checkpoint's
        synthetic, real = (recorded_path(ck, ck["data"][k]) for k in ("synthetic", "real"))
        return Trainer(config, synthetic, real, run, resume=True)

    @staticmethod
    def stylize(run_or_checkpoint, dataset, out, *, batch: int = 32, device: str = "auto",
                overwrite: bool = False):
        from aist_plugins.cyclegan.apply import stylize_dataset

        return stylize_dataset(run_or_checkpoint, dataset, out, batch=batch, device=device,
                               overwrite=overwrite)

    @staticmethod
    def plan(settings: dict, steps: int):
        """The memory and time of training with these settings (``aist experiment
        --dry-run``)."""
        from aist_plugins.cyclegan.plan import plan_training

        return plan_training(settings, steps)


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_stylizer(AistCycleGAN)
