"""The stage runner: one event vocabulary (round trip, ``--progress jsonl``), the hook fired
from every front end that writes a dataset (CLI, local pool; the GUI, the experiment and a
Celery worker are tested beside their front ends), and strict typed stage configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aist_app.api import events as E
from aist_app.api.config import coerce, from_mapping, parse_settings
from aist_app.api.manager import create_plugin_manager
from aist_app.cli import main
from aist_app.stages.runner import StageRunner
from tests.conftest import require_shared
from tests.helpers.recording_plugin import Recorder


def test_events_round_trip_through_json():
    evs = [E.Progress(3, 10, "obj", "car1", "rendered", "", {"loss": 0.5}),
           E.Progress(1, None, "photo"),
           E.Log("skipped x: bad mesh", "warning"),
           E.Metric(250, {"val_acc30": 0.4, "bad": float("nan")}, "val_pose"),
           E.Artifact("/tmp/ds", "dataset", "synthetic", {"written": 2, "path": Path("/x")}),
           E.Done("renderer:pyrender:render", {"written": 2})]
    for ev in evs:
        line = E.dumps(ev)
        assert "\n" not in line and json.loads(line)["event"] == type(ev).__name__.lower()
        back = E.from_json(line)
        assert type(back) is type(ev)
    assert E.from_json(E.dumps(evs[0])) == evs[0]
    assert E.from_json(E.dumps(evs[3])).values["bad"] is None  # NaN is not JSON
    assert E.from_json(E.dumps(evs[4])).summary["path"] == "/x"
    # A newer writer's extra fields are ignored; something else is refused clearly.
    assert E.from_json({"event": "log", "message": "m", "colour": "red"}) == E.Log("m")
    with pytest.raises(ValueError, match="not an AIST event"):
        E.from_json('{"progress": 1}')


@pytest.fixture
def recorded():
    pm = create_plugin_manager()
    rec = Recorder()
    pm.register(rec, name="recorder")
    return StageRunner(pm), rec


def _toycar(tmp_path: Path) -> Path:
    meshes = tmp_path / "meshes"
    (meshes / "cars").mkdir(parents=True)
    for k in ("car_a", "car_b"):
        (meshes / "cars" / f"{k}.glb").symlink_to(require_shared() / "toycar" / "ToyCar.glb")
    return meshes


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_cli_progress_jsonl_and_the_hook(tmp_path, recorded):
    runner, rec = recorded
    meshes, out = _toycar(tmp_path), tmp_path / "ds"
    args = ["render", str(meshes), str(out), "--views", "2", "--size", "32", "--points",
            "500", "--device", "cpu", "--progress", "jsonl"]
    res = CliRunner().invoke(main, args, obj=runner)
    assert res.exit_code == 0, res.output
    events = [E.from_json(line) for line in res.stdout.splitlines()]  # every line an event
    progress = [e for e in events if isinstance(e, E.Progress)]
    assert [(p.done, p.total, p.status) for p in progress] == [
        (1, 2, "rendered"), (2, 2, "rendered")]
    artifact = next(e for e in events if isinstance(e, E.Artifact))
    assert artifact.kind == "dataset" and artifact.dataset_kind == "synthetic"
    assert Path(artifact.path) == out and artifact.summary["views"] == 4
    assert isinstance(events[-1], E.Done) and events[-1].stage == "renderer:pyrender:render"
    assert "dataset: " in res.stderr  # the messages go to stderr under jsonl
    assert [(Path(c["path"]), c["kind"]) for c in rec.calls] == [(out, "synthetic")]
    # Resumed: nothing rendered, the dataset announced again (it was written again).
    res = CliRunner().invoke(main, args, obj=runner)
    assert res.exit_code == 0 and len(rec.calls) == 2
    # A user error is an error event too.
    res = CliRunner().invoke(main, ["stylize", str(out), str(out), str(tmp_path / "s"),
                                    "--stylizer", "nope", "--progress", "jsonl"], obj=runner)
    assert res.exit_code == 2
    err = E.from_json(res.stdout.splitlines()[-1])
    assert err == E.Log("no stylizer named 'nope' is installed (installed: aist-cyclegan)",
                        "error")


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_local_pool_announces_its_dataset_once(tmp_path, recorded):
    runner, rec = recorded
    meshes, out = _toycar(tmp_path), tmp_path / "ds"
    res = CliRunner().invoke(main, ["render", str(meshes), str(out), "--views", "2", "--size",
                                    "32", "--points", "500", "--device", "cpu", "--workers",
                                    "2", "--progress", "none"], obj=runner)
    assert res.exit_code == 0, res.output
    assert [(Path(c["path"]), c["kind"], c["summary"]["written"]) for c in rec.calls] == [
        (out, "synthetic", 2)]
    res = CliRunner().invoke(main, ["farm", "status", str(out)], obj=runner)
    assert res.exit_code == 0 and len(rec.calls) == 1  # announced once per job


def test_typed_strict_stage_configs():
    from aist_app.render.pipeline import RenderConfig
    from aist_plugins.dpc.config import PoseConfig

    c = from_mapping(PoseConfig, {"steps": 10, "lr": "0.5", "clip_grad": "none",
                                  "amp": "true"}, "[pose]")
    assert (c.steps, c.lr, c.clip_grad, c.amp) == (10, 0.5, None, True)
    with pytest.raises(ValueError, match=r"unknown key 'stpes' in \[pose\]"):
        from_mapping(PoseConfig, {"stpes": 10}, "[pose]")
    with pytest.raises(ValueError, match=r"\[pose\]: steps = 1.5 is not a valid int"):
        from_mapping(PoseConfig, {"steps": 1.5}, "[pose]")
    r = from_mapping(RenderConfig, {"image_size": "64,48"}, "--set")
    assert r.image_size == (64, 48)
    assert coerce(tuple[str, ...], ["car"], "classes", "x") == ("car",)
    assert parse_settings(["pool-size=3"]) == {"pool_size": "3"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_settings(["pool"])


def test_set_and_defaults_from_the_dataclass(tmp_path, recorded):
    """--set reaches any field of the stage's config; an option not given takes the
    dataclass's default, not a copy of it in the CLI."""
    runner, _ = recorded
    res = CliRunner().invoke(main, ["train-pose", str(tmp_path), "--out", str(tmp_path / "r"),
                                    "--set", "stpes=3"], obj=runner)
    assert res.exit_code == 2 and "unknown key 'stpes' in --set" in res.output
    from aist_app.cli.training import make_config
    from aist_plugins.dpc.config import PoseConfig

    c = make_config(PoseConfig, {"steps": None, "lr": 0.01}, ("kernel_size=5",))
    assert (c.steps, c.lr, c.kernel_size) == (PoseConfig().steps, 0.01, 5)


