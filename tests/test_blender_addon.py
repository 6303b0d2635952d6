"""The Blender add-on with the real bpy module: register/unregister, the render operator
driving `aist render --renderer blender` as a subprocess, import of a point cloud and its
camera, stylize/reconstruct with small real checkpoints, cancel, and the installable zip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from aist_app.api.progress import drain
from aist_app.dataset import Dataset
from aist_app.dataset.consistency import check_dataset

from .conftest import CHAIR, require_shared

#: The fast loop (`pytest -m "not slow"`) leaves these out; `.ci/run` runs them.
pytestmark = [pytest.mark.slow, pytest.mark.blender]

bpy = pytest.importorskip("bpy")
AIST = str(Path(sys.executable).with_name("aist"))
NAMES = ("AIST_OT_render_views", "AIST_OT_stylize", "AIST_OT_reconstruct",
         "AIST_OT_import_point_cloud", "AIST_OT_cancel", "AIST_PT_render", "AIST_PT_stylize",
         "AIST_PT_reconstruct", "AIST_PG_settings", "AIST_AP_preferences")


@pytest.fixture
def addon(monkeypatch):
    import aist_blender_addon

    monkeypatch.setenv("AIST_CLI", AIST)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    aist_blender_addon.register()
    yield aist_blender_addon
    aist_blender_addon.unregister()


def _chair_scene(name: str):
    require_shared()
    bpy.ops.wm.obj_import(filepath=str(CHAIR / "model.obj"))
    objs = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    for o in bpy.context.scene.objects:
        o.select_set(o in objs)
    bpy.context.view_layer.objects.active = objs[0]
    if len(objs) > 1:  # the OBJ's parts as one object, as a user would model it
        bpy.ops.object.join()
    obj = bpy.context.view_layer.objects.active
    obj.name = name
    for o in bpy.context.scene.objects:
        o.select_set(o is obj)
    bpy.context.view_layer.objects.active = obj
    return obj


def test_register_unregister_leaves_nothing():
    import aist_blender_addon

    def registered(name: str) -> bool:
        base = {"PG": bpy.types.PropertyGroup, "AP": bpy.types.AddonPreferences}.get(name[5:7])
        if base is not None:
            return base.bl_rna_get_subclass_py(name) is not None
        return hasattr(bpy.types, name)

    aist_blender_addon.register()
    assert all(registered(n) for n in NAMES)
    assert hasattr(bpy.types.Scene, "aist")
    aist_blender_addon.unregister()
    assert not any(registered(n) for n in NAMES)
    assert not hasattr(bpy.types.Scene, "aist")


def test_render_operator_matches_the_cli(addon, tmp_path):
    obj = _chair_scene(CHAIR.name)  # the ShapeNet id: the same per-object seed as the CLI
    s = bpy.context.scene.aist
    s.output = str(tmp_path / "ds")
    s.views, s.size, s.samples, s.seed = 3, 128, 16, 7
    s.elevation_min, s.elevation_max = 0.0, 40.0
    assert bpy.ops.aist.render_views() == {"FINISHED"}
    assert s.progress == 1.0 and s.status.endswith("done")
    ds = Dataset.open(tmp_path / "ds")
    assert ds.object_ids() == [obj.name]
    assert check_dataset(ds)["min_iou"] >= 0.9  # the renderer tests' consistency check
    # The CLI on the original mesh file: the same cameras and normalization.
    cli = tmp_path / "cli"
    subprocess.run([AIST, "render", str(CHAIR.parent), str(cli), "--renderer", "blender",
                    "--views", "3", "--size", "128", "--samples", "16", "--seed", "7",
                    "--elevation", "0:40"], check=True, capture_output=True,
                   env={**os.environ, "PYOPENGL_PLATFORM": "egl"})
    a = json.loads((tmp_path / "ds" / "objects" / obj.name / "cameras.json").read_text())
    b = json.loads((cli / "objects" / obj.name / "cameras.json").read_text())
    strip = [{k: v for k, v in view.items() if k != "lights"} for view in a["views"]]
    assert strip == [{k: v for k, v in view.items() if k != "lights"} for view in b["views"]]
    pa, pb = ds.points(obj.name)[0], Dataset.open(cli).points(obj.name)[0]
    assert np.allclose(pa.min(0), pb.min(0), atol=0.01) and np.allclose(pa.max(0), pb.max(0),
                                                                        atol=0.01)
    # Rendering again into the output continues it (the export folder is the same input);
    # other settings are refused until "Replace output" is ticked.
    assert bpy.ops.aist.render_views() == {"FINISHED"}
    s.size = 64
    with pytest.raises(RuntimeError, match="already holds a different render output"):
        bpy.ops.aist.render_views()
    s.overwrite = True
    assert bpy.ops.aist.render_views() == {"FINISHED"}
    assert Dataset.open(tmp_path / "ds").image_size == (64, 64)


def test_render_errors_are_reported(addon, tmp_path, monkeypatch):
    for o in bpy.context.scene.objects:
        o.select_set(False)
    with pytest.raises(RuntimeError, match="nothing selected"):
        bpy.ops.aist.render_views()
    bpy.ops.object.camera_add()
    bpy.context.scene.objects[0].select_set(True)
    with pytest.raises(RuntimeError, match="no mesh"):
        bpy.ops.aist.render_views()
    _chair_scene("chair")
    monkeypatch.setenv("AIST_CLI", str(tmp_path / "nowhere"))
    with pytest.raises(RuntimeError, match="aist environment was not found"):
        bpy.ops.aist.render_views()


def test_import_point_cloud_and_camera(addon, tmp_path):
    from aist_app.scene.cameras import orbit_camera

    cam = orbit_camera(30.0, 20.0, distance=2.0, focal_length=1.875, image_size=(64, 64),
                       up_axis="y")
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, (500, 3)).astype(np.float32)
    path = tmp_path / "cloud.npz"
    np.savez(path, points=pts, world_to_camera=cam.world_to_camera.astype(np.float32),
             focal_length=np.float32(1.875))
    bpy.context.view_layer.objects.active = None
    assert bpy.ops.aist.import_point_cloud(filepath=str(path)) == {"FINISHED"}
    cloud = bpy.data.objects["AIST cloud cloud"]
    assert len(cloud.data.vertices) == 500
    v = np.array([cloud.data.vertices[0].co[:]])
    assert np.allclose(v, [[pts[0, 0], -pts[0, 2], pts[0, 1]]], atol=1e-6)  # y-up -> z-up
    camera = bpy.data.objects["AIST camera cloud"]
    c = cam.centre
    assert np.allclose(camera.matrix_world.translation[:], [c[0], -c[2], c[1]], atol=1e-5)
    forward = -np.array(camera.matrix_world.col[2][:3])  # Blender cameras look down -z
    assert np.allclose(forward, -np.array([c[0], -c[2], c[1]]) / 2.0, atol=1e-5)
    bad = tmp_path / "bad.npz"
    np.savez(bad, other=np.zeros(3))
    with pytest.raises(RuntimeError, match="not a point cloud file"):
        bpy.ops.aist.import_point_cloud(filepath=str(bad))


def test_stylize_and_reconstruct_with_real_checkpoints(addon, tmp_path):
    from aist_app.api.manager import create_plugin_manager
    from aist_app.dataset.writer import DatasetWriter
    from aist_app.render.pipeline import RenderConfig, render_collection
    from aist_plugins.cyclegan.config import StylizerConfig
    from aist_plugins.cyclegan.train import Trainer
    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.train import PoseTrainer

    require_shared()
    syn = tmp_path / "ds"
    cls = create_plugin_manager().stage("renderer", "pyrender").factory
    drain(render_collection(CHAIR.parent, syn, RenderConfig(views=4, image_size=(32, 32),
                                                            device="cpu", points=500), cls))
    sty = StylizerConfig.from_preset("constrained", size=32, batch=1, ngf=8, ndf=8, n_blocks=1,
                                     steps=1, device="cpu", feature_net="efficientnet-lite0")
    real = tmp_path / "real"  # domain Y: the views as photos (no cameras)
    src = Dataset.open(syn)
    with DatasetWriter(real, kind="real", image_size=(32, 32)) as w:
        for oid in src.object_ids():
            for f in src.view_files(oid):
                with w.object(f"{oid}_{f[5:8]}") as o:
                    o.add_view(src.load_view(oid, f))
        w.finalize(seed=0)
    drain(Trainer(sty, syn, real, tmp_path / "sty").run())
    pose = PoseConfig(num_points=300, vox_size=16, kernel_size=5, image_size=32, f_dim=4,
                      fc_dim=32, z_dim=32, batch_objects=1, views_per_object=2, steps=1,
                      device="cpu")
    drain(PoseTrainer(pose, syn, tmp_path / "pose").run())
    obj = _chair_scene(CHAIR.name)
    s = bpy.context.scene.aist
    s.output, s.device = str(syn), "cpu"
    s.checkpoint, s.stylized = str(tmp_path / "sty"), str(tmp_path / "styled")
    assert bpy.ops.aist.stylize() == {"FINISHED"}
    assert Dataset.open(tmp_path / "styled").kind == "stylized"
    s.pose_run = str(tmp_path / "pose")
    assert bpy.ops.aist.reconstruct() == {"FINISHED"}  # the active object's first view
    cloud = bpy.data.objects["AIST cloud view_000"]
    assert len(cloud.data.vertices) == 300 and "AIST camera view_000" in bpy.data.objects
    # The cloud sits on the mesh: inside its bounding box, grown by half its size.
    from mathutils import Vector

    lo = np.min([obj.matrix_world @ Vector(c) for c in obj.bound_box], 0)
    v = np.array([p.co[:] for p in cloud.data.vertices])
    assert (v.min(0) > np.asarray(lo) - 1.0).all()
    # Refined against the view's silhouette (a few steps): a cloud again, from --refine.
    s.refine, s.refine_steps = True, 4
    from types import SimpleNamespace

    from aist_blender_addon import operators

    cmd = operators.AIST_OT_reconstruct.command(SimpleNamespace(), bpy.context)
    assert cmd[-3:] == ["--refine", "--refine-steps", "4"]
    assert bpy.ops.aist.reconstruct() == {"FINISHED"}
    assert len(bpy.data.objects["AIST cloud view_000"].data.vertices) == 300
    s.checkpoint = str(tmp_path / "missing.pt")
    with pytest.raises(RuntimeError, match="stylizer checkpoint not found"):
        bpy.ops.aist.stylize()


def test_job_progress_and_cancel(addon, tmp_path):
    from aist_blender_addon import operators
    from aist_blender_addon.jobs import Job, parse_event, progress_of

    from aist_app.api.events import Log, Progress, dumps

    # The add-on reads the CLI's JSON events, not its terminal text: a ShapeNet id with
    # digits and slashes in a message is not progress.
    fake = tmp_path / "fake-aist"
    fake.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys, time
        assert sys.argv[-2:] == ["--progress", "jsonl"], sys.argv
        print("skipped 1a2b/3c: 12/34 views", file=sys.stderr, flush=True)
        for k in range(1, 101):
            print(json.dumps({{"event": "progress", "done": k, "total": 100, "unit": "obj",
                              "item": f"car{{k}}"}}), flush=True)
            time.sleep(0.05)
        print("done")
        """))
    fake.chmod(0o755)
    assert progress_of(parse_event(dumps(Progress(3, 6, "step")))) == 0.5
    assert parse_event("train: 50%|###  | 3/6 [00:01<00:01]") is None
    assert progress_of(parse_event(dumps(Log("12/34")))) is None
    job = Job([str(fake)])
    operators._state["job"] = job
    deadline = time.monotonic() + 20
    while job.progress < 0.1 and time.monotonic() < deadline:
        job.poll()
        time.sleep(0.05)
    assert 0.1 <= job.progress < 1.0 and job.message.startswith("obj car")
    assert "skipped 1a2b/3c: 12/34 views" in job.lines
    assert operators.running()
    assert bpy.ops.aist.cancel() == {"FINISHED"}
    assert job.proc.poll() is not None and job.cancelled and not operators.running()
    operators._state["job"] = None
    failing = tmp_path / "failing"
    failing.write_text(f"#!{sys.executable}\nimport sys\nprint('error: no such dataset', "
                       "file=sys.stderr)\nsys.exit(2)\n")
    failing.chmod(0o755)
    job = Job([str(failing)])
    assert job.wait() == 2 and job.error() == "error: no such dataset"
    # A real command: its error event names the problem.
    job = Job([AIST, "evaluate", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "r"),
               "--model", "nope"])
    assert job.wait() == 2 and job.error() == "error: no pose_model named 'nope' is " \
        "installed (installed: dpc, refine)"


