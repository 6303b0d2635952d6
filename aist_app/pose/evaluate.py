"""Evaluating a pose-model run on test datasets (SPEC §4, report §5.4 and §6.3).

Ground-truth sets: Chamfer precision (prediction -> truth) and coverage (truth ->
prediction), their sum, all x100; pose accuracy at 30 degrees and the median angular error.
The model's frame is arbitrary (unsupervised), so first a reference rotation aligning it to
the ground-truth frame is estimated as the reference's ``compute_alignment`` does
(:mod:`aist_app.pose.align`) on the validation objects of the run's training dataset (the
training objects when it has no validation split; never test objects). Every set, real or
synthetic (report Fig. 6.5 and 7.1): the normalized XOR of the target mask and the mask of the
predicted cloud rendered at the predicted pose.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

from aist_app.common.html import render
from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json
from aist_app.common.outputs import (
    OutputFolder,
    OutputRecord,
    check_apart,
    folder_identity,
    run_folder_of,
)
from aist_app.dataset.contract import dataset_identity
from aist_app.pose import align as A_
from aist_app.pose import quaternion as Q
from aist_app.pose.data import EmptySplit, PoseData, alignment_data

GT_POINTS = 10_000  # ground-truth points per object for Chamfer (seeded subsample)


def chamfer(pred: np.ndarray, gt: np.ndarray, gt_tree: cKDTree | None = None
            ) -> tuple[float, float]:
    """(precision, coverage): mean distance from each predicted point to the ground truth,
    and from each ground-truth point to the prediction (not yet x100)."""
    tree = gt_tree if gt_tree is not None else cKDTree(gt)
    return float(tree.query(pred)[0].mean()), float(cKDTree(pred).query(gt)[0].mean())


def gt_trees(data: PoseData, oids: list[str]) -> dict[str, tuple[cKDTree, np.ndarray]]:
    """Each object's ground truth, subsampled to ``GT_POINTS`` (seeded, in ``oids`` order),
    and its k-d tree."""
    rng = np.random.default_rng(0)
    out = {}
    for oid in oids:
        gt = data.gt_points(oid)
        if len(gt) > GT_POINTS:
            gt = gt[rng.choice(len(gt), GT_POINTS, replace=False)]
        out[oid] = (cKDTree(gt), gt)
    return out


@dataclass
class Prediction:
    oid: str
    file: str
    points: np.ndarray  # (N, 3) model frame
    quaternion: np.ndarray  # (4,) student pose, model frame
    mask: np.ndarray  # (G, G) bool, target mask
    proj: np.ndarray | None = None  # (G, G) predicted silhouette at the predicted pose
    rgb: np.ndarray | None = None  # (N, 3) the points' colours in [0, 1], if it has them


@dataclass
class SetResult:
    name: str
    kind: str
    metrics: dict[str, float] = field(default_factory=dict)
    xor: list[float] = field(default_factory=list)
    samples: list[Prediction] = field(default_factory=list)
    #: The sample views' images (H, W, 4), as the model saw them.
    sample_images: list[np.ndarray] = field(default_factory=list)
    #: One row per view: object, view, angle_err_deg / precision / coverage / chamfer (with
    #: ground truth), xor -- for intervals over objects and view-by-view comparisons.
    per_view: list[dict] = field(default_factory=list)


class Evaluator:
    """The figures of a pose model's predictions, whatever the model: it asks the model's
    :class:`~aist_app.api.contracts.PosePredictor` for predictions and does the rest
    (alignment to the ground-truth frame, Chamfer, pose errors, XOR, chance baselines)."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor

    @property
    def batch(self) -> int:
        return self.predictor.batch

    def predict(self, data: PoseData, *, render: bool = False, limit: int | None = None,
                views: list[tuple[str, str]] | None = None) -> list[Prediction]:
        """Every view of the first ``limit`` objects, or just ``views`` (object, file), in
        that order (``render``: with the predicted silhouettes)."""
        return self.predictor.predict(data, render=render, limit=limit, views=views)

    def alignment(self, data: PoseData, preds: list[Prediction] | None = None
                  ) -> tuple[np.ndarray, dict]:
        """Quaternion A with R_gt ~ R_pred A (model frame -> ground-truth frame:
        p_gt = A^-1 p_model), by the reference's procedure on ``data``'s first 50 objects."""
        if preds is None:
            preds = self.predict(data, limit=A_.NUM_OBJECTS)
        per_obj: dict[str, list[Prediction]] = {}
        for p in preds:
            per_obj.setdefault(p.oid, []).append(p)
        oids = list(per_obj)[:A_.NUM_OBJECTS]
        nv = max(len(per_obj[oid]) for oid in oids)
        rot = np.full((len(oids), nv, 4), np.nan)
        rmse = np.full((len(oids), nv), np.inf)
        trees = gt_trees(data, oids)
        for i, oid in enumerate(oids):
            tree, gt = trees[oid]
            q_gts = data.gt_quaternions(oid)
            for j, p in enumerate(per_obj[oid]):
                q_gt = torch.from_numpy(q_gts[p.file])
                q_pr = torch.from_numpy(p.quaternion.astype(np.float64))
                init = Q.to_matrix(Q.multiply(Q.conjugate(q_gt), q_pr)).numpy()
                res = A_.icp(p.points, gt, init, target_tree=tree)
                rot[i, j] = Q.from_matrix(torch.from_numpy(res.transformation[:3, :3])).numpy()
                rmse[i, j] = res.inlier_rmse
        q_align, kept = A_.reference_rotation(rot, rmse)
        # The reference's rotation maps model -> ground truth; A is its inverse.
        info = {"objects": [oids[k] for k in kept["objects"]], "rmse": kept["rmse"],
                "averaged": kept["averaged"],
                "from": str(data.ds.root), "split": data.split}
        return Q.conjugate(torch.from_numpy(q_align)).numpy(), info

    def evaluate_set(self, data: PoseData, align: np.ndarray | None, *,
                     limit: int | None = None, preds: list[Prediction] | None = None,
                     name: str | None = None) -> SetResult:
        """The figures of the run's predictions of ``data`` (or of ``preds``, e.g. refined
        ones, under ``name``)."""
        res = SetResult(name or data.name, data.ds.kind)
        if preds is None:
            preds = self.predict(data, render=True, limit=limit)
        res.samples = preds[:: max(1, len(preds) // 8)][:8]
        res.sample_images = [np.asarray(data.ds.load_view(p.oid, p.file))
                             for p in res.samples]
        if data.has_gt:
            A = torch.from_numpy(align)
            R_inv = Q.to_matrix(Q.conjugate(A)).numpy()
            prec, cov, q_al, q_gt = [], [], [], []
            trees = gt_trees(data, list(dict.fromkeys(p.oid for p in preds)))
            for p in preds:
                tree, gt = trees[p.oid]
                pr, co = chamfer(p.points @ R_inv.T, gt, tree)
                prec.append(pr)
                cov.append(co)
                q_gt.append(torch.from_numpy(data.gt_quaternions(p.oid)[p.file]))
                q_al.append(Q.multiply(torch.from_numpy(p.quaternion.astype(np.float64)), A))
            q_al, q_gt = torch.stack(q_al), torch.stack(q_gt)
            turn = up_turn(data.ds.up_axis)
            e = Q.angle_deg(q_al, q_gt).numpy()
            errs_fb = front_back_error(q_al, q_gt, turn).numpy()
            errs_best = best_alignment_errors(np.stack([p.quaternion for p in preds]),
                                              q_gt.numpy())
            res.per_view = [{"object": p.oid, "view": p.file, "angle_err_deg": err,
                             "angle_err_front_back_deg": fb,
                             "angle_err_best_align_deg": best,
                             "precision": 100 * pr, "coverage": 100 * co,
                             "chamfer": 100 * (pr + co)}
                            for p, err, fb, best, pr, co in zip(
                                preds, e.tolist(), errs_fb.tolist(), errs_best.tolist(), prec,
                                cov, strict=True)]
            res.metrics = {"precision": 100 * float(np.mean(prec)),
                           "coverage": 100 * float(np.mean(cov)),
                           "acc30": float(np.mean(e < 30.0)),
                           "median_err_deg": float(np.median(e)), "views": len(preds)}
            res.metrics["chamfer"] = res.metrics["precision"] + res.metrics["coverage"]
            gts = q_gt.numpy()
            res.metrics.update(chance_baselines(gts))
            res.metrics.update(best_alignment_figures(errs_best))
            res.metrics.update(front_back_metrics(errs_fb, gts, turn))
        else:
            res.metrics = {"views": len(preds)}
            res.per_view = [{"object": p.oid, "view": p.file} for p in preds]
        for p, row in zip(preds, res.per_view, strict=True):
            pred_mask = p.proj > 0.5
            res.xor.append(float(np.logical_xor(pred_mask, p.mask).sum()
                                 / max(1, p.mask.sum())))
            row["xor"] = res.xor[-1]
        res.metrics["xor_median"] = float(np.median(res.xor))
        # Whether the decoded shapes can tell front from back (model frame, no alignment).
        from aist_app.pose.symmetry import set_symmetry

        res.metrics.update(set_symmetry([(p.points, p.rgb) for p in preds]))
        return res


def best_alignment_metrics(pred_quaternions: np.ndarray, gt_quaternions: np.ndarray
                           ) -> dict[str, float]:
    """acc@30 and median error of the model's poses under the single rotation that fits them
    best, chosen with the ground truth among the rotations each view implies
    (``A_i = conj(q_pred_i) q_gt_i``): the footing of the best-constant baseline (a constant
    prediction under the best rotation), so the two compare whether the poses are
    consistent across views, whatever the reference's alignment finds."""
    return best_alignment_figures(best_alignment_errors(pred_quaternions, gt_quaternions))


def best_alignment_figures(errors: np.ndarray) -> dict[str, float]:
    """acc@30 and median of the per-view errors of :func:`best_alignment_errors`."""
    return {"acc30_best_align": float(np.mean(errors < 30.0)),
            "median_err_best_align": float(np.median(errors))}


def best_alignment_errors(pred_quaternions: np.ndarray, gt_quaternions: np.ndarray
                          ) -> np.ndarray:
    """Per view, the angle error (degrees) under the single rotation of
    :func:`best_alignment_metrics` (the per-view figures behind its acc@30 and median, so
    that two models' best-single-rotation figures get a paired interval over objects)."""
    p = Q.normalize(torch.from_numpy(np.asarray(pred_quaternions, dtype=np.float64)))
    g = torch.from_numpy(np.asarray(gt_quaternions, dtype=np.float64))
    step = _candidate_stride(len(p))
    cand = Q.multiply(Q.conjugate(p[::step]), g[::step])
    ang = Q.angle_deg(Q.multiply(p.unsqueeze(0), cand.unsqueeze(1)),
                      g.unsqueeze(0).expand(len(cand), -1, 4)).numpy()
    return ang[_best_index(ang)]


def up_turn(up_axis: str) -> torch.Tensor:
    """The 180-degree turn about the objects' up axis (``y`` or ``z``), a wxyz quaternion."""
    return torch.tensor([0.0, 0.0, 1.0, 0.0] if up_axis == "y" else [0.0, 0.0, 0.0, 1.0],
                        dtype=torch.float64)


def front_back_error(q_aligned: torch.Tensor, q_gt: torch.Tensor, turn: torch.Tensor
                     ) -> torch.Tensor:
    """The angle error (degrees) of aligned poses when the pose turned 180 degrees about the
    object's up axis (``turn``, :func:`up_turn`) counts too: the smaller of the two."""
    turned = Q.multiply(q_aligned, turn.to(q_aligned).expand_as(q_aligned))
    return torch.minimum(Q.angle_deg(q_aligned, q_gt), Q.angle_deg(turned, q_gt))


def front_back_metrics(errs_fb: np.ndarray, gt_quaternions: np.ndarray, turn: torch.Tensor
                       ) -> dict[str, float]:
    """A diagnostic of the front/back fold (docs/learning.md), not the report's figure:
    acc@30 and median error after the reference's alignment when a pose turned 180 degrees
    about the up axis also counts (``errs_fb``: per view, the smaller of the two errors),
    with the best constant rotation under the same tolerance. Well above that constant,
    and above the plain acc@30, the model has the pose up to which end of the object is
    its front."""
    q = torch.from_numpy(np.asarray(gt_quaternions, dtype=np.float64))
    cand = q[:: _candidate_stride(len(q))]
    c, g = cand.unsqueeze(1).expand(-1, len(q), 4), q.unsqueeze(0).expand(len(cand), -1, 4)
    acc, med = _best_row(front_back_error(c, g, turn).numpy())
    return {"acc30_front_back": float(np.mean(errs_fb < 30.0)),
            "median_err_front_back": float(np.median(errs_fb)),
            "acc30_constant_front_back": acc, "median_err_constant_front_back": med}


def _candidate_stride(n: int) -> int:
    """The stride that takes at most 256 of ``n`` views as candidate rotations (the
    baselines' and the best single rotation's)."""
    return max(1, n // 256)


def _best_row(ang: np.ndarray) -> tuple[float, float]:
    """(acc@30, median) of the row of angle errors (candidates x views) with the highest
    acc@30, ties broken by the lower median."""
    best = _best_index(ang)
    return float((ang[best] < 30.0).mean()), float(np.median(ang[best]))


def _best_index(ang: np.ndarray) -> int:
    """The row of :func:`_best_row`."""
    acc = (ang < 30.0).mean(1)
    med = np.median(ang, axis=1)
    return int(np.lexsort((med, -acc))[0])


def chance_baselines(gt_quaternions: np.ndarray, seed: int = 0) -> dict[str, float]:
    """What pose accuracy means nothing, on the same views, by the same error: a uniformly
    random rotation per view (seeded), and the best single rotation predicted for every view
    (the ground-truth pose that maximizes acc@30, ties broken by the median error) -- what a
    model that ignores its input can reach on this view distribution."""
    q = torch.from_numpy(np.asarray(gt_quaternions, dtype=np.float64))
    rng = np.random.default_rng(seed)
    rand = Q.normalize(torch.from_numpy(rng.normal(size=q.shape)))
    err_rand = Q.angle_deg(rand, q).numpy()
    # Pairwise angles between the views' poses: |<q_i, q_j>| = cos(angle / 2).
    cand = q[:: _candidate_stride(len(q))]
    dots = (cand @ q.T).abs().clamp(max=1.0)
    acc, med = _best_row(np.degrees(2 * np.arccos(dots.numpy())))
    return {"acc30_random": float(np.mean(err_rand < 30.0)),
            "median_err_random": float(np.median(err_rand)),
            "acc30_constant": acc, "median_err_constant": med}


def xor_cdf_plot(results: list[SetResult]) -> bytes:
    """Cumulative distribution of the normalized XOR per real set (Gaussian KDE, Fig. 6.5)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    top = max((max(r.xor) for r in results if len(r.xor)), default=1.0)
    right = max(0.05, top * 1.08)  # the axis ends just past the data
    for r in results:  # the empirical CDF: a step per view, no smoothing of a few views
        v = np.sort(np.asarray(r.xor))
        if len(v):
            ys = np.arange(1, len(v) + 1) / len(v)
            ax.step(np.r_[0.0, v, right], np.r_[0.0, ys, 1.0], where="post", marker="o",
                    markersize=3 if len(v) <= 40 else 0,
                    label=f"{r.name} ({len(v)} view{'s' if len(v) > 1 else ''})")
    ax.set_xlabel("normalized XOR (pixels in disagreement / real mask pixels)")
    ax.set_ylabel("cumulative fraction of views")
    ax.set_xlim(0, right)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def sample_figure(result: SetResult) -> bytes:
    """Sample views: the input with the predicted silhouette outlined over it (its pose error
    and XOR in the title, where the set has them), and the predicted cloud below."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from aist_app.common.images import composite

    errors = {(r["object"], r["view"]): r for r in result.per_view}
    n = len(result.samples)
    fig = Figure(figsize=(max(2.6 * max(n, 1), 6.0), 5.4), dpi=100, layout="constrained")
    for i, p in enumerate(result.samples):
        ax = fig.add_subplot(2, max(n, 1), i + 1)
        if i < len(result.sample_images):
            ax.imshow(composite(result.sample_images[i], "white")[..., :3])
            shape = result.sample_images[i].shape[:2]
        else:
            ax.imshow(p.mask, cmap="gray")
            shape = p.mask.shape
        if p.proj is not None:  # the predicted silhouette, at the image's size
            g = p.proj.shape[0]
            ax.contour(np.linspace(0, shape[1] - 1, g), np.linspace(0, shape[0] - 1, g),
                       p.proj, levels=[0.5], colors="tab:orange", linewidths=1.5)
        ax.set_axis_off()
        row = errors.get((p.oid, p.file), {})
        figs = [f"{row['angle_err_deg']:.0f}°" if "angle_err_deg" in row else "",
                f"XOR {row['xor']:.2f}" if "xor" in row else ""]
        ax.set_title(f"{p.oid[:8]} {p.file.removesuffix('.png')}\n"
                     + ", ".join(f for f in figs if f), fontsize=10)
        ax3 = fig.add_subplot(2, max(n, 1), n + i + 1, projection="3d")
        pts = p.points[:: max(1, len(p.points) // 2000)]
        ax3.scatter(pts[:, 0], pts[:, 2], -pts[:, 1], s=0.5)
        ax3.set_axis_off()
    import textwrap

    fig.suptitle(textwrap.fill("input, the predicted silhouette at the predicted pose "
                               "(orange), its pose error and mask XOR; the predicted cloud "
                               "below", width=int(fig.get_figwidth() * 11)), fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


#: The pose table's columns beside chance.
CHANCE_KEYS = ("acc30", "acc30_constant", "acc30_random", "median_err_deg",
               "median_err_constant", "acc30_best_align", "acc30_front_back")


def chance_sentence(name: str, m: dict) -> str:
    """Whether the model's poses on a set are above chance (the best constant rotation of
    the same views), said in words (plain text: the page escapes it)."""
    if "acc30" not in m or "acc30_constant" not in m:
        return ""
    acc, const = m["acc30"], m["acc30_constant"]
    best = m.get("acc30_best_align")
    where = ("above" if acc > const else "at or below")
    extra = (f"; under the best single rotation {best:.2f}" if best is not None else "")
    return (f"{name}: acc@30° {acc:.2f} is {where} the best constant rotation's "
            f"{const:.2f} on the same views{extra}.")


def write_report(out: Path, run: str, step: int, results: list[SetResult],
                 model_name: str = "model") -> dict:
    out.mkdir(parents=True, exist_ok=True)
    metrics = {r.name: {**r.metrics, "kind": r.kind} for r in results}
    atomic_write_json(out / "metrics.json", metrics)
    keys = ["precision", "coverage", "chamfer", "acc30", "median_err_deg", "xor_median"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "test_set", *keys])
    for r in results:
        vals = [r.metrics.get(k) for k in keys]
        w.writerow([model_name, r.name, *["" if v is None else f"{v:.4f}" for v in vals]])
    atomic_write_bytes(out / "metrics.csv", buf.getvalue().encode())
    for r in results:  # view by view, for intervals over objects and comparisons
        cols = list(dict.fromkeys(k for row in r.per_view for k in row))
        buf = io.StringIO()
        w = csv.DictWriter(buf, cols)
        w.writeheader()
        w.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()}
                    for row in r.per_view)
        atomic_write_bytes(out / f"per_view_{r.name}.csv", buf.getvalue().encode())
    real = [r for r in results if r.xor]
    if real:
        atomic_write_bytes(out / "xor_cdf.png", xor_cdf_plot(real))
    samples = []
    for r in results:
        if r.samples:
            name = f"samples_{r.name}.png"
            atomic_write_bytes(out / name, sample_figure(r))
            samples.append({"name": r.name, "file": name})
    experiment = out.resolve().parent.parent  # EXP/eval/<run>: the experiment's report
    html = render(
        "evaluation.html", run=run_folder_of(run).name, checkpoint=Path(run).name, step=step,
        model=model_name, verdicts=[v for r in results if (v := chance_sentence(r.name,
                                                                                r.metrics))],
        rows=[{"name": r.name, "cells": [r.metrics.get(k) for k in keys]} for r in results],
        chance=[{"name": r.name, "cells": [r.metrics.get(k) for k in CHANCE_KEYS]}
                for r in results if "acc30" in r.metrics],
        xor=bool(real), samples=samples,
        experiment="../../report/report.html"
        if (experiment / "experiment.json").is_file() else "",
        experiment_name=experiment.name)
    atomic_write_bytes(out / "report.html", html.encode())
    return metrics


@dataclass
class Variant:
    """The model's predictions of a set made again another way (refined at test time, say),
    reported beside them as ``<set><suffix>`` on the same views."""

    suffix: str
    settings: dict  # for the output record
    sets: list[str] | None  # the set names it applies to (None: every set)
    #: Given the alignment, a function (data, predictions, progress(done, total)) ->
    #: (new predictions in the same order, {"object/view": why it was left as it was}).
    prepare: Callable[[np.ndarray], Callable]


def evaluate(predictor, test_sets: list[str | Path | tuple[str | Path, str]],
             out: str | Path, *, plugin: str, model_name: str | None = None,
             split: str = "test", overwrite: bool = False, variant: Variant | None = None,
             progress=None) -> dict:
    """Evaluate a pose run (its ``predictor``, from the plugin ``plugin``) on each set's
    ``split`` (``test``; ``all`` only when asked, e.g. for the one-object demo) and write the
    report into ``out`` (the output-folder contract: a report of another run or other sets
    is refused unless ``overwrite``). With a ``variant`` (e.g. ``dpc``'s test-time
    refinement) the sets it names are also reported its way, beside the plain figures."""
    if split not in ("test", "all"):
        raise ValueError(f"--split {split!r}: use test or all")
    ev = Evaluator(predictor)
    sets = []
    # A (path, "all") item evaluates that set whole: photos the models never trained on.
    chosen = [(ts[0], ts[1]) if isinstance(ts, tuple) else (ts, split) for ts in test_sets]
    test_sets = [ts for ts, _ in chosen]
    for ts, sp in chosen:
        if sp not in ("test", "all"):
            raise ValueError(f"{ts}: split {sp!r}: use test or all")
        try:
            sets.append(PoseData(ts, "test" if sp == "test" else None))
        except EmptySplit:
            if sp != "test":
                raise
            raise ValueError(f"{ts}: its test split is empty, so there is nothing to evaluate "
                             "on (evaluating training objects would flatter the model); pass "
                             "--split all to evaluate every object on purpose") from None
    for data in sets:  # a view with no object is refused before the report folder exists
        data.check_views()
    splits = {"split": split} if all(sp == split for _, sp in chosen) else {
        "split": split, "per_set": [sp for _, sp in chosen]}
    if variant is not None:
        splits = {**splits, **variant.settings}
    splits["alignment"] = A_.ALIGNMENT
    record = OutputRecord("evaluate", model_name or plugin, splits, {
        "run": folder_identity(predictor.checkpoint), "step": predictor.step,
        "test_sets": [dataset_identity(ts) for ts in test_sets]})
    check_apart(out, {"run": str(run_folder_of(predictor.checkpoint))})
    output = OutputFolder(out, record, overwrite=overwrite, what="evaluation report")
    align, info = ev.alignment(alignment_data(predictor.training_set))
    results = []
    again = variant.prepare(align) if variant is not None else None
    for data in sets:
        preds = ev.predict(data, render=True)
        res = ev.evaluate_set(data, align, preds=preds)
        res.metrics["split"] = data.split or "all (asked with --split all)"
        results.append(res)
        if again is not None and (variant.sets is None or data.name in variant.sets):
            name = f"{data.name}{variant.suffix}"
            redone, skipped = again(data, preds, progress and (
                lambda done, total, n=data.name: progress(n, done, total)))
            res = ev.evaluate_set(data, align, preds=redone, name=name)
            res.metrics["split"] = results[-1].metrics["split"]
            tag = variant.suffix.strip("+")
            res.metrics[f"{tag}_skipped"] = len(skipped)
            if skipped:  # those views kept the model's own prediction
                atomic_write_json(output.path / f"{tag}_skipped_{data.name}.json", skipped)
            results.append(res)
    metrics = write_report(output.path, str(predictor.checkpoint), predictor.step, results,
                           model_name or Path(predictor.run_dir).name)
    atomic_write_json(output.path / "alignment.json",
                      {"quaternion_wxyz": align.tolist(), **info})
    output.publish()
    return metrics
