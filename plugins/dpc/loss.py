"""DPC's training objective, as the reference computes it (``dpc/models/model_pc.py``): the
shape predicted from one view of each object (``pool_single_view(cfg, ids, 0)``) is projected
with every view's pose candidates (``replicate_for_multiview``, then per candidate, each
projection with its own point dropout); per view the winning candidate's error counts, as
``tf.nn.l2_loss`` (half the sum of squares) divided by the number of samples (objects x views,
``proj_loss_pose_candidates``); the student learns the winning candidate with
sum(1 - w^2) / samples times its weight (``add_student_loss``). ``objective = "all-pairs"``
keeps an earlier reading (every view's shape with every view's poses) for comparison.
With ``pc_rgb`` the colour error (``add_proj_rgb_loss``: half the sum of squares per sample
times ``proj_rgb_weight``) is added to each candidate's error, so the minimum and the search
see it too (the reference ran colours without pose candidates); ``pc_rgb_search_from`` holds
that back for a number of steps, during which the colour term trains the colours alone.
``shape_consistency`` (AIST's, off by default) adds the Chamfer distance between the shapes
decoded from two views of each object. ``pose_sectors`` (AIST's, off by default) trains
azimuth-sector hypotheses as Unicorn does (:mod:`aist_plugins.dpc.sectors`)."""

from __future__ import annotations

import torch
from torch import Tensor

from aist_app.pose.quaternion import multiply, student_loss
from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.projection import project
from aist_plugins.dpc.sectors import usage_prior


def dropout_points(points: Tensor, keep: float, generator: torch.Generator) -> Tensor:
    """``pc_point_dropout``: keep ``int(n * keep)`` random points of each cloud, drawn
    independently per cloud."""
    b, n, d = points.shape  # d: 3, or 6 with the points' colours
    k = max(1, int(n * keep))
    if k >= n:
        return points
    idx = torch.argsort(torch.rand(b, n, generator=generator), dim=1)[:, :k]
    return torch.gather(points, 1, idx.to(points.device).unsqueeze(-1).expand(b, k, d))


_FLIPS = torch.eye(4)  # identity and the 180-degree turns about x, y and z


def with_flips(candidates: Tensor) -> Tensor:
    """(M, K, 4) camera-from-object candidates -> (M, 4K, 4): each also composed with the
    object-frame 180-degree turns (``q * f``), the candidates of the pose search."""
    m, k, _ = candidates.shape
    flips = _FLIPS.to(candidates).view(1, 1, 4, 4).expand(m, k, 4, 4)
    return multiply(candidates.unsqueeze(2).expand(m, k, 4, 4), flips).reshape(m, 4 * k, 4)


def ties_views(config: PoseConfig, views: int) -> bool:
    """Whether ``shape_consistency`` is on for batches of ``views`` views an object."""
    return config.shape_consistency > 0 and views > 1


def shape_views(objects: int, views: int, config: PoseConfig, device=None) -> Tensor | None:
    """Indices of the images whose shape is decoded (view 0 of each object; with
    ``shape_consistency`` then view 1 of each), or None for all of them (``all-pairs``)."""
    if config.objective == "all-pairs":
        return None
    if config.objective != "reference":
        raise ValueError(f"objective {config.objective!r}: use 'reference' or 'all-pairs'")
    first = torch.arange(objects, device=device) * views
    k = config.shapes_per_object
    if not 1 <= k <= views:
        raise ValueError(f"shapes_per_object {k}: use 1 to views_per_object ({views})")
    if ties_views(config, views):
        if k > 1:
            raise ValueError("shape_consistency and shapes_per_object > 1: use one of them")
        return torch.cat([first, first + 1])
    if k > 1:  # object-major: (object, shape view)
        return (first[:, None] + torch.arange(k, device=device)[None]).reshape(-1)
    return first


