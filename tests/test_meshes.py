import shutil

import numpy as np
import pytest

from aist_app.scene.meshes import MeshError, discover, load, sample_surface


def test_discover_mixed_layouts(shared_meshes, tmp_path):
    items = {i.object_id: i for i in discover(shared_meshes)}
    assert items["1caa02b831cccff090baeef8ba5b93e5"].layout == "shapenet-v1"
    assert items["1caa02b831cccff090baeef8ba5b93e5"].synset == "02691156"
    assert items["ToyCar"].layout == "file"
    # ShapeNet v2 layout: <synset>/<model>/models/model_normalized.obj
    v2 = tmp_path / "03001627" / "abc123" / "models"
    v2.mkdir(parents=True)
    src = shared_meshes / "03001627" / "21bfb150cfc23accb01c58badc8bbc39"
    shutil.copy(src / "model.obj", v2 / "model_normalized.obj")
    shutil.copy(src / "model.mtl", v2 / "model.mtl")
    shutil.copytree(src / "images", tmp_path / "03001627" / "abc123" / "images")
    (tmp_path / "extra").mkdir()
    shutil.copy(shared_meshes / "toycar" / "ToyCar.glb", tmp_path / "extra" / "car.glb")
    found = discover(tmp_path)
    assert [(i.object_id, i.layout) for i in found] == [("abc123", "shapenet-v2"),
                                                         ("car", "file")]


def test_normalization_is_the_references(shared_meshes):
    """ShapeNet v1 keeps its own frame (the reference's ground truth is sampled from it);
    other files are centred and scaled to a bounding-box diagonal of 1."""
    for item in discover(shared_meshes):
        mesh = load(item)
        v = np.concatenate([p.vertices for p in mesh.parts])
        lo, hi = v.min(0), v.max(0)
        assert np.linalg.norm(hi - lo) == pytest.approx(1.0, abs=1e-5)
        assert np.allclose((hi + lo) / 2, 0, atol=1e-6)
        if item.layout == "shapenet-v1":
            assert mesh.normalization_mode == "shapenet-v1-native"
            raw = np.array([ln.split()[1:4] for ln in item.path.read_text().splitlines()
                            if ln.startswith("v ")], dtype=np.float64)
            assert np.allclose(np.unique(v, axis=0), np.unique(raw, axis=0))
        else:
            assert mesh.normalization_mode == "bbox-diagonal"


def test_unnormalized_shapenet_v1_is_normalized_with_a_warning(shared_meshes, tmp_path):
    src = shared_meshes / "02691156" / "1caa02b831cccff090baeef8ba5b93e5"
    d = tmp_path / "02691156" / "big"
    d.mkdir(parents=True)
    lines = []
    for ln in (src / "model.obj").read_text().splitlines():
        if ln.startswith("v "):
            x, y, z = (float(t) * 3.0 for t in ln.split()[1:4])
            ln = f"v {x} {y} {z}"
        lines.append(ln)
    (d / "model.obj").write_text("\n".join(lines))
    shutil.copy(src / "model.mtl", d / "model.mtl")
    mesh = load(discover(tmp_path)[0])
    assert mesh.normalization_mode == "bbox-diagonal"
    assert "not normalized" in mesh.warnings[0]


def test_surface_samples_are_uniform_and_seeded(shared_meshes):
    mesh = load(discover(shared_meshes / "toycar")[0])
    a, na = sample_surface(mesh, 20000, 7)
    b, _ = sample_surface(mesh, 20000, 7)
    assert np.array_equal(a, b) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(na, axis=1), 1, atol=1e-4)
    assert np.abs(a).max() <= 0.5 + 1e-6


def _bad(tmp_path, kind):
    p = tmp_path / f"{kind}.obj"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "no_faces":
        p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    elif kind == "garbage":
        p.write_bytes(bytes(range(256)) * 40)
    elif kind == "missing_texture":
        (tmp_path / "m.mtl").write_text("newmtl a\nKd 1 1 1\nmap_Kd textures/gone.jpg\n")
        p.write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\n"
                     "usemtl a\nf 1/1 2/2 3/3\n")
    elif kind == "missing_mtl":
        p.write_text("mtllib nothere.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    elif kind == "degenerate":
        p.write_text("v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n")
    elif kind == "png_as_glb":
        p = tmp_path / "fake.glb"
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    return p


@pytest.mark.parametrize("kind,category", [
    ("empty", "empty-mesh"), ("no_faces", "empty-mesh"), ("garbage", None),
    ("missing_texture", "missing-texture"), ("missing_mtl", "missing-material"),
    ("degenerate", "invalid-mesh"), ("png_as_glb", "unreadable-mesh"),
])
def test_bad_meshes_raise_with_reason(tmp_path, kind, category):
    path = _bad(tmp_path, kind)
    item = discover(path)[0]
    with pytest.raises(MeshError) as err:
        load(item)
    assert err.value.path == path
    if category:
        assert err.value.category == category


def test_missing_texture_can_be_allowed(tmp_path):
    item = discover(_bad(tmp_path, "missing_texture"))[0]
    mesh = load(item, allow_missing_textures=True)
    assert mesh.warnings and "gone.jpg" in mesh.warnings[0]


def test_clashing_ids_get_their_path(tmp_path, shared_meshes):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(shared_meshes / "toycar" / "ToyCar.glb", tmp_path / d / "car.glb")
    assert [i.object_id for i in discover(tmp_path)] == ["a_car", "b_car"]


def test_parts_keep_only_their_own_vertices(shared_meshes):
    """OBJ groups share one vertex list; each loaded part keeps just the vertices its faces
    use (same triangles), so renderers do not transform the whole list once per part."""
    import trimesh

    item = next(i for i in discover(shared_meshes) if i.synset == "02691156")
    mesh = load(item)
    assert len(mesh.parts) > 1
    for part in mesh.parts:
        assert len(np.unique(part.faces)) == len(part.vertices)
    raw = trimesh.load(item.path, force="scene", process=False, maintain_order=True)
    tris = np.concatenate([g.vertices[g.faces] for g in raw.dump(concatenate=False)])
    ours = np.concatenate([p.vertices[p.faces] for p in mesh.parts])
    np.testing.assert_allclose(ours, tris @ mesh.normalization[:3, :3].T
                               + mesh.normalization[:3, 3], atol=1e-9)
