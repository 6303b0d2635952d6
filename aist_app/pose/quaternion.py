"""Quaternions (w, x, y, z) in torch: rotation matrices, products, angular distances."""

from __future__ import annotations

import torch
from torch import Tensor


def normalize(q: Tensor, eps: float = 1e-8) -> Tensor:
    return q / q.norm(dim=-1, keepdim=True).clamp_min(eps)


def conjugate(q: Tensor) -> Tensor:
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


def multiply(a: Tensor, b: Tensor) -> Tensor:
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], dim=-1)


def axis_angle(axis: Tensor, deg: Tensor) -> Tensor:
    """Quaternions (..., 4) of rotations by ``deg`` (...) degrees about the unit ``axis``
    (3,)."""
    half = torch.deg2rad(deg) / 2
    return torch.cat([torch.cos(half)[..., None], torch.sin(half)[..., None] * axis], -1)


def to_matrix(q: Tensor) -> Tensor:
    """(..., 4) unit quaternions -> (..., 3, 3) rotation matrices."""
    w, x, y, z = normalize(q).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(q.shape[:-1] + (3, 3))


def from_matrix(R: Tensor) -> Tensor:
    """(..., 3, 3) rotations -> (..., 4) quaternions with w >= 0 (via scipy, no gradient)."""
    from scipy.spatial.transform import Rotation

    flat = R.detach().cpu().double().reshape(-1, 3, 3).numpy()
    xyzw = Rotation.from_matrix(flat).as_quat()
    q = torch.from_numpy(xyzw[:, [3, 0, 1, 2]]).to(R.dtype)
    q = torch.where(q[:, :1] < 0, -q, q)
    return q.reshape(R.shape[:-2] + (4,)).to(R.device)


def angle_deg(a: Tensor, b: Tensor) -> Tensor:
    """Angle (degrees) of the rotation between unit quaternions ``a`` and ``b``."""
    d = (normalize(a) * normalize(b)).sum(-1).abs().clamp(max=1.0)
    return torch.rad2deg(2 * torch.acos(d))


def student_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """The reference's ``add_student_loss`` term per sample: 1 - w^2, w the real part of the
    normalized ``q_teacher * conj(q_student)`` (0 when they are the same rotation)."""
    rel = normalize(multiply(teacher, conjugate(student)))
    return 1.0 - rel[..., 0] ** 2


def average(qs: Tensor) -> Tensor:
    """Rotation average of quaternions (n, 4): the top eigenvector of sum q q^T (Markley)."""
    m = (qs.double().unsqueeze(-1) * qs.double().unsqueeze(-2)).sum(0)
    _, vecs = torch.linalg.eigh(m)
    q = vecs[:, -1]
    return (q if q[0] >= 0 else -q).to(qs.dtype)