def chamfer(a: Tensor, b: Tensor) -> Tensor:
    """Symmetric Chamfer distance of (S, N, D) and (S, M, D) clouds: the mean squared
    distance to the nearest point of the other cloud, both ways, summed; (S,)."""
    d = torch.cdist(a, b).square()
    return d.min(dim=2).values.mean(dim=1) + d.min(dim=1).values.mean(dim=1)


def shape_consistency_loss(out: dict[str, Tensor], objects: int, views: int,
                           config: PoseConfig) -> Tensor:
    """The mean Chamfer distance (voxels squared) between the clouds of view 0 and view 1
    of each object: positions times the grid size, colours (``pc_rgb``) times that and
    ``shape_consistency_rgb_scale``."""
    c = config
    cloud = out["points"] * c.vox_size
    if c.pc_rgb and "rgb" in out:
        cloud = torch.cat([cloud, out["rgb"] * (c.vox_size * c.shape_consistency_rgb_scale)],
                          -1)
    if c.objective == "all-pairs":
        per = cloud.view(objects, views, *cloud.shape[1:])
        first, second = per[:, 0], per[:, 1]
    else:
        first, second = cloud[:objects], cloud[objects:]
    return chamfer(first, second).mean()


def dpc_loss(out: dict[str, Tensor], masks: Tensor, config: PoseConfig, step: int,
             generator: torch.Generator, images: Tensor | None = None) -> dict[str, Tensor]:
    """``out`` from the model on B objects x V views (flattened, object-major, shapes decoded
    for :func:`shape_views`); ``masks`` (B, V, G, G) in [0, 1]; with ``pc_rgb`` and a
    ``proj_rgb_weight``, ``images`` (B, V, 3, G, G) in [0, 1] on white (the colour term)."""
    c = config
    b, v, g = masks.shape[0], masks.shape[1], masks.shape[-1]
    consistency = None
    if ties_views(c, v):
        consistency = shape_consistency_loss(out, b, v, c)
        if c.objective != "all-pairs":  # the projections take view 0's shapes only
            out = {k: (t[:b] if k in ("points", "rgb", "scale") else t) for k, t in out.items()}
    s = out["points"].shape[0] // b  # shapes per object: shapes_per_object, or V (all-pairs)
    n = out["points"].shape[1]
    target = masks.view(b, 1, v, 1, g, g)
    colour = c.colour_loss
    if colour and images is None:
        raise ValueError("pc_rgb with proj_rgb_weight > 0: dpc_loss needs the images")
    cloud = torch.cat([out["points"], out["rgb"]], -1) if colour else out["points"]
    d = cloud.shape[-1]

    # Before pc_rgb_search_from the colour term reaches the network through the colours alone
    # (no gradient through the points' positions or the poses) and does not score the
    # candidates (AIST's warm-up; 0: none).
    colour_scores = colour and step >= c.pc_rgb_search_from

    def errors(candidates: Tensor, scores_only: bool = False,
               shapes_held: bool = False) -> tuple[Tensor, Tensor]:
        """(B, S, V, K) scores and errors of (B*V, K, 4) candidates: the silhouette error,
        plus the weighted colour error (in the scores once ``colour_scores``);
        ``scores_only`` skips the colours where the scores do not need them;
        ``shapes_held``: no gradient to the shapes (points, colours, scale)."""
        with_rgb = colour and (colour_scores or not scores_only)
        k = candidates.shape[1]
        shape, scales = (cloud.detach(), out["scale"].detach()) if shapes_held else (
            cloud, out["scale"])
        # (B, S shape, V pose, K candidate) projections, flattened object-major
        pts = shape.view(b, s, 1, 1, n, d).expand(b, s, v, k, n, d).reshape(-1, n, d)
        pts = dropout_points(pts, c.keep_fraction(step), generator)
        cand = candidates.view(b, 1, v, k, 4).expand(b, s, v, k, 4).reshape(-1, 4)
        scale = scales.view(b, s, 1, 1).expand(b, s, v, k).reshape(-1)
        proj = project(pts[..., :3], cand, size=g, sigma=c.sigma(step),
                       kernel_size=c.kernel_size, scale=scale, focal_length=c.focal_length,
                       distance=c.camera_distance, clip=c.drc_clip,
                       rgb=pts[..., 3:] if with_rgb else None,
                       rgb_geometry_grad=colour_scores, **c.colour_projection())
        err = ((proj["silhouette"].view(b, s, v, k, g, g) - target) ** 2).sum(dim=(-1, -2))
        if not with_rgb:
            return err, err
        rgb = proj["rgb"].view(b, s, v, k, 3, g, g)
        total = err + c.proj_rgb_weight * ((rgb - images.view(b, 1, v, 1, 3, g, g)) ** 2
                                           ).sum(dim=(-1, -2, -3))
        return (total if colour_scores else err), total

    candidates = out["candidates"]
    extra: dict[str, Tensor] = {}
    if c.pose_sectors:
        # Unicorn's two halves, every step: the poses and the probabilities learn the
        # probability-weighted error of every hypothesis (shapes held); the shapes learn the
        # most probable hypothesis' error (its pose held); the usage prior keeps every
        # sector in use.
        k = candidates.shape[1]
        probs = out["sector_probs"].view(b, 1, v, k)
        _, err_all = errors(candidates, shapes_held=True)  # (B, S, V, K)
        expected = 0.5 * (probs * err_all).sum() / (b * s * v)
        best = probs.detach().view(b, v, k).argmax(dim=-1)  # (B, V)
        chosen = candidates.view(b, v, k, 4).gather(
            2, best.view(b, v, 1, 1).expand(b, v, 1, 4)).reshape(b * v, 1, 4).detach()
        score, err = errors(chosen)
        # Unicorn weighs its prior against a mean squared error (per pixel and channel);
        # this error is half a sum over the view's terms, so the prior is scaled by it.
        terms = 0.5 * g * g * (1.0 + (3.0 * c.proj_rgb_weight if colour else 0.0))
        usage = usage_prior(out["sector_probs"])
        extra = {"expected": expected, "usage": c.sector_usage_weight * terms * usage}
        candidates, best = chosen, torch.zeros_like(best)
    elif c.pose_flips:
        # The search: every candidate and its flips scored without gradients; the winner
        # of each view is projected again with them (the minimum's gradient flows to the
        # winner alone, as below).
        candidates = with_flips(candidates)
        with torch.no_grad():
            best = errors(candidates, scores_only=True)[0].sum(dim=1).argmin(dim=-1)
        k = candidates.shape[1]
        candidates = candidates.view(b, v, k, 4).gather(
            2, best.view(b, v, 1, 1).expand(b, v, 1, 4)).reshape(b * v, 1, 4)
        score, err = errors(candidates)
        best = torch.zeros_like(best)
    else:
        score, err = errors(candidates)  # (B, S, V, K)
        # The student learns each view's winning candidate (summed over the shapes tried).
        best = score.detach().sum(dim=1).argmin(dim=-1)  # (B, V)
    # Per shape and view the best-scoring candidate's error counts (the minimum when the
    # scores are the errors).
    best_err = err.gather(-1, score.detach().argmin(dim=-1, keepdim=True)).squeeze(-1)
    samples = b * s * v
    proj_loss = 0.5 * best_err.sum() / samples
    k = candidates.shape[1]
    teacher = candidates.view(b, v, k, 4).gather(
        2, best.view(b, v, 1, 1).expand(b, v, 1, 4)).squeeze(2).detach()
    stud = student_loss(out["student"].view(b, v, 4), teacher).sum() / (b * v)
    total = proj_loss + c.student_weight * stud + sum(extra.values())
    losses = {"projection": proj_loss.detach(), "student": stud.detach(),
              "sigma": torch.tensor(c.sigma(step)), "keep": torch.tensor(c.keep_fraction(step)),
              **{name: t.detach() for name, t in extra.items()}}
    if consistency is not None:
        total = total + c.shape_consistency * consistency
        losses["consistency"] = consistency.detach()
    return {"total": total, **losses}
