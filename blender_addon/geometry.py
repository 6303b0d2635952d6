"""Camera math the add-on needs without numpy-heavy dependencies (the product's convention:
OpenCV axes, ``world_to_camera`` maps the object frame to the camera frame)."""

from __future__ import annotations

import math


def quaternion_to_matrix(q: list[float]) -> list[list[float]]:
    w, x, y, z = q
    n = math.sqrt(w * w + x * x + y * y + z * z) or 1.0
    w, x, y, z = w / n, x / n, y / n, z / n
    return [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]


def camera_to_world_gl(R: list[list[float]], t: list[float]) -> list[list[float]]:
    """A Blender camera's matrix_world (looking down -z, y up) for an OpenCV camera with
    world_to_camera [R | t]."""
    Rt = [[R[j][i] for j in range(3)] for i in range(3)]  # R^-1
    centre = [-sum(Rt[i][k] * t[k] for k in range(3)) for i in range(3)]
    flip = [1.0, -1.0, -1.0]  # OpenCV -> OpenGL camera axes
    m = [[Rt[i][j] * flip[j] for j in range(3)] + [centre[i]] for i in range(3)]
    return m + [[0.0, 0.0, 0.0, 1.0]]


def y_up_to_z_up(p: tuple[float, float, float]) -> tuple[float, float, float]:
    """The product's object frame is y-up; Blender's is z-up (as glTF import/export do)."""
    x, y, z = p
    return (x, -z, y)
