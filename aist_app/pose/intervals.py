"""Uncertainty of a test-set figure over test objects: a bootstrap that resamples objects
(views of one object are not independent), paired across models so that the difference
between two models on the same objects gets its own interval."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Figure -> how it is computed from the views of a sample (angle errors, Chamfer, XOR).
STATISTICS: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "acc30": ("angle_err_deg", lambda e: float(np.mean(e < 30.0))),
    # The figures that do not depend on which half of a folded model's circle the
    # reference's alignment picks (docs/learning.md): up to the 180-degree turn about the up
    # axis, and under the single rotation that fits the model's poses best.
    "acc30_front_back": ("angle_err_front_back_deg", lambda e: float(np.mean(e < 30.0))),
    "acc30_best_align": ("angle_err_best_align_deg", lambda e: float(np.mean(e < 30.0))),
    "median_err_deg": ("angle_err_deg", lambda e: float(np.median(e))),
    "chamfer": ("chamfer", lambda c: float(np.mean(c))),
    "xor_median": ("xor", lambda x: float(np.median(x))),
}


def read_per_view(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: (v if k in ("object", "view") else float(v)) for k, v in row.items()
                 if v != ""} for row in csv.DictReader(f)]


def object_bootstrap(per_view: dict[str, list[dict]], *, baseline: str | None = None,
                     resamples: int = 1000, seed: int = 0, level: float = 0.95
                     ) -> dict[str, dict]:
    """``per_view``: model -> rows (``object`` plus the columns of :data:`STATISTICS`) on
    the same views. Returns model -> figure -> {value, lo, hi}, and for every other model
    ``"<model> - <baseline>"`` -> figure -> the paired difference's {value, lo, hi}."""
    return pooled_bootstrap([per_view], baseline=baseline, resamples=resamples, seed=seed,
                            level=level)


def pooled_bootstrap(groups: list[dict[str, list[dict]]], *, baseline: str | None = None,
                     resamples: int = 1000, seed: int = 0, level: float = 0.95
                     ) -> dict[str, dict]:
    """:func:`object_bootstrap` over several runs (``groups``, e.g. one per training seed,
    each model -> rows on that run's test views): every figure over all the groups' views,
    its interval from a two-level bootstrap that resamples the groups, then the objects
    within each drawn group (the seeds' spread and the objects' both count). One group is
    the plain bootstrap over objects, drawn as it always was."""
    models = list(groups[0])
    baseline = baseline or models[0]
    units = [(g, o) for g, per_view in enumerate(groups)
             for o in sorted({r["object"] for r in per_view[baseline]})]
    draws = _draws(units, len(groups), resamples, np.random.default_rng(seed))
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100

    def columns(model: str, col: str) -> list[np.ndarray]:
        by: dict[tuple[int, str], list[float]] = {u: [] for u in units}
        for g, per_view in enumerate(groups):
            for r in per_view[model]:
                if col in r and (g, r["object"]) in by:
                    by[(g, r["object"])].append(r[col])
        return [np.asarray(by[u], dtype=np.float64) for u in units]

    def stat_samples(model: str, name: str) -> tuple[float, np.ndarray] | None:
        col, fn = STATISTICS[name]
        per_unit = columns(model, col)
        if not sum(len(v) for v in per_unit):
            return None
        boots = np.array([fn(np.concatenate([per_unit[i] for i in d])) for d in draws])
        return fn(np.concatenate(per_unit)), boots

    def interval(value: float, boots: np.ndarray) -> dict[str, float]:
        return {"value": value, "lo": float(np.percentile(boots, lo_q)),
                "hi": float(np.percentile(boots, hi_q))}

    out: dict[str, dict] = {}
    samples = {m: {n: s for n in STATISTICS if (s := stat_samples(m, n)) is not None}
               for m in models}
    for m in models:
        out[m] = {n: interval(*s) for n, s in samples[m].items()}
    for m in models:
        if m != baseline:
            out[f"{m} - {baseline}"] = {
                n: interval(v - samples[baseline][n][0], b - samples[baseline][n][1])
                for n, (v, b) in samples[m].items() if n in samples[baseline]}
    out["_meta"] = {"objects": len({o for _, o in units}), "resamples": resamples,
                    "level": level, "baseline": baseline, "seed": seed,
                    **({"groups": len(groups), "units": len(units)} if len(groups) > 1
                       else {})}
    return out


def _draws(units: list[tuple[int, str]], groups: int, resamples: int,
           rng: np.random.Generator) -> list[np.ndarray]:
    """Each resample's units (indices into ``units``): with one group, objects drawn with
    replacement; with several, groups drawn with replacement, then each drawn group's
    objects."""
    if groups == 1:
        return list(rng.integers(0, len(units), size=(resamples, len(units))))
    of = [np.array([i for i, (g, _) in enumerate(units) if g == k]) for k in range(groups)]
    return [np.concatenate([of[k][rng.integers(0, len(of[k]), len(of[k]))]
                            for k in rng.integers(0, groups, groups)])
            for _ in range(resamples)]


#: Fewer test objects than this: a bootstrap over objects cannot estimate an interval (with
#: one object every resample is that object; with two, three resamples in four are one).
MIN_OBJECTS = 3


def verdict(interval: dict, *, higher_is_better: bool, objects: int) -> str:
    """"better" / "worse" only when the paired difference's interval excludes 0 and there
    are at least :data:`MIN_OBJECTS` test objects; else "not distinguishable", or, with
    fewer objects, that the interval cannot be estimated."""
    if objects < MIN_OBJECTS:
        return f"interval cannot be estimated from {objects} test object(s)"
    if interval["lo"] > 0:
        return "better" if higher_is_better else "worse"
    if interval["hi"] < 0:
        return "worse" if higher_is_better else "better"
    return "not distinguishable"