def test_architecture_page_has_the_current_hook_reference():
    from aist_app.api.hookdoc import embed

    page = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text()
    assert embed(page) == page, "run: python -m aist_app.api.hookdoc --write"
    assert "### `aist_dataset_written(" in page and "### `aist_register_stages(" in page


def test_stage_contracts_hold_for_the_built_ins_and_the_toys():
    """Every built-in and the third-party toys subclass their kind's contract and implement
    its operations with signatures the core can call (optional capabilities included); the
    registry would have refused them otherwise, this checks it directly."""
    from aist_app.api.contracts import KIND_BASES, PosePredictor, Trainer
    from aist_app.api.stage import contract_problems, signature_problem
    from tests.helpers import toy_stages

    runner = StageRunner(create_plugin_manager())
    stages = [(s.kind, s.factory) for s in runner.pm.registry.list()]
    assert {s.name for _, s in stages} >= {"pyrender", "blender", "maskrcnn", "deeplab-lite",
                                           "aist-cyclegan", "dpc", "refine"}
    stages += [("stylizer", toy_stages.ToyTint), ("pose_model", toy_stages.ToyMeanPose)]
    for kind, cls in stages:
        assert contract_problems(cls, KIND_BASES[kind]) == [], cls.name
        if kind in ("stylizer", "pose_model"):
            assert hasattr(runner.config_class(kind, cls.name) if cls.name in
                           runner.pm.registry.names(kind) else cls.config_class(),
                           "__dataclass_fields__")
    # What the stages hand back: trainers and predictors, on their bases' signatures.
    from aist_plugins.cyclegan.train import Trainer as CycleGANTrainer
    from aist_plugins.dpc.predictor import DPCPredictor
    from aist_plugins.dpc.train import PoseTrainer

    for cls in (CycleGANTrainer, PoseTrainer, toy_stages.TintTrainer,
                toy_stages.MeanPoseTrainer):
        assert issubclass(cls, Trainer) and cls.run is not Trainer.run, cls
        assert signature_problem(cls.run, Trainer.run) is None, cls
    for cls in (DPCPredictor, toy_stages.MeanPosePredictor):
        assert issubclass(cls, PosePredictor), cls
        for name in ("predict", "predict_view"):
            assert signature_problem(getattr(cls, name), getattr(PosePredictor, name)) is None
    assert DPCPredictor.refiner is not None and toy_stages.MeanPosePredictor.refiner is None
    assert runner.config_class("renderer", "pyrender").__name__ == "RenderConfig"
    assert runner.stage("renderer", "pyrender").module == "aist_plugins.pyrender_renderer"
