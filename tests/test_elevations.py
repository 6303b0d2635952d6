"""`aist elevations`: a dataset's camera elevations measured by a pose-model run, written as
a file `aist render --elevation file:PATH` reads, with the fitted truncated normal and the
measured distribution against the true one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

AIST = str(Path(sys.executable).with_name("aist"))


def test_a_truncated_normal_fit_recovers_its_parameters():
    from scipy import stats

    from aist_app.pose.elevations import compare_to_truth, fit_truncated_normal

    rng = np.random.default_rng(0)
    v = stats.truncnorm.rvs(-1.0, 2.0, loc=10.0, scale=10.0, size=4000, random_state=rng)
    fit = fit_truncated_normal(v)
    assert fit["lo"] == np.floor(v.min()) and fit["hi"] == np.ceil(v.max())
    assert fit["mu"] == pytest.approx(10.0, abs=1.0) and fit["sigma"] == pytest.approx(
        10.0, abs=1.0)
    assert fit["spec"].startswith("normal:") and len(fit["spec"][7:].split(",")) == 4
    one = fit_truncated_normal(np.array([12.3]))  # one photo: still a usable spec
    assert one["sigma"] >= 0.5 and one["lo"] < one["hi"]
    same = compare_to_truth(v, v)
    assert same["ks"] == 0 and same["median_abs_error_deg"] == 0
    assert compare_to_truth(v + 20, v)["ks"] > 0.5


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_elevations_end_to_end(tmp_path, pyrender_dataset, shared_meshes):
    from aist_app.api.progress import drain
    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.train import PoseTrainer

    cfg = PoseConfig(num_points=400, vox_size=16, kernel_size=5, image_size=32, f_dim=4,
                     fc_dim=32, z_dim=32, batch_objects=1, views_per_object=2, steps=1,
                     device="cpu")
    drain(PoseTrainer(cfg, pyrender_dataset, tmp_path / "pose").run())
    out = tmp_path / "elev"
    p = subprocess.run([AIST, "elevations", str(pyrender_dataset), "--pose-run",
                        str(tmp_path / "pose"), "--out", str(out), "--device", "cpu",
                        "--progress", "none"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    summary = json.loads((out / "summary.json").read_text())
    rows = (out / "elevations.csv").read_text().splitlines()
    values = np.loadtxt(out / "elevations.txt", ndmin=1)
    assert summary["views"] == len(rows) - 1 == len(values) > 0
    assert np.all((values >= -90) & (values <= 90))
    assert set(summary["against_truth"]) >= {"ks", "mean_abs_error_deg",
                                             "median_abs_error_deg"}
    assert summary["fit"]["spec"] in p.stdout and "KS" in p.stdout
    assert (out / "histogram.png").stat().st_size > 5000
    # The app's Runs page opens the folder: its figures as a table, the histogram listed.
    from aist_app.common.outputs import folder_kind
    from aist_app.gui.runs import key_figures, run_figures

    assert folder_kind(out) == "report"
    cols, table = key_figures(out)
    assert cols == ["figure", "value"] and ["fitted spec", summary["fit"]["spec"]] in table
    assert [f.name for f in run_figures(out)] == ["histogram.png"]
    # The file renders: `render --elevation file:PATH` draws its views' elevations from it.
    from aist_app.scene.viewpoints import parse_dimension

    dim = parse_dimension(f"file:{out / 'elevations.txt'}", full_range=(-90.0, 90.0))
    assert dim.kind == "file" and len(dim.params) == len(values)
    rendered = tmp_path / "rendered"
    r = subprocess.run([AIST, "render", str(shared_meshes / "toycar"), str(rendered),
                        "--views", "3", "--size", "32", "--points", "2000", "--elevation",
                        f"file:{out / 'elevations.txt'}"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    from aist_app.dataset import Dataset

    drawn = [v["elevation_deg"] for v in Dataset.open(rendered).cameras("ToyCar")]
    assert all(min(abs(d - v) for v in values) < 1e-3 for d in drawn)
    # The same output rules as every command: the run folder is an input, never an output.
    again = subprocess.run([AIST, "elevations", str(pyrender_dataset), "--pose-run",
                            str(tmp_path / "pose"), "--out", str(tmp_path / "pose")],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode != 0  # the run folder is an input, never an output
    # ... nor the dataset: an output inside it is refused and the dataset is unchanged.
    before = sorted((p.relative_to(pyrender_dataset), p.stat().st_mtime_ns)
                    for p in pyrender_dataset.rglob("*"))
    inside = subprocess.run([AIST, "elevations", str(pyrender_dataset), "--pose-run",
                             str(tmp_path / "pose"), "--out", str(pyrender_dataset / "elev")],
                            capture_output=True, text=True, timeout=600)
    assert inside.returncode != 0 and "lies inside the input dataset" in inside.stderr
    assert sorted((p.relative_to(pyrender_dataset), p.stat().st_mtime_ns)
                  for p in pyrender_dataset.rglob("*")) == before
