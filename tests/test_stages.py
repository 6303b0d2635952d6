"""The stage runner: one event vocabulary (round trip, ``--progress jsonl``), the hook fired
from every front end that writes a dataset (CLI, local pool; the GUI, the experiment and a
Celery worker are tested beside their front ends), and strict typed stage configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aist_app.cli import main
from aist_app.stages import events as E
from aist_app.stages.config import coerce, from_mapping, parse_settings
from aist_app.stages.manager import create_plugin_manager
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
    from aist_app.stages.hookdoc import embed

    page = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text()
    assert embed(page) == page, "run: python -m aist_app.stages.hookdoc --write"
    assert "### `aist_dataset_written(" in page and "### `aist_register_stages(" in page


def test_stage_contracts_hold_for_the_built_ins():
    from aist_app.stages.contracts import PoseModel, Stylizer

    runner = StageRunner(create_plugin_manager())
    for name in runner.pm.registry.names("stylizer"):
        cls = runner.stage("stylizer", name).factory
        assert isinstance(cls, Stylizer), name
        assert hasattr(runner.config_class("stylizer", name), "__dataclass_fields__")
    for name in runner.pm.registry.names("pose_model"):
        cls = runner.stage("pose_model", name).factory
        assert isinstance(cls, PoseModel), name
    assert runner.config_class("renderer", "pyrender").__name__ == "RenderConfig"
    assert runner.stage("renderer", "pyrender").module == "aist_plugins.pyrender_renderer"
