"""The segmenter end to end: real photos, the real deeplab-lite model, Mask R-CNN's real
architecture (random weights written to a file, as no COCO weights are on this machine),
bad photos, weights errors, resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aist_app.api.progress import drain
from aist_app.dataset import Dataset
from aist_app.segment import filters as F
from aist_app.segment.photos import PhotoError, load_photo
from aist_app.segment.pipeline import SegmentConfig, segment_photos

from .conftest import SHARED_DATA, require_shared

AIST = str(Path(sys.executable).with_name("aist"))
PHOTOS = SHARED_DATA / "photos"


def _aist(*args, env=None, check=True):
    p = subprocess.run([AIST, *map(str, args)], capture_output=True, text=True, timeout=600,
                       env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"aist {args} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p




@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A small synthetic dataset: the ratio distribution and image size to match."""
    from aist_app.api.manager import create_plugin_manager
    from aist_app.render.pipeline import RenderConfig, render_collection

    require_shared()
    out = tmp_path_factory.mktemp("seg") / "synthetic"
    cls = create_plugin_manager().stage("renderer", "pyrender").factory
    cfg = RenderConfig(views=8, elevation="0:40", device="cpu", points=2000)
    drain(render_collection(SHARED_DATA / "meshes", out, cfg, cls))
    return out


