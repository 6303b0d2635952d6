"""scripts/seeds.py --curves: the validation curves and the step that predicts, as
docs/learning.md quotes them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "seeds.py"


def _point(step: int, acc: float, kept: bool = False) -> dict:
    h = {"kind": "val_pose", "step": step, "val_acc30": acc, "val_median_err_deg": 90 - step / 10,
         "val_acc30_best_align": acc + 0.1, "val_chamfer": 20.0 - step / 100}
    return {**h, "kept": 1.0} if kept else h


def _seed(root: Path, seed: int, points: list[dict]) -> None:
    for run in ("pose-baseline", "pose-constrained"):
        d = root / f"seed{seed}" / run
        d.mkdir(parents=True)
        lines = [{"kind": "train", "step": 1, "loss": 1.0}, *points]
        (d / "metrics.jsonl").write_text("\n".join(json.dumps(h) for h in lines) + "\n")


def test_curves_print_each_seeds_points_and_the_kept_step(tmp_path):
    _seed(tmp_path, 0, [_point(0, 0.0), _point(75, 0.25, kept=True), _point(150, 0.5, kept=True),
                        _point(225, 0.125)])
    _seed(tmp_path, 2, [_point(0, 0.0), _point(75, 0.5)])  # no kept mark, no best.pt
    p = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--seeds", "0", "1",
                        "2", "--prescott", "2", "--curves"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "curves.md").read_text()
    assert p.stdout.strip() == text.strip()
    rows = [line for line in text.splitlines() if line.startswith("| 0 ")]
    assert len(rows) == 2  # baseline and AIST
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "0.25 / 82° (0.35; 19.2)" and cells[2] == "0.50 / 75° (0.60; 18.5)"
    assert cells[-1] == "150"  # the last point marked kept predicts, not the last point
    seed2 = [c.strip() for c in next(line for line in text.splitlines()
                                     if line.startswith("| 2 (Prescott)")).strip("|").split("|")]
    assert seed2[1] == "0.50 / 82° (0.60; 19.2)" and seed2[2:4] == ["-", "-"]
    assert seed2[-1] == "75 (last)"
    assert "| baseline | step 75 | step 150 | step 225 | kept |" in text
    assert "(untrained 20.0-20.0)" in text


def test_kept_step_read_from_best_checkpoint_when_the_curve_has_no_mark(tmp_path):
    import torch

    spec = importlib.util.spec_from_file_location("seeds_script", SCRIPT)
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    (tmp_path / "checkpoints").mkdir()
    torch.save({"step": 375, "model": {}}, tmp_path / "checkpoints" / "best.pt")
    assert seeds._kept_step(tmp_path, [_point(0, 0.0), _point(600, 0.5)]) == "375"


def test_fold_counts_views_by_true_azimuth(tmp_path):
    """--fold bins held-out views by true azimuth: right, turned front-for-back, other."""
    import csv

    folder = tmp_path / "seed0"
    views = [("view_000.png", 10.0, 5.0, 5.0), ("view_001.png", 100.0, 178.0, 2.0),
             ("view_002.png", 190.0, 90.0, 90.0), ("view_003.png", -20.0, 12.0, 12.0)]
    for run, test_set in (("pose-baseline", "synthetic"),
                          ("pose-constrained", "stylized-constrained")):
        obj = folder / test_set / "objects" / "car"
        obj.mkdir(parents=True)
        (obj / "cameras.json").write_text(json.dumps(
            {"views": [{"file": f, "azimuth_deg": az} for f, az, *_ in views]}))
        ev = folder / "eval" / run
        ev.mkdir(parents=True)
        with (ev / f"per_view_{test_set}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["object", "view", "angle_err_deg", "angle_err_front_back_deg"])
            w.writerows(["car", name, err, fb] for name, _, err, fb in views)
    p = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--seeds", "0",
                        "--fold"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    row = next(line for line in (tmp_path / "fold.md").read_text().splitlines()
               if line.startswith("| 0 "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "1/0/0"  # 10 deg: right
    assert cells[4] == "0/1/0"  # 100 deg: turned front-for-back
    assert cells[7] == "0/0/1"  # 190 deg: neither
    assert cells[12] == "1/0/0"  # -20 deg is 340 deg
    assert cells[13:] == ["1/2 / 1/2", "1/2 / 0/2"]  # halves 0-180 / 180-360


def test_the_table_quotes_the_chamfer_ratio_of_the_checkpoint_that_predicts(tmp_path):
    """With a kept checkpoint, the table's val ratio is that point's Chamfer over the
    untrained one, not the last point's."""
    spec = importlib.util.spec_from_file_location("seeds_script", SCRIPT)
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    folder = tmp_path / "seed0"
    _seed(tmp_path, 0, [_point(0, 0.0), _point(300, 0.5, kept=True), _point(600, 0.1)])
    (folder / "kid.json").write_text(json.dumps({
        "kid": {"source vs target": {"mean": 0.4}, "stylized constrained vs target":
                {"mean": 0.3}},
        "stylized_closer_than_source": {"constrained": {"margin": 0.1, "spread": 0.05,
                                                        "closer": True}}}))
    figures = {"acc30": 0.5, "median_err_deg": 20.0, "acc30_best_align": 0.5,
               "median_err_best_align": 10.0, "acc30_front_back": 0.9,
               "median_err_front_back": 9.0, "acc30_constant": 0.25, "chamfer": 6.0}
    for run, test_set in (("pose-baseline", "synthetic"),
                          ("pose-constrained", "stylized-constrained")):
        (folder / "eval" / run).mkdir(parents=True)
        (folder / "eval" / run / "metrics.json").write_text(json.dumps({test_set: figures}))
    (folder / ".stages").mkdir()
    assert seeds._row(folder, 0, False)["threads"] is None  # runs that did not record it
    (folder / "pose-baseline" / "config.json").write_text(json.dumps({"cpu_threads": 2}))
    row = seeds._row(folder, 0, False)
    assert row["threads"] == 2
    assert row["baseline_predicting_step"] == 300 and row["aist_predicting_step"] == 300
    assert row["baseline_chamfer_ratio"] == (20.0 - 3.0) / 20.0  # not the last point's 14/20
    assert row["kid_direction"] == "toward"


