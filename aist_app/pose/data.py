"""Pose-model batches: objects x views of a dataset, as encoder images and target masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aist_app.dataset import Dataset


def images_and_masks(rgba: Tensor, image_size: int, mask_size: int) -> tuple[Tensor, Tensor]:
    """(N, 4, H, W) uint8 -> encoder images (N, 3, S, S) in [-1, 1] and masks (N, G, G) in
    [0, 1] (the fraction of each cell covered by the object)."""
    x = rgba.float() / 255.0
    rgb, alpha = x[:, :3], (x[:, 3:4] > 0).float()
    if rgb.shape[-1] != image_size or rgb.shape[-2] != image_size:
        rgb = F.interpolate(rgb, size=(image_size, image_size), mode="bilinear",
                            align_corners=False, antialias=True)
    mask = F.interpolate(alpha, size=(mask_size, mask_size), mode="area")
    return rgb * 2.0 - 1.0, mask[:, 0]


class PoseData:
    """Objects and their views (and, when present, ground-truth cameras and points)."""

    def __init__(self, root: str | Path, split: str | None = "train", *,
                 fallback: bool = False) -> None:
        self.ds = Dataset.open(root, check="meta")
        ids = self.ds.object_ids(split) if split else self.ds.object_ids()
        if not ids and fallback:  # a dataset without this split: all of it
            ids = self.ds.object_ids()
        self.ids = ids
        if not self.ids:
            raise ValueError(f"{self.ds.root}: no objects in split {split!r}")
        self.views = {oid: self.ds.view_files(oid) for oid in self.ids}
        self.has_gt = self.ds.kind != "real"

    @property
    def name(self) -> str:
        return self.ds.root.name

    def load(self, oid: str, files: list[str]) -> Tensor:
        return torch.stack([torch.from_numpy(self.ds.load_view(oid, f).copy()).permute(2, 0, 1)
                            for f in files])

    def gt_quaternions(self, oid: str) -> dict[str, np.ndarray]:
        return {v["file"]: np.asarray(v["quaternion_wxyz"], dtype=np.float64)
                for v in self.ds.cameras(oid)}

    def gt_points(self, oid: str) -> np.ndarray:
        return self.ds.points(oid)[0]

    def sample(self, objects: int, views: int, generator: torch.Generator
               ) -> tuple[list[str], list[list[str]]]:
        """``objects`` random objects with ``views`` distinct views each (repeated when an
        object has fewer)."""
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
