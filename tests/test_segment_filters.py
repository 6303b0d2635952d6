"""The seven filters and the normalization math, on constructed masks and images."""

from __future__ import annotations

import numpy as np
import pytest

from aist_app.segment import filters as F
from aist_app.segment.normalize import (
    car_to_frame_ratio,
    cutout,
    normalize,
    pad_square,
    ratio_padding,
    render_padded,
)


def rect_mask(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def test_label_and_score_thresholds():
    assert F.label_ok("car", ("car", "truck")) and F.label_ok("truck", ("car", "truck"))
    assert not F.label_ok("bus", ("car", "truck"))
    assert F.score_ok(0.7, 0.7)  # exactly at the threshold passes
    assert not F.score_ok(np.nextafter(0.7, 0), 0.7)


def test_size_is_sqrt_of_box_area():
    assert F.size_ok((0, 0, 128, 128), 128)  # exactly 128
    assert F.size_ok((0, 0, 256, 64), 128)  # sqrt(256 * 64) = 128: elongated boxes count
    assert not F.size_ok((0, 0, 128, 127.9), 128)
    assert not F.size_ok((10, 10, 5, 50), 1)  # degenerate box


def test_fill_ratio_at_threshold():
    box = (0.0, 0.0, 10.0, 10.0)
    m = rect_mask(20, 20, 0, 5, 0, 10)  # 50 of 100 box pixels
    assert F.fill_ratio(m, box) == 0.5 and F.fill_ok(m, box, 0.5)
    m[4, 9] = False
    assert not F.fill_ok(m, box, 0.5)


def test_grayscale_photo_stored_as_rgb():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (300, 400), dtype=np.uint8)
    rgb_gray = np.repeat(gray[..., None], 3, axis=2)
    assert F.is_grayscale(rgb_gray)
    assert F.is_grayscale(gray)  # a single-channel array too
    noisy = np.clip(rgb_gray.astype(int) + rng.integers(-4, 5, rgb_gray.shape), 0, 255)
    assert F.is_grayscale(noisy.astype(np.uint8))  # JPEG chroma noise is still gray
    colour = rgb_gray.copy()
    colour[:60, :, 0] = 255  # a red band over 20% of the photo
    colour[:60, :, 1:] = 0
    assert not F.is_grayscale(colour)


def test_occlusion_components():
    m = rect_mask(50, 50, 5, 20, 5, 20) | rect_mask(50, 50, 5, 20, 30, 45)
    assert F.components(m) == 2 and F.occluded(m)
    bridged = m.copy()
    bridged[12, 20:30] = True  # a one-pixel-wide bridge joins them
    assert F.components(bridged) == 1 and not F.occluded(bridged)
    corner = rect_mask(10, 10, 0, 5, 0, 5) | rect_mask(10, 10, 5, 10, 5, 10)  # touch diagonally
    assert F.components(corner) == 1
    assert F.components(np.zeros((5, 5), bool)) == 0


def test_cropping_border_bands():
    h, w = 100, 200  # bands: 2 rows at top/bottom, 4 columns left/right
    inner = rect_mask(h, w, 10, 90, 10, 190)
    assert F.border_cover(inner) == 0.0 and not F.cropped(inner)
    # Exactly a third of the left band (100 rows x 4 columns) covered: not cropped (more
    # than a third is needed); one more pixel is.
    band = np.zeros((h, w), dtype=bool)
    cells = [(y, x) for y in range(h) for x in range(4)]
    for y, x in cells[:133]:
        band[y, x] = True
    assert F.border_cover(band) == pytest.approx(133 / 400) and not F.cropped(band)
    band[cells[133]] = True
    assert F.border_cover(band) == pytest.approx(134 / 400) and F.cropped(band)
    # A car in the corner touching two borders, a little of each band: not cropped...
    corner = rect_mask(h, w, 0, 20, 0, 40)
    assert F.border_cover(corner) == pytest.approx(0.2)
    assert not F.cropped(corner)
    # ...but filling half the bottom band is.
    assert F.cropped(rect_mask(h, w, 50, 100, 0, 100))


