"""One colour per model everywhere in the app (legends, curves, scatter, 3D clouds and
cameras, silhouettes): the baseline blue, the AIST (constrained) model orange, other models
green, red, purple in the order they come. Data that is not a model never takes these: the
ground truth is grey, the dataset's cameras are grey, the selected view's camera yellow."""

from __future__ import annotations

RGB = tuple[int, int, int]

BASELINE: RGB = (31, 119, 180)
AIST: RGB = (255, 127, 14)
OTHERS: tuple[RGB, ...] = ((44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))
TRUTH: RGB = (200, 200, 200)
CAMERAS: RGB = (150, 150, 150)
SELECTED: RGB = (255, 210, 0)
CHANCE: tuple[RGB, ...] = ((110, 110, 110), (165, 165, 165))


def model_colour(name: str, index: int = 0) -> RGB:
    """A model's colour from its name (``baseline``, ``pose-baseline``: blue; ``constrained``,
    ``AIST ...``: orange), else the ``index``-th of the others."""
    low = name.lower()
    if "baseline" in low:
        return BASELINE
    if "constrained" in low or "aist" in low:
        return AIST
    return OTHERS[index % len(OTHERS)]


def model_colours(names: list[str]) -> dict[str, RGB]:
    """Each name's colour; models that are neither the baseline nor AIST take the others in
    turn."""
    out: dict[str, RGB] = {}
    k = 0
    for name in names:
        colour = model_colour(name, k)
        if colour in OTHERS:
            k += 1
        out[name] = colour
    return out


def css(rgb: RGB) -> str:
    return f"rgb({rgb[0]},{rgb[1]},{rgb[2]})"
