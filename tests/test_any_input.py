"""Any input: no command destroys or silently drops data (issue 34, bullets 2-9). Each case
runs the real `aist` command and checks its exit status, its message and that no file
already on disk changed (hashes before and after)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aist_app.api.progress import drain
from aist_app.common.samples import sample_meshes, sample_photos
from tests.helpers.cli import RENDER, aist, hashes

POSE = ["--steps", "1", "--batch-objects", "1", "--views-per-object", "2", "--points", "200",
        "--vox-size", "16", "--device", "cpu"]
TINY_STYLIZER = dict(size=32, batch=1, ngf=8, ndf=8, n_blocks=1, steps=1, device="cpu",
                     feature_net="efficientnet-lite0", checkpoint_every=1)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("any_input")


@pytest.fixture(scope="module")
def synthetic(work) -> Path:
    out = work / "synthetic"
    p = aist("render", sample_meshes(), out, *RENDER)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def real(synthetic, work) -> Path:
    out = work / "real"
    p = aist("segment", sample_photos(), out, "--synthetic", synthetic, "--segmenter",
             "deeplab-lite", "--min-side", "32", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def stylizer_run(synthetic, real, work) -> Path:
    from aist_plugins.cyclegan.config import StylizerConfig
    from aist_plugins.cyclegan.train import Trainer

    run = work / "sty"
    drain(Trainer(StylizerConfig.from_preset("constrained", **TINY_STYLIZER), synthetic, real,
                  run).run())
    return run


@pytest.fixture(scope="module")
def pose_run(synthetic, work) -> Path:
    run = work / "pose"
    p = aist("train-pose", synthetic, "--out", run, *POSE)
    assert p.returncode == 0, p.stderr
    return run


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- 2. an output is never an input, inside one or around one ------------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_segment_never_writes_over_into_or_around_its_photos(where, synthetic, tmp_path):
    photos = copy(sample_photos(), tmp_path / "photos" / "p")
    out = {"same": photos, "inside": photos / "out", "around": photos.parent}[where]
    before = hashes(tmp_path)
    p = aist("segment", photos, out, "--synthetic", synthetic, "--segmenter", "deeplab-lite",
             "--device", "cpu", "--overwrite")
    assert p.returncode == 2, p.stderr
    word = {"same": "is the input", "inside": "lies inside the input",
            "around": "contains the input"}[where]
    assert word in p.stderr and "photos" in p.stderr and "--overwrite" in p.stderr
    assert hashes(tmp_path) == before and not (photos / "out").exists()


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_render_and_stylize_never_write_over_their_input(synthetic, stylizer_run, tmp_path):
    meshes = copy(sample_meshes(), tmp_path / "meshes")
    before = hashes(meshes)
    p = aist("render", meshes, meshes, *RENDER, "--overwrite")
    assert p.returncode == 2 and "is the input meshes" in p.stderr, p.stderr
    assert hashes(meshes) == before
    syn = copy(synthetic, tmp_path / "syn")
    before = hashes(syn)
    p = aist("stylize", stylizer_run, syn, syn, "--device", "cpu", "--overwrite")
    assert p.returncode == 2 and "is the input" in p.stderr, p.stderr
    assert hashes(syn) == before


# -- 3. object ids are unique, never merged --------------------------------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_colliding_file_names_get_distinct_recorded_ids(tmp_path):
    src = sample_meshes() / "toycar" / "ToyCar.glb"
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    shutil.copy(src, meshes / "car.glb")
    import trimesh

    trimesh.load(src, force="mesh").export(meshes / "car.obj")
    for name in ("voiture ü.glb", "voiture ö.glb", "voiture_.glb"):
        shutil.copy(src, meshes / name)
    out = tmp_path / "ds"
    p = aist("render", meshes, out, *RENDER)
    assert p.returncode == 0, p.stderr
    assert "5 rendered, 0 already complete" in p.stdout
    meta = json.loads((out / "dataset.json").read_text())
    ids = sorted(o for split in meta["splits"].values() for o in split)
    assert len(ids) == 5 == len(set(ids))
    sources = {oid: Path(src["path"]).name for oid, src in meta["source"]["objects"].items()}
    assert sorted(sources.values()) == sorted(p.name for p in meshes.iterdir()
                                              if p.suffix in (".glb", ".obj"))
    for oid in ids:  # each object's provenance names the file its dataset entry names
        prov = json.loads((out / "objects" / oid / "provenance.json").read_text())
        assert Path(prov["mesh"]).name == sources[oid]


# -- 4. one device rule for renderers --------------------------------------------------------
@pytest.mark.parametrize("renderer", ["pyrender", "blender"])
@pytest.mark.parametrize("device,message", [
    ("banana", "--device 'banana': use auto, cpu, cuda or cuda:N"),
    ("gpu", "--device 'gpu': use auto, cpu, cuda or cuda:N"),
    ("mps", "draw with OpenGL (EGL) or Cycles, not MPS"),
    ("cuda:1", "cuda:1"),
])
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_renderers_refuse_a_device_they_cannot_use(renderer, device, message, tmp_path):
    out = tmp_path / "ds"
    p = aist("render", sample_meshes(), out, *RENDER[:-2], "--renderer", renderer,
             "--device", device)
    assert p.returncode == 2 and message in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and not out.exists()


# -- 5. no object to reconstruct, one quaternion convention ----------------------------------
def _png(path: Path, rgba: np.ndarray) -> Path:
    Image.fromarray(rgba.astype(np.uint8)).save(path)
    return path


@pytest.mark.parametrize("kind,message", [
    ("transparent", "its alpha is 0 everywhere"),
    ("grey", "every pixel is opaque"),
    ("photo", "every pixel is opaque"),
    ("one-pixel", "the object covers 1 pixel(s) of 64x64: too small to reconstruct"),
])
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_reconstruct_refuses_an_image_with_no_object(kind, message, pose_run, tmp_path):
    if kind == "photo":  # a raw street photo: no alpha at all
        image = tmp_path / "street.jpg"
        Image.open(next(sample_photos().glob("*.jpg"))).convert("RGB").resize(
            (1242, 375)).save(image)
    else:
        rgba = np.zeros((64, 64, 4)) if kind == "transparent" else np.full((64, 64, 4), 128)
        if kind == "grey":
            rgba[..., 3] = 255
        if kind == "one-pixel":
            rgba[..., 3] = 0
            rgba[30, 30, 3] = 255
        image = _png(tmp_path / f"{kind}.png", rgba)
    before = hashes(tmp_path)
    p = aist("reconstruct", pose_run, image, "--out", tmp_path / "cloud.npz", "--device",
             "cpu")
    assert p.returncode == 2 and str(image) in p.stderr and message in p.stderr, p.stderr
    assert hashes(tmp_path) == before


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_reconstruct_refuses_to_write_over_its_image(pose_run, synthetic, tmp_path):
    view = next((synthetic / "objects").glob("*/view_000.png"))
    image = Path(shutil.copy(view, tmp_path / "view.png"))
    before = hashes(tmp_path)
    p = aist("reconstruct", pose_run, image, "--out", image, "--device", "cpu")
    assert p.returncode == 2 and "is the input image" in p.stderr, p.stderr
    assert hashes(tmp_path) == before


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_reconstructed_quaternions_follow_the_datasets_convention(pose_run, synthetic,
                                                                  tmp_path):
    from aist_app.pose import quaternion as Q
    from aist_app.pose.reconstruct import to_truth_frame

    view = next((synthetic / "objects").glob("*/view_000.png"))
    p = aist("reconstruct", pose_run, view, "--out", tmp_path / "c.npz", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    q = np.load(tmp_path / "c.npz")["quaternion_wxyz"]
    assert q[0] >= 0
    printed = [float(v) for v in
               p.stdout.split("pose (wxyz):")[1].splitlines()[0].split(",")]
    assert np.allclose(printed, q, atol=1e-3)
    # An alignment that turns a w > 0 prediction into w < 0: stored with w >= 0, same pose.
    pred = Q.normalize(torch.tensor([0.9, 0.1, 0.3, 0.2], dtype=torch.float64))
    align = np.array([0.0, 0.0, 0.0, 1.0])  # 180 degrees about z
    raw = Q.multiply(pred, torch.as_tensor(align))
    assert raw[0] < 0
    _, q_out, w2c = to_truth_frame(np.zeros((4, 3)), pred.numpy(), align, 2.0)
    assert q_out[0] >= 0
    assert np.allclose(w2c[:3, :3], Q.to_matrix(raw).numpy(), atol=1e-12)


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_evaluate_refuses_a_view_with_no_object(pose_run, synthetic, tmp_path):
    ds = copy(synthetic, tmp_path / "ds")
    view = next((ds / "objects").glob("*/view_001.png"))
    _png(view, np.zeros((32, 32, 4)))
    before = hashes(tmp_path)
    p = aist("evaluate", pose_run, ds, "--out", tmp_path / "report", "--split", "all",
             "--device", "cpu")
    assert p.returncode == 2 and str(view) in p.stderr and "alpha is 0" in p.stderr, p.stderr
    assert hashes(tmp_path) == before and not (tmp_path / "report").exists()


# -- 6. one writer per output folder ---------------------------------------------------------
HOLD = textwrap.dedent("""
    import sys, time
    from aist_app.common.locks import FolderLock
    lock = FolderLock(sys.argv[1])
    print("held", flush=True)
    time.sleep(120)