@pytest.fixture(scope="module")
def deeplab_run(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "real"
    p = _aist("segment", PHOTOS, out, "--synthetic", synthetic, "--segmenter", "deeplab-lite")
    return out, p


# -- photos -----------------------------------------------------------------------------------
def test_bad_photos_are_rejected_or_converted(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "ok.jpg", quality=95)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "16bit.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "pal.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    Image.fromarray(rgb).save(tmp_path / "rotated.jpg", exif=exif)
    Image.new("1", (8000, 7000)).save(tmp_path / "huge.png")  # 56 MP, a tiny file

    assert load_photo(tmp_path / "ok.jpg").shape == (120, 160, 3)
    assert load_photo(tmp_path / "cmyk.jpg").shape == (120, 160, 3)
    sixteen = load_photo(tmp_path / "16bit.png")
    assert sixteen.dtype == np.uint8 and F.is_grayscale(sixteen)
    assert np.abs(sixteen[..., 0].astype(int) - rgb[..., 0]).max() <= 1
    assert load_photo(tmp_path / "pal.png").shape == (120, 160, 3)
    assert load_photo(tmp_path / "rotated.jpg").shape == (160, 120, 3)  # upright
    for name, category in (("truncated.jpg", "unreadable"), ("empty.png", "unreadable"),
                           ("text.png", "unreadable"), ("huge.png", "too-large")):
        with pytest.raises(PhotoError) as e:
            load_photo(tmp_path / name)
        assert e.value.category == category and name in str(e.value)
    with pytest.raises(PhotoError, match="too small") as e:
        load_photo(tmp_path / "ok.jpg", min_side=200)
    assert e.value.category == "too-small"


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_run_goes_on_past_bad_photos(synthetic, tmp_path):
    require_shared()
    photos = tmp_path / "photos"
    photos.mkdir()
    street = PHOTOS / "19064748793_bb942deea1_k.jpg"
    shutil.copy(street, photos / "street.jpg")
    (photos / "truncated.jpg").write_bytes(street.read_bytes()[:5000])
    Image.new("RGB", (60, 40), (10, 200, 30)).save(photos / "tiny.png")
    gray = np.asarray(Image.open(street).convert("L"))
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(photos / "gray.png")
    from aist_plugins.deeplab_segmenter import DeepLabLiteSegmenter

    out = tmp_path / "real"
    summary = drain(segment_photos(photos, out, synthetic,
                                    SegmentConfig(segmenter="deeplab-lite"),
                                    DeepLabLiteSegmenter))
    rej = summary.rejections()
    assert rej["photos"] == {"unreadable": 1, "too-small": 1, "too-large": 0}
    assert rej["candidates"]["grayscale"] >= 1  # the gray copy's car passes 1-4, fails 5
    assert summary.accepted == ["street_00"]
    assert Dataset.open(out).object_ids() == ["street_00"]


# -- deeplab-lite on the real photos ------------------------------------------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_deeplab_lite_end_to_end(deeplab_run, synthetic):
    out, p = deeplab_run
    ds = Dataset.open(out)
    assert ds.kind == "real" and ds.image_size == Dataset.open(synthetic).image_size
    ids = ds.object_ids()
    assert len(ids) >= 1, p.stdout
    cfg = F.FilterConfig()
    for oid in ids:
        prov = ds.provenance(oid)
        assert Path(prov["photo"]).parent == PHOTOS
        assert prov["label"] in cfg.classes and prov["score"] >= cfg.min_score
        assert F.size_ok(tuple(prov["box"]), cfg.min_side)
        # Every output passes the filters it can be checked on: one piece, not cut off.
        view = ds.load_view(oid, "view_000.png")
        alpha = view[..., 3] > 0
        assert F.components(alpha) == 1 and not F.cropped(alpha)
        assert (view[~alpha, :3] == 0).all()
        assert not ((view[alpha, :3] == 0).all(axis=-1)).any()  # colour-corrected
        assert prov["ratio_after"] == pytest.approx(prov["target_ratio"], rel=0.05)
    meta = json.loads((out / "dataset.json").read_text())
    src = meta["source"]
    assert src["stage"] == "segment" and src["plugin"] == "deeplab-lite" and src["seed"] == 0
    assert set(src["rejections"]["candidates"]) == set(F.REASONS)
    assert "ks_before" in src["ks"] and "ks_after" in src["ks"]
    assert "rejected candidates:" in p.stdout and "KS real vs synthetic" in p.stdout
    for name in ("ratio_hist_before.png", "ratio_hist_after.png"):
        with Image.open(out / "report" / name) as im:
            assert im.size[0] > 300
    # Splits: 80/20 by photo, every instance of a photo on the same side, no val.
    assert meta["splits"]["val"] == []
    side = {}
    for split in ("train", "test"):
        for oid in meta["splits"][split]:
            photo = ds.provenance(oid)["photo"]
            assert side.setdefault(photo, split) == split


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_deeplab_lite_resume_and_determinism(deeplab_run, synthetic, tmp_path):
    out, _ = deeplab_run
    before = {p: p.read_bytes() for p in (out / "objects").rglob("*.png")}
    p = _aist("segment", PHOTOS, out, "--synthetic", synthetic, "--segmenter", "deeplab-lite")
    assert "5 (5 already done)" in p.stdout
    again = tmp_path / "again"
    _aist("segment", PHOTOS, again, "--synthetic", synthetic, "--segmenter", "deeplab-lite")
    assert {p.relative_to(out): b for p, b in before.items()} == {
        p.relative_to(again): p.read_bytes() for p in (again / "objects").rglob("*.png")}


# -- Mask R-CNN ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def random_maskrcnn(tmp_path_factory) -> dict[str, Path]:
    """State dicts of the real architectures with random weights (no COCO weights here)."""
    import torch

    from aist_plugins.maskrcnn_segmenter import build_model

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("weights")
    out = {}
    for variant in ("v2", "v1"):
        out[variant] = d / f"random-{variant}.pth"
        torch.save(build_model(variant).state_dict(), out[variant])
    return out


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_maskrcnn_real_architecture_runs(random_maskrcnn, synthetic, tmp_path):
    """The full path (model, batching, masks, filters, normalization, writing) with the real
    v2 architecture; random weights give low scores and random labels, so every COCO class
    and every score is let through to reach the writing."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_V2_Weights

    from aist_plugins.maskrcnn_segmenter import MaskRCNNSegmenter

    require_shared()
    every = tuple(c for c in MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1.meta["categories"]
                  if c != "N/A")
    cfg = SegmentConfig(segmenter="maskrcnn", weights=str(random_maskrcnn["v2"]),
                        input_size=320, batch_size=2, device="cpu", min_score=0.0,
                        classes=every, min_side=8.0, min_fill=0.0)
    summary = drain(segment_photos(PHOTOS, tmp_path / "real", synthetic, cfg,
                                    MaskRCNNSegmenter))
    assert summary.photos == 5
    assert summary.candidates > 0
    assert sum(summary.rejected.values()) + len(summary.accepted) == summary.candidates
    assert summary.accepted
    ds = Dataset.open(tmp_path / "real")
    assert ds.source["model"]["model"] == "maskrcnn_resnet50_fpn_v2"
    assert ds.source["model"]["weights"] == str(random_maskrcnn["v2"])


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_maskrcnn_missing_weights_is_a_clear_error(synthetic, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    p = _aist("segment", PHOTOS, tmp_path / "out", "--synthetic", synthetic,
              env={"AIST_WEIGHTS_DIR": str(empty), "TORCH_HOME": str(empty)}, check=False)
    assert p.returncode == 2
    assert "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth" in p.stderr
    assert "AIST_WEIGHTS_DIR" in p.stderr and str(empty) in p.stderr
    assert "random" in p.stderr  # it says it will not fall back to random weights
    assert not (tmp_path / "out" / "dataset.json").exists()


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_maskrcnn_wrong_checkpoint_is_refused(random_maskrcnn, synthetic, tmp_path):
    p = _aist("segment", PHOTOS, tmp_path / "out", "--synthetic", synthetic,
              "--weights", random_maskrcnn["v1"], check=False)
    assert p.returncode == 2
    assert str(random_maskrcnn["v1"]) in p.stderr and "--variant v1" in p.stderr
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00" * 100)
    p = _aist("segment", PHOTOS, tmp_path / "out2", "--synthetic", synthetic,
              "--weights", garbage, check=False)
    assert p.returncode == 2 and "garbage.pth" in p.stderr


def test_maskrcnn_with_real_coco_weights(synthetic, tmp_path):
    from aist_plugins.maskrcnn_segmenter import weights_filename

    wdir = os.environ.get("AIST_WEIGHTS_DIR")
    name = weights_filename("v2")
    if not wdir or not (Path(wdir) / name).is_file():
        pytest.skip(f"real COCO weights not present: put {name} in $AIST_WEIGHTS_DIR")
    out = tmp_path / "real"
    _aist("segment", PHOTOS, out, "--synthetic", synthetic, "--device", "cpu")
    assert len(Dataset.open(out).object_ids()) >= 1
