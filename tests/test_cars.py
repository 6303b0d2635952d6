"""The parametric car generator: seeded and byte-reproducible, a ShapeNet-v2 tree the loader
reads, closed outward-facing parts, and shapes that really differ."""

from __future__ import annotations

import numpy as np

from aist_app.api.progress import drain
from aist_app.scene.cars import STYLES, make_cars
from aist_app.scene.meshes import discover, load


def test_cars_are_seeded_distinct_and_loadable(tmp_path):
    drain(make_cars(tmp_path / "a", 14, seed=3))
    drain(make_cars(tmp_path / "b", 14, seed=3))
    drain(make_cars(tmp_path / "c", 3, seed=4))
    files = sorted((tmp_path / "a").rglob("*.obj"))
    assert len(files) == 14
    for f in files:
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()
    assert not {p.parent.parent.name for p in (tmp_path / "c").rglob("*.obj")} & {
        p.parent.parent.name for p in files}
    items = discover(tmp_path / "a")
    assert len(items) == 14 and {i.layout for i in items} == {"shapenet-v2"}
    extents = []
    for item in items:
        mesh = load(item)
        pts = np.concatenate([p.vertices for p in mesh.parts])
        ext = pts.max(0) - pts.min(0)
        extents.append(ext / ext.max())
        assert np.linalg.norm(ext) > 0.5
    # Every style appears twice; the proportions (height / length) spread widely.
    import json

    styles = [c["style"] for c in json.loads((tmp_path / "a" / "cars.json").read_text())[
        "cars"].values()]
    assert sorted(set(styles)) == sorted(STYLES) and len(styles) == 14
    ratio = np.array([e[1] for e in extents])
    assert ratio.max() / ratio.min() > 1.35, ratio  # a coupe is low, a van tall


def test_parts_are_closed_and_face_outwards():
    import trimesh

    from aist_app.scene.cars import CarParams, car_parts

    for i, style in enumerate(sorted(STYLES)):
        parts = car_parts(CarParams.sample(np.random.default_rng([0, i]), style))
        for name in ("body", "wheels"):
            m = trimesh.Trimesh(*parts[name], process=True)
            assert m.is_watertight and m.is_winding_consistent and m.volume > 0, (style, name)


def test_lamps_mark_the_front_and_the_back():
    """Headlights and grille at the front (x = 0 in the generator's frame, ShapeNet's -z),
    tail lights at the back, each in its own material: what tells a car's front from its
    back in an image."""
    from aist_app.scene.cars import CarParams, _obj_mtl, car_parts

    for i, style in enumerate(sorted(STYLES)):
        p = CarParams.sample(np.random.default_rng([1, i]), style)
        parts = car_parts(p)
        for name in ("headlights", "grille"):
            assert parts[name][0][:, 0].max() < 0.1 * p.length, (style, name)
        assert parts["taillights"][0][:, 0].min() > 0.9 * p.length, style
        obj, mtl = _obj_mtl(parts, p, "m")
        text = obj.decode()
        front = [line for line in text.split("o headlights")[1].split("o grille")[0]
                 .splitlines() if line.startswith("v ")]
        back = [line for line in text.split("o taillights")[1].splitlines()
                if line.startswith("v ")]
        z_front = np.mean([float(v.split()[3]) for v in front])
        z_back = np.mean([float(v.split()[3]) for v in back])
        assert z_front < -0.3 < 0.3 < z_back, (style, z_front, z_back)  # ShapeNet: front -z
        assert b"newmtl taillights\nKd 0.8000 0.0300 0.0300" in mtl
