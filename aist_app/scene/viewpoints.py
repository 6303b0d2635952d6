"""Viewpoint distributions: which azimuths and elevations to render.

Each dimension takes one spec string:

- ``A:B``: uniform on [A, B) degrees (``0:360``, ``-20:40``, ``0:40``);
- ``grid:N``: N evenly spaced values over the dimension's full range (azimuth: 0, 360/N, ...);
- ``grid:v1,v2,...``: exactly these values;
- ``normal:MU,SIGMA`` or ``normal:MU,SIGMA,LO,HI``: a (truncated) normal, e.g. one fitted to
  the elevations of real photos;
- ``file:PATH``: draw values from a file (one number per line, or a ``.npy`` array): an
  empirical distribution, e.g. elevations estimated on real data.

If both dimensions are grids, every combination is rendered (24 azimuths x 3 elevations = 72
views) and ``--views`` is ignored; a grid combined with a random dimension cycles through its
values over the ``--views`` views.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Dimension:
    spec: str
    kind: str  # "uniform", "grid", "normal", "file"
    params: tuple

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "uniform":
            lo, hi = self.params
            return rng.uniform(lo, hi, n)
        if self.kind == "grid":
            vals = np.asarray(self.params, dtype=np.float64)
            return vals[np.arange(n) % len(vals)]
        if self.kind == "normal":
            mu, sigma, lo, hi = self.params
            out = rng.normal(mu, sigma, n)
            bad = (out < lo) | (out > hi)
            for _ in range(100):  # rejection sampling for the truncated normal
                if not bad.any():
                    break
                out[bad] = rng.normal(mu, sigma, int(bad.sum()))
                bad = (out < lo) | (out > hi)
            return np.clip(out, lo, hi)
        if self.kind == "file":
            vals = np.asarray(self.params, dtype=np.float64)
            return vals[rng.integers(0, len(vals), n)]
        raise AssertionError(self.kind)


FORMS = "A:B (uniform), grid:N, grid:V1,V2,..., normal:MU,SIGMA[,LO,HI] or file:PATH"


def parse_dimension(spec: str, *, full_range: tuple[float, float],
                    option: str = "--viewpoint") -> Dimension:
    """Parse one spec string (see module docstring); a ValueError names ``option``, what is
    wrong and the valid forms. Elevation-like dimensions (a range narrower than 360) must
    stay inside ``full_range``."""
    s = spec.strip()
    try:
        dim = _parse(s, full_range)
    except ValueError as e:
        raise ValueError(f"{option} {spec!r}: {e}; valid forms: {FORMS}") from None
    lo, hi = full_range
    if hi - lo < 360:  # elevation: every value must be a real elevation
        values = {"uniform": dim.params, "grid": dim.params, "file": dim.params,
                  "normal": dim.params[2:] if np.all(np.isfinite(dim.params[2:]))
                  else (dim.params[0],)}[dim.kind]
        bad = [v for v in values if not lo <= v <= hi]
        if bad:
            raise ValueError(f"{option} {spec!r}: {bad[0]:g} is outside [{lo:g}, {hi:g}] "
                             "degrees")
        if dim.kind == "normal" and not np.all(np.isfinite(dim.params[2:])):
            dim = Dimension(dim.spec, "normal", (*dim.params[:2], lo, hi))
    return dim


def _parse(s: str, full_range: tuple[float, float]) -> Dimension:
    """One spec string (see the module docstring) -> its dimension."""
    if s.startswith("grid:"):
        body = s[5:]
        if "," not in body and "." not in body and body.isdigit():
            n = int(body)
            if n <= 0:
                raise ValueError("grid:N needs N > 0 (for the single value 0, write grid:0,)")
            lo, hi = full_range
            closed = (hi - lo) < 360  # elevation: include both ends
            vals = np.linspace(lo, hi, n) if closed and n > 1 else (
                lo + (hi - lo) * np.arange(n) / n)
            return Dimension(s, "grid", tuple(float(v) for v in vals))
        return Dimension(s, "grid", tuple(float(v) for v in body.split(",") if v.strip()))
    if s.startswith("normal:"):
        p = [float(v) for v in s[7:].split(",")]
        if len(p) == 2:
            p += [-np.inf, np.inf]
        if len(p) != 4 or p[1] <= 0 or p[2] >= p[3]:
            raise ValueError("normal:MU,SIGMA[,LO,HI] with SIGMA > 0 and LO < HI")
        return Dimension(s, "normal", tuple(p))
    if s.startswith("file:"):
        path = Path(s[5:])
        if not path.is_file():
            raise ValueError(f"distribution file {path} does not exist")
        vals = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=1)
        vals = np.asarray(vals, dtype=np.float64).ravel()
        if vals.size == 0 or not np.all(np.isfinite(vals)):
            raise ValueError(f"distribution file {path} holds no finite values")
        return Dimension(s, "file", tuple(vals.tolist()))
    parts = s.split(":")
    if len(parts) != 2:
        raise ValueError("not a range A:B nor a grid:, normal: or file: spec")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError("A and B of A:B must be numbers (degrees)") from None
    if not lo < hi:
        raise ValueError("A:B needs A < B")
    return Dimension(s, "uniform", (lo, hi))


@dataclass(frozen=True)
class ViewpointSampler:
    """Azimuth/elevation distribution for the views of one object."""

    azimuth: Dimension
    elevation: Dimension
    views: int

    @classmethod
    def from_specs(cls, azimuth: str = "0:360", elevation: str = "-20:40", views: int = 5):
        if views <= 0:
            raise ValueError("--views must be positive")
        az = parse_dimension(azimuth, full_range=(0.0, 360.0), option="--azimuth")
        el = parse_dimension(elevation, full_range=(-90.0, 90.0), option="--elevation")
        return cls(az, el, views)

    @property
    def n_views(self) -> int:
        if self.azimuth.kind == "grid" and self.elevation.kind == "grid":
            return len(self.azimuth.params) * len(self.elevation.params)
        return self.views

    def sample(self, rng: np.random.Generator) -> list[tuple[float, float]]:
        if self.azimuth.kind == "grid" and self.elevation.kind == "grid":
            return [(a, e) for e in self.elevation.params for a in self.azimuth.params]
        n = self.views
        az = np.mod(self.azimuth.sample(rng, n), 360.0)
        el = np.clip(self.elevation.sample(rng, n), -90.0, 90.0)
        return [(float(a), float(e)) for a, e in zip(az, el, strict=True)]

    def as_dict(self) -> dict:
        return {"azimuth": self.azimuth.spec, "elevation": self.elevation.spec,
                "views": self.n_views}
