"""Pose-model configuration. Defaults are the reference's (``dpc/resources/default_config.yaml``
overridden by ``experiments/chair_unsupervised/config.yaml``, which the report used for cars):
batch 8 objects x 4 views, Adam lr 1e-4 (1e-5 after ``learning_rate_step`` = 1.0 of the
steps, i.e. never), L2 weight decay 1e-3 added to the loss, 600k steps, sigma 3.0 -> 0.2
voxels, kernel 21, point dropout keep 0.07 -> 1, 4 candidates, student weight 20, fp32,
a checkpoint every 5000 steps and validation every 1000."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from aist_app.api.config import setting


@dataclass
class PoseConfig:
    image_size: int = 128  # encoder input
    f_dim: int = 16
    fc_dim: int = 1024
    z_dim: int = 1024
    num_points: int = setting(8000, option="--points", help="Points of each predicted shape.")
    decoder_init_std: float = 0.025
    occupancy_scale_max: float = 1.0  # pc_occupancy_scaling_maximum
    ensemble: int = 4  # pose candidates
    pose_hidden: int = 32
    student_weight: float = 20.0
    # Training-time pose search (a deviation from the reference, off by default): every
    # candidate is also tried composed with the three 180-degree turns about the model's
    # axes, and each view keeps the best (docs/learning.md: the front/back minimum).
    pose_flips: bool = False
    # Bilateral symmetry (a deviation from the reference, off by default): shapes are
    # mirror-symmetric about the model's x = 0 plane (half the points decoded, mirrored), an
    # image and its left-right mirror image give one shape (mean latent) and mirrored poses
    # (q and its mirror averaged). It rules out the folded solution where the mirror views
    # of a car get mirrored shapes (docs/learning.md).
    mirror_symmetry: bool = False
    # Azimuth-sector pose hypotheses (Unicorn's, Monnier et al. 2022; a deviation, 0: off,
    # the reference's free ensemble): pose_sectors hypotheses, hypothesis k confined to
    # azimuth sector k (360 / K wide, centred at (k + 1/2) 360 / K, +-0.52 of its width about
    # the centre), an elevation in [sector_elevation_min, sector_elevation_max] (+-0.52 of
    # the span about its middle) and a roll of at most sector_roll degrees, about the model's
    # y (up) axis; a probability head weighs them. The poses learn the probability-weighted
    # error of every hypothesis (the shapes held), the shapes the most probable hypothesis'
    # error (its pose held): both halves of Unicorn's alternation, every step; the usage
    # prior sector_usage_weight * mean_k |mean p_k - 1/K| keeps every sector in use
    # (weighed, as Unicorn's, against a per-pixel mean error: times the view's number of
    # error terms, halved); the student learns the most probable hypothesis. In place of
    # pose_flips and mirror_symmetry (neither combines with it).
    pose_sectors: int = setting(0, help="Azimuth-sector pose hypotheses (Unicorn's; 0: off, "
                                   "the reference's ensemble; e.g. 6), weighed by a "
                                   "probability head with a uniform-usage prior.")
    sector_elevation_min: float = -20.0
    sector_elevation_max: float = 40.0
    sector_roll: float = 10.0
    sector_usage_weight: float = 0.02
    # AIST's initial shape (0: the reference's, a cloud near the origin): the point decoder's
    # biases start the cloud as a bar of this half-length (in the [-0.5, 0.5] cube) along the
    # model's axis init_elongation_axis (0 x, 1 y, 2 z). With mirror_symmetry (mirror plane
    # x = 0) an elongation along y or z puts the object's long axis in the mirror plane from
    # the first step: a car's plane of symmetry is its long one (docs/learning.md).
    init_elongation: float = 0.0
    init_elongation_axis: int = 1
    # A category prototype first (progressive conditioning, as Unicorn; a deviation, off by
    # default): for the first prototype_warmup of the steps every image decodes one shared,
    # learned latent (one shape, one colour), so a pose turned with the view costs error on
    # every view; then the images' own latents are mixed in linearly over prototype_release
    # of the steps (z = (1 - a) z_proto + a z_image), after which the model is the
    # reference's. With mirror_symmetry the prototype is symmetric about the model's x = 0
    # plane: init_elongation along y or z puts the car's long axis in that plane, not its
    # transverse one.
    prototype_warmup: float = 0.0
    prototype_release: float = 0.1
    # Coloured points (the reference's pc_rgb, off there by default): a colour per point,
    # splatted, smoothed and integrated along the ray probabilities over white; an L2 loss on
    # the image weighted by proj_rgb_weight. With several pose candidates the colour error
    # also scores the candidates (and the pose search): AIST's combination, not run by the
    # reference, whose candidates repeat the points but not the colours.
    pc_rgb: bool = False
    proj_rgb_weight: float = 0.0
    # The reference's pc_rgb_divide_by_occupancies (off there): the smoothed colours divided
    # by the smoothed raw occupancy (+ epsilon), so thinly splatted parts are not darkened;
    # with pc_rgb_clip_after_conv (also off there) the colours are clipped after that rather
    # than before the smoothing: the two together give each voxel its points' mean colour.
    pc_rgb_divide_by_occupancies: bool = False
    pc_rgb_divide_by_occupancies_epsilon: float = 0.01
    pc_rgb_clip_after_conv: bool = False
    # AIST's warm-up of the colour term (0: none, the reference's behaviour): before this
    # step the colour error reaches the network through the colour decoder alone (no gradient
    # through the points' positions or the poses) and does not score the candidates or the
    # search; the silhouettes settle the shapes and poses first, then the colours tell front
    # from back (docs/learning.md).
    pc_rgb_search_from: int = 0
    # AIST's cross-view shape consistency (0: off, the reference's objective): the shape of
    # a second view of each object is decoded too and the symmetric Chamfer distance between
    # the two clouds (in voxels, on positions and, with pc_rgb, colours scaled by
    # shape_consistency_rgb_scale) is added with this weight. The reference ties the views
    # of an object only through the poses, which the pose search can absorb (the folded
    # solution, docs/learning.md); this ties their shapes' frames.
    shape_consistency: float = 0.0
    shape_consistency_rgb_scale: float = 0.25
    # AIST's (1: the reference's pool_single_view): with the reference objective, the shapes
    # of the first this many views of each object are decoded and each projected with every
    # view's candidates; the winners (and the pose search) are scored on the sum over these
    # shapes, so with 3 or more a view is taught the pose that fits the majority of its
    # object's shapes rather than one view's (docs/learning.md).
    shapes_per_object: int = 1
    # AIST's pose recoverability (0: off, the reference's objective; SSV's and ViewNet's
    # cycle, a deviation): every step the batch's decoded shapes (with their colours) are
    # rendered through the same projection at pose_recover_views poses each, drawn as the
    # training set's cameras turned about the up axis by a uniform azimuth (the dataset's
    # elevations, the whole circle), composed on white as the inputs are and encoded; the
    # student (and with pose_recover_candidates every candidate) must recover the drawn pose,
    # 1 - <q, q_drawn>^2 with no flip or candidate minimum, times this weight. Its gradient
    # reaches the pose network and the decoder: a shape whose views at azimuth a and a + 180
    # look alike costs (docs/learning.md).
    pose_recover: float = 0.0
    pose_recover_views: int = 1
    pose_recover_candidates: bool = False
    vox_size: int = setting(64, help="Projection grid size (masks are resized to it).")
    kernel_size: int = 21
    sigma_start: float = 3.0  # Gaussian sigma in voxels, annealed to sigma_end
    sigma_end: float = 0.2
    dropout_keep_start: float = 0.07  # fraction of points kept, scheduled to 1
    dropout_end: float = 1.0  # fraction of training at which all points are kept
    focal_length: float = 1.875  # relative to the width; training takes it from the dataset's K
    camera_distance: float = 2.0
    drc_clip: float = 1e-5
    # "reference": one view's shape per object, projected with every view's candidates
    # (model_pc.py). "all-pairs": every view's shape with every view's candidates (V x V).
    objective: str = setting("reference", choices=("reference", "all-pairs"),
                             help="reference (default): one view's shape per object projected "
                                  "with every view's poses (DPC's model_pc.py); all-pairs: "
                                  "every view's shape with every view's poses.")
    batch_objects: int = setting(8, help="Objects per batch.")
    views_per_object: int = setting(4, help="Views of each object per batch (the dataset "
                                    "needs at least as many).")
    steps: int = setting(600_000, help="Training steps (the reference: 600k); with --resume: "
                         "train on to this step.")
    lr: float = setting(1e-4, help="Adam learning rate.")
    lr_2: float = 1e-5
    lr_step_frac: float = 1.0  # switch to lr_2 after this fraction of the steps
    weight_decay: float = 1e-3
    clip_grad: float | None = setting(None, help="Gradient-norm clipping (the reference's "
                                      "clip_gradient_norm; 0 or none: off, as the "
                                      "reference; default: none).")
    seed: int = 0
    device: str = "auto"
    amp: bool = setting(False, help="bfloat16 autocast of the network (default fp32, as the "
                        "reference; the projection stays fp32). See docs/mixed-precision.md.")
    checkpoint_every: int = setting(5000, help="Steps between full-state checkpoints.")
    val_every: int = setting(1000, help="Steps between validation losses.")
    # Pose metrics (acc@30, median error, Chamfer, with chance baselines) on validation
    # objects every N steps, for learning curves (0: off; costs an alignment each time).
    pose_eval_every: int = 0
    pose_eval_objects: int = 20
    # Which checkpoint a run's predictions use (AIST's; the reference evaluates the
    # checkpoint it is given, its last): "last", or "best-val": every pose evaluation on the
    # validation objects (pose_eval_every) that beats the kept one writes
    # checkpoints/best.pt (acc@30 under the reference alignment first, then the median
    # error), and evaluate / reconstruct / the GUI predict with it (early stopping on
    # validation figures; the test objects are never seen).
    select_checkpoint: str = setting("last", choices=("last", "best-val"),
                                     help="Which checkpoint predicts: last (default, as the "
                                          "reference) or best-val (the one with the best "
                                          "validation acc@30 and median; needs "
                                          "--pose-eval-every).")
    log_every: int = 10

    def validate(self) -> None:
        """Every value in range, or a ValueError naming the option (before any work)."""
        from aist_app.api.config import check_bounds
        from aist_app.common.devices import parse_device

        check_bounds(self, {
            "image_size": (16, None), "lr_step_frac": (0, 1), "f_dim": (1, None),
            "fc_dim": (1, None), "z_dim": (1, None),
            "num_points": (1, None), "pose_hidden": (1, None), "shapes_per_object": (1, None),
            "vox_size": (8, None), "kernel_size": (1, None), "batch_objects": (1, None),
            "views_per_object": (1, None), "steps": (1, None), "seed": (0, None),
            "checkpoint_every": (1, None), "val_every": (1, None), "log_every": (1, None),
            "pose_eval_every": (0, None), "pose_eval_objects": (1, None),
            "pc_rgb_search_from": (0, None), "init_elongation_axis": (0, 2),
            "student_weight": (0, None), "proj_rgb_weight": (0, None),
            "shape_consistency": (0, None), "weight_decay": (0, None),
            "init_elongation": (0, None), "prototype_warmup": (0, 1),
            "prototype_release": (0, 1), "pose_sectors": (0, None),
            "sector_roll": (0, 180), "sector_usage_weight": (0, None),
            "pose_recover": (0, None), "pose_recover_views": (1, None)},
            positive=("lr", "lr_2", "camera_distance", "sigma_start", "sigma_end",
                      "decoder_init_std"))
        if self.shapes_per_object > self.views_per_object:
            raise ValueError(f"--shapes-per-object {self.shapes_per_object}: must be at most "
                             f"--views-per-object ({self.views_per_object})")
        if self.select_checkpoint not in ("last", "best-val"):
            raise ValueError(f"--select-checkpoint {self.select_checkpoint!r}: last or "
                             "best-val")
        if self.select_checkpoint == "best-val" and not self.pose_eval_every:
            raise ValueError("--select-checkpoint best-val: needs pose evaluations on the "
                             "validation objects (--set pose_eval_every=N)")
        if self.pose_sectors:
            if self.pose_sectors < 2:
                raise ValueError(f"--pose-sectors {self.pose_sectors}: 0 (off) or at least 2")
            for other in ("pose_flips", "mirror_symmetry"):
                if getattr(self, other):
                    raise ValueError(f"--pose-sectors with {other}: use one of them (the "
                                     "sectors replace the flip search; mirroring would "
                                     "swap sectors)")
            if not (-90 <= self.sector_elevation_min < self.sector_elevation_max <= 90):
                raise ValueError("sector_elevation_min / sector_elevation_max: need "
                                 "-90 <= min < max <= 90 degrees")
        parse_device(self.device)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PoseConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def colour_loss(self) -> bool:
        """Whether the colour term is on (``pc_rgb`` with a positive ``proj_rgb_weight``):
        the loss then takes the images as targets."""
        return self.pc_rgb and self.proj_rgb_weight > 0

    def colour_projection(self) -> dict[str, Any]:
        """The colour options of :func:`~aist_plugins.dpc.projection.project`."""
        return {"rgb_divide_eps": self.pc_rgb_divide_by_occupancies_epsilon
                if self.pc_rgb_divide_by_occupancies else None,
                "rgb_clip_after_conv": self.pc_rgb_clip_after_conv}

    def progress(self, step: int) -> float:
        return min(1.0, step / max(1, self.steps))

    def sigma(self, step: int) -> float:
        """Linearly annealed Gaussian sigma (voxels)."""
        t = self.progress(step)
        return self.sigma_start + (self.sigma_end - self.sigma_start) * t

    def keep_fraction(self, step: int) -> float:
        t = min(1.0, self.progress(step) / max(self.dropout_end, 1e-9))
        return self.dropout_keep_start + (1.0 - self.dropout_keep_start) * t
