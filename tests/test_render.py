"""Both renderers on the real shared meshes: the annotation-consistency promise and more."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aist_app.dataset import Dataset
from aist_app.dataset.consistency import check_dataset
from aist_app.scene.cameras import mask_iou

from .conftest import CHAIR, _render

AIST = Path(sys.executable).parent / "aist"


@pytest.mark.parametrize("fixture", ["pyrender_dataset", "blender_dataset"])
def test_points_project_onto_silhouette(fixture, request):
    ds = Dataset.open(request.getfixturevalue(fixture))
    assert len(ds.object_ids()) == 3
    report = check_dataset(ds)
    assert report["views"] == 15
    assert report["min_iou"] >= 0.9, report["per_object"]


def test_alpha_is_non_binary_and_background_black(pyrender_dataset, blender_dataset):
    for root in (pyrender_dataset, blender_dataset):
        ds = Dataset.open(root)
        img = ds.load_view("ToyCar", "view_000.png")
        alpha = img[..., 3]
        assert ((alpha > 0) & (alpha < 255)).any()
        assert (img[alpha == 0] == 0).all()


def test_renderers_agree_on_silhouettes(pyrender_dataset, blender_dataset):
    a, b = Dataset.open(pyrender_dataset), Dataset.open(blender_dataset)
    assert a.object_ids() == b.object_ids()
    for oid in a.object_ids():
        ca, cb = a.cameras(oid), b.cameras(oid)
        for va, vb in zip(ca, cb, strict=True):
            assert va["world_to_camera"] == vb["world_to_camera"]  # same cameras, same seed
            ia, ib = a.load_view(oid, va["file"]), b.load_view(oid, vb["file"])
            assert mask_iou(ia[..., 3] > 0, ib[..., 3] > 0) >= 0.95, (oid, va["file"])
        pa, _ = a.points(oid)
        pb, _ = b.points(oid)
        assert np.array_equal(pa, pb)


def test_depth_agrees_between_renderers(pyrender_dataset, blender_dataset):
    from PIL import Image

    a, b = Dataset.open(pyrender_dataset), Dataset.open(blender_dataset)
    v = a.cameras("ToyCar")[0]
    da = np.asarray(Image.open(a.object_dir("ToyCar") / v["depth_file"])) * v["depth_scale"]
    db = np.asarray(Image.open(b.object_dir("ToyCar") / v["depth_file"])) * v["depth_scale"]
    both = (da > 0) & (db > 0)
    assert both.sum() > 100
    assert np.median(np.abs(da - db)[both]) < 0.02
    assert 1.4 < np.median(da[both]) < 2.6


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "objects").rglob("*")) if p.is_file()}


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_deterministic_and_resumable(tmp_path, pyrender_dataset):
    out = tmp_path / "again"
    _render(out, "pyrender", depth=True)
    assert _digest(out) == _digest(pyrender_dataset)
    # Simulate a crash: one object missing, a stale temp folder left behind.
    shutil.rmtree(out / "objects" / "ToyCar")
    (out / "objects" / ".tmp-ToyCar-crashed").mkdir()
    summary = _render(out, "pyrender", depth=True)
    assert summary.rendered == ["ToyCar"] and len(summary.skipped) == 2
    assert _digest(out) == _digest(pyrender_dataset)


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_bad_meshes_are_skipped_with_reasons(tmp_path, shared_meshes):
    coll = tmp_path / "coll"
    shutil.copytree(CHAIR, coll / "03001627" / CHAIR.name)
    (coll / "empty.obj").write_bytes(b"")
    (coll / "corrupt.glb").write_bytes(b"glTF" + b"\xff" * 64)
    (coll / "notamesh.stl").write_text("hello, I am a text file\n")
    notex = coll / "03001627" / "notex"
    shutil.copytree(CHAIR, notex)
    shutil.rmtree(notex / "images")
    out = tmp_path / "ds"
    res = subprocess.run([str(AIST), "render", str(coll), str(out), "--views", "2",
                          "--points", "5000"], capture_output=True, text=True)
    assert res.returncode == 1, res.stderr  # some object failed; the others are written
    ds = Dataset.open(out)
    assert ds.object_ids() == [CHAIR.name]
    failures = {f["object_id"]: f for f in ds.source["failures"]}
    assert set(failures) == {"empty", "corrupt", "notamesh", "notex"}
    assert failures["empty"]["category"] == "empty-mesh"
    assert failures["notex"]["category"] == "missing-texture"
    assert "texture0.jpg" in failures["notex"]["reason"]
    assert all(f["reason"] for f in failures.values())
    assert "4 failed" in res.stdout
    assert [p.name for p in (out / "objects").iterdir()] == [CHAIR.name]


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_cli_grid_and_elevation_range(tmp_path, shared_meshes):
    out = tmp_path / "grid"
    res = subprocess.run(
        [str(AIST), "render", str(shared_meshes / "toycar"), str(out), "--azimuth", "grid:4",
         "--elevation", "grid:0,30", "--size", "64", "--points", "20000", "--seed", "3"],
        capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    ds = Dataset.open(out)
    views = ds.cameras("ToyCar")
    assert len(views) == 8 and ds.image_size == (64, 64)
    assert sorted({round(v["azimuth_deg"]) for v in views}) == [0, 90, 180, 270]
    assert sorted({round(v["elevation_deg"]) for v in views}) == [0, 30]
    assert ds.source["seed"] == 3 and ds.source["config"]["azimuth"] == "grid:4"
    assert ds.source["meshes"] == str(shared_meshes / "toycar")
    assert check_dataset(ds)["min_iou"] >= 0.85  # 64x64: coarser pixels


def test_pyrender_redraws_views_whose_samples_miss_thin_parts(tmp_path, pyrender_dataset):
    """A sheet seen edge-on projects to a sub-pixel line that 3x3 supersampling misses: the
    coverage check sends that view to the MSAA tier; ordinary views stay on the cheap tier."""
    import trimesh

    from aist_app.api.progress import drain
    from aist_app.render.pipeline import RenderConfig, render_collection
    from aist_plugins.pyrender_renderer import PyrenderRenderer

    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box(extents=[1.0, 0.0015, 1.0]).export(meshes / "sheet.obj")
    cfg = RenderConfig(views=1, azimuth="grid:1", elevation="grid:0,", points=20_000,
                       device="cpu")
    summary = drain(render_collection(meshes, tmp_path / "out", cfg, PyrenderRenderer))
    assert summary.rendered == ["sheet"], summary.failed
    (view,) = Dataset.open(tmp_path / "out").cameras("sheet")
    assert view["antialias"]["msaa"] == 4
    assert view["antialias"]["coverage_before"] < 0.95

    ds = Dataset.open(pyrender_dataset)
    tiers = [v["antialias"]["msaa"] for oid in ds.object_ids() for v in ds.cameras(oid)]
    assert tiers.count(0) > len(tiers) // 2, tiers


def test_covered_fraction_counts_pixels_points_fall_in():
    from aist_app.scene.cameras import orbit_camera
    from aist_plugins.pyrender_renderer import covered_fraction

    cam = orbit_camera(0.0, 0.0, image_size=(32, 32))
    pts = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.001], [0.2, 0.2, 0.0]], dtype=np.float32)
    alpha = np.zeros((32, 32), dtype=np.uint8)
    assert covered_fraction(pts, cam, alpha) == 0.0
    from aist_app.scene.cameras import project

    uv, _ = project(pts[:1], cam.world_to_camera, cam.K)
    u, v = np.floor(uv[0]).astype(int)
    alpha[v, u] = 7
    assert covered_fraction(pts, cam, alpha) == 0.5  # two distinct pixels, one covered


def test_pyrender_merged_parts_draw_as_drawn_apart():
    """Consecutive plain parts (flat, per-vertex and per-face colours) become one draw with
    their colours per vertex; the image is the one drawn part by part."""
    import trimesh

    from aist_app.api.renderer import RenderOptions
    from aist_app.render.pipeline import RenderConfig, plan_views
    from aist_app.scene.materials import PartMaterial
    from aist_app.scene.meshes import LoadedMesh, MeshItem
    from aist_plugins.pyrender_renderer import PyrenderRenderer

    parts = []
    for x in (-0.3, 0.0, 0.3):
        box = trimesh.creation.box(extents=[0.25, 0.5, 0.25])
        box.apply_translation([x, 0.0, 0.0])
        parts.append(box)
    rng = np.random.default_rng(0)
    vc = np.full((len(parts[1].vertices), 4), 255, dtype=np.uint8)
    vc[:, :3] = rng.integers(0, 256, (len(vc), 3))
    fc = np.full((len(parts[2].faces), 4), 255, dtype=np.uint8)
    fc[:, :3] = rng.integers(0, 256, (len(fc), 3))
    mats = [PartMaterial(base_color=(0.8, 0.2, 0.1, 1.0)),
            PartMaterial(base_color=(0.5, 1.0, 1.0, 1.0), vertex_colors=vc),
            PartMaterial(base_color=(1.0, 1.0, 0.5, 1.0), face_colors=fc)]
    mesh = LoadedMesh(MeshItem("boxes", Path("boxes.obj"), "folder"), parts, np.eye(4),
                      materials=mats)
    jobs, _ = plan_views(RenderConfig(views=3), "boxes")
    r = PyrenderRenderer(RenderOptions(image_size=(64, 64), device="cpu"))
    try:
        assert len(r._primitives(mesh)) == 1
        merged = [v.rgba for v in r.render(mesh, jobs)]
        r._primitives = lambda m: [r._primitive(p, q)
                                   for p, q in zip(m.parts, m.materials, strict=True)]
        apart = [v.rgba for v in r.render(mesh, jobs)]
    finally:
        r.close()
    for a, b in zip(merged, apart, strict=True):
        assert (a[..., 3] > 0).sum() > 150
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_varied_look_changes_appearance_not_geometry(tmp_path):
    """--look varied (Blender): per object a paint, dirt and sky; the cameras, lights' draws
    and silhouettes are those of as-is, so the target domain keeps the same ground truth."""
    from aist_app.api.manager import create_plugin_manager
    from aist_app.api.progress import drain
    from aist_app.common.samples import sample_meshes
    from aist_app.render.pipeline import RenderConfig, render_collection

    pm = create_plugin_manager()
    out = {}
    for look in ("as-is", "varied"):
        cfg = RenderConfig(renderer="blender", views=2, image_size=(48, 48), points=300,
                           device="cpu", samples=8, look=look)
        drain(render_collection(sample_meshes(), tmp_path / look, cfg,
                                pm.stage("renderer", "blender").factory))
        out[look] = Dataset.open(tmp_path / look)
    a, b = out["as-is"], out["varied"]
    (oid,) = a.object_ids()
    assert [c["world_to_camera"] for c in a.cameras(oid)] == [
        c["world_to_camera"] for c in b.cameras(oid)]
    diff = []
    for f in a.view_files(oid):
        va, vb = a.load_view(oid, f), b.load_view(oid, f)
        assert np.array_equal(va[..., 3], vb[..., 3])
        diff.append(np.abs(va[..., :3].astype(int) - vb[..., :3]).mean())
    assert min(diff) > 2.0, diff
    prov = json.loads((tmp_path / "varied" / "objects" / oid / "provenance.json").read_text())
    assert set(prov["look"]) >= {"paint", "metallic", "dirt", "zenith", "env_strength"}
    with pytest.raises(ValueError, match="--look varied: the pyrender renderer"):
        next(render_collection(sample_meshes(), tmp_path / "py",
                               RenderConfig(look="varied", device="cpu"),
                               pm.stage("renderer", "pyrender").factory))
