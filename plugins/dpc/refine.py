"""Render-and-compare refinement of a trained pose run's predictions at test time (RenderNet
supplementary §1.1–1.2): minimize

    α ‖M − render(g(z), θ)‖² + β (z − μ)ᵀ Σ⁻¹ (z − μ)

over the shape latent ``z`` and the pose ``θ`` of each image, where ``M`` is the input mask,
``g`` the run's decoder, ``render`` our differentiable projection (the dataset's camera) and
μ, Σ the mean and covariance of the run's latent over its training set. Restarts: the run's
own prediction plus a grid over azimuth × elevation (cameras on the viewing sphere, in the
run's frame through its alignment), all optimized in one batch by Adam; every
``reseed_every`` steps each image's restarts are re-seeded from its best, on a grid of poses
around it that halves at each re-seed; it stops when a period improves the best loss by less
than ``tol`` (relative), or after ``steps``.

Deviations from the seed, by necessity: its renderer is a learned RenderNet and its image
term compares shaded images; here the image term compares silhouettes, and for a run that
decodes point colours (``pc_rgb``) also its colour image with the input's (weight
``colour``): the signals the run was trained on, through the run's own projection.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor

from aist_app.pose import quaternion as Q
from aist_plugins.dpc.projection import colour_targets, project


@dataclass
class RefineConfig:
    alpha: float = 5.0  # image term (the seed's α)
    # Weight of the colour error beside the silhouette's in the image term, for runs that
    # decode point colours (pc_rgb): the seed compares images, not masks. 0: silhouettes only.
    colour: float = 1.0
    beta: float = 1.0  # shape prior term (the seed's β)
    azimuths: int = 8  # grid over the full circle
    elevations: tuple[float, ...] = (0.0, 20.0, 40.0)  # degrees
    steps: int = 2000  # at most (the seed converges in about 2,000)
    reseed_every: int = 200
    lr: float = 0.01  # Adam, pose quaternion and latent
    sigma: float | None = None  # splat sigma in voxels (None: the run's final sigma)
    tol: float = 1e-3  # relative improvement of a period below which it stops
    prior_shrink: float = 1e-2  # Σ + shrink · mean(diag Σ) · I, so that Σ⁻¹ exists
    batch: int = 8  # images refined together (each with all its restarts)

    @property
    def restarts(self) -> int:
        return 1 + self.azimuths * len(self.elevations)

    def as_dict(self) -> dict:
        return {**asdict(self), "elevations": list(self.elevations)}

    def __post_init__(self) -> None:
        if self.azimuths < 1 or not self.elevations:
            raise ValueError("refine: the grid needs at least one azimuth and one elevation")
        if self.steps < 1 or self.reseed_every < 1:
            raise ValueError("refine: steps and reseed_every must be positive")
        self.elevations = tuple(float(e) for e in self.elevations)


@dataclass
class ShapePrior:
    """Mean and precision of the run's shape latent over its training images."""

    mean: Tensor  # (D,)
    precision: Tensor  # (D, D)
    samples: int

    @classmethod
    def estimate(cls, model, config, data, *, shrink: float = 1e-2, batch: int = 64,
                 device: str | torch.device = "cpu") -> ShapePrior:
        """Over every view of ``data`` (the run's training set)."""
        from aist_app.pose.data import images_and_masks

        zs = []
        views = [(oid, f) for oid in data.ids for f in data.views[oid]]
        with torch.no_grad():
            for i in range(0, len(views), batch):
                chunk = views[i:i + batch]
                rgba = torch.cat([data.load(oid, [f]) for oid, f in chunk])
                images, _ = images_and_masks(rgba, config.image_size, config.vox_size)
                zs.append(model.latent(images.to(device)).double().cpu())
        z = torch.cat(zs)
        if len(z) < 2:
            raise ValueError(f"{data.ds.root}: the shape prior needs at least 2 training views")
        mean = z.mean(0)
        cov = torch.cov(z.T)
        cov = cov + shrink * cov.diagonal().mean() * torch.eye(len(mean), dtype=cov.dtype)
        return cls(mean.float(), torch.linalg.inv(cov).float(), len(z))

    def mahalanobis(self, z: Tensor) -> Tensor:
        d = z - self.mean.to(z)
        return ((d @ self.precision.to(z)) * d).sum(-1)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "precision": self.precision, "samples": self.samples}


