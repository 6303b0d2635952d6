"""The differentiable point-cloud projection of the reference (DPC,
``dpc/util/point_cloud.py`` and ``dpc/util/drc.py``): perspective transform, trilinear
splatting into a voxel grid, separable Gaussian smoothing, occupancy scaling and
differentiable ray consistency (DRC), batched over M projections.

Grid axes are (depth, v, u). The reference projects ``x f / z`` onto an image plane spanning
``[-0.5, 0.5]`` (``grid_size = 1.0`` in ``pointcloud2voxels3d_fast``), so ``f`` is relative
to the image width, and a coordinate ``c`` in ``[-0.5, 0.5]`` lands at voxel
``(c + 0.5) (G - 1)``; depth is ``z - camera_distance`` on the same range, and points outside
the grid in any coordinate are dropped. The camera is the product's (OpenCV axes: x right,
y down, z forward): the reference's own camera frame (depth along x, image right along z, up
along y, then the rows flipped) is this one rotated, so silhouettes are the same images for
the same physical camera (``tests/test_dpc_parity.py`` checks this against a NumPy
transcription of the reference).
"""

from __future__ import annotations

import torch
from torch import Tensor

from aist_app.pose.quaternion import to_matrix


def perspective(points: Tensor, q: Tensor, *, focal_length: float = 1.875,
                distance: float = 2.0) -> Tensor:
    """``pc_perspective_transform``: (M, N, 3) object-frame points seen with rotation ``q``
    (M, 4) from ``distance`` -> (M, N, 3) grid coordinates (depth, v, u)."""
    pc = points @ to_matrix(q).transpose(-1, -2)
    z = pc[..., 2] + distance
    u = focal_length * pc[..., 0] / z
    v = focal_length * pc[..., 1] / z
    return torch.stack([pc[..., 2], v, u], dim=-1)


def _offsets(size: int, device) -> Tensor:
    """The flat offsets of the 8 corners of a voxel, corner ``4 i + 2 j + k`` at
    (depth + i, v + j, u + k)."""
    c = torch.arange(8, device=device)
    return (c >> 2) * (size * size) + ((c >> 1) & 1) * size + (c & 1)


