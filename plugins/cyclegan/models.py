"""The four networks of a stylizer run, built from its config."""

from __future__ import annotations

from torch import nn

from aist_plugins.cyclegan.config import StylizerConfig
from aist_plugins.cyclegan.networks import patch_discriminator, resnet_generator


def build(config: StylizerConfig) -> dict[str, nn.Module]:
    return {
        "G": build_generator(config),
        "F": build_generator(config),
        "D_X": patch_discriminator(ndf=config.ndf),
        "D_Y": patch_discriminator(ndf=config.ndf),
    }


def build_generator(config: StylizerConfig) -> nn.Module:
    return resnet_generator(ngf=config.ngf, n_blocks=config.n_blocks,
                            residual=config.residual)