def grid_quaternions(azimuths: int, elevations: tuple[float, ...], up_axis: str = "y",
                     distance: float = 2.0) -> Tensor:
    """Camera rotations (world to camera, w x y z) of orbit cameras on the grid, in the
    ground-truth frame of the datasets."""
    from aist_app.scene.cameras import orbit_camera, quaternion_from_matrix

    qs = [quaternion_from_matrix(orbit_camera(360.0 * a / azimuths, el, distance=distance,
                                              up_axis=up_axis).R)
          for el in elevations for a in range(azimuths)]
    return torch.as_tensor(np.stack(qs), dtype=torch.float32)


def neighbours(q_truth: Tensor, step_deg: float, count: int, up: Tensor) -> Tensor:
    """``count`` rotations around ``q_truth`` (4,) (ground-truth frame): the 8 neighbours
    on an azimuth × elevation grid of ``step_deg``, then of half that, and so on.
    Azimuth turns the object about its up axis; elevation turns the camera about its
    horizontal axis."""
    x_cam = torch.tensor([1.0, 0.0, 0.0])
    out, step = [], step_deg
    while len(out) < count:
        for da in (-step, 0.0, step):
            for de in (-step, 0.0, step):
                if da == 0.0 and de == 0.0:
                    continue
                r_az = Q.axis_angle(up, torch.tensor(da))
                r_el = Q.axis_angle(x_cam, torch.tensor(de))
                out.append(Q.multiply(Q.multiply(r_el, q_truth), r_az))
        step /= 2
    return torch.stack(out[:count])


def mask_problems(masks: Tensor) -> list[str | None]:
    """Why each mask (…, G, G) cannot be refined against, or None: an empty mask has nothing
    to fit; one touching the border is cut by the frame, so its silhouette is not the
    object's."""
    out = []
    for m in (masks > 0.5).reshape(-1, *masks.shape[-2:]):
        if not m.any():
            out.append("the mask is empty: nothing to fit the silhouette to")
        elif m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any():
            out.append("the mask touches the image border: the object is cut by the frame, "
                       "so its silhouette cannot be fitted")
        else:
            out.append(None)
    return out


@dataclass
class RefineResult:
    quaternion: Tensor  # (B, 4) model frame
    latent: Tensor  # (B, D)
    points: Tensor  # (B, N, 3)
    scale: Tensor  # (B,)
    silhouette: Tensor  # (B, G, G)
    loss: Tensor  # (B,) the best restart's objective
    loss_start: Tensor  # (B,) the objective at the run's own prediction
    steps: int = 0
    history: list[float] = field(default_factory=list)  # mean best loss per period


