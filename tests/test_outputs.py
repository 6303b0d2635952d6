"""Outputs you can trust, inputs that are checked: every command that writes refuses a folder
made by something else (nothing on disk changes), resumes its own, replaces atomically with
--overwrite; inputs, ranges and devices are checked before any work; files follow the umask.
Each scenario runs the real `aist` command and compares file hashes before and after."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import torch

from aist_app.api.progress import drain
from aist_app.common.outputs import RECORD, OutputConflict, staging_path
from aist_app.common.samples import sample_meshes, sample_photos
from aist_app.dataset import Dataset
from tests.helpers.cli import RENDER, aist, hashes


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("outputs") / "synthetic"
    p = aist("render", sample_meshes(), out, *RENDER)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def real(synthetic, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("outputs") / "real"
    p = aist("segment", sample_photos(), out, "--synthetic", synthetic, "--segmenter",
             "deeplab-lite", "--min-side", "32", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    return out


# -- 1. the output-folder contract --------------------------------------------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_render_with_other_settings_is_refused_and_overwrite_replaces(synthetic, tmp_path):
    out = tmp_path / "ds"
    assert aist("render", sample_meshes(), out, *RENDER).returncode == 0
    before = hashes(out)
    p = aist("render", sample_meshes(), out, *RENDER[:2], "--size", "48", *RENDER[4:])
    assert p.returncode == 2
    assert "already holds a different render output" in p.stderr
    assert "config.image_size: [32, 32] in the folder, [48, 48] now" in p.stderr
    assert "--overwrite" in p.stderr
    (tmp_path / "el.txt").write_text("10\n20\n")
    p = aist("render", sample_meshes(), out, *RENDER, "--elevation", f"file:{tmp_path}/el.txt")
    assert p.returncode == 2 and "config.elevation: '-20:40' in the folder" in p.stderr
    assert hashes(out) == before
    # The same command resumes: nothing to do, nothing rewritten but the index.
    p = aist("render", sample_meshes(), out, *RENDER)
    assert p.returncode == 0 and "1 already complete" in p.stdout
    # --overwrite replaces it; the result is a valid 48x48 dataset, no staging left.
    p = aist("render", sample_meshes(), out, *RENDER[:2], "--size", "48", *RENDER[4:],
             "--overwrite")
    assert p.returncode == 0, p.stderr
    assert Dataset.open(out).image_size == (48, 48)
    assert not staging_path(out).exists()
    assert json.loads((out / RECORD).read_text())["config"]["image_size"] == [48, 48]


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_overwrite_keeps_the_old_output_until_the_new_one_is_complete(synthetic, tmp_path):
    from aist_app.api.manager import create_plugin_manager
    from aist_app.render.pipeline import RenderConfig, render_collection

    out = tmp_path / "ds"
    cls = create_plugin_manager().stage("renderer", "pyrender").factory
    cfg = dict(views=2, image_size=(32, 32), device="cpu", points=300)
    drain(render_collection(sample_meshes(), out, RenderConfig(**cfg), cls))
    before = hashes(out)
    new = RenderConfig(**{**cfg, "views": 3})
    with pytest.raises(OutputConflict, match="config.views: 2 in the folder, 3 now"):
        next(render_collection(sample_meshes(), out, new, cls))
    gen = render_collection(sample_meshes(), out, new, cls, overwrite=True)
    next(gen)  # one object written into the staging folder, then a "crash"
    gen.close()
    assert hashes(out) == before and Dataset.open(out).image_size == (32, 32)
    assert staging_path(out).is_dir()
    summary = drain(render_collection(sample_meshes(), out, new, cls, overwrite=True))
    assert summary.rendered or summary.skipped
    ds = Dataset.open(out)
    assert all(len(ds.view_files(o)) == 3 for o in ds.object_ids())
    assert not staging_path(out).exists()


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_an_experiment_stage_interrupted_while_replacing_resumes(tmp_path):
    """A stage whose spec changed replaces its old output through the staging folder; if
    that is interrupted, the next run resumes in the staging folder (the old output of the
    other spec is still in place, so resuming in place would be refused)."""
    from aist_app.api.manager import create_plugin_manager
    from aist_app.experiments.experiment import Experiment, load_config
    from aist_app.render.pipeline import RenderConfig, render_collection

    exp = Experiment(load_config(None, "small"), tmp_path / "exp")
    out = exp.out / "syn"
    cls = create_plugin_manager().stage("renderer", "pyrender").factory
    cfg = dict(views=2, image_size=(32, 32), device="cpu", points=300)

    def stage(views: int):
        new = RenderConfig(**{**cfg, "views": views})
        return exp._stage("syn", new.__dict__, lambda overwrite: render_collection(
            sample_meshes(), out, new, cls, overwrite=overwrite))

    drain(stage(2))
    before = hashes(out)
    gen = stage(3)
    while not any(staging_path(out).glob("objects/*/view_002.png")):
        next(gen)  # an object written into the staging folder, then a "crash"
    gen.close()
    assert hashes(out) == before
    events = list(stage(3))  # resumed: what was written is kept
    assert [e.status for e in events if hasattr(e, "status")] == ["skipped"], events
    assert all(len(Dataset.open(out).view_files(o)) == 3 for o in Dataset.open(out).object_ids())
    assert not staging_path(out).exists()


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_no_command_writes_into_another_kind_of_dataset(synthetic, real, tmp_path):
    syn_before, real_before = hashes(synthetic), hashes(real)
    # render into a real dataset
    p = aist("render", sample_meshes(), real, *RENDER)
    assert p.returncode == 2 and "already holds a different segment output" in p.stderr
    # segment into a synthetic dataset (its reference is a copy: an input is refused sooner)
    reference = tmp_path / "reference"
    shutil.copytree(synthetic, reference)
    p = aist("segment", sample_photos(), synthetic, "--synthetic", reference, "--segmenter",
             "deeplab-lite", "--min-side", "32", "--device", "cpu")
    assert p.returncode == 2 and "already holds a different render output" in p.stderr
    # a folder of files AIST did not record
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    p = aist("render", sample_meshes(), foreign, *RENDER)
    assert p.returncode == 2 and "no AIST output record describes" in p.stderr
    assert hashes(synthetic) == syn_before and hashes(real) == real_before
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_stylize_and_training_outputs_follow_the_contract(synthetic, real, tmp_path):
    from aist_plugins.cyclegan.apply import stylize_dataset
    from aist_plugins.cyclegan.config import StylizerConfig
    from aist_plugins.cyclegan.train import Trainer

    tiny = dict(size=32, batch=1, ngf=8, ndf=8, n_blocks=1, steps=1, device="cpu",
                feature_net="efficientnet-lite0", checkpoint_every=1)
    run = tmp_path / "sty"
    drain(Trainer(StylizerConfig.from_preset("constrained", **tiny), synthetic, real,
                  run).run())
    # Training into the run again with other settings: refused, the run unchanged.
    before = hashes(run)
    p = aist("train-stylizer", "--synthetic", synthetic, "--real", real, "--out", run,
             "--size", "32", "--batch", "1", "--steps", "1", "--feature-net",
             "efficientnet-lite0", "--device", "cpu")
    assert p.returncode == 2 and "already holds a different train-stylizer output" in p.stderr
    assert hashes(run) == before
    # The same settings with more steps continue the run (resume), from step 1.
    t = Trainer(StylizerConfig.from_preset("constrained", **{**tiny, "steps": 2}), synthetic,
                real, run)
    assert t.step == 1
    # Stylized datasets: one made from another input is not continued.
    styled = tmp_path / "styled"
    drain(stylize_dataset(run, synthetic, styled, device="cpu"))
    other = tmp_path / "synthetic2"
    assert aist("render", sample_meshes(), other, *RENDER, "--seed", "1").returncode == 0
    before = hashes(styled)
    p = aist("stylize", run, other, styled, "--device", "cpu")
    assert p.returncode == 2 and "inputs.input.path" in p.stderr
    assert hashes(styled) == before


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_train_pose_into_a_different_run_is_refused(synthetic, tmp_path):
    args = ["train-pose", synthetic, "--out", tmp_path / "pose", "--steps", "1",
            "--batch-objects", "1", "--views-per-object", "2", "--points", "200",
            "--vox-size", "16", "--device", "cpu"]
    assert aist(*args).returncode == 0
    before = hashes(tmp_path / "pose")
    p = aist(*args[:-4], "--vox-size", "24", "--device", "cpu")
    assert p.returncode == 2 and "config.vox_size: 16 in the folder, 24 now" in p.stderr
    assert hashes(tmp_path / "pose") == before


# -- 2. inputs checked before work --------------------------------------------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_inputs_are_checked_before_anything_is_written(synthetic, real, tmp_path):
    out = tmp_path / "out"
    cases = [
        (["train-stylizer", "--synthetic", real, "--real", synthetic, "--out", out,
          "--device", "cpu"], "is a real dataset and --real"),
        (["train-stylizer", "--synthetic", synthetic, "--real", synthetic, "--out", out,
          "--device", "cpu"], "the same dataset as --synthetic"),
        (["train-pose", real, "--out", out, "--device", "cpu"], "a real dataset without cameras"),
        (["train-pose", synthetic, "--out", out, "--views-per-object", "5", "--device", "cpu"],
         r"has 3 view\(s\); training takes 5"),
        (["segment", tmp_path, out, "--synthetic", synthetic, "--segmenter", "deeplab-lite"],
         "no photos found"),
        (["segment", sample_photos(), out, "--synthetic", real, "--segmenter", "deeplab-lite"],
         "--synthetic must be a synthetic or stylized dataset"),
        (["render", sample_meshes(), out, "--elevation", "0-40"],
         "--elevation '0-40': not a range A:B .* valid forms"),
        (["render", sample_meshes(), out, "--elevation", "0:400"],
         "--elevation '0:400': 400 is outside \\[-90, 90\\]"),
        (["render", sample_meshes(), out, "--points", "0"], "--points 0: must be at least 1"),
        (["render", sample_meshes(), out, "--size", "0"], "--size"),
    ]
    import re

    for args, message in cases:
        p = aist(*args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert re.search(message, p.stderr), (args, p.stderr)
        assert not out.exists(), args


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_evaluate_refuses_an_empty_test_split(synthetic, real, tmp_path):
    assert aist("train-pose", synthetic, "--out", tmp_path / "pose", "--steps", "1",
                "--batch-objects", "1", "--views-per-object", "2", "--points", "200",
                "--vox-size", "16", "--device", "cpu").returncode == 0
    ds = Dataset.open(synthetic)
    assert not ds.object_ids("test")  # one bundled car: no test object
    p = aist("evaluate", tmp_path / "pose", synthetic, "--out", tmp_path / "rep",
             "--device", "cpu")
    assert p.returncode == 2 and "its test split is empty" in p.stderr
    assert not (tmp_path / "rep").exists()
    p = aist("evaluate", tmp_path / "pose", synthetic, "--out", tmp_path / "rep",
             "--split", "all", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert "asked with --split all" in json.dumps(metrics)


# -- 3. devices ---------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
@pytest.mark.parametrize("args,message", [
    (["render", "{meshes}", "{out}", "--renderer", "pyrender"], "EGL has no GPU device"),
    (["render", "{meshes}", "{out}", "--renderer", "blender"], "Blender found no GPU"),
    (["train-pose", "{synthetic}", "--out", "{out}"], "torch sees no CUDA GPU"),
])
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_an_absent_gpu_is_an_error_before_any_work(args, message, synthetic, tmp_path):
    out = tmp_path / "out"
    args = [a.format(meshes=sample_meshes(), out=out, synthetic=synthetic) for a in args]
    p = aist(*args, "--device", "cuda")
    assert p.returncode == 2 and message in p.stderr, p.stderr
    assert not out.exists()


def test_auto_records_the_device_it_used(synthetic):
    meta = json.loads((synthetic / "dataset.json").read_text())
    assert meta["source"]["device_used"].startswith(("cpu (", "gpu ("))


# -- 6. file modes ------------------------------------------------------------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_files_follow_the_umask(tmp_path):
    out = tmp_path / "ds"
    p = aist("render", sample_meshes(), out, *RENDER, umask=0o002)
    assert p.returncode == 0, p.stderr
    oid = Dataset.open(out).object_ids()[0]
    for rel in ("dataset.json", RECORD, f"objects/{oid}/cameras.json",
                f"objects/{oid}/view_000.png", f"objects/{oid}/points.npz"):
        assert stat.S_IMODE((out / rel).stat().st_mode) == 0o664, rel
    assert stat.S_IMODE((out / "objects" / oid).stat().st_mode) == 0o775
    p = aist("render", sample_meshes(), tmp_path / "job", *RENDER, "--workers", "2",
             umask=0o022)
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE((tmp_path / "job" / ".farm" / "job.json").stat().st_mode) == 0o644


def test_broker_password_file_stays_private(tmp_path):
    from aist_farm.broker import redis_command

    conf = tmp_path / "aist-redis-auth.conf"
    conf.write_text("old")
    conf.chmod(0o644)
    try:
        redis_command(6399, data_dir=tmp_path, password="s3cret")
    except FileNotFoundError:
        pytest.skip("redis-server not installed")
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600


# -- errors that name the right thing -----------------------------------------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_weights_errors_name_the_commands_option(synthetic, real, tmp_path):
    env = {"AIST_WEIGHTS_DIR": str(tmp_path / "none"), "TORCH_HOME": str(tmp_path / "th")}
    p = aist("train-stylizer", "--synthetic", synthetic, "--real", real, "--out",
             tmp_path / "run", "--device", "cpu", env=env)
    assert p.returncode == 2 and "pass --feature-weights PATH" in p.stderr, p.stderr
    assert not (tmp_path / "run").exists()
    p = aist("segment", sample_photos(), tmp_path / "seg", "--synthetic", synthetic,
             "--device", "cpu", env=env)
    assert p.returncode == 2 and "pass --weights PATH" in p.stderr, p.stderr
    assert not (tmp_path / "seg").exists()  # a failed Mask R-CNN run leaves nothing


def test_gui_screenshot_of_a_missing_path_says_why(tmp_path):
    p = aist("gui", "--screenshot", tmp_path / "x.png", tmp_path / "nonexistent",
             env={"QT_QPA_PLATFORM": "offscreen"})
    assert p.returncode == 1 and "error:" in p.stderr and "nonexistent" in p.stderr


def test_a_checkpoints_relative_dataset_path_is_found_from_anywhere(tmp_path, monkeypatch):
    """Runs recorded their dataset as given (relative to where they were trained from): it
    is found beside the run from any working folder; new runs record it absolute."""
    from aist_app.common.checkpoints import recorded_path

    exp = tmp_path / "work" / "exp"
    (exp / "synthetic").mkdir(parents=True)
    ck = {"path": str(exp / "pose-baseline" / "checkpoints" / "last.pt")}
    monkeypatch.chdir(tmp_path)
    assert recorded_path(ck, "exp/synthetic") == exp / "synthetic"
    assert recorded_path(ck, str(exp / "synthetic")) == exp / "synthetic"
    assert recorded_path(ck, "elsewhere/synthetic") == Path("elsewhere/synthetic")


# -- an output is replaced only by a complete one; the machine's errors stop the command ------
def test_overwrite_with_a_failed_render_keeps_the_complete_output(synthetic, tmp_path):
    """`render BROKEN D --overwrite` (one file that is not a mesh): D, complete, is kept byte
    for byte; the command exits non-zero saying so, the new one is left in its staging
    folder."""
    import shutil

    from aist_app.common.outputs import staging_path

    out = tmp_path / "ds"
    shutil.copytree(synthetic, out)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "car.obj").write_text("v 0 0 0\nv 1 0 0\nf 1 2 9\n")
    before = hashes(out)
    p = aist("render", broken, out, *RENDER, "--overwrite")
    assert p.returncode != 0
    assert "kept as it was" in p.stderr and "failed car" in p.stderr, p.stderr
    assert hashes(out) == before
    assert (staging_path(out) / "dataset.json").is_file()  # the new, incomplete one, aside
    # A render with a failed object but no overwrite writes the rest and exits 1.
    mixed = tmp_path / "mixed"
    shutil.copytree(sample_meshes(), mixed)
    shutil.copy(broken / "car.obj", mixed / "zz-broken.obj")
    p = aist("render", mixed, tmp_path / "m", *RENDER)
    assert p.returncode == 1 and "1 failed" in p.stdout + p.stderr
    assert json.loads((tmp_path / "m" / "dataset.json").read_text())["splits"]["train"] + \
        json.loads((tmp_path / "m" / "dataset.json").read_text())["splits"]["test"]


def test_a_full_disk_stops_the_render_naming_the_path(tmp_path, monkeypatch):
    """ENOSPC while writing a view (a full disk cannot be made here safely: the writer is
    made to fail as one does) is the machine's error: the command stops with it, naming the
    path, and records no object as bad."""
    import errno

    from aist_app.api.manager import create_plugin_manager
    from aist_app.api.progress import drain
    from aist_app.dataset import writer as W
    from aist_app.render.pipeline import RenderConfig, render_collection

    def full(path, arr, level):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(W.ObjectWriter, "_write_png", staticmethod(full))
    cls = create_plugin_manager().stage("renderer", "pyrender").factory
    out = tmp_path / "ds"
    with pytest.raises(OSError, match=r"view_000\.png: No space left on device: the "
                                      "machine's error"):
        drain(render_collection(sample_meshes(), out, RenderConfig(
            views=1, image_size=(32, 32), points=100, device="cpu"), cls))
    assert not out.exists()  # nothing recorded as a failed object, nothing half-made left


def test_a_full_disk_during_overwrite_keeps_the_complete_output(synthetic, tmp_path,
                                                                monkeypatch):
    """`render ... D --overwrite` on a full disk: the command stops with the path, and D,
    complete, is byte for byte as before (it was replaced by an empty one)."""
    import errno
    import shutil

    from aist_app.api.manager import create_plugin_manager
    from aist_app.api.progress import drain
    from aist_app.dataset import writer as W
    from aist_app.render.pipeline import RenderConfig, render_collection

    out = tmp_path / "ds"
    shutil.copytree(synthetic, out)
    before = hashes(out)

    def full(path, arr, level):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(W.ObjectWriter, "_write_png", staticmethod(full))
    cls = create_plugin_manager().stage("renderer", "pyrender").factory
    with pytest.raises(OSError, match="No space left on device"):
        drain(render_collection(sample_meshes(), out, RenderConfig(
            views=1, image_size=(32, 32), points=100, device="cpu"), cls, overwrite=True))
    assert hashes(out) == before
