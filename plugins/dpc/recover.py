"""Pose recoverability (AIST's, ``pose_recover``; a deviation from the reference): the
model must recover the pose of its own renders. The batch's decoded shapes (points, their
colours with ``pc_rgb``, the occupancy scale) are projected through the training projection
at poses drawn over the dataset's viewpoints, composed on white as the inputs are, resized
to the encoder's input and encoded; the student (and the candidates) learn the drawn pose
with a plain angular loss. Self-supervised viewpoint learning (Mustikovela et al. 2020,
SSV: the viewpoint of generated images must be recovered) and ViewNet's cycle (decode at a
random pose, estimate it again) in DPC's setting: a shape that looks the same from the front
and from the back cannot satisfy it, so the decoder is pushed to shapes that tell them
apart."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aist_app.pose.quaternion import axis_angle, multiply, normalize, student_loss
from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.projection import project

_UP = {"y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


class PoseDraws:
    """Poses drawn as the training set's cameras turned about the objects' up axis by a
    uniform azimuth: the dataset's elevations, the whole azimuth circle."""

    def __init__(self, cameras: np.ndarray, up_axis: str = "y") -> None:
        if len(cameras) == 0:
            raise ValueError("pose_recover: the training set has no cameras to draw poses "
                             "from (it needs a synthetic set with cameras.json)")
        self.cameras = torch.as_tensor(np.asarray(cameras), dtype=torch.float32)
        self.up = torch.tensor(_UP[up_axis])

    @classmethod
    def of(cls, data) -> PoseDraws:
        """The draws of a :class:`~aist_app.pose.data.PoseData` (its views' cameras)."""
        if not data.has_gt:
            raise ValueError(f"pose_recover: {data.ds.root} has no cameras to draw poses "
                             "from (it needs a synthetic training set)")
        cams = [q for oid in data.ids for q in data.gt_quaternions(oid).values()]
        return cls(np.stack(cams), data.ds.up_axis)

    def draw(self, count: int, generator: torch.Generator) -> Tensor:
        """``count`` camera-from-object unit quaternions (w, x, y, z)."""
        pick = torch.randint(len(self.cameras), (count,), generator=generator)
        azimuth = torch.rand(count, generator=generator) * 360.0
        turn = axis_angle(self.up.expand(count, 3), azimuth)
        return normalize(multiply(self.cameras[pick], turn))


def render_inputs(out: dict[str, Tensor], poses: Tensor, config: PoseConfig, step: int
                  ) -> Tensor:
    """The decoded shapes of ``out`` (S clouds) rendered at ``poses`` (S * R, 4; R per
    shape, shape-major) as encoder inputs (S * R, 3, image_size, image_size) in [-1, 1]:
    the projected colours on white with ``pc_rgb``, else the silhouette in grey on white."""
    c = config
    r = poses.shape[0] // out["points"].shape[0]
    pts = out["points"].repeat_interleave(r, 0)
    rgb = out["rgb"].repeat_interleave(r, 0) if c.pc_rgb and "rgb" in out else None
    proj = project(pts, poses, size=c.vox_size, sigma=c.sigma(step),
                   kernel_size=c.kernel_size, scale=out["scale"].repeat_interleave(r, 0),
                   focal_length=c.focal_length, distance=c.camera_distance, clip=c.drc_clip,
                   rgb=rgb, **c.colour_projection())
    if rgb is not None:
        image = proj["rgb"]
    else:
        image = (1.0 - 0.5 * proj["silhouette"]).unsqueeze(1).expand(-1, 3, -1, -1)
    image = F.interpolate(image, size=(c.image_size, c.image_size), mode="bilinear",
                          align_corners=False)
    return image.clamp(0.0, 1.0) * 2.0 - 1.0


def recover_loss(model, out: dict[str, Tensor], draws: PoseDraws, config: PoseConfig,
                 step: int, generator: torch.Generator) -> Tensor:
    """The weighted recoverability loss of one step: the mean ``1 - <q, q_drawn>^2`` of the
    student (and, with ``pose_recover_candidates``, of every candidate) on the renders."""
    c = config
    count = out["points"].shape[0] * c.pose_recover_views
    poses = draws.draw(count, generator).to(out["points"].device)
    images = render_inputs(out, poses, c, step)
    candidates, student = model.poses(images)
    loss = student_loss(student.float(), poses).mean()
    if c.pose_recover_candidates:
        k = candidates.shape[1]
        loss = loss + student_loss(candidates.float(),
                                   poses.unsqueeze(1).expand(-1, k, 4)).mean()
    return c.pose_recover * loss
