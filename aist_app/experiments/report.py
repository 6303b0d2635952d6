"""The experiment's HTML report: the report's Table 6.2 with chance baselines, intervals over
test objects for the target-domain comparison, the stylizer's KID, learning curves, stylized
samples beside source and target, reconstructions of the same held-out views side by side,
and a paragraph in plain words on what the numbers show."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from markupsafe import Markup, escape

from aist_app.common.html import render, words
from aist_app.common.images import composite
from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json
from aist_app.experiments.answer import summary as answer_summary
from aist_app.pose.intervals import MIN_OBJECTS
from aist_app.pose.intervals import verdict as verdict_of

#: The report's pose training (the reference's car config): steps, batch, points, grid.
REPORT_SCALE = {"steps": 600_000, "batch": "8 x 4", "points": 8000, "grid": 64,
                "image": 128, "objects": 5247}


def _png(fig) -> bytes:
    """The figure as PNG bytes, cropped to what it draws (titles and legends inside)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _figure(*size):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=90)


def domain_samples_figure(sets: dict[str, Path], views: int = 6) -> bytes:
    """The same held-out views (test objects) in every set: one column per set."""
    from aist_app.dataset import Dataset

    opened = {name: Dataset.open(root, check="meta") for name, root in sets.items()}
    first = next(iter(opened.values()))
    picks = []
    ids = first.object_ids("test") or first.object_ids()
    for oid in ids:  # views every set has (the target may render fewer per object)
        common = set.intersection(*(set(ds.view_files(oid)) for ds in opened.values()))
        files = [f for f in first.view_files(oid) if f in common]
        picks += [(oid, f) for f in files[:: max(1, len(files) // 2)][:2]]
    picks = picks[:views]
    fig = _figure(1.6 * len(opened), 1.6 * len(picks) + 0.4)
    for r, (oid, f) in enumerate(picks):
        for c, (name, ds) in enumerate(opened.items()):
            ax = fig.add_subplot(len(picks), len(opened), r * len(opened) + c + 1)
            ax.imshow(composite(np.asarray(ds.load_view(oid, f)), "white")[..., :3])
            ax.set_axis_off()
            if r == 0:
                ax.set_title(name, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def reconstructions_figure(evaluators: dict, aligns: dict[str, np.ndarray], data,
                           views: int = 4) -> bytes:
    """The same held-out views (one per test object of ``data``, a PoseData) for every
    model (its :class:`~aist_app.pose.evaluate.Evaluator`): the input, the ground truth
    cloud, and each model's cloud in the ground-truth frame (after its alignment) with its
    pose error, all seen from the side."""
    import torch

    from aist_app.pose import quaternion as Q
    from aist_app.pose.evaluate import gt_trees
    from aist_app.pose.reconstruct import to_truth_frame

    oids = data.ids[:views]
    preds = {}
    for model, ev in evaluators.items():
        got = ev.predict(data, limit=len(oids))
        preds[model] = {p.oid: p for p in reversed(got)}  # the first view of each object
    trees = gt_trees(data, oids)
    cols = 2 + len(evaluators)
    fig = _figure(2.1 * cols, 2.0 * len(oids) + 0.4)

    def side(ax, pts, title, color):
        span = pts.max(0) - pts.min(0)
        h = 0 if span[0] >= span[2] else 2  # the longer horizontal axis
        pts = pts[:: max(1, len(pts) // 1500)]
        ax.scatter(pts[:, h], pts[:, 1], s=0.3, c=color)  # y up
        ax.set_aspect("equal")
        ax.set_xlim(-0.55, 0.55)
        ax.set_ylim(-0.4, 0.4)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=10)

    for r, oid in enumerate(oids):
        first = preds[next(iter(evaluators))][oid]
        ax = fig.add_subplot(len(oids), cols, r * cols + 1)
        ax.imshow(composite(np.asarray(data.ds.load_view(oid, first.file)), "white")[..., :3])
        ax.set_axis_off()
        ax.set_title(f"{oid[:8]} {first.file}", fontsize=10)
        gt = trees[oid][1]
        side(fig.add_subplot(len(oids), cols, r * cols + 2), gt, "ground truth", "k")
        q_gt = torch.from_numpy(data.gt_quaternions(oid)[first.file])
        for c, model in enumerate(evaluators):
            p = preds[model][oid]
            pts, q, _ = to_truth_frame(p.points, p.quaternion, aligns[model], 0.0)
            err = float(Q.angle_deg(torch.from_numpy(q), q_gt))
            side(fig.add_subplot(len(oids), cols, r * cols + 3 + c), pts,
                 f"{model}: pose err {err:.0f}°", f"C{c}")
    fig.tight_layout()
    return _png(fig)


def where_it_helps_figure(evaluators: dict, aligns: dict[str, np.ndarray], data,
                          picks: list[tuple[str, str, str]]) -> bytes:
    """One row per picked view (label, object, file) of ``data``: the input, then each
    model's predicted silhouette at its predicted pose outlined over it (the mask filled in
    grey), titled with its pose error and XOR."""
    import torch

    from aist_app.pose import quaternion as Q
    from aist_app.pose.reconstruct import to_truth_frame

    views = [(o, f) for _, o, f in picks]
    preds = {}
    for model, ev in evaluators.items():
        got = ev.predict(data, render=True, views=views)
        preds[model] = {(p.oid, p.file): p for p in got}
    cols = 1 + len(evaluators)
    fig = _figure(2.3 * cols, 2.3 * len(picks) + 0.3)
    for r, (label, oid, f) in enumerate(picks):
        rgb = composite(np.asarray(data.ds.load_view(oid, f)), "white")[..., :3]
        ax = fig.add_subplot(len(picks), cols, r * cols + 1)
        ax.imshow(rgb)
        ax.set_axis_off()
        ax.set_title(f"{label}\n{oid[:8]} {f}", fontsize=10)
        q_gt = torch.from_numpy(data.gt_quaternions(oid)[f])
        for c, model in enumerate(evaluators):
            p = preds[model][(oid, f)]
            _, q, _ = to_truth_frame(p.points, p.quaternion, aligns[model], 0.0)
            err = float(Q.angle_deg(torch.from_numpy(q), q_gt))
            pred = p.proj > 0.5
            xor = float(np.logical_xor(pred, p.mask).sum() / max(1, p.mask.sum()))
            ax = fig.add_subplot(len(picks), cols, r * cols + 2 + c)
            g = p.mask.shape[0]
            ax.imshow(rgb, extent=(0, g, g, 0))
            ax.imshow(np.where(p.mask, 0.5, np.nan), cmap="gray", alpha=0.35, vmin=0, vmax=1,
                      extent=(0, g, g, 0))
            centres = np.arange(g) + 0.5  # pixel centres, rows downwards as imshow's
            ax.contour(centres, centres, p.proj, levels=[0.5], colors=[f"C{c}"],
                       linewidths=1.5)
            ax.set_axis_off()
            ax.set_title(f"{model}\nerr {err:.0f}°, XOR {xor:.2f}", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def where_it_helps(evals: dict[str, Path], evaluators: dict, aligns: dict[str, np.ndarray],
                   data, out: Path) -> list[dict]:
    """For each model against the baseline (the first of ``evals``, its evaluation folders):
    the views of ``data`` where it helps most, the median view and where it hurts most, by
    the pose error's difference (XOR's without ground truth), as overlays; returns each
    figure's model, baseline, set, figure and file for the page."""
    from aist_app.experiments.compare import FIGURE_LABELS, load_comparison

    models = list(evals)
    if len(models) < 2:
        return []
    test_set = data.name
    comp = load_comparison(evals, test_set)
    figure = "angle_err_deg" if "angle_err_deg" in comp.figures() else "xor"
    shown = []
    for model in models[1:]:
        order = comp.sorted_by(figure, model, minus=models[0], descending=False)
        picks = [(_pick_label("helps most", comp, order[0], figure, model, models[0]),
                  order[0]), ("median", order[len(order) // 2]),
                 (_pick_label("hurts most", comp, order[-1], figure, model, models[0]),
                  order[-1])]
        name = f"where-{evals[model].name}-{test_set}.png"
        pair = {m: evaluators[m] for m in (models[0], model)}
        atomic_write_bytes(out / name, where_it_helps_figure(
            pair, aligns, data, [(label, r["object"], r["view"]) for label, r in picks]))
        shown.append({"model": model, "baseline": models[0], "set": test_set,
                      "figure": FIGURE_LABELS.get(figure, figure), "file": name})
    return shown


def _pick_label(what: str, comp, row: dict, figure: str, model: str, baseline: str) -> str:
    """``helps most: 131° -> 62° (-69.1°), both wrong``: the two values, their difference,
    and, for pose errors, whether both models still miss the view (above 30°)."""
    a, b = comp.value(row, figure, baseline), comp.value(row, figure, model)
    if figure != "angle_err_deg":
        return f"{what}: {a:.2f} -> {b:.2f} ({b - a:+.2f})"
    both = "\nboth wrong (> 30°)" if a > 30 and b > 30 else ""
    return f"{what}: {a:.0f}° -> {b:.0f}° ({b - a:+.1f}°){both}"


#: The target table's figures: the reference alignment's, then those a fold's alignment
#: cannot flip (up to front/back, under the best single rotation), shapes and silhouettes.
INTERVAL_COLUMNS = ("acc30", "median_err_deg", "acc30_front_back", "acc30_best_align",
                    "chamfer", "xor_median")


#: Decimals of each column's interval (fractions 0.001, degrees 0.1, Chamfer 0.01).
INTERVAL_DIGITS = (3, 1, 3, 3, 2, 3)


def _interval_rows(intervals: dict) -> list[dict]:
    return [{"model": model, "cells": [(figs.get(k), d) for k, d in
                                       zip(INTERVAL_COLUMNS, INTERVAL_DIGITS, strict=True)]}
            for model, figs in intervals.items() if not model.startswith("_")]


def _final_curve_point(run: Path) -> tuple[dict, dict] | None:
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        return None
    pose = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    pose = [h for h in pose if h.get("kind") == "val_pose"]
    if len(pose) < 2:
        return None
    kept = [h for h in pose if h.get("kept")]  # a run that predicts with a kept checkpoint
    return pose[0], ({**kept[-1], "of": pose[-1]["step"]} if kept else pose[-1])


def _difference_sentences(intervals: dict) -> list[str]:
    """One sentence per model minus the baseline on the target's test objects: each figure
    with its interval and verdict (:func:`~aist_app.pose.intervals.verdict`); with fewer
    than MIN_OBJECTS objects the values alone, and why there is no verdict."""
    meta = intervals["_meta"]
    few = meta["objects"] < MIN_OBJECTS

    def fig(label: str, iv: dict, fmt: str, higher_is_better: bool) -> str:
        value = f"{label} {iv['value']:{fmt}}"
        if few:  # no interval to show: the sentence says why
            return value
        return (f"{value} [{iv['lo']:{fmt}}, {iv['hi']:{fmt}}], "
                f"{verdict_of(iv, higher_is_better=higher_is_better, objects=meta['objects'])}")

    out = []
    for name, figs in intervals.items():
        if " - " not in name or "acc30" not in figs:
            continue
        d = figs["acc30"]
        m = figs.get("median_err_deg")
        parts = [fig("acc@30", d, "+.3f", True)]
        if m:
            parts.append(fig("median error (°)", m, "+.1f", False))
        parts += [fig(label, iv, "+.2f", True)
                  for label, iv in (("acc@30 up to front/back", figs.get("acc30_front_back")),
                                    ("acc@30 under the best single rotation",
                                     figs.get("acc30_best_align"))) if iv]
        parts += [fig(label, iv, "+.2f", False)
                  for label, iv in (("Chamfer", figs.get("chamfer")),
                                    ("mask XOR (median)", figs.get("xor_median"))) if iv]
        out.append(
            f"On the target domain's {meta['objects']} test objects, {name.split(' - ')[0]} "
            + ("minus the baseline: " if few else
               f"minus the baseline ({int(meta['level'] * 100)}% bootstrap over objects): ")
            + "; ".join(parts)
            + (f". With fewer than {MIN_OBJECTS} test objects the interval cannot be "
               "estimated, so no difference is called better or worse." if few else
               ". With this few test objects the intervals are wide."
               if meta["objects"] < 10 else ".")
            + ("" if few else " " + answer_summary({"_meta": meta, name: figs})))
    return out


def _beyond_chance(base: dict, acc30: dict | None) -> tuple[str, str]:
    """(verdict, acc@30 as said) of a model's held-out acc@30 against the best constant
    rotation's on the same views: beyond chance only when its interval over test objects
    (``acc30``: value, lo, hi, objects) lies above the constant's figure."""
    constant = base["acc30_constant"]
    if acc30 is None or acc30["objects"] < MIN_OBJECTS:
        n = "" if acc30 is None else f" from {acc30['objects']} test object(s)"
        return (f"is {'above' if base['acc30'] > constant else 'not above'} chance as a point "
                f"figure (no interval can be estimated{n})", f"{base['acc30']:.2f}")
    said = (f"{acc30['value']:.2f} [{acc30['lo']:.2f}, {acc30['hi']:.2f}] (95% bootstrap "
            f"over its {acc30['objects']} test objects)")
    if acc30["lo"] > constant:
        return "is learned beyond chance (the interval lies above it)", said
    if acc30["hi"] < constant:
        return "is below chance (the interval lies below it)", said
    return "is not shown beyond chance (the interval reaches it)", said


def _elevations_sentence(cfg: dict, summary: dict) -> str:
    """What the baseline measured of the target's (or the photos') elevations, and against
    the truth where it is known."""
    el = cfg.get("elevations", {})
    on = "the target's" if el.get("measure_on") == "target" else "the photos'"
    split = f" ({el['split']} objects)" if el.get("split") else ""
    text = (f"The baseline measured {on} camera elevations on {summary['views']} views"
            f"{split}: fitted {summary['fit']['spec']}; the source was rendered again at the "
            "measured elevations for the measured-elevations model.")
    t = summary.get("against_truth")
    if t:
        text += (f" Against the true elevations: mean {t['measured_mean_deg']:.1f}° measured "
                 f"for {t['true_mean_deg']:.1f}° true, error per view median "
                 f"{t['median_abs_error_deg']:.1f}° (mean {t['mean_abs_error_deg']:.1f}°), KS "
                 f"{t['ks']:.2f}.")
    return text


def plain_words(cfg: dict, reports: dict[str, dict], runs: dict[str, Path],
                kid_result: dict | None, intervals: dict | None,
                source_acc30: dict | None = None, elevations: dict | None = None
                ) -> list[Markup]:
    """What the numbers show, said from the numbers themselves (``source_acc30``: the
    baseline's held-out source acc@30 with its interval and object count), a paragraph
    each, escaped for the page."""
    out = []
    po = cfg.get("pose", {})
    for model, run in runs.items():
        curve = _final_curve_point(run)
        if curve is None:
            continue
        first, last = curve
        out.append(words("<b>{}</b> ", model) + escape(
            (f"at step {last['step']} of {last['of']} (the checkpoint kept on validation, "
               "which predicts)" if "of" in last else f"after {last['step']} steps")
            + ", on its validation "
            f"objects: acc@30 {last['val_acc30']:.2f} (untrained {first['val_acc30']:.2f}; "
            f"best constant rotation {last['val_acc30_constant']:.2f}, random "
            f"{last['val_acc30_random']:.2f}), median error {last['val_median_err_deg']:.0f}° "
            f"(constant {last['val_median_err_constant']:.0f}°), Chamfer "
            f"{last['val_chamfer']:.1f} (untrained {first['val_chamfer']:.1f}, ratio "
            f"{last['val_chamfer'] / max(first['val_chamfer'], 1e-9):.2f})"
            + (f"; under the best single rotation acc@30 {last['val_acc30_best_align']:.2f}, "
               f"median {last['val_median_err_best_align']:.0f}°"
               if "val_acc30_best_align" in last else "") + "."))
    base = reports.get("baseline", {}).get("synthetic")
    if base and "acc30" in base:
        above, said = _beyond_chance(base, source_acc30)
        out.append(
            f"On held-out source objects the baseline's acc@30 is {said} against "
            f"{base['acc30_constant']:.2f} for the best constant rotation: the pose "
            + above + f"; its shapes score Chamfer {base['chamfer']:.1f}."
            + (f" Counting a pose 180° off about the up axis as right, its acc@30 is "
               f"{base['acc30_front_back']:.2f} (the constant's "
               f"{base['acc30_constant_front_back']:.2f} under the same tolerance): the gap "
               "between the two figures is the views whose front and back the model swaps."
               if "acc30_front_back" in base else "")
            + ("" if above.startswith("is learned") else " What limits the pose at small "
               "scale is measured in "
               "docs/learning.md (the silhouette objective's front/back local minimum)."))
    if kid_result:
        for variant, v in kid_result["stylized_closer_than_source"].items():
            src = kid_result["kid"]["source vs target"]["mean"]
            sty = kid_result["kid"][f"stylized {variant} vs target"]["mean"]
            moved = {"toward": "moves source renders toward",
                     "away": "moved source renders away from",
                     "neither": "moves source renders neither measurably toward nor away "
                                "from"}[v.get("direction", "toward" if v["closer"] else
                                              "neither")]
            out.append(
                f"The {variant} stylizer {moved}"
                + f" the target look: KID to target {src:.4f} before, {sty:.4f} after "
                f"(margin {v['margin']:.4f} against a spread of {v['spread']:.4f} over "
                f"{len(kid_result['kid']['source vs target']['per_seed'])} evaluation seeds).")
    if intervals:
        out += _difference_sentences(intervals)
    if elevations:
        out.append(_elevations_sentence(cfg, elevations))

    steps = po.get("steps")
    if steps:
        r = REPORT_SCALE
        out.append(
            f"Scale: this run trains {steps} steps at batch {po.get('batch_objects')} x "
            f"{po.get('views_per_object')} views, {po.get('num_points')} points, a "
            f"{po.get('vox_size')}³ grid and {po.get('image_size')}² images; the report "
            f"trained {r['steps']:,} steps at batch {r['batch']}, {r['points']} points, "
            f"{r['grid']}³, {r['image']}² images on {r['objects']:,} ShapeNet cars "
            f"({r['steps'] // max(1, steps)}x the steps).")
    return [p if isinstance(p, Markup) else escape(p) for p in out]


#: The report's tables, each narrow enough for a 1280 px screen: its Table 6.2, and the pose
#: figures beside the chance baselines of the same views.
MAIN_COLUMNS = ("precision", "coverage", "chamfer", "acc30", "median_err_deg", "xor_median")
CHANCE_COLUMNS = ("acc30", "acc30_constant", "acc30_random", "median_err_deg",
                  "median_err_constant", "acc30_best_align", "median_err_best_align",
                  "acc30_front_back", "acc30_constant_front_back")
def readable_config(cfg: dict, root: Path) -> str:
    """The experiment's settings as TOML-like sections, paths inside the experiment folder
    relative to it and other paths shortened to their last two parts (no machine paths)."""
    root = Path(root).resolve()

    def show(v) -> str:
        if isinstance(v, str) and v.startswith("/"):
            p = Path(v)
            try:
                return f'"{p.resolve().relative_to(root)}"'
            except ValueError:
                return f'".../{"/".join(p.parts[-2:])}"'
        return json.dumps(v)

    plain = [f"{k} = {show(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    sections = [f"\n[{k}]\n" + "\n".join(f"{kk} = {show(vv)}" for kk, vv in v.items())
                for k, v in cfg.items() if isinstance(v, dict)]
    return "\n".join(plain) + "\n" + "\n".join(sections)


def curves_figure(runs: dict[str, Path]) -> bytes | None:
    """Every pose run's validation curves on shared axes: acc@30 (reference alignment solid,
    best single rotation dotted) with the best constant rotation dashed, and Chamfer."""
    lines = {}
    for model, run in runs.items():
        path = Path(run) / "metrics.jsonl"
        if path.is_file():
            val = [json.loads(x) for x in path.read_text().splitlines()
                   if '"val_pose"' in x]
            if val:
                lines[model] = val
    if not lines:
        return None
    fig = _figure(11, 3.8)
    acc, ch = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for i, (model, val) in enumerate(lines.items()):
        c = colours[i % len(colours)]
        steps = [x["step"] for x in val]
        acc.plot(steps, [x["val_acc30"] for x in val], "-o", color=c,
                 label=f"{model} (reference alignment)")
        acc.plot(steps, [x.get("val_acc30_best_align") for x in val], ":", color=c,
                 label=f"{model} (best single rotation)")
        ch.plot(steps, [x["val_chamfer"] for x in val], "-o", color=c, label=model)
    first = next(iter(lines.values()))
    acc.plot([x["step"] for x in first], [x.get("val_acc30_constant") for x in first], "--",
             color="grey", label="chance: best constant rotation")
    acc.set_ylabel("validation acc@30°")
    ch.set_ylabel("validation Chamfer (×100)")
    for ax in (acc, ch):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.tight_layout()
    return _png(fig)


def _source_acc30(evaluation: Path | None, cfg: dict) -> dict | None:
    """The baseline's held-out source acc@30 with its bootstrap interval over objects."""
    path = evaluation / "per_view_synthetic.csv" if evaluation is not None else None
    if path is None or not path.is_file():
        return None
    from aist_app.pose.intervals import object_bootstrap, read_per_view

    res = object_bootstrap({"baseline": read_per_view(path)},
                           resamples=cfg.get("evaluate", {}).get("bootstrap", 1000),
                           seed=cfg.get("seed", 0))
    acc = res["baseline"].get("acc30")
    return None if acc is None else {**acc, "objects": res["_meta"]["objects"]}


def _write_tables(out: Path, reports: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """metrics.csv and metrics.json, and the page's two tables' rows (the report's Table
    6.2 and the pose figures beside chance)."""
    keys = ["precision", "coverage", "chamfer", "acc30", "median_err_deg", "xor_median",
            "acc30_constant", "acc30_random", "median_err_constant", "acc30_best_align",
            "median_err_best_align", "acc30_front_back", "median_err_front_back",
            "acc30_constant_front_back"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "test_set", *keys])
    rows: tuple[list[dict], list[dict]] = ([], [])
    for model, metrics in reports.items():
        for ts, m in metrics.items():
            name = ts.replace("stylized-", "stylized ")
            w.writerow([model, name, *["" if m.get(k) is None else f"{m[k]:.4f}"
                                       for k in keys]])
            for table, cols in zip(rows, (MAIN_COLUMNS, CHANCE_COLUMNS), strict=True):
                table.append({"model": model, "set": name, "cells": [m.get(k) for k in cols]})
    atomic_write_bytes(out / "metrics.csv", buf.getvalue().encode())
    atomic_write_json(out / "metrics.json", reports)
    return rows


def _target_sections(out: Path, root: Path, cfg: dict, runs: dict[str, Path],
                     evals: dict[str, Path], runner, page: dict) -> dict:
    """The target domain's sections (intervals over its test objects, where AIST helps,
    reconstructions, every domain's samples): figures written, ``page`` filled; returns the
    intervals."""
    from aist_app.experiments.compare import evaluation_alignment
    from aist_app.pose.data import PoseData
    from aist_app.pose.evaluate import Evaluator
    from aist_app.pose.intervals import object_bootstrap, read_per_view
    from aist_app.stages.runner import StageRunner

    target = root / "target"
    ev_cfg = cfg.get("evaluate", {})
    intervals = object_bootstrap(
        {m: read_per_view(e / "per_view_target.csv") for m, e in evals.items()},
        resamples=ev_cfg.get("bootstrap", 1000), seed=cfg.get("seed", 0))
    atomic_write_json(out / "target_intervals.json", intervals)
    meta = intervals["_meta"]
    page["intervals"] = {"level": int(meta["level"] * 100), "resamples": meta["resamples"],
                         "objects": meta["objects"], "min_objects": MIN_OBJECTS,
                         "rows": _interval_rows(intervals)}
    aligns = {m: evaluation_alignment(e) for m, e in evals.items()}
    runner = runner or StageRunner()
    evaluators = {m: Evaluator(runner.predictor(run, device="cpu")) for m, run in runs.items()}
    data = PoseData(target, "test")
    atomic_write_bytes(out / "reconstructions.png",
                       reconstructions_figure(evaluators, aligns, data))
    page["helps"] = where_it_helps(evals, evaluators, aligns, data, out)
    styl = {f"stylized {p.name[len('stylized-'):]}": p
            for p in sorted(root.glob("stylized-*")) if (p / "dataset.json").is_file()}
    measured = {"synthetic,\nmeasured elevations": root / "synthetic-measured"} \
        if (root / "synthetic-measured" / "dataset.json").is_file() else {}
    atomic_write_bytes(out / "domains.png", domain_samples_figure(
        {"synthetic": root / "synthetic", **measured, **styl, "target": target}))
    page["reconstructions"] = True
    return intervals


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def write_summary(out: Path, reports: dict[str, dict], root: Path, cfg: dict,
                  runs: dict[str, Path] | None = None, runner=None) -> Path:
    """One table for every (model, test set), as the report's Table 6.2, with the chance
    baselines of the same views; with a target domain, bootstrap intervals over its test
    objects, the stylizer's KID, stylized samples and reconstructions side by side; each
    model's learning curves; the paragraph of :func:`plain_words`."""
    from aist_app.experiments.presets import PIPELINE_ONLY, PIPELINE_ONLY_PRESETS

    runs = runs or {}
    out.mkdir(parents=True, exist_ok=True)
    main_rows, chance_rows = _write_tables(out, reports)
    page: dict = {"intervals": None, "helps": [], "reconstructions": False}
    intervals = None
    evals = {model: root / "eval" / Path(run).name for model, run in runs.items()}
    if (root / "target" / "dataset.json").is_file() and all(
            (e / "per_view_target.csv").is_file() for e in evals.values()):
        intervals = _target_sections(out, root, cfg, runs, evals, runner, page)
    kid_result = _read_json(root / "kid.json")
    curves = curves_figure(runs)
    if curves is not None:
        atomic_write_bytes(out / "curves.png", curves)
    html = render(
        "experiment.html", name=Path(root).resolve().name, preset=cfg["preset"],
        notice=PIPELINE_ONLY if cfg.get("preset") in PIPELINE_ONLY_PRESETS else "",
        words=plain_words(cfg, reports, runs, kid_result, intervals,
                          _source_acc30(evals.get("baseline"), cfg), _read_json(
                              root / "elevations" / "summary.json")),
        main_rows=main_rows, chance_rows=chance_rows, kid=kid_result,
        curves=curves is not None, config=readable_config(cfg, root),
        evaluations=[p.name for p in sorted((root / "eval").iterdir()) if p.is_dir()],
        **page)
    atomic_write_bytes(out / "report.html", html.encode())
    return out / "report.html"
