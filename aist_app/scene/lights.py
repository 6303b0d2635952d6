"""Random lights per view, the same for every renderer (seeded).

Each view gets 1 to 4 point lights on a sphere of radius 2.5-4 around the object, in the upper
hemisphere mostly (elevation -10..80 degrees about the up axis), with random intensity and a
slightly warm or cool white, plus an ambient term. Intensities are in "units at distance 1":
each renderer converts them to its own light units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aist_app.scene.cameras import camera_centre


@dataclass(frozen=True)
class Light:
    position: tuple[float, float, float]
    intensity: float
    color: tuple[float, float, float]

    def as_dict(self) -> dict:
        return {"position": list(self.position), "intensity": self.intensity,
                "color": list(self.color)}


@dataclass(frozen=True)
class LightSetup:
    lights: tuple[Light, ...]
    ambient: float

    def as_dict(self) -> dict:
        return {"ambient": self.ambient, "lights": [x.as_dict() for x in self.lights]}


def random_lights(rng: np.random.Generator, up_axis: str = "y", *, max_lights: int = 4,
                  randomize: bool = True) -> LightSetup:
    if not randomize:
        pos = camera_centre(45.0, 45.0, 3.0, up_axis)
        return LightSetup((Light(tuple(map(float, pos)), 1.0, (1.0, 1.0, 1.0)),), 0.3)
    n = int(rng.integers(1, max_lights + 1))
    lights = []
    for _ in range(n):
        az = rng.uniform(0, 360)
        el = rng.uniform(-10, 80)
        dist = rng.uniform(2.5, 4.0)
        pos = camera_centre(az, el, dist, up_axis)
        energy = rng.uniform(0.5, 1.5) / n * 1.6
        tint = rng.uniform(-0.08, 0.08)
        color = (1.0 + tint, 1.0, 1.0 - tint)
        color = tuple(float(c / max(color)) for c in color)
        lights.append(Light(tuple(map(float, pos)), float(energy), color))
    return LightSetup(tuple(lights), float(rng.uniform(0.15, 0.35)))
