"""The differentiable point-cloud projection (DPC): perspective transform, trilinear splatting
into a voxel grid, separable Gaussian smoothing, differentiable ray consistency (DRC).

Everything is batched over M projections (no Python loop over points, rays or the batch).
Grid axes are (depth, v, u): ``u`` and ``v`` are normalized image coordinates in [-1, 1]
(pixel column ``(u + 1) / 2 * W``, row ``(v + 1) / 2 * H``, the product's camera
convention: x right, y down, z forward), depth is ``z - camera_distance`` in [-1, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor

from aist_app.pose.quaternion import to_matrix

_CORNERS = torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])


def perspective(points: Tensor, q: Tensor, *, focal_length: float = 1.875,
                distance: float = 2.0) -> Tensor:
    """(M, N, 3) object-frame points seen with rotation ``q`` (M, 4) from ``distance`` ->
    (M, N, 3) grid coordinates (depth, v, u)."""
    pc = points @ to_matrix(q).transpose(-1, -2)
    z = pc[..., 2] + distance
    u = focal_length * pc[..., 0] / z
    v = focal_length * pc[..., 1] / z
    return torch.stack([pc[..., 2], v, u], dim=-1)


def splat(coords: Tensor, size: int, weights: Tensor | None = None) -> Tensor:
    """Trilinear splatting of (M, N, 3) grid coordinates in [-1, 1] into (M, G, G, G) voxel
    counts (points outside the grid are dropped). Differentiable in the coordinates."""
    m, n, _ = coords.shape
    g = (coords + 1.0) * (0.5 * size) - 0.5  # voxel-centre units
    base = torch.floor(g)
    frac = g - base
    corners = _CORNERS.to(coords.device)  # (8, 3)
    idx = base.long().unsqueeze(2) + corners  # (M, N, 8, 3)
    w = torch.where(corners.bool(), frac.unsqueeze(2), 1.0 - frac.unsqueeze(2)).prod(-1)
    if weights is not None:
        w = w * weights.unsqueeze(-1)
    valid = ((idx >= 0) & (idx < size)).all(-1)
    flat = ((torch.arange(m, device=coords.device).view(m, 1, 1) * size + idx[..., 0]) * size
            + idx[..., 1]) * size + idx[..., 2]
    flat = torch.where(valid, flat, torch.zeros_like(flat))
    w = torch.where(valid, w, torch.zeros_like(w))
    out = torch.zeros(m * size ** 3, dtype=coords.dtype, device=coords.device)
    out = out.index_add(0, flat.reshape(-1), w.reshape(-1))
    return out.view(m, size, size, size)


def gauss_kernel_1d(size: int, sigma: float, *, device=None, dtype=torch.float32) -> Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2.0
    k = torch.exp(-x ** 2 / (2.0 * sigma ** 2))
    return k / k.sum()


def smooth(voxels: Tensor, sigma: float, kernel_size: int) -> Tensor:
    """Separable Gaussian filter over the three grid axes of (M, G, G, G) voxels, zero
    padded ("same" size). Each pass is one matrix product with the banded (G, G) kernel
    matrix: much faster than 3-D convolutions on the CPU, and as fast on the GPU."""
    size = voxels.shape[-1]
    k = gauss_kernel_1d(kernel_size, sigma, device=voxels.device, dtype=voxels.dtype)
    i = torch.arange(size, device=voxels.device)
    offset = i.view(1, -1) - i.view(-1, 1) + kernel_size // 2  # column j, row i: k[j - i + r]
    inside = (offset >= 0) & (offset < kernel_size)
    band = torch.where(inside, k[offset.clamp(0, kernel_size - 1)], torch.zeros_like(k[:1]))
    x = voxels @ band  # last axis
    x = (x.transpose(-1, -2) @ band).transpose(-1, -2)  # middle axis
    m, d, h, w = x.shape
    x = (x.reshape(m, d, h * w).transpose(1, 2) @ band).transpose(1, 2).reshape(m, d, h, w)
    return x


def drc(occupancy: Tensor, *, clip: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Ray termination probabilities along depth (axis 1) of (M, D, G, G) occupancies in
    [0, 1]: p_k = o_k prod_{u<k} (1 - o_u), in log space; returns (M, D + 1, G, G) with the
    probability of escaping to the background last, and the silhouette sum_k p_k."""
    o = occupancy.clamp(clip, 1.0 - clip)
    log_free = torch.log1p(-o)
    before = torch.cumsum(log_free, dim=1) - log_free  # exclusive: sum over u < k
    p = torch.exp(before + torch.log(o))
    background = torch.exp(log_free.sum(dim=1, keepdim=True))
    return torch.cat([p, background], dim=1), 1.0 - background.squeeze(1)


def depth_map(probs: Tensor, *, distance: float = 2.0, max_depth: float = 10.0) -> Tensor:
    """Expected depth (camera z) from ray termination probabilities (M, D + 1, G, G)."""
    d = probs.shape[1] - 1
    z = (torch.arange(d, device=probs.device, dtype=probs.dtype) + 0.5) / d * 2.0 - 1.0
    z = torch.cat([z + distance, z.new_tensor([max_depth])])
    return (probs * z.view(1, -1, 1, 1)).sum(1)


def project(points: Tensor, q: Tensor, *, size: int = 64, sigma: float = 1.0,
            kernel_size: int = 21, scale: Tensor | None = None, focal_length: float = 1.875,
            distance: float = 2.0, weights: Tensor | None = None, clip: float = 1e-5,
            with_depth: bool = False) -> dict[str, Tensor]:
    """Silhouettes (M, G, G) (and depth) of M point clouds (M, N, 3) at rotations (M, 4)."""
    coords = perspective(points, q, focal_length=focal_length, distance=distance)
    vox = splat(coords, size, weights).clamp(0.0, 1.0)
    vox = smooth(vox, sigma, kernel_size)
    if scale is not None:
        vox = vox * scale.view(-1, 1, 1, 1)
    vox = vox.clamp(0.0, 1.0)
    probs, sil = drc(vox, clip=clip)
    out = {"silhouette": sil}
    if with_depth:
        out["depth"] = depth_map(probs, distance=distance)
    return out