class Refiner:
    """Refines a run's predictions: ``model`` (the run's DPC), its ``config``, the shape
    ``prior``, ``align`` (the run's rotation to the ground-truth frame, w x y z) and the
    dataset's ``focal_length`` and ``up_axis``."""

    def __init__(self, model, config, prior: ShapePrior, align: np.ndarray,
                 refine: RefineConfig | None = None, *, focal_length: float | None = None,
                 up_axis: str = "y", device: str | torch.device = "cpu") -> None:
        self.model, self.c, self.prior = model, config, prior
        self.r = refine or RefineConfig()
        self.device = torch.device(device)
        self.A = torch.as_tensor(np.asarray(align), dtype=torch.float32)
        self.focal = focal_length or config.focal_length
        self.up = torch.as_tensor(
            {"x": [1.0, 0, 0], "y": [0, 1.0, 0], "z": [0, 0, 1.0]}[up_axis])
        grid = grid_quaternions(self.r.azimuths, self.r.elevations, up_axis,
                                config.camera_distance)
        self.grid = self.to_model(grid)
        for p in self.model.parameters():
            p.requires_grad_(False)

    def to_model(self, q_truth: Tensor) -> Tensor:
        """Ground-truth-frame rotations to the run's frame (q_truth = q_model ⊗ A)."""
        return Q.multiply(q_truth, Q.conjugate(self.A).expand_as(q_truth))

    def to_truth(self, q_model: Tensor) -> Tensor:
        return Q.multiply(q_model, self.A.expand_as(q_model))

    @property
    def uses_colour(self) -> bool:
        return self.r.colour > 0 and getattr(self.model, "colors", None) is not None

    def colour_targets(self, images: Tensor) -> Tensor | None:
        """The images (B, 3, S, S) in [-1, 1] as the colour term's targets: on white in
        [0, 1] at the grid size, as the run was trained with; None without the term."""
        if not self.uses_colour:
            return None
        return colour_targets(images, self.c.vox_size)

    def objective(self, z: Tensor, q: Tensor, masks: Tensor, sigma: float,
                  targets: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-restart objective (…,) and silhouettes for latents (…, D), poses (…, 4) and
        the masks (…, G, G) they are compared with; with ``targets`` (…, 3, G, G) from
        :meth:`colour_targets` the colour error is in the image term too."""
        lead = z.shape[:-1]
        flat = z.reshape(-1, z.shape[-1])
        points, scale = self.model.decode(flat)
        rgb = self.model.decode_colors(flat) if targets is not None else None
        proj = project(points, Q.normalize(q.reshape(-1, 4)), size=self.c.vox_size,
                       sigma=sigma, kernel_size=self.c.kernel_size, scale=scale,
                       focal_length=self.focal, distance=self.c.camera_distance, rgb=rgb,
                       **self.c.colour_projection())
        sil = proj["silhouette"].view(*lead, *masks.shape[-2:])
        image = ((sil - masks) ** 2).sum((-1, -2))
        if targets is not None:
            colour = proj["rgb"].view(*lead, *targets.shape[-3:])
            image = image + self.r.colour * ((colour - targets) ** 2).sum((-1, -2, -3))
        return self.r.alpha * image + self.r.beta * self.prior.mahalanobis(z), sil

    def refine(self, images: Tensor, masks: Tensor, *, generator: torch.Generator | None = None
               ) -> RefineResult:
        """``images`` (B, 3, S, S) in [-1, 1] and their ``masks`` (B, G, G)."""
        for i, problem in enumerate(mask_problems(masks)):
            if problem:
                raise ValueError(f"refine: image {i}: {problem}")
        r, dev = self.r, self.device
        images, masks = images.to(dev), masks.to(dev).float()
        B, K = len(images), r.restarts
        sigma = r.sigma if r.sigma is not None else self.c.sigma_end
        with torch.no_grad():
            out = self.model(images)
            z0 = self.model.latent(images)
        q_start = torch.cat([out["student"][:, None], self.grid[None].expand(B, -1, -1)], 1)
        z = z0[:, None].expand(B, K, -1).clone().requires_grad_(True)
        q = q_start.clone().to(dev).requires_grad_(True)
        m = masks[:, None].expand(B, K, *masks.shape[-2:])
        t0 = self.colour_targets(images)
        t = None if t0 is None else t0[:, None].expand(B, K, *t0.shape[1:])
        with torch.no_grad():
            loss_start = self.objective(z0, out["student"], masks, sigma, t0)[0]
        spacing = 360.0 / r.azimuths
        best = torch.full((B,), math.inf, device=dev)
        history: list[float] = []
        step = 0
        while step < r.steps:
            opt = torch.optim.Adam([z, q], lr=r.lr)
            for _ in range(min(r.reseed_every, r.steps - step)):
                loss, _ = self.objective(z, q, m, sigma, t)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
                step += 1
            with torch.no_grad():
                loss, _ = self.objective(z, q, m, sigma, t)
                period_best, k = loss.min(1)
                improved = (best - period_best) / period_best.clamp_min(1e-12)
                best = torch.minimum(best, period_best)
                history.append(float(best.mean()))
                zb = z[torch.arange(B), k]
                qb = Q.normalize(q[torch.arange(B), k])
                if step >= r.steps or bool((improved < r.tol).all()):
                    break
                # Re-seed: the best, and a grid around it that halves each period.
                spacing /= 2
                qt = self.to_truth(qb)
                new_q = torch.stack([torch.cat([qb[b][None], self.to_model(
                    neighbours(qt[b], spacing, K - 1, self.up))]) for b in range(B)])
                z = zb[:, None].expand(B, K, -1).clone().requires_grad_(True)
                q = new_q.clone().requires_grad_(True)
        with torch.no_grad():
            loss, sil = self.objective(zb, qb, masks, sigma, t0)
            points, scale = self.model.decode(zb)
        return RefineResult(qb.detach(), zb.detach(), points, scale, sil, loss, loss_start,
                            step, history)


def refine_config(settings=None) -> RefineConfig:
    """The refinement settings as a :class:`RefineConfig` (given as one, as a dict of its
    fields from the CLI or an experiment's ``refine_config``, or None: the defaults)."""
    if isinstance(settings, dict):
        return RefineConfig(**settings)
    return settings or RefineConfig()


def refine_predictions(refiner: Refiner, data, preds: list, *, progress=None
                       ) -> tuple[list, dict[str, str]]:
    """The run's :class:`~aist_app.pose.evaluate.Prediction` s of ``data`` refined, in the
    same order (``progress(done, total)`` after each batch), and the views left as they were
    with the reason (empty mask, or cut by the frame)."""
    from aist_app.pose.data import images_and_masks
    from aist_app.pose.evaluate import Prediction

    c, out = refiner.c, {}
    skipped: dict[str, str] = {}
    for p in preds:  # views that cannot be refined keep the run's own prediction
        why = mask_problems(torch.from_numpy(p.mask.astype(np.float32)))[0]
        if why:
            skipped[f"{p.oid}/{p.file}"] = why
            out[(p.oid, p.file)] = p
    todo = [p for p in preds if (p.oid, p.file) not in out]
    for i in range(0, len(todo), refiner.r.batch):
        chunk = todo[i:i + refiner.r.batch]
        rgba = torch.cat([data.load(p.oid, [p.file]) for p in chunk])
        images, masks = images_and_masks(rgba, c.image_size, c.vox_size)
        res = refiner.refine(images, masks)
        for j, p in enumerate(chunk):
            out[(p.oid, p.file)] = Prediction(
                p.oid, p.file, res.points[j].cpu().numpy(),
                Q.normalize(res.quaternion[j]).cpu().numpy(), p.mask,
                res.silhouette[j].cpu().numpy())
        if progress is not None:
            progress(min(i + len(chunk), len(todo)), len(todo))
    return [out[(p.oid, p.file)] for p in preds], skipped


def run_refiner(ev, align: np.ndarray, config: RefineConfig, *, focal_length=None,
                up_axis: str = "y") -> Refiner:
    """A :class:`Refiner` over an :class:`~aist_app.pose.evaluate.Evaluator`'s run: the
    shape prior estimated on the run's training set."""
    from aist_app.common.checkpoints import recorded_path
    from aist_app.pose.data import PoseData

    if not hasattr(ev.model, "decode"):
        raise ValueError(f"{ev.ck.get('path', 'the run')}: its model has no shape decoder "
                         "to refine with")
    train = recorded_path(ev.ck, ev.ck["dataset"]) if ev.ck else None
    if train is None or not (train / "dataset.json").is_file():
        raise ValueError(f"{train}: the run's training set is needed for the shape prior "
                         "(mean and covariance of its latent) and is not there")
    prior = ShapePrior.estimate(ev.model, ev.config, PoseData(train, "train"),
                                shrink=config.prior_shrink, device=ev.device)
    return Refiner(ev.model, ev.config, prior, align, config, focal_length=focal_length,
                   up_axis=up_axis, device=ev.device)
