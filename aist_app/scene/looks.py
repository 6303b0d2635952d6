"""Object looks: how a renderer may dress an object beyond its own materials.

``as-is`` renders the materials the mesh file gives. ``varied`` draws, per object (seeded by
the render seed and the object id, apart from cameras and lights so those stay the same), a
car paint (colour, metallic flake, roughness, clear coat), dirt (procedural noise) and an
environment light (a sky gradient from ground to horizon to zenith, its strength): the
"looks different, same ground truth" target domain of the CPU experiment. Renderers that
support looks say so with ``supports_looks = True`` (Blender); the others refuse ``varied``.
"""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass

import numpy as np

LOOKS = ("as-is", "varied")


@dataclass(frozen=True)
class Look:
    paint: tuple[float, float, float]  # linear RGB
    metallic: float
    roughness: float
    coat: float
    dirt: float  # 0: clean, 1: heavily soiled
    dirt_scale: float
    ground: tuple[float, float, float]
    horizon: tuple[float, float, float]
    zenith: tuple[float, float, float]
    env_strength: float

    def as_dict(self) -> dict:
        return asdict(self)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return tuple(float(c) ** 2.2 for c in colorsys.hsv_to_rgb(h % 1.0, s, v))  # sRGB -> linear


def sample_look(rng: np.random.Generator) -> Look:
    """One object's look: paint from the colours cars come in (greys and whites often,
    saturated colours sometimes), skies from overcast to clear to golden hour."""
    if rng.random() < 0.5:  # achromatic: white, silver, grey, black
        paint = _hsv(0.0, 0.0, float(rng.choice([0.95, 0.75, 0.5, 0.25, 0.08])))
    else:
        paint = _hsv(float(rng.random()), float(rng.uniform(0.5, 0.95)),
                     float(rng.uniform(0.35, 0.9)))
    sky_hue = float(rng.uniform(0.52, 0.64))  # blue skies
    warm = rng.random() < 0.25  # golden hour: a warm horizon
    horizon = _hsv(float(rng.uniform(0.05, 0.12)), 0.6, 0.95) if warm else \
        _hsv(sky_hue, float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.7, 1.0)))
    return Look(
        paint=paint, metallic=float(rng.uniform(0.0, 0.9)),
        roughness=float(rng.uniform(0.08, 0.5)), coat=float(rng.uniform(0.0, 1.0)),
        dirt=float(rng.uniform(0.0, 0.6)), dirt_scale=float(rng.uniform(3.0, 12.0)),
        ground=_hsv(float(rng.uniform(0.05, 0.15)), float(rng.uniform(0.1, 0.4)),
                    float(rng.uniform(0.15, 0.45))),
        horizon=horizon,
        zenith=_hsv(sky_hue, float(rng.uniform(0.3, 0.8)), float(rng.uniform(0.4, 0.9))),
        env_strength=float(rng.uniform(0.4, 1.6)))
