import json
import os

import numpy as np
import pytest

from aist_app.dataset import Dataset, DatasetError, DatasetWriter, make_splits
from aist_app.scene.cameras import orbit_camera


def _write(root, ids=("a", "b", "c", "d", "e"), views=2, size=(16, 16)):
    rng = np.random.default_rng(0)
    with DatasetWriter(root, kind="synthetic", image_size=size, source={"stage": "test"}) as w:
        for oid in ids:
            with w.object(oid) as obj:
                obj.set_points(rng.random((50, 3)), rng.random((50, 3)))
                for k in range(views):
                    img = np.zeros(size + (4,), np.uint8)
                    img[4:10, 4:10] = [0, 0, 0, 255]  # pure black on the object
                    obj.add_view(img, orbit_camera(30.0 * k, 10.0, image_size=size))
        w.finalize(seed=3)
    return root


def test_roundtrip_and_colour_correction(tmp_path):
    ds = Dataset.open(_write(tmp_path / "ds"))
    assert ds.kind == "synthetic" and ds.image_size == (16, 16)
    assert ds.object_ids() == ["a", "b", "c", "d", "e"]
    views = ds.cameras("a")
    assert [v["file"] for v in views] == ["view_000.png", "view_001.png"]
    img = ds.load_view("a", "view_000.png")
    assert img.shape == (16, 16, 4)
    assert (img[5, 5] == [1, 1, 1, 255]).all()  # black object pixel became (1, 1, 1)
    assert (img[0, 0] == 0).all()
    pts, nrm = ds.points("a")
    assert pts.dtype == np.float32 and pts.shape == (50, 3) == nrm.shape
    s = ds.summary()
    assert s["views"] == 10 and sum(s["splits"].values()) == 5


def test_splits_deterministic_and_order_free():
    ids = [f"obj{i}" for i in range(50)]
    a = make_splits(ids, seed=1)
    b = make_splits(list(reversed(ids)), seed=1)
    assert a == b
    assert [len(a[k]) for k in ("train", "val", "test")] == [40, 5, 5]
    assert make_splits(ids, seed=2) != a
    small = make_splits(["x", "y", "z"], seed=0)
    assert all(len(v) == 1 for v in small.values())


def test_split_rules_cut_proportions_or_counts():
    from aist_app.dataset.splits import split_objects

    ids = [f"car{i}" for i in range(48)]
    cut = split_objects(ids, "32/4/12", seed=0)
    assert [len(cut[k]) for k in ("train", "val", "test")] == [32, 4, 12]
    assert split_objects(ids, "80/10/10", seed=3) == make_splits(ids, seed=3)
    for bad in ("80/10", "a/b/c", "-1/1/1", "0/0/0", "80-10-10"):
        with pytest.raises(ValueError, match="split rule"):
            split_objects(ids, bad)


def _corrupt(ds_root, what):
    obj = ds_root / "objects" / "a"
    if what == "json":
        (ds_root / "dataset.json").write_text("{not json")
        return ds_root / "dataset.json"
    if what == "kind":
        meta = json.loads((ds_root / "dataset.json").read_text())
        meta["kind"] = "fake"
        (ds_root / "dataset.json").write_text(json.dumps(meta))
        return ds_root / "dataset.json"
    if what == "quaternion":
        cams = json.loads((obj / "cameras.json").read_text())
        cams["views"][0]["quaternion_wxyz"] = [0.0, 1.0, 0.0, 0.0]
        (obj / "cameras.json").write_text(json.dumps(cams))
        return obj / "cameras.json"
    if what == "points":
        (obj / "points.npz").unlink()
        return obj / "points.npz"
    if what == "truncated_png":
        p = obj / "view_001.png"
        p.write_bytes(p.read_bytes()[:40])
        return p
    if what == "rgb_png":
        from PIL import Image

        p = obj / "view_000.png"
        Image.new("RGB", (16, 16)).save(p)
        return p
    if what == "size":
        from PIL import Image

        p = obj / "view_000.png"
        Image.new("RGBA", (8, 16)).save(p)
        return p
    if what == "unlisted":
        (ds_root / "objects" / "zzz").mkdir()
        return ds_root / "objects" / "zzz"
    if what == "missing_object":
        import shutil

        shutil.rmtree(obj)
        return obj
    raise AssertionError(what)


@pytest.mark.parametrize("what", ["json", "kind", "quaternion", "points", "truncated_png",
                                  "rgb_png", "size", "unlisted", "missing_object"])
def test_contract_violations_name_the_file(tmp_path, what):
    root = _write(tmp_path / "ds")
    bad = _corrupt(root, what)
    with pytest.raises(DatasetError) as err:
        Dataset.open(root)
    assert err.value.path == bad
    assert str(bad) in str(err.value)


def test_failed_object_leaves_nothing_behind(tmp_path):
    root = tmp_path / "ds"
    with DatasetWriter(root, kind="synthetic", image_size=(8, 8)) as w:
        with pytest.raises(RuntimeError):
            with w.object("broken") as obj:
                obj.set_points(np.zeros((3, 3)), np.zeros((3, 3)))
                obj.add_view(np.zeros((8, 8, 4), np.uint8), orbit_camera(0, 0, image_size=(8, 8)))
                raise RuntimeError("renderer crashed")
        assert not w.is_complete("broken")
        assert os.listdir(root / "objects") == []


def test_stale_temp_folders_are_cleaned(tmp_path):
    root = tmp_path / "ds"
    (root / "objects" / ".tmp-x-123").mkdir(parents=True)
    DatasetWriter(root, kind="synthetic", image_size=(8, 8)).close()
    assert os.listdir(root / "objects") == []


def test_info_cli(tmp_path):
    from click.testing import CliRunner

    from aist_app.cli import main

    root = _write(tmp_path / "ds")
    res = CliRunner().invoke(main, ["info", str(root), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["objects"] == 5
    _corrupt(root, "quaternion")
    res = CliRunner().invoke(main, ["info", str(root)])
    assert res.exit_code == 2
    assert "cameras.json" in res.output and "quaternion" in res.output