""")


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_writer_is_refused_with_the_holders_pid(workers, tmp_path):
    out = tmp_path / "ds"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        p = aist("render", sample_meshes(), out, *RENDER, "--workers", workers)
        assert p.returncode == 2, p.stderr
        assert f"is being written by pid {holder.pid}" in p.stderr
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    # The lock goes with its process: once the holder is gone the render runs.
    p = aist("render", sample_meshes(), out, *RENDER, "--workers", workers)
    assert p.returncode == 0, p.stderr
    assert not any(tmp_path.glob(".*.aist-lock"))  # released and removed


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_two_renders_at_once_one_dataset_never_both_done_and_failed(tmp_path):
    out = tmp_path / "ds"
    procs = [subprocess.Popen([str(Path(sys.executable).with_name("aist")), "render",
                               str(sample_meshes()), str(out), *RENDER],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYOPENGL_PLATFORM": "egl"})
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 0], [0, 2]), results  # one after the other, or one refused
    for rc, err in results:
        if rc == 2:
            assert "is being written by pid" in err
    meta = json.loads((out / "dataset.json").read_text())
    listed = {o for split in meta["splits"].values() for o in split}
    failed = {f["object_id"] for f in meta["source"].get("failures", [])}
    assert listed and not listed & failed


def test_the_lock_is_reentrant_and_released(tmp_path):
    from aist_app.common.locks import FolderLock, lock_path

    a = FolderLock(tmp_path / "x")
    b = FolderLock(tmp_path / "x")  # the same process (an experiment around its stages)
    b.release()
    assert lock_path(tmp_path / "x").exists()
    a.release()
    assert not lock_path(tmp_path / "x").exists()


def test_a_writer_refused_while_the_holder_is_still_writing_its_pid_names_the_pid(tmp_path):
    """The holder takes the lock, then writes its pid: the refused writer waits for it."""
    import fcntl
    import threading

    from aist_app.common.locks import FolderLock, FolderLocked, lock_path

    path = lock_path(tmp_path / "x")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # locked, still empty
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    timer = threading.Timer(0.3, lambda: os.pwrite(fd, b'{"pid": 4242, "host": "h"}', 0))
    timer.start()
    try:
        with pytest.raises(FolderLocked, match="is being written by pid 4242 on h"):
            FolderLock(tmp_path / "x")
    finally:
        timer.join()
        os.close(fd)


# -- 7. --resume with a larger --steps trains on, for every trainer --------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_train_pose_resume_with_more_steps_trains_on(synthetic, tmp_path):
    run = tmp_path / "pose"
    assert aist("train-pose", synthetic, "--out", run, *POSE).returncode == 0
    p = aist("train-pose", "--resume", run, "--steps", "3", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    ck = torch.load(run / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")
    assert ck["step"] == 3 and ck["config"]["steps"] == 3
    rec = json.loads((run / ".aist-output.json").read_text())
    assert "steps" not in rec["config"]  # where to stop is not what the run computes


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_train_stylizer_resume_with_more_steps_trains_on(synthetic, real, tmp_path):
    from aist_plugins.cyclegan.config import StylizerConfig
    from aist_plugins.cyclegan.train import Trainer

    run = tmp_path / "sty"
    drain(Trainer(StylizerConfig.from_preset("constrained", **TINY_STYLIZER), synthetic, real,
                  run).run())
    p = aist("train-stylizer", "--resume", run, "--steps", "2", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    ck = torch.load(run / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")
    assert ck["step"] == 2


# -- 8. the experiment config, key by key, before anything runs ------------------------------
BAD_CONFIGS = [
    ("[render]\nviews = -3\n", "[render] views = -3"),
    ("[stylizer]\nsize = 0\n", "[stylizer] size = 0"),
    ('[data]\nmeshes = "/nonexistent"\n', "[data] meshes = '/nonexistent'"),
    ('[render]\nelevation = "0-40"\n', "[render] elevation = '0-40'"),
    ('device = "gpu"\n', "device = 'gpu'"),
    ("seed = -1\n", "seed = -1"),
    ("[pose]\nbatch_objects = 0\n", "[pose] batch_objects = 0"),
    ("[pose]\nshapes_per_object = 9\n", "[pose] shapes_per_object = 9"),
    ("[segment]\nmin_score = 2.0\n", "[segment] min_score = 2.0"),
    ('[evaluate]\nsplit = "val"\n', "[evaluate] split = 'val'"),
    ("[cars]\ncount = 0\n", "[cars] count = 0"),
    # A value of the wrong TOML type is an error, never read as the type it should be.
    ('[render]\nviews = "5"\n', "[render] views = '5'"),
    ('[pose]\nmirror_symmetry = "true"\n', "[pose] mirror_symmetry = 'true'"),
    ('[stylizer]\nlr = "1e-3"\n', "[stylizer] lr = '1e-3'"),
]


@pytest.mark.parametrize("text,key", BAD_CONFIGS)
def test_experiment_config_errors_name_the_toml_key(text, key, tmp_path):
    from aist_app.experiments.experiment import load_config

    path = tmp_path / "exp.toml"
    path.write_text('preset = "cpu"\n' + text)
    with pytest.raises(ValueError) as e:
        load_config(path)
    assert str(path) in str(e.value) and key in str(e.value)


@pytest.mark.parametrize("text,key", [BAD_CONFIGS[0], BAD_CONFIGS[3], BAD_CONFIGS[4]])
def test_experiment_command_writes_nothing_on_a_bad_config(text, key, tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('preset = "cpu"\n' + text)
    for dry in (["--dry-run"], []):
        p = aist("experiment", path, "--out", tmp_path / "exp", *dry)
        assert p.returncode == 2 and key in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
        assert sorted(x.name for x in tmp_path.iterdir()) == ["exp.toml"]


# -- 9. the remaining messages name the file or option and what was expected ------------------
def test_evaluate_a_stylizer_run_says_what_it_is(stylizer_run, synthetic, tmp_path):
    p = aist("evaluate", stylizer_run, synthetic, "--out", tmp_path / "r", "--device", "cpu")
    assert p.returncode == 2 and str(stylizer_run) in p.stderr, p.stderr
    assert "`aist train-stylizer`" in p.stderr and "not a pose-model run" in p.stderr
    assert not (tmp_path / "r").exists()


def test_info_on_a_file_says_it_is_a_file(synthetic):
    p = aist("info", synthetic / "dataset.json")
    assert p.returncode == 2 and "is a file, not a dataset folder" in p.stderr, p.stderr


@pytest.mark.parametrize("name,message", [
    ("shot.txt", "expected a .png file name"),
    ("newdir/shot.png", "does not exist"),
])
def test_gui_screenshot_names_what_it_expects(name, message, synthetic, tmp_path):
    p = aist("gui", synthetic, "--screenshot", tmp_path / name,
             env={"QT_QPA_PLATFORM": "offscreen"})
    assert p.returncode == 2 and str(tmp_path / name) in p.stderr and message in p.stderr
    assert list(tmp_path.iterdir()) == []


def test_segment_with_no_accepted_car_writes_no_dataset(synthetic, tmp_path):
    out = tmp_path / "real"
    p = aist("segment", sample_photos(), out, "--synthetic", synthetic, "--segmenter",
             "deeplab-lite", "--min-side", "100000", "--device", "cpu")
    assert p.returncode == 2, p.stderr
    assert "0 of 4 photos gave an accepted car" in p.stderr and "(too-small 4)" in p.stderr
    assert "nan" not in p.stdout + p.stderr and not out.exists()


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_weights_list_and_doctor_see_what_the_stylizer_needs(tmp_path):
    env = {"AIST_WEIGHTS_DIR": str(tmp_path / "w"), "TORCH_HOME": str(tmp_path / "th")}
    rows = {r["name"]: r for r in json.loads(aist("weights", "list", "--json",
                                                  env=env).stdout)}
    assert rows["deeplab-lite"]["present"] and rows["efficientnet-lite0"]["present"]
    p = aist("doctor", "--stage", "stylize", env=env)  # train-stylizer's default: resnet18
    assert p.returncode == 1 and "missing for stylize: weights:resnet18" in p.stderr
    assert aist("doctor", "--stage", "stylize-efficientnet", env=env).returncode == 0


@pytest.mark.parametrize("command", ["train-stylizer", "train-pose"])
def test_the_help_set_example_is_a_real_setting(command):
    from aist_app.cli.training import make_config
    from aist_app.stages.runner import StageRunner

    text = aist(command, "--help").stdout
    example = " ".join(text.split()).split("e.g. --set ")[1].split(";")[0]
    kind, plugin = (("stylizer", "aist-cyclegan") if command == "train-stylizer"
                    else ("pose_model", "dpc"))
    config = make_config(StageRunner().config_class(kind, plugin), {}, (example,))
    key, value = example.split("=")
    assert str(getattr(config, key)) == value


def test_a_size_of_zero_says_it_must_be_positive(tmp_path):
    p = aist("render", sample_meshes(), tmp_path / "ds", "--size", "0")
    assert p.returncode == 2 and "--size" in p.stderr and "must be positive" in p.stderr
    assert not (tmp_path / "ds").exists()


def test_a_lock_file_that_is_a_link_is_never_written_through(tmp_path):
    """`.OUT.aist-lock` a link to another file: the command refuses, naming the link, and
    the file it points to is byte for byte as before (no pid written into it)."""
    from aist_app.common.locks import lock_path

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    lock_path(out).symlink_to(victim)
    p = aist("render", sample_meshes(), out, "--views", "1", "--size", "32", "--points", "100")
    assert p.returncode != 0 and "is a symbolic link" in p.stderr, p.stderr
    assert victim.read_text() == "precious\n" and not out.exists()


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_reconstructing_with_a_run_never_writes_into_it(pose_run, synthetic, tmp_path):
    """Looking never writes: the run's alignment is cached in the user's cache folder, and
    the run folder is byte for byte as before (no alignment.json appears in it)."""
    before = hashes(pose_run)
    view = next((synthetic / "objects").glob("*/view_000.png"))
    for n in (1, 2):  # the second call reads the cache
        p = aist("reconstruct", pose_run, view, "--out", tmp_path / f"c{n}.npz", "--device",
                 "cpu")
        assert p.returncode == 0, p.stderr
    assert hashes(pose_run) == before
    cached = list(Path(os.environ["AIST_CACHE_DIR"]).glob("alignments/*.json"))
    assert len(cached) == 1 and "quaternion_wxyz" in json.loads(cached[0].read_text())


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_a_runs_folder_is_an_input_as_a_whole(stylizer_run, pose_run, synthetic):
    """`stylize RUN S RUN/samples --overwrite` would replace the run's samples with the
    stylized set, `evaluate RUN S --out RUN/report` write into the run: both are refused
    before anything is written, the run byte for byte as before."""
    before = {run: hashes(run) for run in (stylizer_run, pose_run)}
    p = aist("stylize", stylizer_run, synthetic, stylizer_run / "samples", "--overwrite",
             "--device", "cpu")
    assert p.returncode == 2 and "lies inside the input run" in p.stderr, p.stderr
    p = aist("evaluate", pose_run, synthetic, "--out", pose_run / "report", "--split", "all",
             "--device", "cpu")
    assert p.returncode == 2 and "lies inside the input run" in p.stderr, p.stderr
    assert {run: hashes(run) for run in (stylizer_run, pose_run)} == before


def _linked_out(synthetic: Path, tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A copy of the dataset whose first object's ``name`` is a link to a file outside it."""
    ds = copy(synthetic, tmp_path / "ds")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"SECRET outside the dataset\n")
    target = sorted((ds / "objects").iterdir())[0] / name
    target.unlink(missing_ok=True)
    target.symlink_to(outside)
    return ds, outside


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_links_leaving_a_dataset_are_refused_and_never_copied(synthetic, stylizer_run,
                                                              tmp_path):
    """A provenance or depth file that links outside: `info` refuses it naming the file,
    `stylize` refuses to copy it (the outside bytes never reach the new dataset), the
    outside file is as it was."""
    ds, outside = _linked_out(synthetic, tmp_path, "provenance.json")
    p = aist("info", ds)
    assert p.returncode != 0 and "provenance.json" in p.stderr and "outside" in p.stderr, \
        p.stderr
    ds2, outside2 = _linked_out(synthetic, tmp_path / "b", "depth_000.png")
    out = tmp_path / "stylized"
    p = aist("stylize", stylizer_run, ds2, out, "--device", "cpu")
    assert p.returncode != 0 and "depth_000.png" in p.stderr, p.stderr
    assert not out.exists()  # refused: nothing left behind, nothing of outside copied
    assert outside.read_bytes() == outside2.read_bytes() == b"SECRET outside the dataset\n"


