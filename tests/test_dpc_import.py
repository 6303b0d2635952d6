"""Import of the original DPC layout, on a fixture written in that layout from real renders."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aist_app.dataset import Dataset
from aist_app.dataset.consistency import check_dataset
from aist_app.scene.cameras import Camera
from tests.helpers.dpc_layout import make_dpc_fixture

AIST = Path(sys.executable).parent / "aist"


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_import_dpc_roundtrip(tmp_path, pyrender_dataset):
    src = Dataset.open(pyrender_dataset)
    fx = make_dpc_fixture(src, tmp_path / "dpc")
    # One model without ground truth and one with a broken camera file: skipped, reasons kept.
    bad = fx / "renders" / "02958343" / "nogt"
    bad.mkdir()
    Image.new("RGBA", (128, 128)).save(bad / "render_0.png")
    out = tmp_path / "imported"
    res = subprocess.run([str(AIST), "import-dpc", str(fx / "renders"), str(out), "--gt",
                          str(fx / "gt" / "downsampled"), "--views", "5"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "3 imported" in res.stdout and "1 failed" in res.stdout
    ds = Dataset.open(out)
    assert ds.object_ids() == src.object_ids()
    assert ds.source["failures"][0]["category"] == "missing-ground-truth"
    for oid in ds.object_ids():
        for a, b in zip(ds.cameras(oid), src.cameras(oid), strict=True):
            assert np.allclose(a["world_to_camera"], b["world_to_camera"], atol=1e-5)
            assert np.allclose(a["K"], b["K"])
            assert abs(a["elevation_deg"] - b["elevation_deg"]) < 1e-3
            assert abs((a["azimuth_deg"] - b["azimuth_deg"] + 180) % 360 - 180) < 1e-3
            img = ds.load_view(oid, a["file"])
            assert (img[img[..., 3] == 0] == 0).all()  # white background removed
        pts, nrm = ds.points(oid)
        assert np.allclose(np.linalg.norm(nrm, axis=1), 1, atol=1e-3)
    assert check_dataset(ds)["min_iou"] >= 0.85  # GT downsampled 3x here
    # Importing again skips what is complete; with other options it is refused.
    args = [str(AIST), "import-dpc", str(fx / "renders"), str(out), "--gt",
            str(fx / "gt" / "downsampled")]
    res = subprocess.run([*args, "--views", "5"], capture_output=True, text=True)
    assert "3 already complete" in res.stdout
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 2 and "config.views: 5 in the folder, None now" in res.stderr


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_import_of_renders_made_with_the_references_blender_camera(tmp_path, shared_meshes):
    """An independent camera check: renders made by a helper that sets Blender up as the
    reference's own scripts do (lens 60, sensor 32, its camera placement and camera_k.mat),
    without AIST's renderer; after ``aist import-dpc`` the ground-truth points reprojected
    with the imported cameras land on the masks."""
    from aist_app.scene.cameras import mask_iou, points_mask

    model = shared_meshes / "03001627" / "21bfb150cfc23accb01c58badc8bbc39" / "model.obj"
    helper = Path(__file__).parent / "helpers" / "dpc_blender_fixture.py"
    views = ["30:10", "140:25", "250:-15", "330:40"]
    res = subprocess.run([sys.executable, str(helper), str(model), "03001627",
                          str(tmp_path / "renders"), str(tmp_path / "gt"), "128", *views],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "imported"
    res = subprocess.run([str(AIST), "import-dpc", str(tmp_path / "renders"), str(out),
                          "--gt", str(tmp_path / "gt")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    ds = Dataset.open(out)
    (oid,) = ds.object_ids()
    pts, _ = ds.points(oid)
    ious = []
    for v in ds.cameras(oid):
        cam = Camera.from_json(v)
        assert cam.K[0, 0] == 240.0  # 60 mm on a 32 mm sensor at 128 px
        mask = ds.load_view(oid, v["file"])[..., 3] > 0
        ious.append(mask_iou(points_mask(pts, cam, (128, 128)), mask))
    assert min(ious) >= 0.9, ious
