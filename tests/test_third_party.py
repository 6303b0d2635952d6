"""A third-party stylizer (``toy-tint``) and pose model (``toy-mean``, tests/helpers/
toy_stages.py), installed only through their entry point in a temporary site folder, run
through every front end: `aist train-stylizer` / `aist stylize` / `aist train-pose` /
`aist evaluate` / `aist reconstruct` (with `--set` on their own configs), the GUI's Stages
page (forms generated from their configs; GUI tests) and `aist experiment` (`[stylizer]
plugin = "toy-tint"`, `[pose] plugin = "toy-mean"`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aist_app.api import events as E
from aist_app.dataset import Dataset
from tests.helpers import toy_stages

#: The fast loop (`pytest -m "not slow"`) leaves these out; `.ci/run` runs them.
pytestmark = pytest.mark.slow

AIST = str(Path(sys.executable).with_name("aist"))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("toy-site")
    return {**os.environ, "PYOPENGL_PLATFORM": "egl", **toy_stages.install(site)}


def _aist(env, *args, check=True):
    p = subprocess.run([AIST, *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    return p


def test_toy_stylizer_through_the_cli(env, tmp_path, pyrender_dataset, blender_dataset):
    listed = _aist(env, "plugins").stdout
    assert "stylizer   toy-tint" in listed and "[toy-stages: aist_toy_stages]" in listed
    run = tmp_path / "run"
    p = _aist(env, "train-stylizer", "--stylizer", "toy-tint", "--synthetic",
              str(pyrender_dataset), "--real", str(blender_dataset), "--out", str(run),
              "--set", "steps=3", "--strength", "0.5", "--progress", "jsonl")
    events = [E.from_json(line) for line in p.stdout.splitlines()]
    assert [e.done for e in events if isinstance(e, E.Progress)][-1] == 3
    assert E.Log("toy-tint: 3 steps") in events
    assert any(isinstance(e, E.Artifact) and e.kind == "run" and Path(e.path) == run
               for e in events)
    tint = json.loads((run / "checkpoints" / "tint.json").read_text())
    assert tint["config"] == {"steps": 3, "strength": 0.5, "seed": 0, "device": "auto"}
    out = tmp_path / "stylized"
    _aist(env, "stylize", str(run), str(pyrender_dataset), str(out), "--stylizer", "toy-tint")
    src, dst = Dataset.open(pyrender_dataset), Dataset.open(out)  # full validation
    assert dst.kind == "stylized" and dst.object_ids() == src.object_ids()
    oid = src.object_ids()[0]
    f = src.view_files(oid)[0]
    a, b = src.load_view(oid, f), dst.load_view(oid, f)
    assert np.array_equal(a[..., 3], b[..., 3])  # the alpha is kept exactly
    on = a[..., 3] > 0
    shift = b[on, :3].astype(float).mean(0) - a[on, :3].astype(float).mean(0)
    assert np.allclose(shift, np.asarray(tint["offset"]) * 0.5, atol=3)
    assert (src.object_dir(oid) / "cameras.json").read_bytes() == (
        dst.object_dir(oid) / "cameras.json").read_bytes()
    # Its config is strict like any other.
    p = _aist(env, "train-stylizer", "--stylizer", "toy-tint", "--synthetic",
              str(pyrender_dataset), "--real", str(blender_dataset), "--out",
              str(tmp_path / "r2"), "--set", "strenght=1", check=False)
    assert p.returncode == 2 and "unknown key 'strenght' in --set" in p.stderr
    p = _aist(env, "train-stylizer", "--stylizer", "toy-tint", "--synthetic",
              str(pyrender_dataset), "--real", str(blender_dataset), "--out",
              str(tmp_path / "r3"), "--lambda-alpha", "2", check=False)
    assert p.returncode == 2 and "--lambda-alpha: not a setting of this stage" in p.stderr


def test_a_plugin_adds_an_option_a_doctor_check_and_a_command(env, tmp_path):
    """What only the plugin knows comes through its hooks: its config's option in
    train-stylizer's help (named as its own), its doctor check and stage, its command."""
    help_ = " ".join(_aist(env, "train-stylizer", "--help").stdout.split())
    assert "--strength FLOAT Fraction of the learned colour offset applied (default: 1.0). " \
           "[toy-tint]" in help_
    assert "Cycle weight X->Y->X (default: the preset's). [aist-cyclegan]" in help_
    p = _aist(env, "doctor", "--stage", "stylize-toy", "--json")
    out = json.loads(p.stdout)
    assert [c["name"] for c in out["checks"]] == ["python", "packages", "toy-tint"]
    assert out["failing"] == []
    p = _aist({**env, "AIST_TOY_TINT_BROKEN": "1"}, "doctor", "--stage", "stylize-toy",
              check=False)
    assert p.returncode == 1 and "the tint table is broken" in p.stdout
    assert "missing for stylize-toy: toy-tint" in p.stderr
    assert "toy-tint-info" in _aist(env, "--help").stdout
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    (run / "tint.json").write_text('{"offset": [0.5, -1, 2]}')
    p = _aist(env, "toy-tint-info", str(tmp_path / "run"))
    assert p.stdout.strip() == "offset 0.5000 -1.0000 2.0000"
    # Without the plugin neither its option, its check nor its command is there.
    bare = {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    assert "--strength" not in _aist(bare, "train-stylizer", "--help").stdout
    p = _aist(bare, "toy-tint-info", str(tmp_path / "run"), check=False)
    assert p.returncode == 2 and "No such command 'toy-tint-info'" in p.stderr


def test_toy_stylizer_in_an_experiment(env, tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text('preset = "small"\n[render]\nviews = 8\n'
                   '[stylizer]\nplugin = "toy-tint"\nvariants = ["tint"]\nsteps = 2\n'
                   '[pose]\nsteps = 2\n')
    out = tmp_path / "exp"
    p = _aist(env, "experiment", str(cfg), "--out", str(out))
    assert "[stylizer-tint] done" in p.stderr and "[stylize-tint] done" in p.stderr
    assert Dataset.open(out / "stylized-tint").source["plugin"] == "toy-tint"
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert set(metrics) == {"baseline", "AIST tint"}
    assert "stylized-tint" in metrics["AIST tint"]
    # The preset's stylizer settings are aist-cyclegan's: they do not leak into toy-tint.
    assert json.loads((out / "stylizer-tint" / "checkpoints" / "tint.json").read_text())[
        "config"]["steps"] == 2


def test_toy_pose_model_through_the_cli(env, tmp_path, pyrender_dataset):
    """toy-mean declares a trainer and a predictor only: the core evaluates it (the same
    figures and chance baselines as dpc's) and reconstructs an image with it."""
    assert "pose_model toy-mean" in _aist(env, "plugins").stdout
    run = tmp_path / "run"
    p = _aist(env, "train-pose", str(pyrender_dataset), "--model", "toy-mean", "--out",
              str(run), "--set", "steps=2", "--set", "num_points=200", "--progress", "jsonl")
    events = [E.from_json(line) for line in p.stdout.splitlines()]
    assert [e.done for e in events if isinstance(e, E.Progress)][-1] == 2
    assert E.Log("toy-mean: 2 objects") in events
    ck = json.loads((run / "checkpoints" / "toy.json").read_text())
    assert len(ck["points"]) == 200 and ck["config"]["steps"] == 2
    # Evaluated without --model: the run's record names the plugin.
    rep = tmp_path / "eval"
    _aist(env, "evaluate", str(run), str(pyrender_dataset), "--out", str(rep), "--split",
          "all")
    m = json.loads((rep / "metrics.json").read_text())[Path(pyrender_dataset).name]
    for key in ("chamfer", "acc30", "median_err_deg", "xor_median", "acc30_constant",
                "acc30_best_align"):
        assert np.isfinite(m[key]), key
    record = json.loads((rep / ".aist-output.json").read_text())
    assert record["plugin"] == "toy-mean"
    assert (rep / "report.html").is_file() and (rep / "alignment.json").is_file()
    # One image: the mean shape in the truth's frame.
    ds = Dataset.open(pyrender_dataset)
    oid = ds.object_ids()[0]
    image = ds.object_dir(oid) / ds.view_files(oid)[0]
    out = tmp_path / "cloud.npz"
    _aist(env, "reconstruct", str(run), str(image), "--out", str(out))
    with np.load(out) as z:
        assert z["points"].shape == (200, 3) and z["world_to_camera"].shape == (4, 4)
    p = _aist(env, "reconstruct", str(run), str(image), "--out", str(out), "--refine",
              check=False)
    assert p.returncode != 0 and "cannot refine" in p.stderr


def test_toy_pose_model_in_an_experiment(env, tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text('preset = "small"\n[render]\nviews = 8\n'
                   '[stylizer]\nplugin = "toy-tint"\nvariants = ["tint"]\nsteps = 2\n'
                   '[pose]\nplugin = "toy-mean"\nsteps = 2\n')
    out = tmp_path / "exp"
    p = _aist(env, "experiment", str(cfg), "--out", str(out))
    assert "[pose-baseline] done" in p.stderr and "[pose-tint] done" in p.stderr
    ck = json.loads((out / "pose-baseline" / "checkpoints" / "toy.json").read_text())
    assert ck["config"]["steps"] == 2 and len(ck["points"]) == 300  # not the preset's dpc
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert set(metrics) == {"baseline", "AIST tint"}
    assert np.isfinite(metrics["AIST tint"]["synthetic"]["acc30"])
