"""Pose-model configuration (defaults: the reference's unsupervised chair/car setting)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class PoseConfig:
    image_size: int = 128  # encoder input
    f_dim: int = 16
    fc_dim: int = 1024
    z_dim: int = 1024
    num_points: int = 8000
    decoder_init_std: float = 0.025
    ensemble: int = 4  # pose candidates
    pose_hidden: int = 32
    student_weight: float = 20.0
    vox_size: int = 64
    kernel_size: int = 21
    sigma_start: float = 3.0  # Gaussian sigma in voxels, annealed to sigma_end
    sigma_end: float = 0.2
    dropout_keep_start: float = 0.07  # fraction of points kept, scheduled to 1
    dropout_end: float = 1.0  # fraction of training at which all points are kept
    focal_length: float = 1.875
    camera_distance: float = 2.0
    drc_clip: float = 1e-5
    batch_objects: int = 4
    views_per_object: int = 4
    steps: int = 600_000
    lr: float = 1e-4
    lr_2: float = 1e-5
    lr_step_frac: float = 1.0  # switch to lr_2 after this fraction of the steps
    weight_decay: float = 1e-3
    clip_grad: float | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    checkpoint_every: int = 1000
    val_every: int = 1000
    log_every: int = 10

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PoseConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def progress(self, step: int) -> float:
        return min(1.0, step / max(1, self.steps))

    def sigma(self, step: int) -> float:
        """Linearly annealed Gaussian sigma (voxels)."""
        t = self.progress(step)
        return self.sigma_start + (self.sigma_end - self.sigma_start) * t

    def keep_fraction(self, step: int) -> float:
        t = min(1.0, self.progress(step) / max(self.dropout_end, 1e-9))
        return self.dropout_keep_start + (1.0 - self.dropout_keep_start) * t
