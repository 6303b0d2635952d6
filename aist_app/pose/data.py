"""Pose-model batches: objects x views of a dataset, as encoder images and target masks,
prepared as the reference's ``create_tf_records`` and ``add_proj_loss`` prepare them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aist_app.dataset import Dataset
from aist_app.scene.cameras import IntrinsicsError, relative_focal_length


def resize_legacy_bilinear(x: Tensor, size: int) -> Tensor:
    """TF1 ``tf.image.resize_images`` (bilinear, ``align_corners=False``, no half-pixel
    centres) of (N, C, H, W): output pixel i samples input ``i * H / size``. The reference
    downsamples the 128^2 masks to the 64^2 grid with it (``add_proj_loss``)."""
    def axis(n_in: int) -> tuple[Tensor, Tensor, Tensor]:
        src = torch.arange(size, dtype=torch.float64) * (n_in / size)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        return i0, i1, (src - i0).to(x.dtype)

    h0, h1, fh = axis(x.shape[-2])
    w0, w1, fw = axis(x.shape[-1])
    top = x[..., h0, :] * (1 - fh.view(-1, 1)) + x[..., h1, :] * fh.view(-1, 1)
    return top[..., w0] * (1 - fw) + top[..., w1] * fw


def images_and_masks(rgba: Tensor, image_size: int, mask_size: int) -> tuple[Tensor, Tensor]:
    """(N, 4, H, W) uint8 -> encoder images (N, 3, S, S) in [-1, 1] and masks (N, G, G) in
    [0, 1]. As the reference: RGB composited on white with the alpha, the mask is alpha / 255
    (soft edges kept), resized to the grid with TF1's bilinear resize."""
    x = rgba.float() / 255.0
    alpha = x[:, 3:4]
    rgb = x[:, :3] * alpha + (1.0 - alpha)
    if rgb.shape[-1] != image_size or rgb.shape[-2] != image_size:
        rgb = F.interpolate(rgb, size=(image_size, image_size), mode="bicubic",
                            align_corners=False, antialias=True).clamp(0.0, 1.0)
    mask = alpha if alpha.shape[-1] == mask_size else resize_legacy_bilinear(alpha, mask_size)
    return rgb * 2.0 - 1.0, mask[:, 0]


class NoObjectError(ValueError):
    """A view with no object to reconstruct (empty or full mask)."""


#: The fewest object pixels (alpha > 0) a view may have: a smaller silhouette holds no
#: shape to reconstruct.
MIN_OBJECT_PIXELS = 16


def check_object_view(rgba: np.ndarray, where: str | Path) -> None:
    """A view the pose models can read: RGBA with the object's alpha > 0 and some background
    at alpha 0; else :class:`NoObjectError` naming ``where`` and the reason."""
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise NoObjectError(f"{where}: not an RGBA view (shape {tuple(rgba.shape)})")
    alpha = rgba[..., 3]
    if not alpha.any():
        raise NoObjectError(f"{where}: no object: its alpha is 0 everywhere (an empty mask)")
    covered = int(np.count_nonzero(alpha))
    if covered < MIN_OBJECT_PIXELS:
        raise NoObjectError(
            f"{where}: the object covers {covered} pixel(s) of {alpha.shape[1]}x"
            f"{alpha.shape[0]}: too small to reconstruct (at least {MIN_OBJECT_PIXELS})")
    if alpha.all():
        raise NoObjectError(
            f"{where}: no object mask: every pixel is opaque (a photo, or a full mask), so "
            "there is no silhouette to reconstruct; give a segmented view (RGBA, alpha 0 "
            "around the object, as aist segment writes)")


class EmptySplit(ValueError):
    """The split asked for has no objects."""