def test_reuse_keeps_what_a_lever_does_not_retrain(tmp_path):
    spec = importlib.util.spec_from_file_location("seeds_script", SCRIPT)
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    prev = tmp_path / "prev"
    folders = ["cars", "synthetic", "target", "stylizer-constrained", "stylized-constrained",
               "pose-baseline", "pose-constrained", "eval", "report"]
    stages = ["cars", "render", "stylizer-constrained", "stylize-constrained", "kid",
              "pose-baseline", "pose-constrained", "eval-pose-baseline"]
    for f in folders:
        (prev / f).mkdir(parents=True)
    (prev / "kid.json").write_text("{}")
    (prev / ".stages").mkdir()
    for s in stages:
        (prev / ".stages" / f"{s}.json").write_text("{}")

    def kept(dest):
        return ({p.name for p in dest.iterdir() if p.name != ".stages"},
                {p.stem for p in (dest / ".stages").iterdir()})

    seeds._reuse(prev, tmp_path / "pose")
    assert kept(tmp_path / "pose") == (
        {"cars", "synthetic", "target", "stylizer-constrained", "stylized-constrained",
         "kid.json"}, {"cars", "render", "stylizer-constrained", "stylize-constrained", "kid"})
    seeds._reuse(prev, tmp_path / "stylizer", seeds.STYLIZER_STAGES)
    assert kept(tmp_path / "stylizer") == (
        {"cars", "synthetic", "target", "pose-baseline"}, {"cars", "render", "pose-baseline"})