def test_built_zip_installs_as_an_extension(tmp_path):
    zip_path = tmp_path / "aist.zip"
    p = subprocess.run([AIST, "blender-addon", "build", str(zip_path)], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    script = textwrap.dedent(f"""\
        import bpy
        r = bpy.ops.extensions.package_install_files(filepath={str(zip_path)!r},
                                                     repo="user_default",
                                                     enable_on_install=True)
        print("RESULT", r, "bl_ext.user_default.aist" in bpy.context.preferences.addons,
              hasattr(bpy.types, "AIST_OT_render_views"), hasattr(bpy.types.Scene, "aist"))
        """)
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       timeout=300)
    assert "RESULT {'FINISHED'} True True True" in p.stdout, p.stdout + p.stderr


def test_objects_whose_names_clean_alike_export_to_distinct_files(addon, tmp_path):
    """Five selected objects whose names clean to the same or to nothing ("Car.001",
    "Car 001", "車", "椅子", quotes and semicolons) export to five files, none overwriting
    another; the id a plain name gets is the name itself."""
    from aist_blender_addon.operators import AIST_OT_render_views, _safe

    names = ["Car.001", "Car 001", "車", "椅子", "a'b\";c; drop"]
    objs = []
    for name in names:
        bpy.ops.mesh.primitive_cube_add(size=0.5)
        obj = bpy.context.view_layer.objects.active
        obj.name = name
        objs.append(obj)
    assert [o.name for o in objs] == names
    folder = tmp_path / "export"
    folder.mkdir()
    AIST_OT_render_views._export(bpy.context, objs, folder)
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 5 and files == sorted(f"{_safe(n)}.glb" for n in names)
    assert all(p.stat().st_size > 0 for p in folder.iterdir())
    assert _safe("1a2b3c") == "1a2b3c"  # a ShapeNet id stays the object id