def test_view_names_from_cameras_json_stay_inside_the_dataset(synthetic, tmp_path):
    """The GUI's index and every view load take cameras.json's file names through the
    contract's rule: `../` names and links out are refused, not shown."""
    from aist_app.dataset import Dataset
    from aist_app.dataset.contract import DatasetError
    from aist_app.dataset.index import DatasetIndex

    ds = copy(synthetic, tmp_path / "ds")
    obj = sorted((ds / "objects").iterdir())[0]
    cams = json.loads((obj / "cameras.json").read_text())
    cams["views"][0]["file"] = "../../../secret.png"
    (obj / "cameras.json").write_text(json.dumps(cams))
    with pytest.raises(DatasetError, match="secret.png"):
        DatasetIndex.build(ds)
    ds2, _ = _linked_out(synthetic, tmp_path / "b", "view_000.png")
    oid = sorted((ds2 / "objects").iterdir())[0].name
    with pytest.raises(DatasetError, match="outside"):
        Dataset.open(ds2).load_view(oid, "view_000.png")


def test_a_very_long_mesh_name_gets_a_shortened_recorded_id(tmp_path):
    """A 250-character mesh file name renders under a shortened id (with a digest of the
    name) and the exact file is recorded with it; no raw 'File name too long'."""
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    long = "voiture-" + "x" * 238 + ".glb"
    assert len(long) == 250
    glb = next(sample_meshes().rglob("*.glb"))
    (meshes / long).symlink_to(glb)
    out = tmp_path / "ds"
    p = aist("render", meshes, out, "--views", "1", "--size", "32", "--points", "100")
    assert p.returncode == 0, p.stderr
    (oid,) = json.loads((out / "dataset.json").read_text())["splits"]["train"] or \
        json.loads((out / "dataset.json").read_text())["splits"]["test"]
    assert len(oid) == 100 and oid.startswith("voiture-xxx")
    source = json.loads((out / "dataset.json").read_text())["source"]["objects"][oid]
    assert source["path"].endswith(long)


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_evaluate_names_what_is_wrong_with_a_test_set(pose_run, synthetic, tmp_path):
    """A broken test set is reported as what it is (the file and the fault), not as an
    empty test split; nothing is written."""
    ds = copy(synthetic, tmp_path / "ds")
    (ds / "dataset.json").write_text("{not json")
    p = aist("evaluate", pose_run, ds, "--out", tmp_path / "rep", "--split", "all",
             "--device", "cpu")
    assert p.returncode == 2 and "dataset.json" in p.stderr, p.stderr
    assert "test split is empty" not in p.stderr and not (tmp_path / "rep").exists()


