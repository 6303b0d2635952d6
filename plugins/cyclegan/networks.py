"""The CycleGAN networks of SPEC §3: ResNet-9-block generator, 70x70 PatchGAN discriminator.

Built by keyword-only functions with an injected norm layer (torchvision style); no device
placement or printing inside.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor, nn

NormLayer = Callable[[int], nn.Module]
default_norm: NormLayer = partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)


#: The report's generator activation: leaky ReLU with slope 0.01 (report §4.2, Fig. 4.1).
GENERATOR_SLOPE = 0.01


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions of ``ch`` channels, reflection padding, skip over both."""

    def __init__(self, ch: int, norm_layer: NormLayer, slope: float = GENERATOR_SLOPE) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), norm_layer(ch),
            nn.LeakyReLU(slope, inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), norm_layer(ch),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ImageResidual(nn.Module):
    """``clamp(x + body(x), -1, 1)``: a generator that edits its input image rather than
    drawing a new one (SimGAN's refiner); with ``body``'s last convolution zero at
    initialisation it starts as the identity (exactly, background -1 included)."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return (x + self.body(x)).clamp(-1.0, 1.0)


def resnet_generator(*, in_channels: int = 3, out_channels: int = 3, ngf: int = 64,
                     n_blocks: int = 9, norm_layer: NormLayer = default_norm,
                     slope: float = GENERATOR_SLOPE, residual: bool = False) -> nn.Module:
    """7x7 conv ngf -> two stride-2 3x3 convs -> ``n_blocks`` residual blocks -> two stride-2
    transposed convs -> 7x7 conv -> tanh. Output in [-1, 1], same size as the input (a
    multiple of 4). Leaky ReLU slope 0.01 as the report's generator. ``residual``: the last
    convolution's output is added to the input image in place of the tanh
    (:class:`ImageResidual`; a deviation from the report, off by default)."""
    act = partial(nn.LeakyReLU, slope, inplace=True)
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7),
                               norm_layer(ngf), act()]
    ch = ngf
    for _ in range(2):
        layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), norm_layer(ch * 2), act()]
        ch *= 2
    layers += [ResidualBlock(ch, norm_layer, slope) for _ in range(n_blocks)]
    for _ in range(2):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1),
                   norm_layer(ch // 2), act()]
        ch //= 2
    last = nn.Conv2d(ch, out_channels, 7)
    if residual:
        if in_channels != out_channels:
            raise ValueError("a residual generator outputs as many channels as it takes")
        last.zero_init = True  # read by init_weights: start as the identity
        return ImageResidual(nn.Sequential(*layers, nn.ReflectionPad2d(3), last))
    return nn.Sequential(*layers, nn.ReflectionPad2d(3), last, nn.Tanh())


def patch_discriminator(*, in_channels: int = 3, ndf: int = 64,
                        norm_layer: NormLayer = default_norm) -> nn.Sequential:
    """70x70 PatchGAN: 4x4 convs ndf s2, 2ndf s2, 4ndf s2, 8ndf s1, 1 s1 (padding 1); a 256^2
    input gives a 30x30 map of real/fake scores."""
    act = partial(nn.LeakyReLU, 0.2, inplace=True)
    return nn.Sequential(
        nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), act(),
        nn.Conv2d(ndf, ndf * 2, 4, stride=2, padding=1), norm_layer(ndf * 2), act(),
        nn.Conv2d(ndf * 2, ndf * 4, 4, stride=2, padding=1), norm_layer(ndf * 4), act(),
        nn.Conv2d(ndf * 4, ndf * 8, 4, stride=1, padding=1), norm_layer(ndf * 8), act(),
        nn.Conv2d(ndf * 8, 1, 4, stride=1, padding=1),
    )


def init_weights(module: nn.Module, *, std: float = 0.02, generator=None) -> None:
    """Convolution weights ~ N(0, std), biases 0 (the CycleGAN initialisation); a convolution
    marked ``zero_init`` (a residual generator's last) starts at 0."""
    import torch

    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            with torch.no_grad():
                m.weight.normal_(0.0, std, generator=generator)
                if getattr(m, "zero_init", False):
                    m.weight.zero_()
                if m.bias is not None:
                    m.bias.zero_()
