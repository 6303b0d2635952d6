"""The car-to-frame ratio distribution of a synthetic dataset, sampled for real cut-outs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aist_app.dataset import Dataset, DatasetError
from aist_app.segment.normalize import car_to_frame_ratio

MAX_VIEWS = 4000  # enough for a normal fit; large datasets are subsampled (seeded)


@dataclass
class RatioModel:
    mean: float
    std: float
    ratios: list[float]  # the synthetic views' ratios that were measured
    image_size: tuple[int, int]
    dataset: str

    @classmethod
    def fit(cls, synthetic: str | Path, *, seed: int = 0, max_views: int = MAX_VIEWS
            ) -> RatioModel:
        """Fit a normal to the ratios of the synthetic dataset's training views (all views
        when it has no training split)."""
        ds = Dataset.open(synthetic, check="meta")
        if ds.kind == "real":
            raise DatasetError(ds.root / "dataset.json",
                               "--synthetic must be a synthetic or stylized dataset")
        ids = ds.object_ids("train") or ds.object_ids()
        views = [(oid, v["file"]) for oid in ids for v in ds.cameras(oid)]
        if not views:
            raise DatasetError(ds.root / "dataset.json", "no views to measure ratios on")
        rng = np.random.default_rng(seed)
        if len(views) > max_views:
            pick = rng.choice(len(views), size=max_views, replace=False)
            views = [views[i] for i in sorted(pick)]
        ratios = [car_to_frame_ratio(ds.load_view(oid, f)[..., 3]) for oid, f in views]
        r = np.asarray(ratios, dtype=np.float64)
        return cls(float(r.mean()), float(r.std()), [float(x) for x in r],
                   tuple(ds.image_size), str(ds.root))

    def sample(self, rng: np.random.Generator) -> float:
        """A ratio from N(mean, std), truncated to positive values."""
        for _ in range(100):
            r = float(rng.normal(self.mean, self.std))
            if r > 0:
                return r
        return self.mean

    def ks(self, before: list[float], after: list[float]) -> dict[str, float]:
        """Two-sample Kolmogorov-Smirnov statistic of real vs synthetic ratios, before and
        after normalization (0: indistinguishable, 1: disjoint)."""
        from scipy.stats import ks_2samp

        out = {}
        for name, real in (("before", before), ("after", after)):
            if real:
                res = ks_2samp(self.ratios, real)
                out[f"ks_{name}"] = float(res.statistic)
                out[f"ks_{name}_p"] = float(res.pvalue)
        return out

    def as_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "views": len(self.ratios),
                "dataset": self.dataset, "image_size": list(self.image_size)}