# -- the hostile corpus (tests/data/hostile) through every command that reads it ------------
HOSTILE = Path(__file__).parent / "data" / "hostile"


def _outside(root: Path) -> Path:
    """Files a careless command would write, delete or read into its output."""
    out = root / "outside"
    out.mkdir()
    (out / "victim.json").write_text('{"keep": true}\n')
    (out / "secret.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    rgba = np.zeros((32, 32, 4))
    rgba[8:24, 8:24] = (255, 0, 255, 255)  # a magenta square: SECRET
    _png(out / "secret.png", rgba)
    (root / "escape").mkdir()  # what ../../escape names from the dataset's objects/
    (root / "escape" / "victim.txt").write_text("keep\n")
    return out


def _hostile_dataset(kind: str, synthetic: Path, root: Path, outside: Path) -> Path:
    ds = copy(synthetic, root / "ds")
    obj = sorted((ds / "objects").iterdir())[0]
    patch = json.loads((HOSTILE / f"{kind}.json").read_text()
                       .replace("{OUTSIDE}", str(outside)))
    if kind == "dataset-escape-id":
        meta = json.loads((ds / "dataset.json").read_text())
        meta["splits"]["train"] = meta["splits"]["train"] + patch["splits"]["train"]
        (ds / "dataset.json").write_text(json.dumps(meta))
    elif kind == "cameras-escape-file":
        cams = json.loads((obj / "cameras.json").read_text())
        cams["views"][0].update(patch)
        (obj / "cameras.json").write_text(json.dumps(cams))
    else:  # links out of the dataset
        for name, target in patch.items():
            (obj / name).unlink(missing_ok=True)
            (obj / name).symlink_to(target)
    return ds


def _hostile_command(command: str, ds: Path, out: Path, runs: dict[str, Path]
                     ) -> subprocess.CompletedProcess:
    if command == "info":
        return aist("info", ds)
    if command == "stylize":
        return aist("stylize", runs["stylizer"], ds, out, "--device", "cpu")
    if command == "evaluate":
        return aist("evaluate", runs["pose"], ds, "--out", out, "--split", "all", "--device",
                    "cpu")
    if command == "reconstruct":
        view = next((ds / "objects").glob("*/view_000.png"), None) or next(
            (ds / "objects").glob("*/view_002.png"))
        return aist("reconstruct", runs["pose"], view, "--out", out.with_suffix(".npz"),
                    "--device", "cpu")
    return subprocess.run([AIST_CLI, "gui", str(ds), "--pose-run", str(runs["pose"]),
                           "--screenshot", str(out.with_suffix(".png"))], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                               "PYOPENGL_PLATFORM": "egl"})


