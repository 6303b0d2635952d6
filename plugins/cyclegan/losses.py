"""The loss terms of SPEC §3, each a small function of tensors.

Images are (N, 3, H, W) in [-1, 1]; background pixels are exactly -1 in every channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from aist_app.stylize.metrics import hard_alpha  # noqa: F401  (a loss term as well)

#: Width of the soft step of :func:`soft_alpha` (pixel values within ``tau`` of -1 ramp): half
#: an 8-bit level, so the darkest colour-corrected pixel (1/255, i.e. -1 + 2/255) is object.
ALPHA_TAU = 1.0 / 255.0


def lsgan(pred: Tensor, real: bool) -> Tensor:
    """Least-squares GAN loss over a patch map: mean (D(x) - 1)^2 or mean D(x)^2."""
    return F.mse_loss(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))


def soft_alpha(x: Tensor, tau: float = ALPHA_TAU) -> Tensor:
    """A differentiable surrogate of :func:`hard_alpha`: 0 at -1, 1 from -1 + tau, linear in
    between (exact on backgrounds and on any colour the colour correction allows)."""
    return ((x.amax(dim=1, keepdim=True) + 1.0) / tau).clamp(0.0, 1.0)


def squared_l1(a: Tensor, b: Tensor) -> Tensor:
    """E over the batch of (mean |a - b| per image)^2: the report's |.|_1^2, size-free."""
    per_image = (a - b).abs().flatten(1).mean(dim=1)
    return (per_image ** 2).mean()


def alpha_loss(x: Tensor, y: Tensor) -> Tensor:
    """|Alpha(x) - Alpha(G(x))|_1^2 with the input's exact mask and the output's soft one."""
    return squared_l1(hard_alpha(x), soft_alpha(y))


def resdist_loss(phi, x: Tensor, y: Tensor) -> Tensor:
    """|Phi(x) - Phi(G(x))|_1^2 with the frozen feature network ``phi``."""
    with torch.no_grad():
        fx = phi(x)
    return squared_l1(fx, phi(y))


def l1(a: Tensor, b: Tensor) -> Tensor:
    return F.l1_loss(a, b)
