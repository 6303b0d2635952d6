"""The DPC network of the reference (``dpc/nets/img_encoder.py``, ``pc_decoder.py``,
``pose_net.py``, ``dpc/models/model_pc.py``): image encoder (conv trunk, FC 1024, FC 1024,
FC z), the 8000-point decoder and the learned occupancy scale on the shape latent, and a pose
branch with its own FC-1024 (from the second FC, ReLU as slim's default) feeding an ensemble
of pose regressors and a student. Initialisation as the reference: variance scaling (TF1
truncated normal, std sqrt(2.6 / fan_in)) with zero biases, and truncated normal std 0.025
for the point decoder and the scale. torchvision-style keyword-only builder with an injected
activation; no device placement or printing inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn

from aist_app.pose.quaternion import normalize
from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.sectors import sector_quaternions

Activation = Callable[[], nn.Module]
leaky = partial(nn.LeakyReLU, 0.2)  # tf.nn.leaky_relu's default slope


def variance_scaling_(layer: nn.Module) -> None:
    """``tf.contrib.layers.variance_scaling_initializer()`` (factor 2, fan in, truncated
    normal: std sqrt(1.3 * 2 / fan_in) cut at two std) and zero bias."""
    fan_in = layer.weight[0].numel()
    std = math.sqrt(1.3 * 2.0 / fan_in)
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    nn.init.zeros_(layer.bias)


def truncated_normal_(layer: nn.Linear, std: float) -> None:
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    nn.init.zeros_(layer.bias)


def _conv_trunk(image_size: int, f_dim: int, act: Activation) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = [nn.Conv2d(3, f_dim, 5, stride=2, padding=2), act()]
    ch, size = f_dim, image_size // 2
    while size > 4:  # log2(W / 4) - 1 pairs of (3x3 stride 2, 3x3), channels doubling
        layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), act(),
                   nn.Conv2d(ch * 2, ch * 2, 3, padding=1), act()]
        ch, size = ch * 2, size // 2
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), ch * size * size


def _pose_head(z_dim: int, hidden: int, act: Activation, out: int = 4) -> nn.Sequential:
    """``pose_branch``: 3 fully connected layers (hidden, hidden, 4); ``out`` 3 for an
    azimuth-sector hypothesis (azimuth, elevation, roll)."""
    return nn.Sequential(nn.Linear(z_dim, hidden), act(), nn.Linear(hidden, hidden), act(),
                         nn.Linear(hidden, out))


class DPC(nn.Module):
    def __init__(self, config: PoseConfig, act: Activation = leaky) -> None:
        super().__init__()
        c = config
        self.num_points = c.num_points
        self.mirror = c.mirror_symmetry
        if self.mirror and c.num_points % 2:
            raise ValueError(f"mirror_symmetry: num_points {c.num_points} must be even")
        self.scale_max = c.occupancy_scale_max
        self.conv, flat = _conv_trunk(c.image_size, c.f_dim, act)
        self.fc1 = nn.Sequential(nn.Linear(flat, c.fc_dim), act())
        self.fc2 = nn.Sequential(nn.Linear(c.fc_dim, c.fc_dim), act())
        self.fc3 = nn.Sequential(nn.Linear(c.fc_dim, c.z_dim), act())  # shape latent "ids"
        self.pose_fc = nn.Sequential(nn.Linear(c.fc_dim, c.z_dim), nn.ReLU())
        self.config = c  # the sector hypotheses' ranges
        hypotheses = c.pose_sectors or c.ensemble
        self.ensemble = nn.ModuleList(_pose_head(c.z_dim, c.pose_hidden, act,
                                                 3 if c.pose_sectors else 4)
                                      for _ in range(hypotheses))
        # pose_sectors: the hypotheses' probabilities (Unicorn's proba_regressor)
        self.sector_logits = nn.Linear(c.z_dim, c.pose_sectors) if c.pose_sectors else None
        self.student = _pose_head(c.z_dim, c.pose_hidden, act)
        decoded = c.num_points // 2 if self.mirror else c.num_points
        self.points = nn.Linear(c.z_dim, decoded * 3)
        self.scale = nn.Linear(c.z_dim, 1)
        # pc_decoder.py: a linear layer to N x 3 colours, sigmoid
        self.colors = nn.Linear(c.z_dim, decoded * 3) if c.pc_rgb else None
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                variance_scaling_(m)
        truncated_normal_(self.points, c.decoder_init_std)
        if c.init_elongation:
            with torch.no_grad():  # tanh(bias) * 0.5 spread evenly over [-e, e]
                along = torch.linspace(-1.0, 1.0, decoded) * min(c.init_elongation, 0.49)
                self.points.bias.view(decoded, 3)[:, c.init_elongation_axis] = \
                    torch.atanh(2.0 * along)
        truncated_normal_(self.scale, 0.025)
        if self.sector_logits is not None:  # every hypothesis at its sector's centre, and
            for head in self.ensemble:     # equally probable, at the start (as Unicorn's
                nn.init.zeros_(head[-1].weight)  # zero_last_init)
                nn.init.zeros_(head[-1].bias)
            nn.init.zeros_(self.sector_logits.weight)
            nn.init.zeros_(self.sector_logits.bias)
        if self.colors is not None:
            truncated_normal_(self.colors, c.decoder_init_std)
        # The category prototype (prototype_warmup): a shared latent and how much of the
        # images' own latents is mixed in (a buffer: checkpoints carry it).
        self.prototype = None
        if c.prototype_warmup > 0:
            self.prototype = nn.Parameter(torch.randn(c.z_dim))
            self.register_buffer("prototype_mix", torch.zeros(()))

    def set_prototype_mix(self, mix: float) -> None:
        """0: every image decodes the prototype; 1: its own latent (the reference)."""
        if self.prototype is not None:
            self.prototype_mix.fill_(float(min(max(mix, 0.0), 1.0)))

    def _shared(self, z: Tensor) -> Tensor:
        if self.prototype is None:
            return z
        a = self.prototype_mix.to(z.dtype)
        return (1.0 - a) * self.prototype.to(z.dtype) + a * z

    def forward(self, images: Tensor, shape_views: Tensor | None = None) -> dict[str, Tensor]:
        """(B, 3, H, W) images in [-1, 1] -> pose candidates (B, K, 4) and the student's pose
        (B, 4) for every image, unit quaternions; points (S, N, 3) in [-0.5, 0.5]^3 and the
        occupancy scale (S,) for the images indexed by ``shape_views`` (all by default; the
        reference decodes one view per object while training, ``pool_single_view``). With
        ``mirror_symmetry`` (not the reference's) the image's left-right mirror is encoded
        too: one shape from their mean latent, poses averaged with the mirror image's
        mirrored (the network is exactly mirror-equivariant)."""
        h2 = self._trunk(images)
        z = self.fc3(h2 if shape_views is None else h2[shape_views])
        candidates, student, probs = self._poses(h2)
        if self.mirror:
            h2m = self._trunk(images.flip(-1))
            z = 0.5 * (z + self.fc3(h2m if shape_views is None else h2m[shape_views]))
            mirrored = self._poses(h2m)
            candidates = mirror_mean(candidates, mirrored[0])
            student = mirror_mean(student, mirrored[1])
        z = self._shared(z)
        points, scale = self.decode(z)
        out = {"points": points, "scale": scale, "candidates": candidates, "student": student}
        if probs is not None:
            out["sector_probs"] = probs
        if self.colors is not None:
            out["rgb"] = self.decode_colors(z)
        return out

    def poses(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """The pose candidates (B, K, 4) and the student's pose (B, 4) of (B, 3, H, W)
        images, without decoding shapes (with ``mirror_symmetry``, mirror-averaged as in
        :meth:`forward`)."""
        candidates, student, _ = self._poses(self._trunk(images))
        if self.mirror:
            mirrored = self._poses(self._trunk(images.flip(-1)))
            candidates = mirror_mean(candidates, mirrored[0])
            student = mirror_mean(student, mirrored[1])
        return candidates, student

    def _trunk(self, images: Tensor) -> Tensor:
        return self.fc2(self.fc1(self.conv(images)))

    def _poses(self, h2: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Candidates (B, K, 4), the student's pose (B, 4) and, with ``pose_sectors``, the
        hypotheses' probabilities (B, K)."""
        pose = self.pose_fc(h2)
        raw = torch.stack([h(pose) for h in self.ensemble], dim=1)
        student = normalize(self.student(pose))
        if self.sector_logits is None:
            return normalize(raw), student, None
        # The angles in float32 under bf16 autocast (a bf16 azimuth is off by up to 1 degree).
        return (sector_quaternions(raw.float(), self.config), student,
                torch.softmax(self.sector_logits(pose).float(), dim=-1))

    def latent(self, images: Tensor) -> Tensor:
        """The shape latent (B, z_dim) of (B, 3, H, W) images (the decoder's input; with
        ``mirror_symmetry`` the mean of the image's and its mirror image's)."""
        z = self.fc3(self._trunk(images))
        if self.mirror:
            z = 0.5 * (z + self.fc3(self._trunk(images.flip(-1))))
        return self._shared(z)

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Shape latents (S, z_dim) -> points (S, N, 3) in [-0.5, 0.5]^3 and the occupancy
        scale (S,)."""
        points = torch.tanh(self.points(z)).view(z.shape[0], -1, 3) * 0.5
        if self.mirror:  # the other half: mirrored about the model's x = 0 plane
            points = torch.cat([points, points * points.new_tensor([-1.0, 1.0, 1.0])], 1)
        return points, torch.sigmoid(self.scale(z)).squeeze(-1) * self.scale_max

    def decode_colors(self, z: Tensor) -> Tensor:
        """Shape latents (S, z_dim) -> point colours (S, N, 3) in [0, 1] (``pc_rgb``)."""
        rgb = torch.sigmoid(self.colors(z)).view(z.shape[0], -1, 3)
        return torch.cat([rgb, rgb], 1) if self.mirror else rgb


_MIRROR = (1.0, 1.0, -1.0, -1.0)


def mirror_pose(q: Tensor) -> Tensor:
    """The pose (w, x, y, z) -> (w, x, -y, -z) of the left-right mirror image of a view of
    an object symmetric about its x = 0 plane: ``M R M`` with M = diag(-1, 1, 1) both in the
    camera (image columns flipped) and in the object."""
    return q * q.new_tensor(_MIRROR)


def mirror_mean(q: Tensor, q_mirror_image: Tensor) -> Tensor:
    """Unit mean of ``q`` and the mirrored pose predicted for the mirror image (same sign
    hemisphere): the pose of an exactly mirror-equivariant predictor."""
    m = mirror_pose(q_mirror_image)
    sign = torch.where((q * m).sum(-1, keepdim=True) < 0, -1.0, 1.0)
    return normalize(q + sign * m)


def dpc_model(*, config: PoseConfig, activation: Activation = leaky) -> DPC:
    return DPC(config, activation)


def weight_decay_loss(model: nn.Module) -> Tensor:
    """The reference's ``regularization_loss`` before its factor: sum of ``l2_loss``
    (half the sum of squares) over the weights (kernels), not the biases."""
    return sum(0.5 * p.square().sum() for n, p in model.named_parameters()
               if n.endswith("weight") and p.ndim > 1)
