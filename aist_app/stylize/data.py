"""Images in and out of the networks: RGBA views <-> [-1, 1] RGB tensors with -1 background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aist_app.dataset import Dataset


class ViewSet:
    """The views of a dataset split, loaded on demand as (4, H, W) uint8 tensors."""

    def __init__(self, root: str | Path, split: str | None = "train") -> None:
        self.ds = Dataset.open(root, check="meta")
        ids = self.ds.object_ids(split) if split else self.ds.object_ids()
        if split and not ids:  # a dataset without this split: use every object
            ids = self.ds.object_ids()
        self.items = [(oid, f) for oid in ids for f in self.ds.view_files(oid)]
        if not self.items:
            raise ValueError(f"{self.ds.root}: no views in split {split!r}")

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> Tensor:
        oid, f = self.items[index]
        return torch.from_numpy(np.array(self.ds.load_view(oid, f))).permute(2, 0, 1)

    def batch(self, indices) -> Tensor:
        views = [self.load(int(i)) for i in indices]
        h, w = views[0].shape[1:]
        if any(v.shape[1:] != (h, w) for v in views):
            raise ValueError(f"{self.ds.root}: views of different sizes in one dataset")
        return torch.stack(views)


def to_input(rgba: Tensor, size: int) -> tuple[Tensor, tuple[int, int, int, int]]:
    """(N, 4, H, W) uint8 -> (N, 3, size, size) in [-1, 1] and the box (top, left, h, w) of
    the image inside it. The longer side is scaled to ``size``, the rest padded with -1
    (background); background pixels are exactly -1 and object pixels never are."""
    n, _, h, w = rgba.shape
    x = rgba.float() / 255.0
    rgb, alpha = x[:, :3], x[:, 3:4]
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) != (h, w):
        rgb = F.interpolate(rgb * alpha, size=(nh, nw), mode="bilinear", align_corners=False,
                            antialias=True)
        alpha = F.interpolate(alpha, size=(nh, nw), mode="bilinear", align_corners=False,
                              antialias=True)
        rgb = rgb / alpha.clamp_min(1e-6)
    covered = alpha > 1e-3
    rgb = torch.where(covered, (rgb * 2.0 - 1.0).clamp(-1.0 + 2.0 / 255.0, 1.0),
                      torch.full_like(rgb, -1.0))
    top, left = (size - nh) // 2, (size - nw) // 2
    out = torch.full((n, 3, size, size), -1.0, dtype=rgb.dtype)
    out[:, :, top:top + nh, left:left + nw] = rgb
    return out, (top, left, nh, nw)


def to_rgba(y: Tensor, box: tuple[int, int, int, int], source: Tensor) -> Tensor:
    """Generator output (N, 3, S, S) in [-1, 1] -> (N, 4, H, W) uint8 at the source's size,
    with the source's alpha channel exactly, background RGB 0 and no black object pixel."""
    top, left, nh, nw = box
    _, _, h, w = source.shape
    rgb = y[:, :, top:top + nh, left:left + nw].float()
    if (nh, nw) != (h, w):
        rgb = F.interpolate(rgb, size=(h, w), mode="bilinear", align_corners=False,
                            antialias=True)
    rgb = ((rgb.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    alpha = source[:, 3:4]
    obj = alpha > 0
    rgb = torch.where(obj, rgb, torch.zeros_like(rgb))
    black = obj & (rgb == 0).all(dim=1, keepdim=True)
    rgb = torch.where(black, torch.ones_like(rgb), rgb)
    return torch.cat([rgb, alpha], dim=1)


def random_flip(x: Tensor, generator: torch.Generator) -> Tensor:
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    if flip.any():
        x = x.clone()
        x[flip] = x[flip].flip(-1)
    return x
