"""The DPC network: image encoder, shared MLP, 8000-point decoder with a learned occupancy
scale, an ensemble of pose regressors and a student (torchvision-style keyword-only builder,
injected activation; no device placement or printing inside)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn

from aist_app.pose.config import PoseConfig
from aist_app.pose.quaternion import normalize

Activation = Callable[[], nn.Module]
leaky = partial(nn.LeakyReLU, 0.2)


def _encoder(image_size: int, f_dim: int, fc_dim: int, z_dim: int, act: Activation
             ) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(3, f_dim, 5, stride=2, padding=2), act()]
    ch, size = f_dim, image_size // 2
    while size > 4:  # pairs of (3x3 stride 2, 3x3), channels doubling, down to 4x4
        layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), act(),
                   nn.Conv2d(ch * 2, ch * 2, 3, padding=1), act()]
        ch, size = ch * 2, size // 2
    layers += [nn.Flatten(), nn.Linear(ch * size * size, fc_dim), act(),
               nn.Linear(fc_dim, fc_dim), act(), nn.Linear(fc_dim, z_dim), act()]
    return nn.Sequential(*layers)


def _pose_head(z_dim: int, hidden: int, act: Activation) -> nn.Sequential:
    return nn.Sequential(nn.Linear(z_dim, hidden), act(), nn.Linear(hidden, hidden), act(),
                         nn.Linear(hidden, 4))


class DPC(nn.Module):
    def __init__(self, config: PoseConfig, act: Activation = leaky) -> None:
        super().__init__()
        c = config
        self.num_points = c.num_points
        self.encoder = _encoder(c.image_size, c.f_dim, c.fc_dim, c.z_dim, act)
        self.points = nn.Linear(c.z_dim, c.num_points * 3)
        nn.init.normal_(self.points.weight, std=c.decoder_init_std)
        nn.init.zeros_(self.points.bias)
        self.scale = nn.Linear(c.z_dim, 1)
        self.ensemble = nn.ModuleList(_pose_head(c.z_dim, c.pose_hidden, act)
                                      for _ in range(c.ensemble))
        self.student = _pose_head(c.z_dim, c.pose_hidden, act)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """(B, 3, H, W) images in [-1, 1] -> points (B, N, 3) in [-0.5, 0.5]^3, occupancy
        scale (B,), pose candidates (B, K, 4) and the student's pose (B, 4), unit quaternions."""
        z = self.encoder(images)
        pts = torch.tanh(self.points(z)).view(-1, self.num_points, 3) * 0.5
        return {
            "points": pts,
            "scale": torch.sigmoid(self.scale(z)).squeeze(-1),
            "candidates": normalize(torch.stack([h(z) for h in self.ensemble], dim=1)),
            "student": normalize(self.student(z)),
        }


def dpc_model(*, config: PoseConfig, activation: Activation = leaky) -> DPC:
    return DPC(config, activation)
