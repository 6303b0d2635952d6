import numpy as np
import pytest

from aist_app.scene.viewpoints import ViewpointSampler, parse_dimension


def test_uniform_range_and_seed():
    s = ViewpointSampler.from_specs("0:360", "0:40", 200)
    a = s.sample(np.random.default_rng(1))
    b = s.sample(np.random.default_rng(1))
    assert a == b
    el = np.array([e for _, e in a])
    assert el.min() >= 0 and el.max() < 40


def test_grids_make_a_product():
    s = ViewpointSampler.from_specs("grid:24", "grid:0,15,30", 5)
    views = s.sample(np.random.default_rng(0))
    assert s.n_views == 72 and len(views) == 72
    assert sorted({a for a, _ in views})[:2] == [0.0, 15.0]
    assert {e for _, e in views} == {0.0, 15.0, 30.0}


def test_grid_elevation_includes_both_ends():
    d = parse_dimension("grid:3", full_range=(-90.0, 90.0))
    assert d.params == (-90.0, 0.0, 90.0)


def test_truncated_normal_and_file(tmp_path):
    rng = np.random.default_rng(0)
    d = parse_dimension("normal:10,20,0,40", full_range=(-90, 90))
    x = d.sample(rng, 1000)
    assert x.min() >= 0 and x.max() <= 40
    f = tmp_path / "el.txt"
    f.write_text("5\n7.5\n12\n")
    d = parse_dimension(f"file:{f}", full_range=(-90, 90))
    assert set(d.sample(rng, 100)) <= {5.0, 7.5, 12.0}


@pytest.mark.parametrize("spec", ["40:0", "abc", "normal:1", "grid:0", "file:/nonexistent"])
def test_bad_specs_are_rejected_with_the_spec(spec):
    with pytest.raises(ValueError, match=r"--azimuth .*: .*valid forms: A:B \(uniform\)"):
        parse_dimension(spec, full_range=(0, 360), option="--azimuth")


def test_elevation_out_of_range():
    with pytest.raises(ValueError, match=r"--elevation 'grid:0,120': 120 is outside \[-90, 90\]"):
        ViewpointSampler.from_specs("0:360", "grid:0,120", 5)
    for spec in ("0:400", "-100:0", "normal:95,5"):
        with pytest.raises(ValueError, match=f"--elevation '{spec}': .* is outside"):
            ViewpointSampler.from_specs("0:360", spec, 5)
    with pytest.raises(ValueError, match="--elevation '0-40': not a range A:B"):
        ViewpointSampler.from_specs("0:360", "0-40", 5)  # the unpacking message
    # An open normal is truncated to real elevations.
    assert ViewpointSampler.from_specs("0:360", "normal:10,50", 5).elevation.params[2:] == (
        -90.0, 90.0)