def test_first_rejection_order():
    cfg = F.FilterConfig()
    m = rect_mask(600, 800, 100, 300, 100, 500)
    box = (100.0, 100.0, 500.0, 300.0)
    assert F.first_rejection("car", 0.9, box, m, False, cfg) is None
    assert F.first_rejection("person", 0.1, box, m, True, cfg) == "label"
    assert F.first_rejection("car", 0.1, box, m, True, cfg) == "score"
    assert F.first_rejection("car", 0.9, (0, 0, 10, 10), m, True, cfg) == "size"
    assert F.first_rejection("car", 0.9, (0.0, 0.0, 800.0, 600.0), m, True, cfg) == "fill"
    assert F.first_rejection("car", 0.9, box, m, True, cfg) == "grayscale"
    two = m.copy()
    two[:, 300] = False
    assert F.first_rejection("car", 0.9, box, two, False, cfg) == "occlusion"
    edge = rect_mask(600, 800, 100, 320, 0, 400)  # 220 of the left band's 600 rows
    edge_box = (0.0, 100.0, 400.0, 320.0)
    assert F.first_rejection("car", 0.9, edge_box, edge, False, cfg) == "cropping"


# -- normalization ------------------------------------------------------------------------------
def ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    y, x = np.mgrid[:h, :w]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0


def test_cutout_background_and_colour_correction():
    img = np.full((60, 80, 3), 200, np.uint8)
    img[20:30, 30:40] = 0  # pure black object pixels
    m = rect_mask(60, 80, 15, 35, 25, 55)
    rgba, box = cutout(img, m)
    assert box == (25, 15, 55, 35) and rgba.shape == (20, 30, 4)
    assert (rgba[..., 3] == 255).all()
    assert (rgba[5:15, 5:15, :3] == 1).all()  # black became (1, 1, 1)
    m2 = ellipse(60, 80, 30, 40, 10, 20)
    rgba2, _ = cutout(img, m2)
    bg = rgba2[..., 3] == 0
    assert bg.any() and (rgba2[bg, :3] == 0).all()


def test_pad_square_odd_remainder_goes_to_a_random_side():
    rgba = np.zeros((10, 15, 4), np.uint8)
    sides = set()
    for seed in range(20):
        sq, pad = pad_square(rgba, np.random.default_rng(seed))
        assert sq.shape == (15, 15, 4) and pad["left"] == pad["right"] == 0
        assert pad["top"] + pad["bottom"] == 5
        sides.add(pad["top"])
    assert sides == {2, 3}


@pytest.mark.parametrize("target", [0.05, 0.1, 0.2, 0.4])
def test_output_ratio_matches_the_sampled_ratio(target):
    """The car-to-frame ratio of the output matches the sampled ratio to within one pixel of
    padding: the outputs with one output pixel less and more padding bracket it."""
    img = np.full((400, 600, 3), 120, np.uint8)
    m = ellipse(400, 600, 200, 300, 80, 150)
    norm = normalize(img, m, target, (128, 128), np.random.default_rng(0))
    assert norm.rgba.shape == (128, 128, 4)
    n = norm.ratio_pad
    side = 600 + 2 * n  # the cut-out is the ellipse's 301 x 601 box... squared, then padded
    k = int(np.ceil(side / 128))  # one output pixel, in photo pixels

    def out_ratio(pad: int) -> float:
        out = render_padded(img, m, pad, (128, 128), np.random.default_rng(0))
        return car_to_frame_ratio(out[..., 3])

    assert out_ratio(n + k) <= target <= out_ratio(max(n - k, 0))
    assert norm.ratio_after == pytest.approx(target, rel=0.05)
    assert car_to_frame_ratio(norm.rgba[..., 3]) == norm.ratio_after
    # Solved on the full-resolution mask, the padding alone is the report's formula.
    fg = int(np.count_nonzero(m))
    s0 = norm.crop_box[2] - norm.crop_box[0]
    n0 = ratio_padding(s0, fg, target)
    assert fg / ((s0 + 2 * (n0 + 1)) ** 2 - fg) <= target <= fg / ((s0 + 2 * max(n0 - 1, 0))
                                                                   ** 2 - fg)


def test_ratio_padding_never_crops():
    assert ratio_padding(100, 2000, 0.5) == 0  # already below the target: no negative pad
    assert ratio_padding(100, 0, 0.5) == 0
