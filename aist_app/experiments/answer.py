"""The experiment's question, answered from its evaluations: is a model trained on stylized
renders (AIST) better than one trained on plain renders (the baseline) on the same test
views? For each figure, AIST minus the baseline with a paired bootstrap interval over test
objects and a verdict; over several runs (training seeds), pooled by resampling the runs
and then the objects (:func:`~aist_app.pose.intervals.pooled_bootstrap`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aist_app.pose.intervals import (
    object_bootstrap,
    pooled_bootstrap,
    read_per_view,
    verdict,
)


@dataclass(frozen=True)
class Figure:
    key: str  # a statistic of aist_app.pose.intervals.STATISTICS
    label: str
    higher_is_better: bool
    fmt: str


#: The figures compared, those that do not depend on the reference's alignment first (a
#: folded model's acc@30 under it measures which half of the circle the alignment picked).
FIGURES = (
    Figure("chamfer", "Chamfer (×100, lower is better)", False, "+.2f"),
    Figure("xor_median", "mask XOR, median (lower is better)", False, "+.3f"),
    Figure("acc30_front_back", "acc@30 up to front/back", True, "+.2f"),
    Figure("acc30_best_align", "acc@30 under the best single rotation", True, "+.2f"),
    Figure("acc30", "acc@30 under the reference alignment", True, "+.2f"),
    Figure("median_err_deg", "median error under the reference alignment (°)", False,
           "+.1f"),
)


def evaluations(root: str | Path, test_set: str) -> dict[str, list[dict]]:
    """An experiment folder's per-view figures on ``test_set``: model -> rows, the baseline
    first (every model evaluated on the same views)."""
    from aist_app.experiments.compare import experiment_evaluations

    out = {}
    for model, folder in experiment_evaluations(root).items():
        path = folder / f"per_view_{test_set}.csv"
        if not path.is_file():
            raise ValueError(f"{path}: no per-view figures of {test_set!r} (the experiment's "
                             "evaluation of this model has not run, or predates them)")
        out[model] = read_per_view(path)
    if len(out) < 2:
        raise ValueError(f"{root}: fewer than two evaluated models")
    return out


def compare(runs: dict[str, dict[str, list[dict]]], *, resamples: int = 1000, seed: int = 0
            ) -> dict[str, dict]:
    """``runs``: label (e.g. ``seed 0``) -> model -> per-view rows on one test set. Returns
    label -> intervals (:func:`~aist_app.pose.intervals.object_bootstrap`) for each run and,
    with more than one, ``pooled`` over all of them."""
    out = {label: object_bootstrap(per_view, resamples=resamples, seed=seed)
           for label, per_view in runs.items()}
    if len(runs) > 1:
        out["pooled"] = pooled_bootstrap(list(runs.values()), resamples=resamples, seed=seed)
    return out


def difference(intervals: dict, model: str | None = None) -> tuple[str, dict]:
    """The ``<model> - <baseline>`` entry of an intervals result (the first one when
    ``model`` is None): (name, figures)."""
    names = [k for k in intervals if " - " in k]
    if model is not None:
        names = [k for k in names if k.split(" - ")[0] == model]
        if not names:
            raise ValueError(f"no model {model!r} against the baseline; the models: "
                             + ", ".join(k.split(" - ")[0] for k in intervals if " - " in k))
    return names[0], intervals[names[0]]


def cell(intervals: dict, fig: Figure, model: str | None = None) -> str:
    """``+0.12 [-0.03, +0.25], not distinguishable`` (the verdict needs >= 3 objects)."""
    _, diff = difference(intervals, model)
    iv = diff.get(fig.key)
    if iv is None:
        return "n/a"
    objects = intervals["_meta"]["objects"]
    return (f"{iv['value']:{fig.fmt}} [{iv['lo']:{fig.fmt}}, {iv['hi']:{fig.fmt}}], "
            f"{verdict(iv, higher_is_better=fig.higher_is_better, objects=objects)}")


def table(results: dict[str, dict], set_label: str, model: str | None = None) -> list[str]:
    """A markdown table: one row per figure, a column per run (and pooled), then the
    pooled (or only) run's baseline and ``model``'s values (default: the first model after
    the baseline)."""
    labels = list(results)
    last = results[labels[-1]]
    name, _ = difference(last, model)
    aist, base = name.split(" - ")
    lines = [f"| {set_label}: {aist} − {base} | " + " | ".join(labels)
             + f" | {base} ({labels[-1]}) | {aist} ({labels[-1]}) |",
             "|" + "---|" * (len(labels) + 3)]
    for fig in FIGURES:
        values = [f"{last[m][fig.key]['value']:{fig.fmt.lstrip('+')}}"
                  if fig.key in last.get(m, {}) else "n/a" for m in (base, aist)]
        lines.append(f"| {fig.label} | "
                     + " | ".join(cell(results[lb], fig, aist) for lb in labels)
                     + " | " + " | ".join(values) + " |")
    return lines


def summary(intervals: dict, model: str | None = None) -> str:
    """The answer in words: on which figures ``model`` (default: the first after the
    baseline) is better, worse, not distinguishable."""
    name, diff = difference(intervals, model)
    objects = intervals["_meta"]["objects"]
    by: dict[str, list[str]] = {}
    for fig in FIGURES:
        if fig.key in diff:
            v = verdict(diff[fig.key], higher_is_better=fig.higher_is_better, objects=objects)
            by.setdefault(v, []).append(fig.label)
    if not by:
        return ""
    aist = name.split(" - ")[0]
    if any(v.startswith("interval cannot") for v in by):
        return (f"With {objects} test object(s) no interval can be estimated: this run "
                f"cannot tell whether {aist} is better than the baseline.")
    parts = [f"{v} on {', '.join(labels)}" for v, labels in
             sorted(by.items(), key=lambda kv: ("better", "worse",
                                                "not distinguishable").index(kv[0]))]
    return f"{aist} against the baseline: " + "; ".join(parts) + "."
