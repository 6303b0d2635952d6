"""`aist doctor` and `aist weights`: the real state of this machine, a missing or corrupt
weight file, a missing redis-server, and the offline fetch error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aist_app.api.manager import create_plugin_manager
from aist_app.common.weights import hash_ok

#: Every weights name of the installed plugins (the core's and the plugins').
WEIGHTS = create_plugin_manager().weights()
KNOWN, BUNDLED = WEIGHTS.known, WEIGHTS.bundled

AIST = str(Path(sys.executable).with_name("aist"))


def aist(*args, env=None):
    return subprocess.run([AIST, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_doctor_reports_this_machine():
    p = aist("doctor", "--json")
    assert p.returncode == 0, p.stderr
    checks = {c["name"]: c for c in json.loads(p.stdout)["checks"]}
    assert checks["python"]["status"] == "ok" and checks["packages"]["status"] == "ok"
    assert checks["egl"]["status"] == "ok" and "renders on" in checks["egl"]["detail"]
    assert checks["blender"]["status"] == "ok" and "Cycles devices" in checks["blender"]["detail"]
    assert checks["weights:deeplab-lite"]["status"] == "ok"
    assert {"torch", "redis-server", "broker", "qt", "disk"} <= set(checks)


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_doctor_fails_a_stage_whose_weights_are_missing_or_corrupt(tmp_path):
    env = {"AIST_WEIGHTS_DIR": str(tmp_path / "w"), "TORCH_HOME": str(tmp_path / "th")}
    p = aist("doctor", "--stage", "segment-maskrcnn", "--json", env=env)
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["failing"] == ["weights:maskrcnn"]
    (c,) = [c for c in out["checks"] if c["name"] == "weights:maskrcnn"]
    assert "aist weights fetch maskrcnn" in c["fix"]
    # A truncated file under the right name: its hash does not match.
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / KNOWN["maskrcnn"].filename).write_bytes(b"truncated")
    p = aist("doctor", "--stage", "segment-maskrcnn", env=env)
    assert p.returncode == 1 and "sha256 does not match" in p.stdout
    assert "missing for segment-maskrcnn: weights:maskrcnn" in p.stderr
    # The stage that works offline passes.
    assert aist("doctor", "--stage", "segment-deeplab", env=env).returncode == 0


def test_doctor_fails_the_farm_without_redis_server(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent)}  # the venv only: no redis-server
    p = aist("doctor", "--stage", "farm", env=env)
    assert p.returncode == 1
    assert "redis-server is not on PATH" in p.stdout and "apt-get install redis-server" in p.stdout


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_weights_list_hash_check_and_offline_fetch(tmp_path):
    env = {"AIST_WEIGHTS_DIR": str(tmp_path), "TORCH_HOME": str(tmp_path / "th")}
    good = b"weights bytes"
    import hashlib

    prefix = hashlib.sha256(good).hexdigest()[:8]
    f = tmp_path / f"something-{prefix}.pth"
    f.write_bytes(good)
    assert hash_ok(f) is True
    f.write_bytes(b"other")
    assert hash_ok(f) is False
    (tmp_path / "noprefix.pth").write_bytes(good)
    assert hash_ok(tmp_path / "noprefix.pth") is None
    p = aist("weights", "list", "--json", env=env)
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert set(rows) == set(KNOWN) | set(BUNDLED)
    assert not any(rows[n]["present"] for n in KNOWN)
    # What comes with AIST or its packages is listed as present (not omitted).
    assert all(rows[n]["present"] and Path(rows[n]["path"]).is_file() for n in BUNDLED)
    p = aist("weights", "fetch", "resnet18", env={**env, "https_proxy": "http://127.0.0.1:9",
                                                   "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert p.returncode == 2 and "cannot download" in p.stderr
    assert KNOWN["resnet18"].filename in p.stderr
    assert not list((tmp_path / "th").rglob("*.pth"))  # nothing half-written


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_weights_match_torchvision(name):
    assert KNOWN[name].torchvision_weights().url == KNOWN[name].url


def test_plugins_bring_their_weights_checks_and_stages():
    """The core names no plugin's weights or checks: Mask R-CNN's and DeepLab's weights,
    EGL, Blender and the farm's checks come from their plugins, and without the plugins
    they are not there."""
    from aist_app.tools.doctor import checks_of

    full = checks_of(create_plugin_manager())
    assert {"maskrcnn", "maskrcnn-v1", "deeplab-lite"} <= set(WEIGHTS.names())
    assert {"egl": "pyrender", "blender": "blender", "broker": "farm",
            "weights:resnet18": "aist"}.items() <= full.added_by.items()
    assert full.stages["segment-maskrcnn"] == ["python", "packages", "weights:maskrcnn"]
    bare = checks_of(create_plugin_manager(entry_points=False))
    assert set(bare.checks) == {"python", "packages", "torch", "qt", "disk",
                                "weights:resnet18", "weights:efficientnet-lite0"}
    assert set(bare.stages) == {"core", "stylize", "stylize-efficientnet", "pose", "gui", "disk"}


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_experiment_dry_run_prints_a_plan_and_runs_nothing(tmp_path):
    p = aist("experiment", "--preset", "small", "--out", tmp_path / "x", "--dry-run", "--json")
    assert p.returncode == 0, p.stderr
    plan = {s["stage"].split()[0]: s for s in json.loads(p.stdout)}
    assert {"render", "segment", "train-stylizer", "stylize", "train-pose"} <= set(plan)
    for stage in ("train-stylizer", "train-pose"):
        s = plan[stage]
        assert s["memory_gb"] > 0.5 and s["hours"] > 0 and set(s["fits"]) == {
            "8 GB", "12 GB", "24 GB"}
    assert not (tmp_path / "x").exists()
    # The plan is of the stages the run declares, one entry each, in their order.
    from types import SimpleNamespace

    from aist_app.experiments.experiment import load_config
    from aist_app.experiments.stages import declare
    from aist_app.stages.runner import StageRunner

    declared = [s.name for s in declare(SimpleNamespace(
        cfg=load_config(None, "small"), runner=StageRunner(), out=tmp_path / "y"))]
    stages = [s["stage"] for s in json.loads(p.stdout)]
    assert len(stages) == len(declared)
    assert all(name in stage or stage == name.split("-")[0]
               for name, stage in zip(declared, stages, strict=True)), (declared, stages)


def test_saved_tensor_accounting_counts_activations():
    """The plan's memory model: a linear layer's saved input is what it counts."""
    import torch

    from aist_app.experiments.plan import saved_bytes

    lin = torch.nn.Linear(1000, 1000)
    x = torch.rand(64, 1000)
    counted = saved_bytes(lambda: torch.relu(lin(x)).sum())
    assert 64 * 1000 * 4 <= counted <= 3 * 64 * 1000 * 4
    assert saved_bytes(lambda: torch.relu(lin(torch.rand(128, 1000))).sum()) > counted


def test_the_plan_counts_the_objects_the_experiment_renders():
    """The cpu preset's plan is of its 48 generated cars, not of the reference's scale."""
    from aist_app.experiments.experiment import load_config
    from aist_app.experiments.plan import planned_objects

    assert planned_objects(load_config(None, "cpu")) == 48
    assert planned_objects(load_config(None, "demo")) == 12
    assert planned_objects(load_config(None, "full", require_data=False)) is None
    small = load_config(None, "small")  # the bundled meshes
    assert planned_objects(small) == 1


def test_plan_check_sets_the_plan_beside_the_run(tmp_path):
    """scripts/plan_check.py: each planned stage beside the seconds its run recorded, the
    totals over the stages both have, and the wall clock of a /usr/bin/time log."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "plan_check", Path(__file__).parents[1] / "scripts" / "plan_check.py")
    pc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pc)
    assert pc.stage_of("train-pose (pose-baseline)") == "pose-baseline"
    assert pc.stage_of("render") == "render"
    (tmp_path / ".stages").mkdir()
    for name, seconds in (("render", 10.0), ("pose-baseline", 300.0), ("kid", 20.0)):
        (tmp_path / ".stages" / f"{name}.json").write_text(json.dumps({"seconds": seconds}))
    plan = [{"stage": "render", "hours": 20 / 3600},
            {"stage": "train-pose (pose-baseline)", "hours": 450 / 3600},
            {"stage": "kid", "hours": None}]
    rows, planned, measured = pc.compare(plan, tmp_path)
    assert (planned, measured) == pytest.approx((470.0, 310.0))
    assert rows[1] == ["pose-baseline", "450", "300", "1.50"] and rows[2][1] == "—"
    log = tmp_path / "time.log"
    log.write_text("\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:54\n")
    assert pc.wall_seconds(log) == 3774
