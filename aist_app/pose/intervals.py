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
    models = list(per_view)
    baseline = baseline or models[0]
    objects = sorted({r["object"] for r in per_view[baseline]})
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(objects), size=(resamples, len(objects)))
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100

    def columns(rows: list[dict], col: str) -> list[np.ndarray]:
        by = {o: [] for o in objects}
        for r in rows:
            if col in r and r["object"] in by:
                by[r["object"]].append(r[col])
        return [np.asarray(by[o], dtype=np.float64) for o in objects]

    def stat_samples(rows: list[dict], name: str) -> tuple[float, np.ndarray] | None:
        col, fn = STATISTICS[name]
        per_obj = columns(rows, col)
        if not sum(len(v) for v in per_obj):
            return None
        value = fn(np.concatenate(per_obj))
        boots = np.array([fn(np.concatenate([per_obj[i] for i in d])) for d in draws])
        return value, boots

    out: dict[str, dict] = {}
    samples: dict[str, dict[str, tuple[float, np.ndarray]]] = {}
    for m in models:
        samples[m] = {}
        out[m] = {}
        for name in STATISTICS:
            s = stat_samples(per_view[m], name)
            if s is None:
                continue
            samples[m][name] = s
            out[m][name] = {"value": s[0], "lo": float(np.percentile(s[1], lo_q)),
                            "hi": float(np.percentile(s[1], hi_q))}
    for m in models:
        if m == baseline:
            continue
        diff = {}
        for name, (v, b) in samples[m].items():
            if name in samples[baseline]:
                v0, b0 = samples[baseline][name]
                d = b - b0
                diff[name] = {"value": v - v0, "lo": float(np.percentile(d, lo_q)),
                              "hi": float(np.percentile(d, hi_q))}
        out[f"{m} - {baseline}"] = diff
    out["_meta"] = {"objects": len(objects), "resamples": resamples, "level": level,
                    "baseline": baseline, "seed": seed}
    return out


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
