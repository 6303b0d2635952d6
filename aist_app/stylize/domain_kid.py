"""How far apart two image domains look: KID between the held-out views of two datasets,
repeated over evaluation seeds (each a random half of both sets), so that a difference can be
judged against its own spread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aist_app.dataset import Dataset
from aist_app.stylize.data import to_input
from aist_app.stylize.metrics import kid, pooled_features

HELD_OUT = ("val", "test")


def held_out_images(root: str | Path, size: int, splits: tuple[str, ...] = HELD_OUT
                    ) -> torch.Tensor:
    """Every view of the objects in ``splits`` as (N, 3, size, size) in [-1, 1] (background
    -1, as the stylizer sees them)."""
    ds = Dataset.open(root, check="meta")
    ids = [oid for s in splits for oid in ds.object_ids(s)]
    if not ids:
        raise ValueError(f"{ds.root}: no objects in the {' or '.join(splits)} split")
    views = [torch.from_numpy(np.array(ds.load_view(oid, f))).permute(2, 0, 1)
             for oid in ids for f in ds.view_files(oid)]
    return to_input(torch.stack(views), size)[0]


def domain_kid(sets: dict[str, str | Path], pairs: dict[str, tuple[str, str]], phi, *,
               seeds: int = 3, size: int = 128, device: str | torch.device = "cpu"
               ) -> dict[str, dict]:
    """KID of each named pair of ``sets`` (held-out views), once per seed on a random half
    of each set: ``{pair: {"per_seed": [...], "mean": m, "spread": max - min}}``."""
    feats = {}
    for name, root in sets.items():
        x = held_out_images(root, size)
        feats[name] = pooled_features(phi, x.to(device)).cpu()
    out = {}
    for pair, (a, b) in pairs.items():
        fa, fb = feats[a], feats[b]
        vals = kid_over_halves(fa, fb, seeds)
        out[pair] = {"per_seed": vals, "mean": float(np.mean(vals)),
                     "spread": float(np.max(vals) - np.min(vals)),
                     "images": [len(fa), len(fb)]}
    return out


def kid_over_halves(fa: torch.Tensor, fb: torch.Tensor, seeds: int = 3) -> list[float]:
    """KID of two feature sets once per evaluation seed, each on a random half of both."""
    vals = []
    for s in range(seeds):
        rng = np.random.default_rng([s, 17])
        ia = rng.choice(len(fa), max(2, len(fa) // 2), replace=False)
        ib = rng.choice(len(fb), max(2, len(fb) // 2), replace=False)
        vals.append(kid(fa[torch.from_numpy(ia)], fb[torch.from_numpy(ib)]))
    return vals


def moves_toward(result: dict[str, dict], before: str, after: str) -> dict:
    """Whether ``after`` is closer to the target than ``before`` by more than the spread of
    either over the seeds (the acceptance test of a stylizer); ``direction`` is "toward",
    "away" (farther by more than the spread) or "neither"."""
    margin = result[before]["mean"] - result[after]["mean"]
    spread = max(result[before]["spread"], result[after]["spread"])
    direction = "toward" if margin > spread else "away" if -margin > spread else "neither"
    return {"margin": margin, "spread": spread, "closer": direction == "toward",
            "direction": direction,
            "every_seed": bool(all(a < b for a, b in zip(result[after]["per_seed"],
                                                         result[before]["per_seed"],
                                                         strict=True)))}