def _corners(coords: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Flat voxel indices (M, N, 8) of each point's 8 trilinear corners and their weights
    (M, N, 8); a point with any coordinate outside ``[-0.5, 0.5]`` gets weight 0.

    Built per axis and combined by broadcasting: a corner's weight is the product of its
    three axes' weights, its index the point's first voxel plus the corner's offset. A point
    exactly on +0.5 takes the last two voxels of that axis with fraction 1 (the reference's
    last voxel with fraction 0 and a dropped corner of weight 0: the same sums); a dropped
    point's corners get weight 0 (and an index on the grid)."""
    m = coords.shape[0]
    inside = ((coords >= -0.5) & (coords <= 0.5)).all(-1)  # (M, N)
    g = (coords + 0.5) * (size - 1)
    base = torch.floor(g).clamp(0, size - 2)  # on +0.5: the last two voxels, fraction 1
    frac = g - base
    b = base.long()
    flat = ((torch.arange(m, device=coords.device) * size ** 3).view(m, 1, 1)
            + (b[..., 0] * (size * size) + b[..., 1] * size + b[..., 2]).unsqueeze(-1)
            + _offsets(size, coords.device))  # (M, N, 8)
    lo, hi = 1.0 - frac, frac
    wzy = torch.stack([lo[..., 0] * lo[..., 1], lo[..., 0] * hi[..., 1],
                       hi[..., 0] * lo[..., 1], hi[..., 0] * hi[..., 1]], -1)  # (M, N, 4)
    w = (wzy.unsqueeze(-1) * torch.stack([lo[..., 2], hi[..., 2]], -1).unsqueeze(-2)
         ).reshape(flat.shape)
    return flat, torch.where(inside.unsqueeze(-1), w, torch.zeros_like(w))


def splat(coords: Tensor, size: int, weights: Tensor | None = None,
          values: Tensor | None = None,
          corners: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """``pointcloud2voxels3d_fast``: trilinear splatting of (M, N, 3) grid coordinates into
    (M, G, G, G) voxel sums; a point with any coordinate outside ``[-0.5, 0.5]`` is dropped.
    With ``values`` (M, N, C) (the colours), the (M, C, G, G, G) sums of each channel times
    the points' weights instead, all channels in one pass. Differentiable in the coordinates
    (and values). ``corners``: :func:`_corners` of ``coords``, when already computed."""
    m = coords.shape[0]
    flat, w = corners if corners is not None else _corners(coords, size)
    if weights is not None:
        w = w * weights.unsqueeze(-1)
    if values is None:
        out = torch.zeros(m * size ** 3, dtype=coords.dtype, device=coords.device)
        return out.index_add(0, flat.reshape(-1), w.reshape(-1)).view(m, size, size, size)
    ch = values.shape[-1]
    upd = (w.unsqueeze(-1) * values.unsqueeze(2)).reshape(-1, ch)
    out = torch.zeros(m * size ** 3, ch, dtype=coords.dtype, device=coords.device)
    out = out.index_add(0, flat.reshape(-1), upd)
    return out.view(m, size, size, size, ch).permute(0, 4, 1, 2, 3)


def gauss_kernel_1d(size: int, sigma: float, *, device=None, dtype=torch.float32) -> Tensor:
    """``gauss_kernel_1d`` of ``dpc/util/gauss_kernel.py``: taps ``-size//2 + 1 .. size//2``,
    normalized to sum 1."""
    x = torch.arange(-(size // 2) + (0 if size % 2 else 1), size // 2 + 1, device=device,
                     dtype=dtype)
    k = torch.exp(-x ** 2 / (2.0 * sigma ** 2))
    return k / k.sum()


def smooth(voxels: Tensor, sigma: float, kernel_size: int) -> Tensor:
    """``smoothen_voxels3d`` with the separable kernel: the 1-D Gaussian along each grid axis,
    zero padded ("SAME"). Each pass is one matrix product with the banded (G, G) kernel
    matrix: much faster than 3-D convolutions on the CPU, and as fast on the GPU."""
    size = voxels.shape[-1]
    k = gauss_kernel_1d(kernel_size, sigma, device=voxels.device, dtype=voxels.dtype)
    i = torch.arange(size, device=voxels.device)
    # out[b] = sum_a x[a] k[a - b + r]: TF's cross-correlation with "SAME" padding r.
    offset = i.view(-1, 1) - i.view(1, -1) + (kernel_size - 1) // 2
    inside = (offset >= 0) & (offset < kernel_size)
    band = torch.where(inside, k[offset.clamp(0, kernel_size - 1)], torch.zeros_like(k[:1]))
    m, d, h, w = voxels.shape
    x = (voxels.reshape(-1, w) @ band).view(m, d, h, w)  # last axis
    # Middle axis (v): the reference filters before flipping its rows (y up), so an
    # asymmetric (even-sized) kernel runs mirrored in our y-down rows. Each pass is one
    # matrix product on its axis (no transposed copies of the grids).
    x = torch.matmul(band, x)
    return torch.matmul(band.T, x.reshape(m, d, h * w)).view(m, d, h, w)


def drc(occupancy: Tensor, *, clip: float = 1e-5) -> tuple[Tensor, Tensor]:
    """``drc_projection`` (``drc_logsum``): ray termination probabilities along depth
    (axis 1, near to far) of (M, D, G, G) occupancies, p_k = o_k prod_{u<k} (1 - o_u)
    computed in log space with the reference's clipping (its "log unity" is ``clip``, not 0,
    kept for parity). Returns (M, D + 1, G, G) with the escape probability last, and the
    silhouette sum_{k<D} p_k."""
    o = occupancy.clamp(clip, 1.0 - clip)
    if not torch.is_grad_enabled() or not o.requires_grad:
        # The same probabilities by products (no logarithms; without gradients: the pose
        # search's scoring): p_0 = e^clip o_0, p_k = o_k prod_{u<k} (1 - o_u), the escape
        # e^clip prod_u (1 - o_u).
        free = torch.cumprod(1.0 - o, dim=1)
        e = torch.exp(torch.tensor(clip, dtype=o.dtype, device=o.device))
        p = torch.cat([o[:, :1] * e, o[:, 1:] * free[:, :-1], free[:, -1:] * e], 1)
        return p, p[:, :-1].sum(1)
    log_o, log_free = torch.log(o), torch.log1p(-o)
    r = torch.cumsum(log_free, dim=1)
    unity = torch.full_like(log_o[:, :1], clip)
    p = torch.exp(torch.cat([unity, r], 1) + torch.cat([log_o, unity], 1))
    return p, p[:, :-1].sum(1)


def depth_map(probs: Tensor, *, distance: float = 2.0, max_depth: float = 10.0) -> Tensor:
    """``drc_depth_projection``: expected depth from (M, D + 1, G, G) probabilities, voxel k at
    ``k / D - 0.5 + distance`` and the escape at ``max_depth``."""
    d = probs.shape[1] - 1
    z = torch.arange(d, device=probs.device, dtype=probs.dtype) / d - 0.5 + distance
    z = torch.cat([z, z.new_tensor([max_depth])])
    return (probs * z.view(1, -1, 1, 1)).sum(1)


def project(points: Tensor, q: Tensor, *, size: int = 64, sigma: float = 1.0,
            kernel_size: int = 21, scale: Tensor | None = None, focal_length: float = 1.875,
            distance: float = 2.0, weights: Tensor | None = None, clip: float = 1e-5,
            with_depth: bool = False, rgb: Tensor | None = None,
            rgb_divide_eps: float | None = None, rgb_clip_after_conv: bool = False,
            rgb_geometry_grad: bool = True) -> dict[str, Tensor]:
    """``pointcloud_project_fast``: silhouettes (M, G, G) (and depth) of M point clouds
    (M, N, 3) at rotations (M, 4); row 0 is the top of the image. With point colours
    ``rgb`` (M, N, 3) also the image (M, 3, G, G): colours splatted with the points'
    weights, clipped to [0, 1], smoothed, and integrated along the ray probabilities with
    white for the escape (``project_volume_rgb_integral``). ``rgb_divide_eps`` (the
    reference's ``pc_rgb_divide_by_occupancies``, with its epsilon) divides the smoothed
    colours by the smoothed raw occupancy (no gradient through the divisor), so a voxel
    holds the mean colour of its points rather than colour times occupancy;
    ``rgb_clip_after_conv`` (``pc_rgb_clip_after_conv``) clips the colours after that instead
    of before the smoothing (with the division: the points' mean colour, exactly). With
    ``rgb_geometry_grad`` off the image's gradient reaches the colours alone (the points'
    positions and the ray probabilities are constants in it)."""
    coords = perspective(points, q, focal_length=focal_length, distance=distance)
    corners = _corners(coords, size)
    raw = splat(coords, size, weights, corners=corners)
    vox = smooth(raw.clamp(0.0, 1.0), sigma, kernel_size)
    if scale is not None:
        vox = (vox * scale.view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    if rgb is None and not with_depth and not (torch.is_grad_enabled() and vox.requires_grad):
        # Silhouettes alone without gradients (the pose search's scoring): the sum of the
        # ray probabilities telescopes to 1 - prod_k (1 - o_k) (+ the clip's e^clip - 1 on
        # the first voxel), the same figure without the probabilities.
        o = vox.clamp(clip, 1.0 - clip)
        first = o[:, 0] * torch.expm1(torch.tensor(clip, dtype=o.dtype, device=o.device))
        return {"silhouette": 1.0 - torch.prod(1.0 - o, dim=1) + first}
    probs, sil = drc(vox, clip=clip)
    out = {"silhouette": sil}
    if with_depth:
        out["depth"] = depth_map(probs, distance=distance)
    if rgb is not None:
        m = coords.shape[0]
        at, p = (coords, probs) if rgb_geometry_grad else (coords.detach(), probs.detach())
        flat, w = corners if rgb_geometry_grad else (corners[0], corners[1].detach())
        col = splat(at, size, weights, values=rgb, corners=(flat, w))  # (M, 3, G, G, G)
        if not rgb_clip_after_conv:
            col = col.clamp(0.0, 1.0)
        col = smooth(col.reshape(m * 3, size, size, size), sigma, kernel_size)
        col = col.view(m, 3, size, size, size)
        if rgb_divide_eps is not None:
            div = smooth(raw.detach(), sigma, kernel_size)
            col = col / (div.unsqueeze(1) + rgb_divide_eps)
        if rgb_clip_after_conv:
            col = col.clamp(0.0, 1.0)
        out["rgb"] = (p[:, None, :-1] * col).sum(2) + p[:, None, -1]
    return out


def colour_targets(images: Tensor, size: int) -> Tensor:
    """Encoder images (N, 3, S, S) in [-1, 1] (on white) as the colour term's targets: in
    [0, 1] at the grid size (``add_proj_rgb_loss`` resizes them bilinearly)."""
    return torch.nn.functional.interpolate((images + 1.0) / 2.0, size=(size, size),
                                           mode="bilinear", align_corners=False,
                                           antialias=True)