AIST_CLI = str(Path(sys.executable).with_name("aist"))


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
@pytest.mark.parametrize("kind", ["dataset-escape-id", "cameras-escape-file", "links"])
@pytest.mark.parametrize("command", ["info", "stylize", "evaluate", "reconstruct", "gui"])
def test_hostile_corpus(kind, command, synthetic, stylizer_run, pose_run, tmp_path):
    """Each crafted dataset through each command: a crafted name is refused with the file
    it came from; whatever the command does, every file outside its output (the dataset,
    the runs, the files a link points to) is byte for byte as before, and no output holds
    the outside files' bytes."""
    outside = _outside(tmp_path)
    ds = _hostile_dataset(kind, synthetic, tmp_path, outside)
    runs = {"stylizer": stylizer_run, "pose": pose_run}
    before = {d: hashes(d) for d in (tmp_path, stylizer_run, pose_run)}
    out = tmp_path / "output"
    p = _hostile_command(command, ds, out, runs)
    refused = kind != "links" or command in ("info", "stylize", "evaluate")
    if command == "reconstruct":
        refused = False  # it reads the one image it is given, nothing of the set
    if refused:
        assert p.returncode != 0, (p.stdout, p.stderr)
        assert "Traceback" not in p.stderr, p.stderr
    else:
        assert p.returncode == 0, p.stderr
    written = {out, out.with_suffix(".npz"), out.with_suffix(".png")}
    after = {d: {k: v for k, v in hashes(d).items()
                 if not any((d / k).is_relative_to(w) for w in written)}
             for d in (tmp_path, stylizer_run, pose_run)}
    assert after == before
    secret = (outside / "victim.json").read_bytes()
    for f in (f for w in written if w.exists() for f in ([w] if w.is_file() else w.rglob("*"))):
        assert not f.is_file() or secret not in f.read_bytes()


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_hostile_mesh_names_render_to_distinct_recorded_ids(tmp_path):
    """Mesh names that clean alike, are not ASCII or are 250 characters long: one object
    each, none overwriting another, each id recorded with its file; nothing outside OUT."""
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    glb = next(sample_meshes().rglob("*.glb"))
    names = json.loads((HOSTILE / "names.json").read_text())
    for name in names:
        (meshes / name).symlink_to(glb)
    before = hashes(tmp_path)
    p = aist("render", meshes, tmp_path / "ds", "--views", "1", "--size", "32", "--points",
             "100")
    assert p.returncode == 0, p.stderr
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    ids = [i for ids in meta["splits"].values() for i in ids]
    assert len(ids) == len(set(ids)) == len(names)
    assert sorted(Path(o["path"]).name for o in meta["source"]["objects"].values()) == \
        sorted(names)
    assert {k: v for k, v in hashes(tmp_path).items() if not k.startswith("ds/")} == before
