"""Reproducibility as a measured property: the cpu preset's learned stages (stylizer, KID,
both pose models, their evaluation) for several seeds on one dataset, side by side, and one
table of what each seed learned.

    python scripts/seeds.py --out seeds            # seeds 0 1 2, the cpu preset
    python scripts/seeds.py --out seeds --table    # only (re)print the table
    python scripts/seeds.py --out lever --reuse seeds --set pose.steps=900  # a pose lever
    python scripts/seeds.py --out lever --reuse seeds --redo stylizer --set stylizer.ema=0.99
    python scripts/seeds.py --out seeds --curves   # the validation curves, the kept step
    python scripts/seeds.py --out seeds --fold     # held-out views by true azimuth: the fold
    python scripts/seeds.py --out seeds --answer   # AIST - baseline on target and source
    python scripts/seeds.py --out seeds --shapes   # can the decoded shapes tell front/back?
    python scripts/seeds.py --out seeds --emulate 2  # seed 2 on an emulated second CPU

Seed 0 runs the whole experiment (``OUT/seed0``). Once its data stages are done (generated
cars, source and target renders, photos), seeds 1, 2, ... start in ``OUT/seedN`` on a copy of
those folders, with ``[stylizer] seed`` and ``[pose] seed`` set to N: the data are the
same, what varies is every learned stage's initialization and sampling. Each run gets the
preset's CPU threads (``--threads``: the experiment's ``threads``, 2 for cpu), as many seeds
at once as the cores allow (``--jobs``); ``--prescott SEED`` runs that seed with
``OPENBLAS_CORETYPE=Prescott`` (the oldest x86-64 kernel, the same on any machine). The
table goes to ``OUT/table.md`` and ``OUT/table.json`` with the seeds, the kernel each ran
under and the settings; docs/learning.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

AIST = str(Path(sys.executable).with_name("aist"))
DATA_STAGES = ("cars", "render", "render-target", "segment")
DATA_FOLDERS = ("cars", "synthetic", "target", "real")


#: A second CPU on this one (what reaches torch, not numpy alone): ATen's kernels without
#: vector extensions, MKL and oneDNN held to AVX2, numpy's OpenBLAS on its oldest x86-64
#: kernel. ``torch.backends.cpu.get_cpu_capability()`` then reads DEFAULT (each run records
#: it: ``cpu_capability`` in its config.json).
EMULATED_CPU = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                "ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Prescott"}


def _env(threads: int | None, prescott: bool, emulate: bool = False) -> dict[str, str]:
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl"}
    if threads:
        env.update(dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                  "OPENBLAS_NUM_THREADS"), str(threads)))
    for key in EMULATED_CPU:
        env.pop(key, None)
    if emulate:
        env.update(EMULATED_CPU)
    elif prescott:
        env["OPENBLAS_CORETYPE"] = "Prescott"
    return env


def _config(out: Path, preset: str, seed: int, extra: list[str], threads: int | None = None
            ) -> Path:
    lines = [f'preset = "{preset}"', *([f"threads = {threads}"] if threads else [])]
    sections: dict[str, list[str]] = {"stylizer": [f"seed = {seed}"],
                                      "pose": [f"seed = {seed}"]}
    for item in extra:  # section.key=value (TOML value)
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        sections.setdefault(section, []).append(f"{name} = {value}")
    for section, body in sections.items():
        lines += ["", f"[{section}]", *body]
    path = out.with_suffix(".toml")
    path.write_text("\n".join(lines) + "\n")
    return path


def _start(out: Path, preset: str, seed: int, args) -> subprocess.Popen:
    cfg = _config(out, preset, seed, args.set, args.threads)
    log = open(out.with_suffix(".log"), "a")
    return subprocess.Popen([AIST, "experiment", str(cfg), "--out", str(out), "--progress",
                             "none"], stdout=log, stderr=subprocess.STDOUT,
                            env=_env(args.threads, seed in args.prescott,
                                     seed in args.emulate))


def _data_done(seed0: Path) -> bool:
    stages = seed0 / ".stages"
    return all((stages / f"{s}.json").is_file() for s in DATA_STAGES)


def _copy_data(seed0: Path, dest: Path) -> None:
    """The data stages of seed 0, done, in a new experiment folder (its record too)."""
    dest.mkdir(parents=True)
    for name in DATA_FOLDERS:
        if (seed0 / name).is_dir():
            shutil.copytree(seed0 / name, dest / name, symlinks=True)
    (dest / ".stages").mkdir()
    for s in DATA_STAGES:
        shutil.copy(seed0 / ".stages" / f"{s}.json", dest / ".stages" / f"{s}.json")
    shutil.copy(seed0 / ".aist-output.json", dest / ".aist-output.json")


#: What a pose lever retrains: these stages and their folders are left out of a reused run.
POSE_STAGES = ("pose-", "eval-")
#: What a stylizer lever retrains: the stylizer, its stylized set, KID, the AIST pose model
#: and the evaluations (the baseline pose model, trained on the source, is reused).
STYLIZER_STAGES = ("stylize", "kid", "pose-constrained", "eval-")


def _reuse(previous: Path, dest: Path, redo: tuple[str, ...] = POSE_STAGES) -> None:
    """A finished seed's folder without the stages (and their folders) named by the
    prefixes ``redo``, their evaluation and the report: the rest is reused, those run
    again."""
    def skip(folder: str, names: list[str]) -> set[str]:
        if Path(folder) == previous:
            return {n for n in names if n.startswith(redo) or n in ("report", "eval")}
        if Path(folder) == previous / ".stages":
            return {n for n in names if n.startswith(redo)}
        return set()
    shutil.copytree(previous, dest, symlinks=True, ignore=skip)


def _preset_threads(args) -> int:
    """The CPU threads each seed runs with: --threads, else the preset's (else all)."""
    from aist_app.experiments.presets import PRESETS

    return args.threads or PRESETS[args.preset].get("threads") or os.cpu_count() or 1


