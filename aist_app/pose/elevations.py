"""``aist elevations``: the camera elevations of a dataset's views as a pose-model run sees
them, in the ground-truth frame (through the run's alignment: a front/back fold turns the
azimuth, not the elevation), as the report wished for real photos ("almost no images of real
cars are viewed from an elevation of less than zero").

Writes, into its output folder: ``elevations.txt`` (one elevation a line, in degrees: what
``aist render --elevation file:PATH`` reads), ``elevations.csv`` (object, view, measured and,
where the dataset has cameras, true elevation), ``summary.json`` (the fitted truncated
normal as a ready ``normal:MU,SIGMA,LO,HI`` spec and, with cameras, the KS statistic and
the mean and median error per view) and ``histogram.png``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from aist_app.api.events import Event, Progress
from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json
from aist_app.common.outputs import (
    OutputFolder,
    OutputRecord,
    check_apart,
    folder_identity,
    run_folder_of,
)

MIN_SIGMA = 0.5


def fit_truncated_normal(values: np.ndarray) -> dict[str, float]:
    """The maximum-likelihood normal truncated to the values' range (degrees, whole)."""
    from scipy import optimize, stats

    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(np.floor(v.min())), float(np.ceil(v.max()))
    if hi <= lo:
        hi = lo + 1.0

    def nll(p: np.ndarray) -> float:
        mu, log_sigma = p
        s = np.exp(log_sigma)
        return -float(np.sum(stats.truncnorm.logpdf(v, (lo - mu) / s, (hi - mu) / s,
                                                    loc=mu, scale=s)))

    start = np.array([v.mean(), np.log(max(v.std(), 0.5))])
    res = optimize.minimize(nll, start, method="Nelder-Mead")
    # A spread under half a degree (one view, or views at one elevation) is kept at half a
    # degree: a normal needs a width.
    mu, sigma = float(res.x[0]), max(float(np.exp(res.x[1])), MIN_SIGMA)
    return {"mu": round(mu, 2), "sigma": round(sigma, 2), "lo": lo, "hi": hi,
            "spec": f"normal:{mu:.2f},{sigma:.2f},{lo:g},{hi:g}"}


def compare_to_truth(measured: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """The measured elevations against the true ones: the two-sample KS statistic of the
    distributions, and the mean and median absolute error per view (degrees)."""
    from scipy import stats

    err = np.abs(np.asarray(measured) - np.asarray(true))
    return {"ks": round(float(stats.ks_2samp(measured, true).statistic), 4),
            "mean_abs_error_deg": round(float(err.mean()), 2),
            "median_abs_error_deg": round(float(np.median(err)), 2),
            "true_mean_deg": round(float(np.mean(true)), 2),
            "measured_mean_deg": round(float(np.mean(measured)), 2)}


def histogram_png(measured: np.ndarray, true: np.ndarray | None, fit: dict) -> bytes:
    """Measured elevations (and the true ones, where known) with the fitted density."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from scipy import stats

    fig = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    both = measured if true is None else np.concatenate([measured, true])
    bins = np.linspace(np.floor(both.min()) - 1, np.ceil(both.max()) + 1, 31)
    ax.hist(measured, bins=bins, density=True, alpha=0.6, color="tab:orange",
            label=f"measured ({len(measured)} views)")
    if true is not None:
        ax.hist(true, bins=bins, density=True, histtype="step", linewidth=2, color="black",
                label="true (the dataset's cameras)")
    xs = np.linspace(fit["lo"], fit["hi"], 200)
    s = fit["sigma"]
    ax.plot(xs, stats.truncnorm.pdf(xs, (fit["lo"] - fit["mu"]) / s,
                                    (fit["hi"] - fit["mu"]) / s, loc=fit["mu"], scale=s),
            color="tab:blue", label=f"fit: {fit['spec']}")
    ax.set_xlabel("camera elevation (degrees, ground-truth frame)")
    ax.set_ylabel("density")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def measure_elevations(predictor, dataset: str | Path, out: str | Path, *,
                       split: str | None = None, overwrite: bool = False
                       ) -> Generator[Event, None, dict[str, Any]]:
    """Each view's camera elevation predicted by ``predictor`` (a pose-model run) in the
    ground-truth frame, written into ``out``; yields progress; returns the summary."""
    from aist_app.dataset import Dataset
    from aist_app.pose.reconstruct import reconstruct_view, run_alignment
    from aist_app.scene.cameras import viewpoint_of

    ds = Dataset.open(dataset)
    up = ds.meta.get("up_axis", "y")
    views = [(oid, f) for oid in ds.object_ids(split) for f in ds.view_files(oid)]
    if not views:
        raise ValueError(f"{dataset}: no views{f' in split {split!r}' if split else ''}")
    record = OutputRecord("elevations", "aist", {"split": split}, {
        "run": folder_identity(predictor.checkpoint), "step": predictor.step,
        "dataset": folder_identity(dataset)})
    check_apart(out, {"run": str(run_folder_of(predictor.checkpoint)), "dataset": str(dataset)})
    output = OutputFolder(out, record, overwrite=overwrite, what="elevations")
    align = run_alignment(predictor)
    rows = []
    cameras: tuple[str, dict] = ("", {})  # (object, its cameras by view): read once each
    for k, (oid, f) in enumerate(views, 1):
        pred = reconstruct_view(predictor, np.asarray(ds.load_view(oid, f)), align)
        if ds.kind != "real" and cameras[0] != oid:
            cameras = (oid, {v["file"]: v for v in ds.cameras(oid)})
        true = cameras[1].get(f) if ds.kind != "real" else None
        rows.append({"object": oid, "view": f,
                     "measured_deg": viewpoint_of(pred["world_to_camera"], up)["elevation_deg"],
                     "true_deg": None if true is None else float(true["elevation_deg"])})
        yield Progress(k, len(views), "view", f"{oid}/{f}", "measured")
    summary = _write(output.path, rows)
    output.publish()
    return summary


def _write(folder: Path, rows: list[dict]) -> dict[str, Any]:
    measured = np.array([r["measured_deg"] for r in rows])
    known = [r["true_deg"] for r in rows if r["true_deg"] is not None]
    true = np.array(known) if len(known) == len(rows) else None
    fit = fit_truncated_normal(measured)
    summary: dict[str, Any] = {"views": len(rows), "fit": fit}
    if true is not None:
        summary["against_truth"] = compare_to_truth(measured, true)
    atomic_write_bytes(folder / "elevations.txt",
                       "".join(f"{v:.3f}\n" for v in measured).encode())
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["object", "view", "measured_deg", "true_deg"])
    w.writeheader()
    w.writerows({**r, "measured_deg": f"{r['measured_deg']:.3f}",
                 "true_deg": "" if r["true_deg"] is None else f"{r['true_deg']:.3f}"}
                for r in rows)
    atomic_write_bytes(folder / "elevations.csv", buf.getvalue().encode())
    atomic_write_bytes(folder / "histogram.png", histogram_png(measured, true, fit))
    atomic_write_json(folder / "summary.json", summary)
    return summary
