"""Comparing pose runs view by view on one test set: the evaluations' per-view figures
(``per_view_<set>.csv`` of ``aist evaluate``) joined on (object, view), sortable by any
figure of one run or by the difference between two, so the views where one model helps or
hurts most come first. Qt-free: the desktop app's Compare page and the experiment report
both use it."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aist_app.pose.intervals import read_per_view

#: Per-view figures and whether lower is better.
FIGURES = {"angle_err_deg": True, "chamfer": True, "precision": True, "coverage": True,
           "xor": True}
#: What each figure is, with its unit, for tables and axes (every figure: lower is better).
FIGURE_LABELS = {"angle_err_deg": "angle error (°)",
                 "chamfer": "Chamfer (×100, unit cube)",
                 "precision": "precision: predicted → true (×100)",
                 "coverage": "coverage: true → predicted (×100)",
                 "xor": "mask XOR (fraction of the silhouette)"}

#: Each figure's unit, for table headers.
FIGURE_UNITS = {"angle_err_deg": "°", "chamfer": "×100", "precision": "×100",
                "coverage": "×100", "xor": "fraction"}


#: An angle error this close to 180° is a front/back flip (the pose fold), not noise.
FLIP_DEG = 150.0


def view_figures_text(figures: dict[str, dict[str, float]]) -> str:
    """One view's figures for each model in words, with units, a front/back flip named:
    ``baseline: angle error 175.0° (a front/back flip), Chamfer 8.87``."""
    short = {"angle_err_deg": "angle error", "chamfer": "Chamfer", "precision": "precision",
             "coverage": "coverage", "xor": "mask XOR"}
    parts = []
    for model, figs in figures.items():
        words = []
        for k, v in figs.items():
            text = f"{short.get(k, k)} {v:.1f}°" if k == "angle_err_deg" else \
                f"{short.get(k, k)} {v:.3f}" if k == "xor" else f"{short.get(k, k)} {v:.2f}"
            if k == "angle_err_deg" and v >= FLIP_DEG:
                text += " (a front/back flip)"
            words.append(text)
        parts.append(f"{model}: " + ", ".join(words))
    return " | ".join(parts)


def figure_label(figure: str) -> str:
    """``figure`` with its unit and which way is better."""
    better = "lower is better" if FIGURES.get(figure, True) else "higher is better"
    return f"{FIGURE_LABELS.get(figure, figure)}, {better}"


@dataclass
class Comparison:
    test_set: str
    models: list[str]
    #: One row per view every model was evaluated on: ``object``, ``view`` and
    #: ``{model: {figure: value}}`` under ``figures``.
    rows: list[dict] = field(default_factory=list)

    def figures(self) -> list[str]:
        """The figures every model has (XOR always; pose and Chamfer with ground truth)."""
        have = [set(r["figures"][m]) for r in self.rows[:1] for m in self.models]
        return [f for f in FIGURES if have and all(f in h for h in have)]

    def value(self, row: dict, figure: str, model: str, minus: str | None = None) -> float:
        v = row["figures"][model].get(figure, math.nan)
        return v - row["figures"][minus].get(figure, math.nan) if minus else v

    def sorted_by(self, figure: str, model: str, minus: str | None = None, *,
                  descending: bool = True) -> list[dict]:
        """Rows by ``figure`` of ``model`` (minus ``minus``'s): with an error figure and
        ``minus`` the baseline, the first rows are where ``model`` is worst relative to it,
        the last where it helps most."""
        return sorted(self.rows, key=lambda r: self.value(r, figure, model, minus),
                      reverse=descending)

    def to_csv(self) -> bytes:
        """The table: object, view, every model's figures, and each model minus the first."""
        figs = self.figures()
        cols = ["object", "view"] + [f"{m}:{f}" for m in self.models for f in figs] + [
            f"{m} - {self.models[0]}:{f}" for m in self.models[1:] for f in figs]
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in self.rows:
            vals = [self.value(r, f, m) for m in self.models for f in figs]
            vals += [self.value(r, f, m, self.models[0]) for m in self.models[1:] for f in figs]
            w.writerow([r["object"], r["view"], *[f"{v:.6g}" for v in vals]])
        return buf.getvalue().encode()


def load_comparison(evaluations: dict[str, str | Path], test_set: str) -> Comparison:
    """``evaluations``: model name -> an ``aist evaluate`` output folder. Views are joined on
    (object, view); a view some evaluation lacks is left out (the sets must be the same)."""
    if len(evaluations) < 2:
        raise ValueError("compare at least two evaluations")
    per: dict[str, dict[tuple[str, str], dict]] = {}
    for model, folder in evaluations.items():
        path = Path(folder) / f"per_view_{test_set}.csv"
        if not path.is_file():
            raise ValueError(f"{path}: no per-view figures of test set {test_set!r} here "
                             f"(evaluate the run on it with `aist evaluate`)")
        per[model] = {(r["object"], r["view"]): r for r in read_per_view(path)}
    models = list(evaluations)
    keys = [k for k in per[models[0]] if all(k in per[m] for m in models[1:])]
    if not keys:
        raise ValueError(f"the evaluations share no view of {test_set!r}")
    rows = [{"object": o, "view": v,
             "figures": {m: {f: per[m][(o, v)][f] for f in FIGURES if f in per[m][(o, v)]}
                         for m in models}} for o, v in keys]
    return Comparison(test_set, models, rows)


def experiment_evaluations(root: str | Path) -> dict[str, Path]:
    """An experiment folder's evaluations by model name, baseline first (those it has)."""
    from aist_app.experiments.presets import pose_runs

    root = Path(root)
    try:
        cfg = json.loads((root / "experiment.json").read_text())
    except (OSError, ValueError):
        raise ValueError(f"{root}: not an experiment folder (no readable experiment.json)"
                         ) from None
    out = {model: root / "eval" / run.name for model, (_, run) in pose_runs(cfg, root).items()}
    return {model: folder for model, folder in out.items() if folder.is_dir()}


def evaluation_inputs(folder: str | Path) -> tuple[Path, dict[str, Path]]:
    """What an ``aist evaluate`` folder evaluated: its run's checkpoint and its test sets by
    name (the ``per_view_<name>.csv`` names), from the folder's output record."""
    from aist_app.common.outputs import RECORD

    path = Path(folder) / RECORD
    try:
        inputs = json.loads(path.read_text())["inputs"]
        run = Path(inputs["run"])
        sets = {Path(t["path"]).name: Path(t["path"]) for t in inputs["test_sets"]}
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{folder}: not an `aist evaluate` output (no readable {RECORD} "
                         "naming its run and test sets)") from None
    return run, sets


def evaluation_alignment(folder: str | Path) -> np.ndarray:
    """The rotation an ``aist evaluate`` report aligned its run's frame with (w x y z)."""
    return np.asarray(json.loads((Path(folder) / "alignment.json").read_text())[
        "quaternion_wxyz"], dtype=np.float64)