def run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(args.seeds)
    first, rest = seeds[0], seeds[1:]
    procs: dict[int, subprocess.Popen] = {}
    t0 = time.monotonic()
    seed_dir = {s: out / f"seed{s}" for s in seeds}
    if args.reuse:
        for s in seeds:
            if not seed_dir[s].exists():
                _reuse(Path(args.reuse) / f"seed{s}", seed_dir[s],
                       STYLIZER_STAGES if args.redo == "stylizer" else POSE_STAGES)
    if not (seed_dir[first] / "report").is_dir():
        procs[first] = _start(seed_dir[first], args.preset, first, args)
    while not _data_done(seed_dir[first]):
        if first in procs and procs[first].poll() not in (None, 0):
            sys.exit(f"seed {first} failed: see {seed_dir[first].with_suffix('.log')}")
        time.sleep(10)
    for s in rest:
        if (seed_dir[s] / "report").is_dir():
            continue
        if not seed_dir[s].exists():
            _copy_data(seed_dir[first], seed_dir[s])
        jobs = args.jobs or max(1, (os.cpu_count() or 1) // _preset_threads(args))
        while sum(p.poll() is None for p in procs.values()) >= jobs:
            time.sleep(10)  # at most --jobs seeds at once
        procs[s] = _start(seed_dir[s], args.preset, s, args)
    failed = [s for s, p in procs.items() if p.wait() != 0]
    print(f"seeds {seeds}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    if failed:
        sys.exit(f"seeds {failed} failed: see their .log files in {out}")


def _val_curve(run_dir: Path) -> list[dict]:
    """A pose run's validation records (``metrics.jsonl``), in step order."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
            if '"val_pose"' in line]


def _recorded(folder: Path) -> dict:
    """What the seed's learned stages recorded of the CPU they ran on (threads, torch's
    instruction set, kernel variables): the first run's config.json that has it."""
    for run in ("stylizer-constrained", "pose-constrained", "pose-baseline"):
        try:
            rec = json.loads((folder / run / "config.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        if "cpu_threads" in rec:
            return rec
    return {}


def kernel_label(rec: dict, prescott: bool) -> str:
    """What computed a seed, from its runs' record: torch's ATen instruction set and numpy's
    OpenBLAS kernel (runs from before the record: the --prescott flag alone)."""
    blas = rec.get("openblas_coretype") or ("Prescott" if prescott and not rec else "")
    if "cpu_capability" not in rec:
        return blas or "native"
    extra = [f"MKL {rec['mkl_enable_instructions']}"] if "mkl_enable_instructions" in rec \
        else []
    extra += [f"oneDNN {rec['onednn_max_cpu_isa']}"] if "onednn_max_cpu_isa" in rec else []
    return ", ".join([f"torch {rec['cpu_capability']}", *extra,
                      f"OpenBLAS {blas or 'native'}"])


def _row(folder: Path, seed: int, prescott: bool) -> dict:
    kid = json.loads((folder / "kid.json").read_text())
    rec = _recorded(folder)
    row = {"seed": seed, "kernel": kernel_label(rec, prescott),
           "threads": rec.get("cpu_threads")}
    for variant, v in kid["stylized_closer_than_source"].items():
        row["kid_source"] = kid["kid"]["source vs target"]["mean"]
        row["kid_stylized"] = kid["kid"][f"stylized {variant} vs target"]["mean"]
        row["kid_margin"], row["kid_spread"] = v["margin"], v["spread"]
        row["kid_direction"] = v.get("direction", "toward" if v["closer"] else "neither")
    for model, run_name, test_set in (("baseline", "pose-baseline", "synthetic"),
                                      ("aist", "pose-constrained", "stylized-constrained")):
        m = json.loads((folder / "eval" / run_name / "metrics.json").read_text())[test_set]
        curve = _val_curve(folder / run_name)
        untrained = curve[0]["val_chamfer"] if curve else float("nan")
        for key in ("acc30", "median_err_deg", "acc30_best_align", "median_err_best_align",
                    "acc30_front_back", "median_err_front_back", "acc30_constant",
                    "chamfer"):
            row[f"{model}_{key}"] = m.get(key)
        row[f"{model}_chamfer_untrained_val"] = untrained
        # The validation point of the checkpoint that predicts (the kept one, else the last).
        kept = _kept(folder / run_name, curve)
        point = next((h for h in curve if h["step"] == kept), curve[-1] if curve else None)
        row[f"{model}_predicting_step"] = point["step"] if point else None
        row[f"{model}_chamfer_ratio"] = (point["val_chamfer"] / untrained
                                         if point else float("nan"))
    seconds = {p.stem: json.loads(p.read_text()).get("seconds", 0)
               for p in (folder / ".stages").glob("*.json")}
    row["learned_minutes"] = round(sum(v for k, v in seconds.items()
                                       if k not in DATA_STAGES) / 60, 1)
    return row


def table(args) -> None:
    out = Path(args.out)
    rows = [_row(out / f"seed{s}", s, s in args.prescott) for s in args.seeds
            if (out / f"seed{s}" / "report").is_dir()]
    if not rows:
        sys.exit(f"no finished seed under {out}")
    cfg = json.loads((out / f"seed{args.seeds[0]}" / "experiment.json").read_text())
    atomic = out / "table.json.tmp"
    atomic.write_text(json.dumps({"rows": rows, "preset": args.preset, "set": args.set,
                                  "pose": cfg["pose"], "stylizer": cfg["stylizer"]},
                                 indent=1))
    atomic.replace(out / "table.json")
    head = ("| seed (kernel) | KID source → stylized (margin, spread) | baseline acc@30 / "
            "median, reference alignment | best single rotation | up to front/back | "
            "Chamfer (val ratio) | AIST acc@30 / median, reference alignment | best single "
            "rotation | up to front/back | Chamfer (val ratio) | learned stages (min) |")
    lines = [head, "|" + "---|" * 11]

    def pose(r: dict, m: str) -> list[str]:
        return [f"{r[f'{m}_acc30']:.2f} / {r[f'{m}_median_err_deg']:.0f}°",
                f"{r[f'{m}_acc30_best_align']:.2f} / {r[f'{m}_median_err_best_align']:.0f}°",
                f"{r[f'{m}_acc30_front_back']:.2f} / {r[f'{m}_median_err_front_back']:.0f}°",
                f"{r[f'{m}_chamfer']:.1f} ({r[f'{m}_chamfer_ratio']:.2f})"]

    for r in rows:
        threads = f", {r['threads']} threads" if r.get("threads") else ""
        cells = [f"{r['seed']} ({r['kernel']}{threads})",
                 f"{r['kid_source']:.3f} → {r['kid_stylized']:.3f} ({r['kid_margin']:+.3f}, "
                 f"{r['kid_spread']:.3f}; {r['kid_direction']})",
                 *pose(r, "baseline"), *pose(r, "aist"), f"{r['learned_minutes']}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Held-out source test objects (baseline: synthetic, AIST: stylized); best "
                 f"constant rotation acc@30 {rows[0]['baseline_acc30_constant']:.2f}; val "
                 f"ratio: the validation Chamfer of the checkpoint that predicts over the "
                 f"untrained model's. "
                 f"Preset {args.preset}"
                 + (f", {args.threads} CPU threads per seed" if args.threads else "")
                 + (f", --set {' '.join(args.set)}" if args.set else "") + ".")
    text = "\n".join(lines) + "\n"
    (out / "table.md").write_text(text)
    print(text)


#: The pose models whose validation curves ``--curves`` prints, as the tables name them.
CURVE_RUNS = (("baseline", "pose-baseline"), ("AIST", "pose-constrained"))


def _kept(run_dir: Path, curve: list[dict]) -> int | None:
    """The step of the kept checkpoint that predicts: the last curve point marked ``kept``,
    else the step recorded in ``checkpoints/best.pt`` (runs from before the mark); None
    when the run keeps none (its last checkpoint predicts)."""
    kept = [h["step"] for h in curve if h.get("kept")]
    if kept:
        return int(kept[-1])
    best = run_dir / "checkpoints" / "best.pt"
    if best.is_file():
        import torch  # only for runs that predate the curve's mark
        return int(torch.load(best, map_location="cpu", weights_only=True)["step"])
    return None


def _kept_step(run_dir: Path, curve: list[dict]) -> str:
    """:func:`_kept` as the curves table writes it (``N (last)`` without a kept one)."""
    kept = _kept(run_dir, curve)
    if kept is not None:
        return str(kept)
    return f"{curve[-1]['step']} (last)" if curve else "-"


def curves(args) -> None:
    """Each pose model's validation curve on every seed: acc@30 / median under the reference
    alignment, in brackets the best single rotation and the validation Chamfer; the step
    that predicts. Written to ``OUT/curves.md``."""
    out = Path(args.out)
    lines: list[str] = []
    for model, run_name in CURVE_RUNS:
        rows, steps = [], []
        for s in args.seeds:
            run_dir = out / f"seed{s}" / run_name
            if not (run_dir / "metrics.jsonl").is_file():
                continue
            curve = _val_curve(run_dir)
            points = {h["step"]: h for h in curve if h["step"] > 0}
            steps = sorted(set(steps) | set(points))
            rows.append((s, points, _kept_step(run_dir, curve), curve))
        if not rows:
            continue
        lines.append(f"| {model} | " + " | ".join(f"step {t}" for t in steps) + " | kept |")
        lines.append("|" + "---|" * (len(steps) + 2))
        for s, points, kept, _ in rows:
            cells = [f"{s} (Prescott)" if s in args.prescott else str(s)]
            for t in steps:
                h = points.get(t)
                cells.append("-" if h is None else
                             f"{h['val_acc30']:.2f} / {h['val_median_err_deg']:.0f}° "
                             f"({h['val_acc30_best_align']:.2f}; {h['val_chamfer']:.1f})")
            lines.append("| " + " | ".join([*cells, kept]) + " |")
        untrained = [c[0]["val_chamfer"] for *_, c in rows if c and c[0]["step"] == 0]
        lines += ["", f"{model}: validation objects, reference alignment; in brackets the "
                  "best single rotation and the validation Chamfer"
                  + (f" (untrained {min(untrained):.1f}-{max(untrained):.1f})"
                     if untrained else "") + ".", ""]
    if not lines:
        sys.exit(f"no pose run with a validation curve under {out}")
    text = "\n".join(lines)
    (out / "curves.md").write_text(text)
    print(text)


#: Each pose model's held-out test set, as the evaluation names its per-view file.
FOLD_RUNS = (("baseline", "pose-baseline", "synthetic"),
             ("AIST", "pose-constrained", "stylized-constrained"))


def _azimuths(dataset: Path, oid: str) -> dict[str, float]:
    views = json.loads((dataset / "objects" / oid / "cameras.json").read_text())["views"]
    return {v["file"]: float(v["azimuth_deg"]) % 360.0 for v in views}


def _half(counts: list[list[int]], kind: int, first: int) -> str:
    """Views of one kind (0 right, 1 turned) of the six 30-degree bins from ``first``, of
    all views in them."""
    part = counts[first:first + 6]
    return f"{sum(c[kind] for c in part)}/{sum(sum(c) for c in part)}"


def fold(args) -> None:
    """Held-out source views by their true azimuth (bins of 30 degrees): how many each model
    gets right (error <= 30 deg under the reference alignment), how many it takes from the
    other end of the car (wrong, but <= 30 deg up to the 180-degree turn about the up axis)
    and how many it misses otherwise. Written to ``OUT/fold.md``."""
    import csv

    out = Path(args.out)
    bins = list(range(0, 360, 30))
    lines = ["Per cell: right / turned front-for-back / other, held-out source views whose "
             "true azimuth is in the bin (degrees).", ""]
    for model, run_name, test_set in FOLD_RUNS:
        head = [f"| {model} | " + " | ".join(f"{b}-{b + 30}" for b in bins)
                + " | right, azimuth 0-180 / 180-360 | turned, 0-180 / 180-360 |",
                "|" + "---|" * (len(bins) + 3)]
        rows = []
        for s in args.seeds:
            folder = out / f"seed{s}"
            table = folder / "eval" / run_name / f"per_view_{test_set}.csv"
            if not table.is_file():
                continue
            counts = [[0, 0, 0] for _ in bins]
            cache: dict[str, dict[str, float]] = {}
            with table.open(newline="") as f:
                for r in csv.DictReader(f):
                    if r["object"] not in cache:
                        cache[r["object"]] = _azimuths(folder / test_set, r["object"])
                    az = cache[r["object"]][r["view"]]
                    err, turned = float(r["angle_err_deg"]), float(r["angle_err_front_back_deg"])
                    counts[int(az // 30) % len(bins)][0 if err <= 30 else
                                                      1 if turned <= 30 else 2] += 1

            cells = [f"{s} (Prescott)" if s in args.prescott else str(s)]
            cells += ["/".join(map(str, c)) for c in counts]
            cells += [f"{_half(counts, 0, 0)} / {_half(counts, 0, 6)}",
                      f"{_half(counts, 1, 0)} / {_half(counts, 1, 6)}"]
            rows.append("| " + " | ".join(cells) + " |")
        if rows:
            lines += [*head, *rows, ""]
    if len(lines) == 2:
        sys.exit(f"no evaluated pose run under {out}")
    text = "\n".join(lines)
    (out / "fold.md").write_text(text)
    print(text)


def _shape_figures(folder: Path, run_name: str, test_set: str) -> dict:
    """The decoded shapes' symmetry figures of one model on a test set: from its
    evaluation's metrics.json when it has them, else computed here from the model's
    predictions of the set's test views (runs evaluated before the figures existed)."""
    metrics = json.loads((folder / "eval" / run_name / "metrics.json").read_text())
    have = metrics.get(test_set, {})
    if "shape_asym_front_back" in have:
        return {k: v for k, v in have.items() if k.startswith("shape_")}
    from aist_app.pose.data import PoseData
    from aist_app.pose.evaluate import Evaluator
    from aist_app.pose.symmetry import set_symmetry
    from aist_app.stages.runner import StageRunner

    ev = Evaluator(StageRunner().predictor(folder / run_name, device="cpu"))
    preds = ev.predict(PoseData(folder / test_set, "test"))
    return set_symmetry([(p.points, p.rgb) for p in preds])


def shapes(args) -> None:
    """Whether each seed's decoded shapes can tell front from back: the long axis, where
    the mirror plane lies, front/back and left/right asymmetry (geometry, colour) on the
    held-out source views. Written to ``OUT/shapes.md`` and ``OUT/shapes.json``."""
    from aist_app.pose.symmetry import describe

    out = Path(args.out)
    lines = ["| seed | baseline shapes (source test views) | AIST shapes |", "|---|---|---|"]
    record = {}
    for s in args.seeds:
        folder = out / f"seed{s}"
        if not (folder / "report").is_dir():
            continue
        mirror = json.loads((folder / "experiment.json").read_text())["pose"].get(
            "mirror_symmetry", False)
        figs = {model: _shape_figures(folder, run_name, "synthetic")
                for model, run_name, _ in FOLD_RUNS}
        record[s] = {"mirror_symmetry": mirror, **figs}
        lines.append(f"| {s} | " + " | ".join(describe(f, mirror) for f in figs.values())
                     + " |")
    if not record:
        sys.exit(f"no finished seed under {out}")
    lines += ["", "Asymmetry: the mean distance (x100, unit cube) from each point mirrored "
              "about the plane across (front/back) or along (left/right) the cloud's long "
              "horizontal axis to the cloud's nearest point; colour: the mean absolute "
              "colour difference (x100) to that point. 0: the shape is its mirror image.", ""]
    text = "\n".join(lines)
    (out / "shapes.json").write_text(json.dumps(record, indent=1))
    (out / "shapes.md").write_text(text)
    print(text)


#: The test sets the answer compares the models on: the target domain (what the experiment
#: asks about) and the source renders (what the baseline trained on).
ANSWER_SETS = (("target", "target"), ("source", "synthetic"))


def answer(args) -> None:
    """The experiment's question over the seeds: AIST minus the baseline on the same test
    views of the target and of the source, per seed and pooled over the seeds (a two-level
    bootstrap: seeds, then objects), each figure with its interval and verdict. Written to
    ``OUT/answer.md`` and ``OUT/answer.json``."""
    from aist_app.experiments import answer as A

    out = Path(args.out)
    seeds = [s for s in args.seeds if (out / f"seed{s}" / "report").is_dir()]
    if not seeds:
        sys.exit(f"no finished seed under {out}")
    lines: list[str] = []
    record: dict = {"seeds": {}, "sets": {}}
    for s in seeds:
        rec = _recorded(out / f"seed{s}")
        record["seeds"][s] = {"kernel": kernel_label(rec, s in args.prescott),
                              "threads": rec.get("cpu_threads")}
    for set_label, test_set in ANSWER_SETS:
        runs = {f"seed {s}": A.evaluations(out / f"seed{s}", test_set) for s in seeds}
        results = A.compare(runs, resamples=args.resamples)
        record["sets"][set_label] = results
        meta = results[next(iter(results))]["_meta"]
        lines += A.table(results, set_label, args.model) + [
            "", f"{set_label.capitalize()} ({test_set}): {meta['objects']} test objects a "
            f"seed, 95% paired bootstrap over objects ({args.resamples} resamples); pooled: "
            "the seeds resampled, then the objects. "
            + A.summary(results["pooled" if len(results) > 1 else f"seed {seeds[0]}"],
                        args.model), ""]
    lines.append("Seeds: " + "; ".join(f"{s}: {v['kernel']}, {v['threads']} threads"
                                       for s, v in record["seeds"].items()) + ".")
    text = "\n".join(lines) + "\n"
    name = "answer" + ("-" + args.model.replace(" ", "-") if args.model else "")
    tmp = out / f"{name}.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(out / f"{name}.json")
    (out / f"{name}.md").write_text(text)
    print(text)


def elevations(args) -> None:
    """Per seed: the target's elevations as the baseline measured them against the true
    ones (KS statistic, mean and median error per view, the means, the fitted spec), from
    each seed's ``elevations/summary.json``."""
    out = Path(args.out)
    rows = ["| seed | views | KS | mean error (°) | median error (°) | true mean (°) | "
            "measured mean (°) | fitted |", "|---|---|---|---|---|---|---|---|"]
    for s in args.seeds:
        path = out / f"seed{s}" / "elevations" / "summary.json"
        if not path.is_file():
            continue
        summ = json.loads(path.read_text())
        t = summ.get("against_truth", {})
        rows.append(f"| {s} | {summ['views']} | {t.get('ks', float('nan')):.3f} | "
                    f"{t.get('mean_abs_error_deg', float('nan')):.1f} | "
                    f"{t.get('median_abs_error_deg', float('nan')):.1f} | "
                    f"{t.get('true_mean_deg', float('nan')):.1f} | "
                    f"{t.get('measured_mean_deg', float('nan')):.1f} | "
                    f"`{summ['fit']['spec']}` |")
    if len(rows) == 2:
        sys.exit(f"no seed under {out} measured elevations ([elevations] measure_on)")
    text = "\n".join(rows) + "\n"
    (out / "elevations.md").write_text(text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int, help="CPU threads per seed (the experiment's "
                    "threads key; default: the preset's, 2 for cpu)")
    ap.add_argument("--prescott", type=int, nargs="*", default=[],
                    help="Seeds to run under OPENBLAS_CORETYPE=Prescott.")
    ap.add_argument("--emulate", type=int, nargs="*", default=[],
                    help="Seeds to run on an emulated second CPU (torch's ATen kernels "
                         "without vector extensions, MKL and oneDNN at AVX2, OpenBLAS "
                         "Prescott).")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="A setting of the learned stages for every seed (a lever), e.g. "
                         "pose.steps=900.")
    ap.add_argument("--reuse", metavar="DIR",
                    help="A finished run of this script: start each seed from its data and "
                         "stylizer (a pose lever retrains the pose models only).")
    ap.add_argument("--redo", choices=("pose", "stylizer"), default="pose",
                    help="With --reuse: what the lever retrains: the pose models (default), "
                         "or the stylizer, its stylized set, KID and the AIST pose model.")
    ap.add_argument("--jobs", type=int,
                    help="Seeds at once (default: the cores over the threads per seed).")
    ap.add_argument("--table", action="store_true", help="Only print the table.")
    ap.add_argument("--curves", action="store_true",
                    help="Only print the pose models' validation curves and kept steps.")
    ap.add_argument("--answer", action="store_true",
                    help="Only print AIST minus the baseline on the target and the source, "
                         "per seed and pooled, with intervals and verdicts.")
    ap.add_argument("--model", help="With --answer: the model compared with the baseline "
                    "(default: the first after it, e.g. \"AIST constrained\"; \"measured "
                    "elevations\" with [elevations] measure_on).")
    ap.add_argument("--resamples", type=int, default=1000,
                    help="Bootstrap resamples of --answer.")
    ap.add_argument("--shapes", action="store_true",
                    help="Only print whether the decoded shapes can tell front from back "
                         "(long axis, mirror plane, asymmetry).")
    ap.add_argument("--fold", action="store_true",
                    help="Only print the held-out views by true azimuth: right, turned "
                         "front-for-back, other.")
    ap.add_argument("--elevations", action="store_true",
                    help="Only print each seed's measured against true target elevations.")
    args = ap.parse_args()
    if args.elevations:
        elevations(args)
        return
    if args.answer:
        answer(args)
        return
    if args.shapes:
        shapes(args)
        return
    if args.fold:
        fold(args)
        return
    if args.curves:
        curves(args)
        return
    if not args.table:
        run(args)
    table(args)


if __name__ == "__main__":
    main()