class PoseData:
    """Objects and their views (and, when present, ground-truth cameras and points)."""

    def __init__(self, root: str | Path, split: str | None = "train") -> None:
        self.ds = Dataset.open(root, check="meta")
        self.split = split
        self.ids = self.ds.object_ids(split) if split else self.ds.object_ids()
        if not self.ids:
            raise EmptySplit(f"{self.ds.root}: no objects in split {split!r}")
        self.views = {oid: self.ds.view_files(oid) for oid in self.ids}
        self.has_gt = self.ds.kind != "real"
        self._focal: float | None = None

    @property
    def name(self) -> str:
        return self.ds.root.name

    def focal_length(self) -> float | None:
        """The views' focal length relative to the width (None for real data, which has no
        cameras); every view must have the same centred K, or :class:`IntrinsicsError`
        names the first file that disagrees."""
        if not self.has_gt:
            return None
        if self._focal is None:
            self._focal = self._read_focal_length()
        return self._focal

    def _read_focal_length(self) -> float | None:
        size = tuple(self.ds.image_size)
        first: tuple[float, str] | None = None
        for oid in self.ds.object_ids():
            where = str(self.ds.object_dir(oid) / "cameras.json")
            for view in self.ds.cameras(oid):
                f = relative_focal_length(view["K"], size, where=f"{where} ({view['file']})")
                if first is None:
                    first = (f, where)
                elif abs(f - first[0]) > 1e-6 * first[0]:
                    raise IntrinsicsError(
                        f"{where} ({view['file']}): focal length {f * size[1]:.4f} px differs "
                        f"from {first[0] * size[1]:.4f} px in {first[1]}; the pose model needs "
                        "one camera for the whole dataset")
        return None if first is None else first[0]

    def check_views(self) -> None:
        """Read every view once and refuse one with no object (:class:`NoObjectError`
        naming its file) before a command writes anything."""
        for oid, files in self.views.items():
            for f in files:
                check_object_view(self.ds.load_view(oid, f), self.ds.object_dir(oid) / f)

    def load(self, oid: str, files: list[str]) -> Tensor:
        """The views as (V, 4, H, W) uint8; a view with no object is a
        :class:`NoObjectError` naming its file."""
        views = []
        for f in files:
            rgba = self.ds.load_view(oid, f)
            check_object_view(rgba, self.ds.object_dir(oid) / f)
            views.append(torch.from_numpy(rgba.copy()).permute(2, 0, 1))
        return torch.stack(views)

    def gt_quaternions(self, oid: str) -> dict[str, np.ndarray]:
        return {v["file"]: np.asarray(v["quaternion_wxyz"], dtype=np.float64)
                for v in self.ds.cameras(oid)}

    def gt_points(self, oid: str) -> np.ndarray:
        return self.ds.points(oid)[0]

    def sample(self, objects: int, views: int, generator: torch.Generator
               ) -> tuple[list[str], list[list[str]]]:
        """``objects`` random objects with ``views`` distinct random views each (repeated when
        an object has fewer); the first is the view whose shape the reference decodes."""
        picks = torch.randint(len(self.ids), (objects,), generator=generator).tolist()
        oids = [self.ids[i] for i in picks]
        files = []
        for oid in oids:
            fs = self.views[oid]
            if len(fs) >= views:
                order = torch.randperm(len(fs), generator=generator)[:views].tolist()
            else:
                order = torch.randint(len(fs), (views,), generator=generator).tolist()
            files.append([fs[i] for i in order])
        return oids, files


def alignment_data(root: str | Path, objects: int = 50) -> PoseData:
    """The objects the model's frame is aligned on: the validation split's first
    ``objects`` (the reference's 50, ``compute_alignment.py``), topped up with training
    objects when it has fewer (a deviation: the reference's validation split always has 50;
    with 4 the procedure averages 8 rotations and a folded model's frame can flip); never
    test objects."""
    data = None
    for split in ("val", "train"):
        if data is not None and len(data.ids) >= objects:
            break  # enough validation objects: the training split is not opened
        try:
            more = PoseData(root, split)
        except ValueError:
            continue
        if data is None:
            data = more
            continue
        extra = [o for o in more.ids if o not in data.views][:objects - len(data.ids)]
        if extra:
            data.ids = [*data.ids, *extra]
            data.views.update({o: more.views[o] for o in extra})
            data.split = f"{data.split}+{more.split}"
    if data is not None:
        data.ids = data.ids[:objects]
        data.views = {o: data.views[o] for o in data.ids}
        return data
    raise ValueError(f"{root}: no validation or training objects to align the model on")