def _evaluated_seed(root: Path, seed: int, gain: float) -> None:
    """An experiment folder whose two models were evaluated on 12 objects x 2 views of the
    target and the source: AIST's Chamfer lower by ``gain`` on every view, poses alike."""
    import csv

    folder = root / f"seed{seed}"
    (folder / "report").mkdir(parents=True)
    (folder / "experiment.json").write_text(json.dumps({"stylizer": {
        "variants": ["constrained"]}}))
    cols = ["object", "view", "angle_err_deg", "angle_err_front_back_deg",
            "angle_err_best_align_deg", "chamfer", "xor"]
    for run, minus in (("pose-baseline", 0.0), ("pose-constrained", gain)):
        ev = folder / "eval" / run
        ev.mkdir(parents=True)
        for test_set in ("target", "synthetic"):
            with (ev / f"per_view_{test_set}.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(cols)
                w.writerows([f"car{o}", f"view_{v}.png", 10.0 * o, 5.0, 5.0 + o,
                             20.0 + o - minus, 0.1] for o in range(12) for v in range(2))
    (folder / "pose-baseline").mkdir()
    (folder / "pose-baseline" / "config.json").write_text(json.dumps(
        {"cpu_threads": 2, "cpu_capability": "DEFAULT", "openblas_coretype": "Prescott",
         "mkl_enable_instructions": "AVX2"} if seed == 2 else {"cpu_threads": 2}))


def test_answer_tables_aist_minus_baseline_per_seed_and_pooled(tmp_path):
    """--answer: per figure, AIST - baseline on the target and the source, per seed and
    pooled, with a verdict only where the interval excludes 0."""
    for seed, gain in ((0, 2.0), (1, 2.0), (2, 2.0)):
        _evaluated_seed(tmp_path, seed, gain)
    p = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--answer",
                        "--resamples", "200"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "answer.md").read_text()
    assert "| target: AIST constrained − baseline | seed 0 | seed 1 | seed 2 | pooled |" in text
    chamfer = [line for line in text.splitlines() if line.startswith("| Chamfer")]
    assert len(chamfer) == 2  # target and source
    assert chamfer[0].count("-2.00 [-2.00, -2.00], better") == 4
    assert chamfer[0].endswith("| 25.50 | 23.50 |")  # the pooled values of both models
    acc = next(line for line in text.splitlines() if line.startswith("| acc@30 up to"))
    assert acc.count("+0.00 [+0.00, +0.00], not distinguishable") == 4
    assert "AIST constrained against the baseline: better on Chamfer" in text
    assert "2: torch DEFAULT, MKL AVX2, OpenBLAS Prescott, 2 threads" in text
    pooled = json.loads((tmp_path / "answer.json").read_text())["sets"]["target"]["pooled"]
    assert pooled["_meta"]["groups"] == 3 and pooled["_meta"]["objects"] == 12


def test_emulated_cpu_reaches_torch(tmp_path):
    """--emulate sets the variables that change torch's kernels, which torch then reports."""
    spec = importlib.util.spec_from_file_location("seeds_script", SCRIPT)
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    env = seeds._env(2, False, emulate=True)
    assert env["ATEN_CPU_CAPABILITY"] == "default" and env["OMP_NUM_THREADS"] == "2"
    p = subprocess.run([sys.executable, "-c", "import torch, json; from aist_app.common."
                        "devices import cpu_kernels; print(json.dumps(cpu_kernels()))"],
                       env=env, capture_output=True, text=True, timeout=120)
    rec = json.loads(p.stdout)
    assert rec["cpu_capability"] == "DEFAULT" and rec["onednn_max_cpu_isa"] == "AVX2"
    assert "ATEN_CPU_CAPABILITY" not in seeds._env(2, True)
    assert seeds._env(2, True)["OPENBLAS_CORETYPE"] == "Prescott"


def test_shapes_reads_each_models_symmetry_figures(tmp_path):
    """--shapes: the long axis, the mirror plane across or along it, the asymmetries."""
    folder = tmp_path / "seed0"
    (folder / "report").mkdir(parents=True)
    (folder / "experiment.json").write_text(json.dumps({"pose": {"mirror_symmetry": True}}))
    for run, along_x in (("pose-baseline", 1.0), ("pose-constrained", 0.25)):
        (folder / "eval" / run).mkdir(parents=True)
        (folder / "eval" / run / "metrics.json").write_text(json.dumps({"synthetic": {
            "shape_long_along_x": along_x, "shape_asym_front_back": 0.0,
            "shape_asym_front_back_rgb": 0.0, "shape_asym_left_right": 3.0}}))
    p = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--seeds", "0",
                        "--shapes"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    row = next(line for line in (tmp_path / "shapes.md").read_text().splitlines()
               if line.startswith("| 0 "))
    assert ("long along x (100%), mirror x = 0 across the car; front/back 0.00 (colour "
            "0.00), left/right 3.00") in row
    assert "long along z (75%), mirror x = 0 along the car" in row
